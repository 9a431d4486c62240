// Models: each with its versions and headline metrics; a version's card with its plots;
// activate a version (moderators and admins: the API refuses others with a problem shown here).
import { api, apiJson, element, showProblem, whoAmI } from './api.js';

const $ = (id) => document.getElementById(id);
const problem = $('page-problem');
const number = (value) => (typeof value === 'number' ? (Number.isInteger(value) ? String(value) : value.toFixed(3)) : String(value ?? '—'));

async function showCard(name, version) {
  try {
    const card = await apiJson(`/api/v1/models/${encodeURIComponent(name)}/versions/${version}`);
    $('card-title').textContent = `Model card: ${name} version ${version}`;
    const facts = { model: name, version, active: card.active ? 'yes' : 'no', trained: card.created_at ?? '—' };
    const data = card.card.data || card.card.training_data;
    if (data && typeof data === 'object' && data.summary) facts['trained on'] = data.summary;
    $('card-facts').replaceChildren(...Object.entries(facts).flatMap(([key, value]) => [
      element('dt', { text: key }), element('dd', { text: String(value) })]));
    // Cards keep their metrics per split ({test: {accuracy: …}, validation: {…}}); an older,
    // flat card is one column. Numbers only: per-class tables and matrices are the plots.
    const metrics = card.card.metrics || {};
    const nested = Object.entries(metrics).filter(([, value]) => value && typeof value === 'object' && !Array.isArray(value));
    const splits = nested.length ? nested : [['value', metrics]];
    const names = [...new Set(splits.flatMap(([, values]) => Object.keys(values)
      .filter((key) => typeof values[key] === 'number')))];
    $('card-metrics').tHead.replaceChildren(element('tr', {}, element('th', { scope: 'col', text: 'metric' }),
      ...splits.map(([split]) => element('th', { scope: 'col', text: split.replaceAll('_', ' ') }))));
    $('card-metrics').tBodies[0].replaceChildren(...names.map((key) => element('tr', {},
      element('th', { scope: 'row', text: key.replaceAll('_', ' ') }),
      ...splits.map(([, values]) => element('td', { text: number(values[key]) })))));
    $('card-plots').replaceChildren(...Object.entries(card.plots).map(([plot, url]) => element('figure', { class: 'pane' },
      element('img', { src: url, alt: `${plot.replaceAll('-', ' ')} of ${name} version ${version}` }),
      element('figcaption', { text: plot.replaceAll('-', ' ') }))));
    $('card').dataset.model = name;
    $('card').dataset.version = String(version);
    $('card').hidden = false;
    $('card').scrollIntoView({ block: 'start' });
  } catch (error) { showProblem(problem, error); }
}

async function activate(name, version) {
  try {
    await api(`/api/v1/models/${encodeURIComponent(name)}/versions/${version}/activate`, { method: 'POST' });
    showProblem(problem, null);
    $('models-status').textContent = `${name} now serves version ${version}.`;
    await load();
    // An open card of this model says which version is active now.
    if (!$('card').hidden && $('card').dataset.model === name) await showCard(name, Number($('card').dataset.version));
  } catch (error) { showProblem(problem, error); }
}

function modelSection(model, canActivate) {
  const metricNames = [...new Set(model.versions.flatMap((v) => Object.keys(v.metrics)))];
  const head = element('tr', {}, element('th', { scope: 'col', text: 'version' }), element('th', { scope: 'col', text: 'trained' }),
    element('th', { scope: 'col', text: 'serving' }),
    ...metricNames.map((name) => element('th', { scope: 'col', text: name.replaceAll('_', ' ') })),
    element('th', { scope: 'col', text: 'actions' }));
  const rows = model.versions.map((version) => element('tr', {},
    element('th', { scope: 'row', text: String(version.version) }),
    element('td', { text: version.created_at ?? '—' }),
    element('td', { text: version.active ? 'yes' : '' }),
    ...metricNames.map((name) => element('td', { text: number(version.metrics[name]) })),
    element('td', {},
      element('button', { type: 'button', class: 'secondary', text: `Card of version ${version.version}`,
        onclick: () => showCard(model.name, version.version) }),
      canActivate && !version.active ? element('button', { type: 'button', text: `Activate version ${version.version}`,
        onclick: () => activate(model.name, version.version) }) : '')));
  return element('section', { class: 'card', 'aria-label': model.name },
    element('h2', { text: `${model.name}${model.task ? ` (${model.task})` : ''}` }),
    element('p', { text: model.active ? `Serving version ${model.active.version}.` : 'No version serves.' }),
    element('div', { class: 'table-wrap' }, element('table', {},
      element('caption', { text: `Versions of ${model.name}` }), element('thead', {}, head), element('tbody', {}, ...rows))));
}

async function load() {
  try {
    const [list, me] = await Promise.all([apiJson('/api/v1/models'), whoAmI()]);
    const canActivate = me.role !== 'technician';
    $('activate-note').hidden = canActivate;
    $('models').replaceChildren(...list.models.map((model) => modelSection(model, canActivate)));
    if (!list.models.length) $('models-status').textContent = 'No models yet.';
  } catch (error) { showProblem(problem, error); }
}

load();
