// Similar-image search (POST /api/v1/images/search): the results in a drawer, best first, each
// with its thumbnail, name and similarity; a result opens a pop-up with its metadata and links.
// The drawer's "Also search" boxes add `sources` (scans of the caller's hospital, objects of
// their projects); each result then says its kind and links to its own page.
// Both are modal <dialog>s (templates/_similar.html): the page behind is inert, so focus stays
// inside; Escape closes the top one; focus goes back to whatever opened it.
import { apiJson, element, showProblem } from './api.js';

const $ = (id) => document.getElementById(id);
const drawer = $('similar-drawer');
const details = $('similar-details');
const results = $('similar-results');
const status = $('similar-status');
const problem = $('similar-problem');
const openers = new Map();
const FOCUSABLE = 'a[href], button, input, select, textarea, [tabindex]:not([tabindex="-1"])';

function openDialog(dialog, opener) {
  openers.set(dialog, opener || document.activeElement);
  if (!dialog.open) dialog.showModal();
}

for (const dialog of [drawer, details]) {
  dialog.addEventListener('close', () => {
    const opener = openers.get(dialog);
    openers.delete(dialog);
    if (opener && opener.isConnected) opener.focus();
    else document.getElementById('main').focus();
  });
  // Tab and Shift+Tab wrap around inside the dialog: the page behind is inert, and focus
  // does not wander off to the browser's own controls either.
  dialog.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab') return;
    const focusable = [...dialog.querySelectorAll(FOCUSABLE)]
      .filter((node) => !node.disabled && node.getClientRects().length);
    if (!focusable.length) return;
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    if (event.shiftKey && (document.activeElement === first || document.activeElement === dialog)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
  dialog.addEventListener('click', (event) => {
    if (event.target.closest('[data-close]')) { dialog.close(); return; }
    // A click on the backdrop (outside the dialog's box) closes it too.
    if (event.target !== dialog) return;
    const box = dialog.getBoundingClientRect();
    const inside = event.clientX >= box.left && event.clientX <= box.right
      && event.clientY >= box.top && event.clientY <= box.bottom;
    if (!inside) dialog.close();
  });
}

const KIND_NAMES = { library: 'library', scan: 'scan', object: 'project object' };

function labelOf(item) {
  if (item.kind === 'scan') return `Scan ${item.scan_id} (${item.label})`;
  if (item.kind === 'object') return `Object ${item.object_id} (${item.category})`;
  return item.segmentation_id ? `${item.name} (a kept result)` : item.name;
}

/** A thumbnail of `side` pixels: library pictures take `?size=`; scans and crops come as they are. */
function thumbnail(item, side) {
  return item.kind === 'scan' || item.kind === 'object' ? item.thumbnail_url
    : `${item.thumbnail_url}?size=${side}`;
}

/** The UI page of a scan or an object (a library picture opens in the workbench). */
function pageOf(item) {
  if (item.kind === 'scan') return '/mri';
  if (item.kind === 'object') return `/projects/${encodeURIComponent(item.project_id)}`;
  return null;
}

function factsOf(item) {
  if (item.kind === 'scan') {
    return [['Kind', 'MRI scan of your hospital'], ['Hospital', item.hospital],
      ['Label', `${item.label} (${item.probability.toFixed(3)})`],
      ['Created', when(item.created_at)], ['Similarity', item.similarity.toFixed(3)]];
  }
  if (item.kind === 'object') {
    return [['Kind', 'Plankton object of your project'], ['Project', String(item.project_id)],
      ['Category', `${item.category} (${item.status})`], ['Frame', item.file_name],
      ['Similarity', item.similarity.toFixed(3)]];
  }
  return [
    ['Name', item.name],
    ['Size', `${item.width}×${item.height} pixels`],
    ['Media type', item.media_type],
    ['Created', when(item.created_at)],
    ['Similarity', item.similarity.toFixed(3)],
    ['What', item.segmentation_id ? 'A result kept with a library image' : 'A library image'],
  ];
}

/** "2026-12-06T07:35:03.123Z" → "2026-12-06 07:35:03 UTC": the same for every reader. */
function when(timestamp) {
  const match = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(timestamp || '');
  return match ? `${match[1]} ${match[2]} UTC` : String(timestamp);
}

function showDetails(item, opener) {
  const label = labelOf(item);
  $('similar-details-title').textContent = label;
  const image = $('similar-details-image');
  image.src = thumbnail(item, 256);
  image.alt = `Thumbnail of ${label}`;
  const facts = factsOf(item);
  $('similar-details-facts').replaceChildren(...facts.flatMap(([name, value]) => [
    element('dt', { text: name }),
    name === 'Created'
      ? element('dd', {}, element('time', { datetime: item.created_at, text: value }))
      : element('dd', { text: value })]));
  const content = item.kind === 'object' ? item.crop_url : item.content_url;
  $('similar-details-open').href = content;
  $('similar-details-open').setAttribute('aria-label', `Open ${label} (new tab)`);
  $('similar-details-download').href = content;
  $('similar-details-download').download = item.name || label;
  $('similar-details-download').setAttribute('aria-label', `Download ${label}`);
  const library = !item.kind || item.kind === 'library';
  $('similar-details-segment').hidden = !library;
  if (library) $('similar-details-segment').href = `/segment?image=${encodeURIComponent(item.image_id)}`;
  const page = pageOf(item);
  $('similar-details-page').hidden = !page;
  if (page) $('similar-details-page').href = page;
  openDialog(details, opener);
}

function resultItem(item, index) {
  const label = labelOf(item);
  const open = element('button', {
    type: 'button', class: 'similar-open', 'aria-haspopup': 'dialog',
    onclick: (event) => showDetails(item, event.currentTarget),
  },
  element('img', { src: thumbnail(item, 128), alt: '', width: 64, height: 64 }),
  element('span', { class: 'similar-text' },
    element('span', { class: 'name', text: label }),
    element('span', { class: 'meta',
      text: `${KIND_NAMES[item.kind || 'library']} · similarity ${item.similarity.toFixed(3)}` })));
  return element('li', {
    class: 'similar-item', 'data-rank': index + 1, 'data-kind': item.kind || 'library',
    'data-image-id': item.image_id || '', 'data-segmentation-id': item.segmentation_id || '',
    'data-scan-id': item.scan_id || '', 'data-object-id': item.object_id || '',
  }, open);
}

let searches = 0;
let last = null;

/** The checked "Also search" boxes: `library` always, then scans and/or objects. */
function sources() {
  return ['library', ...['similar-scans', 'similar-objects']
    .filter((id) => $(id).checked).map((id) => $(id).value)];
}

/** `request` ({json} or {body: FormData}) with the drawer's sources added. */
function withSources(request) {
  const chosen = sources();
  if (request.body instanceof FormData) {
    const body = new FormData();
    for (const [name, value] of request.body.entries()) if (name !== 'sources') body.append(name, value);
    body.append('sources', chosen.join(','));
    return { ...request, body };
  }
  return { ...request, json: { ...(request.json || {}), sources: chosen } };
}

for (const id of ['similar-scans', 'similar-objects']) {
  // Changing what is searched runs the last search again, in place.
  $(id).addEventListener('change', () => { if (last) run(last); });
}

/**
 * Open the drawer titled `title` and fill it with the answer to a search; `request` is what
 * api() takes for the body ({json} or {body: FormData}); `opener` gets the focus back.
 */
export async function searchSimilar({ title, request, opener }) {
  last = { title, request };
  $('similar-title').textContent = title;
  openDialog(drawer, opener);
  await run(last);
}

async function run({ request }) {
  const ticket = ++searches;
  results.replaceChildren();
  showProblem(problem, null);
  const wide = sources().length > 1;
  status.textContent = wide ? 'Searching…' : 'Searching your library…';
  try {
    const answer = await apiJson('/api/v1/images/search', { method: 'POST', ...withSources(request) });
    if (ticket !== searches) return;
    results.replaceChildren(...answer.items.map(resultItem));
    const count = answer.items.length;
    status.textContent = !count
      ? (wide ? 'Nothing to compare with yet.' : 'Nothing in your library to compare with yet.')
      : wide ? `${count} result${count === 1 ? '' : 's'}, the most similar first.`
        : `${count} image${count === 1 ? '' : 's'} of your library, the most similar first.`;
  } catch (error) {
    if (ticket !== searches) return;
    status.textContent = '';
    showProblem(problem, error);
  }
}
