// Plankton projects: the ones you are a member of (search, sort) and a new one (name,
// description, instrument, pixel size). All through /api/v1/projects.
import { apiJson, element, showProblem } from './api.js';

const $ = (id) => document.getElementById(id);
const ROLE = { manager: 'manager', annotator: 'annotator', viewer: 'viewer' };

function tile(project) {
  const facts = [project.instrument, project.pixel_size_um ? `${project.pixel_size_um} µm/px` : null,
    `you: ${ROLE[project.role] || project.role}`].filter(Boolean).join(' · ');
  return element('li', {},
    element('a', { class: 'tile', href: `/projects/${project.id}` },
      element('strong', { text: project.name }),
      element('span', { class: 'meta', text: facts }),
      project.description ? element('span', { class: 'description', text: project.description }) : ''));
}

async function load() {
  const params = new URLSearchParams({ sort: $('sort').value, limit: '100' });
  const q = $('search').value.trim();
  if (q) params.set('q', q);
  try {
    const page = await apiJson(`/api/v1/projects?${params}`);
    $('projects').replaceChildren(...page.items.map(tile));
    $('list-status').textContent = page.total
      ? `${page.total} project${page.total === 1 ? '' : 's'}${page.total > page.items.length ? ` (the first ${page.items.length} shown)` : ''}.`
      : (q ? 'No project matches.' : 'No projects yet: create one above.');
    showProblem($('list-problem'), null);
  } catch (error) { showProblem($('list-problem'), error); }
}

$('new-project').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { name: form.get('name').trim() };
  for (const key of ['description', 'instrument']) {
    const value = form.get(key).trim();
    if (value) body[key] = value;
  }
  const pixel = form.get('pixel_size_um').trim();
  if (pixel) body.pixel_size_um = Number(pixel);
  try {
    const project = await apiJson('/api/v1/projects', { method: 'POST', json: body });
    showProblem($('new-project-problem'), null);
    $('new-project-status').textContent = `Created ${project.name}.`;
    location.assign(`/projects/${project.id}`);
  } catch (error) { showProblem($('new-project-problem'), error); }
});

let typing = null;
$('search').addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(load, 250); });
$('sort').addEventListener('change', load);
$('list-form').addEventListener('submit', (event) => { event.preventDefault(); load(); });
load();
