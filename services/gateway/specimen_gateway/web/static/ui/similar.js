// Similar-image search (POST /api/v1/images/search): the results in a drawer, best first, each
// with its thumbnail, name and similarity; a result opens a pop-up with its metadata and links.
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

function labelOf(item) {
  return item.segmentation_id ? `${item.name} (a kept result)` : item.name;
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
  image.src = `${item.thumbnail_url}?size=256`;
  image.alt = `Thumbnail of ${label}`;
  const facts = [
    ['Name', item.name],
    ['Size', `${item.width}×${item.height} pixels`],
    ['Media type', item.media_type],
    ['Created', when(item.created_at)],
    ['Similarity', item.similarity.toFixed(3)],
    ['What', item.segmentation_id ? 'A result kept with a library image' : 'A library image'],
  ];
  $('similar-details-facts').replaceChildren(...facts.flatMap(([name, value]) => [
    element('dt', { text: name }),
    name === 'Created'
      ? element('dd', {}, element('time', { datetime: item.created_at, text: value }))
      : element('dd', { text: value })]));
  $('similar-details-open').href = item.content_url;
  $('similar-details-open').setAttribute('aria-label', `Open ${label} (new tab)`);
  $('similar-details-download').href = item.content_url;
  $('similar-details-download').download = item.name;
  $('similar-details-download').setAttribute('aria-label', `Download ${label}`);
  $('similar-details-segment').href = `/segment?image=${encodeURIComponent(item.image_id)}`;
  openDialog(details, opener);
}

function resultItem(item, index) {
  const label = labelOf(item);
  const open = element('button', {
    type: 'button', class: 'similar-open', 'aria-haspopup': 'dialog',
    onclick: (event) => showDetails(item, event.currentTarget),
  },
  element('img', { src: `${item.thumbnail_url}?size=128`, alt: '', width: 64, height: 64 }),
  element('span', { class: 'similar-text' },
    element('span', { class: 'name', text: label }),
    element('span', { class: 'meta', text: `similarity ${item.similarity.toFixed(3)}` })));
  return element('li', {
    class: 'similar-item', 'data-rank': index + 1, 'data-image-id': item.image_id,
    'data-segmentation-id': item.segmentation_id || '',
  }, open);
}

let searches = 0;

/**
 * Open the drawer titled `title` and fill it with the answer to a search; `request` is what
 * api() takes for the body ({json} or {body: FormData}); `opener` gets the focus back.
 */
export async function searchSimilar({ title, request, opener }) {
  const ticket = ++searches;
  $('similar-title').textContent = title;
  results.replaceChildren();
  showProblem(problem, null);
  status.textContent = 'Searching your library…';
  openDialog(drawer, opener);
  try {
    const answer = await apiJson('/api/v1/images/search', { method: 'POST', ...request });
    if (ticket !== searches) return;
    results.replaceChildren(...answer.items.map(resultItem));
    const count = answer.items.length;
    status.textContent = count
      ? `${count} image${count === 1 ? '' : 's'} of your library, the most similar first.`
      : 'Nothing in your library to compare with yet.';
  } catch (error) {
    if (ticket !== searches) return;
    status.textContent = '';
    showProblem(problem, error);
  }
}
