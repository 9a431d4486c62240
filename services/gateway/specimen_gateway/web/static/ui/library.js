// The image library: quota, upload (several files, drag and drop), list with thumbnails,
// search and sort, rename, delete, download in another format. All through /api/v1/images.
import { api, apiJson, element, formatBytes, saveBlob, showProblem } from './api.js';
import { searchSimilar } from './similar.js';

const PAGE_SIZE = 24;
const BROWSER_FORMATS = new Set(['png', 'jpeg', 'gif', 'webp', 'bmp']);
const DOWNLOAD_FORMATS = ['png', 'jpeg', 'webp', 'gif', 'tiff', 'bmp'];
const EXTENSION = { jpeg: 'jpg', tiff: 'tif' };

const list = document.getElementById('images');
const listStatus = document.getElementById('list-status');
const listProblem = document.getElementById('list-problem');
const search = document.getElementById('search');
const sort = document.getElementById('sort');
const previous = document.getElementById('previous-page');
const next = document.getElementById('next-page');
let offset = 0;

async function refreshUsage() {
  try {
    const usage = await apiJson('/api/v1/images/usage');
    const meter = document.getElementById('usage-bytes');
    meter.max = usage.bytes.limit;
    meter.value = usage.bytes.used;
    document.getElementById('usage-bytes-text').textContent =
      `${formatBytes(usage.bytes.used)} of ${formatBytes(usage.bytes.limit)}`;
    document.getElementById('usage-images-text').textContent =
      `${usage.images.used} of ${usage.images.limit} images`;
  } catch (error) {
    showProblem(listProblem, error);
  }
}

function stem(name) {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

function card(image) {
  const thumb = BROWSER_FORMATS.has(image.format)
    ? `/api/v1/images/${image.id}/content` : `/api/v1/images/${image.id}/content?output=png`;
  const nameId = `name-${image.id}`;
  const formatId = `format-${image.id}`;
  const name = element('span', { class: 'name', id: nameId, text: image.name });
  const problem = element('div', { class: 'problem', role: 'alert', hidden: true });
  const format = element('select', { id: formatId },
    ...DOWNLOAD_FORMATS.map((f) => element('option', { value: f, text: f.toUpperCase(), selected: f === image.format })));

  async function rename() {
    const input = element('input', { type: 'text', value: image.name, 'aria-label': `New name for ${image.name}` });
    const save = element('button', { type: 'submit', text: 'Save' });
    const cancel = element('button', { type: 'button', class: 'secondary', text: 'Cancel' });
    const form = element('form', { class: 'rename' }, input, save, cancel);
    name.replaceWith(form);
    input.focus();
    input.select();
    cancel.addEventListener('click', () => { form.replaceWith(name); });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const renamed = await apiJson(`/api/v1/images/${image.id}`, { method: 'PATCH', json: { name: input.value } });
        image.name = renamed.name;
        name.textContent = renamed.name;
        cards.set(image.id, { facts: JSON.stringify(renamed), node: form.closest('li') });
        form.replaceWith(name);
        showProblem(problem, null);
      } catch (error) { showProblem(problem, error); }
    });
  }

  async function remove() {
    if (!window.confirm(`Delete ${image.name} and its results?`)) return;
    try {
      await api(`/api/v1/images/${image.id}`, { method: 'DELETE' });
      await Promise.all([load(), refreshUsage()]);
    } catch (error) { showProblem(problem, error); }
  }

  async function download() {
    try {
      const response = await api(`/api/v1/images/${image.id}/content?output=${format.value}`);
      saveBlob(await response.blob(), `${stem(image.name)}.${EXTENSION[format.value] || format.value}`);
    } catch (error) { showProblem(problem, error); }
  }

  return element('li', { class: 'image-card', 'data-image-id': image.id },
    element('img', { src: thumb, alt: image.name, loading: 'lazy', width: image.width, height: image.height }),
    name,
    element('span', { class: 'meta', text: `${image.width}×${image.height} ${image.format.toUpperCase()}, ${formatBytes(image.bytes)}` }),
    element('div', { class: 'actions' },
      element('a', { class: 'button secondary', href: `/segment?image=${image.id}`, text: 'Segment' }),
      element('button', {
        type: 'button', class: 'secondary', text: 'Find similar', 'aria-describedby': nameId, 'aria-haspopup': 'dialog',
        onclick: (event) => searchSimilar({
          title: `Similar to ${image.name}`, request: { json: { image_id: image.id } }, opener: event.currentTarget }),
      }),
      element('button', { type: 'button', class: 'secondary', onclick: rename, text: 'Rename', 'aria-describedby': nameId }),
      element('button', { type: 'button', class: 'danger', onclick: remove, text: 'Delete', 'aria-describedby': nameId })),
    element('div', { class: 'actions' },
      element('label', { for: formatId, class: 'visually-hidden', text: `Download ${image.name} as` }),
      format,
      element('button', { type: 'button', onclick: download, text: 'Download', 'aria-describedby': nameId })),
    problem);
}

// A card is kept while its image is unchanged, so that a list refreshed under the user's hands
// (another upload finishing, a sort) keeps what they were doing in it (a chosen format).
const cards = new Map();
function cardOf(image) {
  const facts = JSON.stringify(image);
  const kept = cards.get(image.id);
  if (kept && kept.facts === facts) return kept.node;
  const node = card(image);
  cards.set(image.id, { facts, node });
  return node;
}

let loads = 0;
async function load() {
  // Answers may arrive out of order (typing, sorting): only the latest request's is shown.
  const ticket = ++loads;
  const query = new URLSearchParams({ limit: PAGE_SIZE, offset, sort: sort.value });
  if (search.value.trim()) query.set('q', search.value.trim());
  try {
    const page = await apiJson(`/api/v1/images?${query}`);
    if (ticket !== loads) return;
    showProblem(listProblem, null);
    list.replaceChildren(...page.items.map(cardOf));
    const last = Math.min(page.offset + page.items.length, page.total);
    listStatus.textContent = page.total
      ? `Images ${page.total ? page.offset + 1 : 0}–${last} of ${page.total}`
      : 'No images yet.';
    previous.disabled = offset === 0;
    next.disabled = last >= page.total;
  } catch (error) { showProblem(listProblem, error); }
}

async function upload(files) {
  const status = document.getElementById('upload-status');
  const problem = document.getElementById('upload-problem');
  showProblem(problem, null);
  const failures = [];
  let done = 0;
  for (const file of files) {
    status.textContent = `Uploading ${file.name} (${done + 1} of ${files.length})…`;
    const form = new FormData();
    form.append('image', file, file.name);
    form.append('name', file.name);
    try {
      await api('/api/v1/images', { method: 'POST', body: form });
      done += 1;
    } catch (error) { failures.push(`${file.name}: ${error.message}`); }
  }
  status.textContent = `Uploaded ${done} of ${files.length} file${files.length === 1 ? '' : 's'}.`;
  if (failures.length) showProblem(problem, new Error(failures.join(' ')));
  offset = 0;
  await Promise.all([load(), refreshUsage()]);
}

const dropzone = document.getElementById('dropzone');
const input = document.getElementById('upload-input');
input.addEventListener('change', () => { if (input.files.length) upload([...input.files]); input.value = ''; });
dropzone.addEventListener('dragover', (event) => { event.preventDefault(); dropzone.classList.add('over'); });
dropzone.addEventListener('dragleave', () => dropzone.classList.remove('over'));
dropzone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropzone.classList.remove('over');
  const files = [...event.dataTransfer.files];
  if (files.length) upload(files);
});

let typing;
search.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(() => { offset = 0; load(); }, 250); });
sort.addEventListener('change', () => { offset = 0; load(); });
document.getElementById('list-form').addEventListener('submit', (event) => { event.preventDefault(); offset = 0; load(); });
previous.addEventListener('click', () => { offset = Math.max(0, offset - PAGE_SIZE); load(); });
next.addEventListener('click', () => { offset += PAGE_SIZE; load(); });

load();
refreshUsage();
