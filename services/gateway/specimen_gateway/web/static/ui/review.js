// Review a plankton project's objects: the gallery (crop, category, probability, status) with
// filters and the least sure first; by keyboard: arrows move, Space selects, V validates,
// D marks dubious, C re-labels — the selected objects or the one in focus, through the bulk
// POST /projects/{id}/objects/annotations; counts per category and status. M ("More like
// this") puts the objects most like the one in focus (POST /projects/{id}/objects/search, within
// the current filters) in the gallery, best first, to review them at once; "Back to the list".
import { apiJson, element, showProblem } from './api.js';
import { showNotFound } from './jobs.js';

const $ = (id) => document.getElementById(id);
const projectId = Number($('review').dataset.projectId);
const base = `/api/v1/projects/${projectId}`;
const PAGE_SIZE = 60;
const STATUSES = ['predicted', 'validated', 'dubious'];
const gallery = $('gallery');
const problem = $('review-problem');
let items = []; // the objects shown, in order
let active = -1; // index of the object in focus
let anchor = -1; // where a Shift selection starts
const selected = new Set(); // object ids
let offset = 0;
let total = 0;
let role = 'viewer';
let similarTo = null; // the object whose most similar objects are shown, or null: the list

const percent = (p) => `${Math.round(p * 100)} %`;

function optionOf(object, index) {
  const node = element('li', {
    role: 'option', id: `object-${object.id}`, class: `object status-${object.status}`,
    'aria-selected': selected.has(object.id) ? 'true' : 'false', 'data-id': String(object.id),
    'data-index': String(index),
  },
  element('img', { src: object.crop_url, alt: `object ${object.id}`, loading: 'lazy', width: '96', height: '96' }),
  element('span', { class: 'category', text: object.category }),
  element('span', { class: 'probability', text: percent(object.probability) }),
  element('span', { class: 'status', text: object.status }),
  ...(object.similarity === undefined ? []
    : [element('span', { class: 'similarity', text: `similarity ${object.similarity.toFixed(2)}` })]));
  node.addEventListener('click', (event) => clickOn(index, event));
  return node;
}

function render() {
  gallery.replaceChildren(...items.map(optionOf));
  setActive(items.length ? Math.min(Math.max(active, 0), items.length - 1) : -1, false);
  $('similar-mode').hidden = similarTo === null;
  if (similarTo !== null) {
    $('similar-of').textContent = `object ${similarTo}`;
    $('previous-page').disabled = true;
    $('next-page').disabled = true;
    $('gallery-status').textContent = items.length
      ? `${items.length} object${items.length === 1 ? '' : 's'} most like object ${similarTo}, best first.`
      : `No other object like object ${similarTo} matches the filters.`;
    return;
  }
  $('previous-page').disabled = offset === 0;
  $('next-page').disabled = offset + items.length >= total;
  $('gallery-status').textContent = total
    ? `Objects ${offset + 1}–${offset + items.length} of ${total}.` : 'No objects match.';
}

function refreshOption(index) {
  const old = gallery.children[index];
  if (old) old.replaceWith(optionOf(items[index], index));
  markActive();
}

function markActive() {
  for (const node of gallery.querySelectorAll('.active')) node.classList.remove('active');
  const node = gallery.children[active];
  if (node) {
    node.classList.add('active');
    gallery.setAttribute('aria-activedescendant', node.id);
    node.scrollIntoView({ block: 'nearest' });
  } else gallery.removeAttribute('aria-activedescendant');
}

function setActive(index, focus = true) {
  active = index;
  markActive();
  if (focus) gallery.focus();
}

function setSelected(index, on) {
  const object = items[index];
  if (!object) return;
  if (on) selected.add(object.id); else selected.delete(object.id);
  gallery.children[index]?.setAttribute('aria-selected', on ? 'true' : 'false');
}

function selectRange(from, to) {
  const [low, high] = from < to ? [from, to] : [to, from];
  for (let i = low; i <= high; i += 1) setSelected(i, true);
}

function showSelection() {
  $('review-status').textContent = selected.size
    ? `${selected.size} selected.` : '';
}

function clickOn(index, event) {
  if (event.shiftKey && anchor >= 0) selectRange(anchor, index);
  else if (event.ctrlKey || event.metaKey) { setSelected(index, !selected.has(items[index].id)); anchor = index; }
  else {
    for (let i = 0; i < items.length; i += 1) setSelected(i, false);
    setSelected(index, true);
    anchor = index;
  }
  setActive(index);
  showSelection();
}

function columns() {
  const nodes = [...gallery.children];
  if (!nodes.length) return 1;
  const top = nodes[0].offsetTop;
  const count = nodes.findIndex((node) => node.offsetTop !== top);
  return count === -1 ? nodes.length : count;
}

function targets() {
  if (selected.size) return items.filter((o) => selected.has(o.id));
  return active >= 0 && items[active] ? [items[active]] : [];
}

async function annotate(change) {
  const chosen = targets();
  if (!chosen.length) { $('review-status').textContent = 'Nothing to review: the gallery is empty.'; return; }
  try {
    const answer = await apiJson(`${base}/objects/annotations`, {
      method: 'POST', json: { ids: chosen.map((o) => o.id), ...change } });
    showProblem(problem, null);
    const status = answer.status;
    for (const object of chosen) {
      object.status = status;
      if (answer.category) object.category = answer.category;
    }
    const single = !selected.size;
    selected.clear();
    for (const object of chosen) refreshOption(items.indexOf(object));
    for (let i = 0; i < items.length; i += 1) gallery.children[i]?.setAttribute('aria-selected', 'false');
    const what = answer.category && change.category ? `re-labelled ${answer.category}` : status;
    $('review-status').textContent = `${chosen.length} object${chosen.length === 1 ? '' : 's'} ${what}.`;
    if (single && active < items.length - 1) setActive(active + 1); else gallery.focus();
    anchor = -1;
    loadCounts();
  } catch (error) { showProblem(problem, error); }
}

gallery.addEventListener('focus', () => { if (active < 0 && items.length) setActive(0, false); });

gallery.addEventListener('keydown', (event) => {
  if (!items.length) return;
  const key = event.key;
  const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns(), ArrowUp: -columns(),
    Home: -items.length, End: items.length };
  if (key in moves) {
    event.preventDefault();
    const next = Math.min(Math.max(active + moves[key], 0), items.length - 1);
    if (event.shiftKey) {
      // A range from where the selection started to here (shrinks when coming back).
      if (anchor < 0) anchor = active;
      items.forEach((_, i) => setSelected(i, false));
      selectRange(anchor, next);
      showSelection();
    } else anchor = next;
    setActive(next);
    return;
  }
  if (event.ctrlKey || event.metaKey) {
    if (key.toLowerCase() === 'a') {
      event.preventDefault();
      items.forEach((_, i) => setSelected(i, true));
      showSelection();
    }
    return;
  }
  if (event.altKey) return;
  if (key === ' ') {
    event.preventDefault();
    setSelected(active, !selected.has(items[active].id));
    anchor = active;
    showSelection();
  } else if (key === 'v' || key === 'V') {
    event.preventDefault();
    annotate({ status: 'validated' });
  } else if (key === 'd' || key === 'D') {
    event.preventDefault();
    annotate({ status: 'dubious' });
  } else if (key === 'c' || key === 'C') {
    event.preventDefault();
    $('relabel-category').focus();
    $('relabel-category').select();
  } else if (key === 'm' || key === 'M') {
    event.preventDefault();
    moreLikeThis();
  } else if (key === 'Escape') {
    items.forEach((_, i) => setSelected(i, false));
    showSelection();
  }
});

$('relabel').addEventListener('submit', (event) => {
  event.preventDefault();
  const category = $('relabel-category').value.trim();
  if (!category) { showProblem(problem, new Error('Type or pick a category first.')); return; }
  annotate({ category, status: 'validated' });
});
$('relabel-category').addEventListener('keydown', (event) => {
  if (event.key === 'Escape') gallery.focus();
});
$('validate').addEventListener('click', () => annotate({ status: 'validated' }));
$('dubious').addEventListener('click', () => annotate({ status: 'dubious' }));
$('select-all').addEventListener('click', () => { items.forEach((_, i) => setSelected(i, true)); showSelection(); });
$('more-like').addEventListener('click', () => moreLikeThis());
$('back-to-list').addEventListener('click', () => { loadObjects(); gallery.focus(); });
$('select-none').addEventListener('click', () => { items.forEach((_, i) => setSelected(i, false)); showSelection(); });

async function loadCounts() {
  try {
    const counts = await apiJson(`${base}/objects/counts`);
    const categories = Object.keys(counts.by_category).sort();
    const cell = (category, status) => counts.counts.find((c) => c.category === category && c.status === status)?.count ?? 0;
    $('counts').tBodies[0].replaceChildren(...categories.map((category) => element('tr', {},
      element('th', { scope: 'row', text: category }),
      ...STATUSES.map((status) => element('td', { 'data-status': status, text: String(cell(category, status)) })),
      element('td', { text: String(counts.by_category[category]) }))));
    $('counts').tFoot.replaceChildren(element('tr', {}, element('th', { scope: 'row', text: 'all' }),
      ...STATUSES.map((status) => element('td', { 'data-status': status, text: String(counts.by_status[status]) })),
      element('td', { text: String(counts.total) })));
    knownCategories(categories);
  } catch (error) { showProblem(problem, error); }
}

const categorySet = new Set();
function knownCategories(names) {
  for (const name of names) categorySet.add(name);
  const sorted = [...categorySet].sort();
  $('categories').replaceChildren(...sorted.map((name) => element('option', { value: name })));
  const filter = $('filter-category');
  const current = filter.value;
  filter.replaceChildren(element('option', { value: '', text: 'any' }),
    ...sorted.map((name) => element('option', { value: name, text: name, selected: name === current })));
}

/** The filter form's non-empty fields (sort included). */
function filterValues() {
  const values = {};
  for (const [key, value] of new FormData($('filters')).entries()) {
    if (String(value).trim()) values[key] = String(value).trim();
  }
  return values;
}

let listed = 0; // lists asked for, so that a slow answer never replaces a newer one
async function loadObjects() {
  const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset), ...filterValues() });
  const asked = ++listed;
  try {
    const page = await apiJson(`${base}/objects?${params}`);
    if (asked !== listed) return; // a newer list was asked for meanwhile: its answer wins
    similarTo = null;
    items = page.items;
    total = page.total;
    selected.clear();
    anchor = -1;
    active = items.length ? 0 : -1;
    knownCategories(items.flatMap((o) => Object.keys(o.scores)));
    showProblem(problem, null);
    render();
    showSelection();
  } catch (error) { showProblem(problem, error); }
}

$('filters').addEventListener('submit', (event) => { event.preventDefault(); offset = 0; loadObjects(); });
for (const id of ['filter-category', 'filter-status', 'filter-sort']) {
  $(id).addEventListener('change', () => { offset = 0; loadObjects(); });
}
$('previous-page').addEventListener('click', () => { offset = Math.max(0, offset - PAGE_SIZE); loadObjects(); });
$('next-page').addEventListener('click', () => { offset += PAGE_SIZE; loadObjects(); });

async function start() {
  try {
    const project = await apiJson(base);
    role = project.role;
    document.querySelector('main h1').textContent = `Review: ${project.name}`;
    document.title = `Review ${project.name} · Specimen`;
  } catch (error) {
    if (error.status === 404 || error.status === 422) { showNotFound(); return; }
    showProblem($('page-problem'), error);
    return;
  }
  $('review').hidden = false;
  if (role === 'viewer') {
    $('relabel').hidden = true;
    $('keys-help').textContent = 'You are a viewer of this project: annotators and managers review.';
  }
  await Promise.all([loadCounts(), loadObjects()]);
}

start();

/** "More like this": the objects most like the one in focus, within the current filters (the
 * search ranks only the objects they keep), best first, in place of the list. */
async function moreLikeThis() {
  const object = items[active];
  if (!object) { $('review-status').textContent = 'Nothing in focus: the gallery is empty.'; return; }
  const { sort: _sort, ...filters } = filterValues();
  for (const key of ['probability_min', 'probability_max']) if (key in filters) filters[key] = Number(filters[key]);
  const asked = ++listed;
  try {
    const answer = await apiJson(`${base}/objects/search`, {
      method: 'POST', json: { object_id: object.id, ...filters, limit: PAGE_SIZE } });
    if (asked !== listed) return;
    similarTo = object.id;
    items = answer.items.map((found) => ({ ...found, id: found.object_id }));
    total = items.length;
    selected.clear();
    anchor = -1;
    active = items.length ? 0 : -1;
    showProblem(problem, null);
    render();
    showSelection();
    gallery.focus();
  } catch (error) { showProblem(problem, error); }
}
