// The segment workbench: pick an image (library or upload), run an operation with its
// options, see the result beside the original, download it in any format or keep it in the
// library. Superpixels: boundaries drawn over the image, a click toggles a superpixel in the
// selection (XOR), the selection shown on white beside it, computed here from the labels the
// service sent; the mask to download is the service's own (/segment/superpixels/selection).
import { api, apiJson, element, saveBlob, showProblem } from './api.js';
import { searchSimilar } from './similar.js';

const $ = (id) => document.getElementById(id);
const OUTSIDE = 65535;
const TABLE_FEATURES = ['area', 'perimeter', 'equivalent_diameter', 'eccentricity', 'solidity', 'circularity'];
const EXTENSION = { jpeg: 'jpg', tiff: 'tif' };
const SEARCH_PARAMS = ['n_segments', 'compactness', 'sigma', 'iterations'];

const state = {
  source: null, // {blob, name, libraryId}
  pixels: null, // ImageData of the original as the browser decoded it
  result: null, // {blob, operation}
  objects: null,
  superpixels: null, // {params, width, height, labels: Uint16Array, overlay: ImageData}
  selected: new Set(),
};

const problem = $('run-problem');
const status = $('run-status');

function b64ToBytes(data) {
  const binary = atob(data);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function stem(name) {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

async function decodePixels(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  return context.getImageData(0, 0, bitmap.width, bitmap.height);
}

// --- the source image ------------------------------------------------------------------------

async function useSource(source) {
  state.source = source;
  state.result = null;
  state.superpixels = null;
  state.selected.clear();
  showProblem(problem, null);
  $('original').src = URL.createObjectURL(source.blob);
  $('original').alt = `The original image, ${source.name}`;
  $('original-caption').textContent = `Original: ${source.name}`;
  $('result').hidden = true;
  $('result-tools').hidden = true;
  $('selection-tools').hidden = true;
  $('selection-canvas').hidden = true;
  $('superpixel-canvas').hidden = true;
  $('original').hidden = false;
  try {
    state.pixels = await decodePixels(source.blob);
    $('source-status').textContent = `${source.name}: ${state.pixels.width}×${state.pixels.height} pixels.`;
  } catch (error) {
    showProblem(problem, new Error(`This browser cannot show ${source.name}; the operations still work on it.`));
    state.pixels = null;
  }
}

async function loadLibrary() {
  const select = $('library-image');
  const wanted = $('source').dataset.imageId;
  try {
    const page = await apiJson('/api/v1/images?limit=100&sort=-created_at');
    for (const image of page.items) {
      select.append(element('option', { value: image.id, text: image.name }));
    }
    if (wanted && page.items.some((image) => image.id === wanted)) {
      select.value = wanted;
      await useLibraryImage(wanted);
    } else if (wanted) {
      showProblem(problem, new Error(`Image ${wanted} is not in your library.`));
    }
  } catch (error) { showProblem(problem, error); }
}

async function useLibraryImage(id) {
  if (!id) return;
  const name = $('library-image').selectedOptions[0].textContent;
  try {
    // PNG whatever was uploaded: the browser shows it and the service reads the same pixels.
    const response = await api(`/api/v1/images/${id}/content?output=png`);
    await useSource({ blob: await response.blob(), name, libraryId: id });
  } catch (error) { showProblem(problem, error); }
}

$('library-image').addEventListener('change', (event) => useLibraryImage(event.target.value));
$('upload-image').addEventListener('change', (event) => {
  const [file] = event.target.files;
  if (file) {
    $('library-image').value = '';
    useSource({ blob: file, name: file.name, libraryId: null });
  }
});

// --- tabs ------------------------------------------------------------------------------------

const tabs = [...document.querySelectorAll('[role="tab"]')];
function selectTab(tab) {
  for (const other of tabs) {
    const selected = other === tab;
    other.setAttribute('aria-selected', String(selected));
    other.tabIndex = selected ? 0 : -1;
    $(other.getAttribute('aria-controls')).hidden = !selected;
  }
}
for (const tab of tabs) {
  tab.addEventListener('click', () => selectTab(tab));
  tab.addEventListener('keydown', (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(tabs.indexOf(tab) + step + tabs.length) % tabs.length];
    selectTab(next);
    next.focus();
  });
}

// --- running an operation ----------------------------------------------------------------------

function formFields(form) {
  const fields = {};
  for (const input of form.querySelectorAll('[name]')) {
    if (input.type === 'checkbox') fields[input.name] = input.checked ? 'true' : 'false';
    else if (input.value !== '') fields[input.name] = input.value;
  }
  return fields;
}

async function post(operation, fields, accept = 'application/json') {
  const body = new FormData();
  body.append('image', state.source.blob, state.source.name);
  for (const [name, value] of Object.entries(fields)) body.append(name, value);
  return api(`/api/v1/segment/${operation}`, { method: 'POST', body, accept });
}

function showFacts(facts) {
  const list = $('facts');
  list.replaceChildren();
  for (const [name, value] of Object.entries(facts)) {
    if (value === null || typeof value === 'object') continue;
    list.append(element('dt', { text: name.replaceAll('_', ' ') }),
      element('dd', { text: typeof value === 'number' && !Number.isInteger(value) ? value.toFixed(4) : String(value) }));
  }
}

function showResult(blob, operation, caption) {
  state.result = { blob, operation };
  const img = $('result');
  img.src = URL.createObjectURL(blob);
  img.alt = caption;
  img.hidden = false;
  $('result-caption').textContent = caption;
  $('selection-canvas').hidden = true;
  $('superpixel-canvas').hidden = true;
  $('original').hidden = false;
  $('selection-tools').hidden = true;
  $('result-tools').hidden = false;
}

function objectsTable(answer) {
  const head = element('tr', {}, ...['id', ...TABLE_FEATURES, 'centroid (row, col)', 'box (rows, cols)']
    .map((name) => element('th', { scope: 'col', text: name.replaceAll('_', ' ') })));
  const index = Object.fromEntries(answer.feature_names.map((name, i) => [name, i]));
  const cell = (value) => element('td', { text: value === null ? '' : (Number.isInteger(value) ? String(value) : value.toFixed(3)) });
  const featureOf = (object, name) => (Array.isArray(object.features) ? object.features[index[name]] : object.features[name]);
  const rows = answer.objects.map((object) => element('tr', {},
    element('th', { scope: 'row', text: String(object.id) }),
    ...TABLE_FEATURES.map((name) => cell(featureOf(object, name))),
    element('td', { text: object.centroid.map((v) => v.toFixed(1)).join(', ') }),
    element('td', { text: `${object.bbox.min_row}–${object.bbox.max_row}, ${object.bbox.min_col}–${object.bbox.max_col}` })));
  $('objects-table').tHead.replaceChildren(head);
  $('objects-table').tBodies[0].replaceChildren(...rows);
  $('objects-table-wrap').hidden = false;
}

function objectsCsv(answer) {
  const header = ['id', 'bbox_min_row', 'bbox_min_col', 'bbox_max_row', 'bbox_max_col', 'centroid_row', 'centroid_col', ...answer.feature_names];
  const lines = [header.join(',')];
  for (const object of answer.objects) {
    const features = Array.isArray(object.features) ? object.features : answer.feature_names.map((name) => object.features[name]);
    const { min_row: minRow, min_col: minCol, max_row: maxRow, max_col: maxCol } = object.bbox;
    lines.push([object.id, minRow, minCol, maxRow, maxCol, ...object.centroid,
      ...features.map((v) => (v === null ? '' : v))].join(','));
  }
  return new Blob([lines.join('\r\n') + '\r\n'], { type: 'text/csv' });
}

async function run(form) {
  if (!state.source) { showProblem(problem, new Error('Choose an image first: from your library or from this device.')); return; }
  const operation = form.dataset.operation;
  const fields = formFields(form);
  showProblem(problem, null);
  status.textContent = `Running ${operation}…`;
  $('objects-csv').hidden = true;
  $('objects-zip').hidden = true;
  $('objects-table-wrap').hidden = true;
  try {
    if (operation === 'superpixels') {
      await runSuperpixels(fields);
    } else if (operation === 'objects') {
      const answer = await (await post('objects', { ...fields, include_overlay: 'true', output: 'json' })).json();
      state.objects = { answer, fields };
      showResult(new Blob([b64ToBytes(answer.overlay)], { type: 'image/png' }), 'objects', `Objects: ${answer.count} found`);
      showFacts({ count: answer.count, feature_set_version: answer.feature_set_version });
      objectsTable(answer);
      $('objects-csv').hidden = false;
      $('objects-zip').hidden = false;
    } else {
      const answer = await (await post(operation, { ...fields, output: 'json' })).json();
      const { image, ...facts } = answer;
      showResult(new Blob([b64ToBytes(image.data)], { type: image.media_type }), operation,
        `Result of ${operation}: ${image.width}×${image.height}`);
      showFacts(facts);
    }
    status.textContent = `Done: ${operation}.`;
  } catch (error) {
    status.textContent = '';
    showProblem(problem, error);
  }
}

for (const form of document.querySelectorAll('form[data-operation]')) {
  form.addEventListener('submit', (event) => { event.preventDefault(); run(form); });
}

// --- superpixels -------------------------------------------------------------------------------

function decodeLabels(labels) {
  const bytes = b64ToBytes(labels.data);
  const view = new DataView(bytes.buffer);
  const values = new Uint16Array(bytes.length / 2);
  for (let i = 0; i < values.length; i += 1) values[i] = view.getUint16(i * 2, true);
  return values;
}

async function runSuperpixels(fields) {
  if (!state.pixels) throw new Error('This browser cannot show the image, so superpixels cannot be picked on it.');
  const answer = await (await post('superpixels', { ...fields, result: 'overlay', labels_encoding: 'base64', output: 'json' })).json();
  const [height, width] = answer.labels.shape;
  const overlay = await decodePixels(new Blob([b64ToBytes(answer.image.data)], { type: 'image/png' }));
  state.superpixels = { params: fields, width, height, labels: decodeLabels(answer.labels), overlay, count: answer.segment_count };
  state.selected.clear();
  for (const canvas of [$('superpixel-canvas'), $('selection-canvas')]) {
    canvas.width = width;
    canvas.height = height;
    canvas.hidden = false;
  }
  $('original').hidden = true;
  $('result').hidden = true;
  $('result-tools').hidden = true;
  $('selection-tools').hidden = false;
  $('original-caption').textContent = `${answer.segment_count} superpixels: click one to select it, again to let it go`;
  drawSelection();
}

// The selection is shown, downloaded and kept on white or on transparent (RGBA, the unselected
// pixels (0, 0, 0, 0) as the service writes them).
const selectionBackground = () => $('selection-background').value;

function drawSelection() {
  const sp = state.superpixels;
  const transparent = selectionBackground() === 'transparent';
  const behind = transparent ? 0 : 255;
  $('result-caption').textContent = `Selection on ${selectionBackground()}`;
  $('selection-canvas').setAttribute('aria-label', `The selected superpixels on ${selectionBackground()}`);
  const { labels, overlay, width, height } = sp;
  const picked = new ImageData(width, height);
  const marked = new ImageData(new Uint8ClampedArray(overlay.data), width, height);
  const source = state.pixels.data;
  for (let i = 0; i < labels.length; i += 1) {
    const p = i * 4;
    if (state.selected.has(labels[i])) {
      picked.data[p] = source[p];
      picked.data[p + 1] = source[p + 1];
      picked.data[p + 2] = source[p + 2];
      // Selected superpixels are tinted on the boundary view, so the choice is visible there too.
      marked.data[p] = (marked.data[p] + 255) >> 1;
      marked.data[p + 1] = (marked.data[p + 1] + 200) >> 1;
      marked.data[p + 2] >>= 1;
    } else {
      picked.data[p] = behind;
      picked.data[p + 1] = behind;
      picked.data[p + 2] = behind;
    }
    picked.data[p + 3] = state.selected.has(labels[i]) || !transparent ? 255 : 0;
  }
  $('superpixel-canvas').getContext('2d').putImageData(marked, 0, 0);
  $('selection-canvas').getContext('2d').putImageData(picked, 0, 0);
  const ids = [...state.selected].sort((a, b) => a - b);
  $('selection-ids').value = ids.join(',');
  $('selection-status').textContent = ids.length
    ? `${ids.length} superpixel${ids.length === 1 ? '' : 's'} selected.` : 'Nothing selected yet.';
}

$('superpixel-canvas').addEventListener('click', (event) => {
  const sp = state.superpixels;
  if (!sp) return;
  const canvas = event.currentTarget;
  const box = canvas.getBoundingClientRect();
  const col = Math.min(sp.width - 1, Math.floor((event.clientX - box.left) * sp.width / box.width));
  const row = Math.min(sp.height - 1, Math.floor((event.clientY - box.top) * sp.height / box.height));
  const id = sp.labels[row * sp.width + col];
  if (id === OUTSIDE) return;
  if (state.selected.has(id)) state.selected.delete(id); else state.selected.add(id);
  drawSelection();
});

$('selection-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const sp = state.superpixels;
  if (!sp) return;
  const ids = $('selection-ids').value.split(/[\s,]+/).filter(Boolean).map(Number);
  const known = new Set(sp.labels);
  const unknown = ids.filter((id) => !Number.isInteger(id) || !known.has(id) || id === OUTSIDE);
  if (unknown.length) {
    showProblem(problem, new Error(`No superpixel has the id ${unknown.join(', ')}; ids go from 0 to ${sp.count - 1}.`));
    return;
  }
  showProblem(problem, null);
  state.selected = new Set(ids);
  drawSelection();
});
$('selection-clear').addEventListener('click', () => { state.selected.clear(); drawSelection(); });
$('selection-background').addEventListener('change', () => { if (state.superpixels) drawSelection(); });

async function selectionPicture(result) {
  const ids = [...state.selected].sort((a, b) => a - b);
  if (!ids.length) throw new Error('Select at least one superpixel first.');
  const response = await post('superpixels/selection',
    { ...state.superpixels.params, ids: ids.join(','), result, background: selectionBackground(), output: 'png' }, 'image/png');
  return response.blob();
}

$('selection-mask').addEventListener('click', async () => {
  try {
    saveBlob(await selectionPicture('mask'), `${stem(state.source.name)}-selection-mask.png`);
  } catch (error) { showProblem(problem, error); }
});

// Search the library for pictures like the selection: by the library image and the ids (the
// service draws the same superpixels on it), or, for a file from this device, by the file and
// the selection's exact mask.
$('selection-search').addEventListener('click', async (event) => {
  const opener = event.currentTarget;
  const ids = [...state.selected].sort((a, b) => a - b);
  if (!state.superpixels || !ids.length) {
    showProblem(problem, new Error('Select at least one superpixel first.'));
    return;
  }
  showProblem(problem, null);
  const title = `Images like the selection in ${state.source.name}`;
  if (state.source.libraryId) {
    const params = Object.fromEntries(Object.entries(state.superpixels.params)
      .filter(([name]) => SEARCH_PARAMS.includes(name)).map(([name, value]) => [name, Number(value)]));
    searchSimilar({ title, opener, request: { json: { image_id: state.source.libraryId, ids, ...params } } });
    return;
  }
  try {
    const body = new FormData();
    body.append('image', state.source.blob, state.source.name);
    body.append('mask', await selectionPicture('mask'), 'selection-mask.png');
    searchSimilar({ title, opener, request: { body } });
  } catch (error) { showProblem(problem, error); }
});

// --- the result: download, keep ----------------------------------------------------------------

async function currentResult() {
  if (state.superpixels && !$('selection-tools').hidden) {
    return { blob: await selectionPicture('cutout'), operation: 'selection' };
  }
  if (!state.result) throw new Error('Run an operation first.');
  return state.result;
}

$('result-download').addEventListener('click', async () => {
  const format = $('result-format').value;
  try {
    const { blob, operation } = await currentResult();
    const body = new FormData();
    body.append('image', blob, 'result.png');
    body.append('output', format);
    const converted = await api('/api/v1/segment/convert', { method: 'POST', body });
    saveBlob(await converted.blob(), `${stem(state.source.name)}-${operation}.${EXTENSION[format] || format}`);
  } catch (error) { showProblem(problem, error); }
});

async function saveToLibrary() {
  const message = $('selection-tools').hidden ? $('result-status') : $('selection-status');
  try {
    const { blob, operation } = await currentResult();
    const name = `${stem(state.source.name)}-${operation}.png`;
    const body = new FormData();
    body.append('image', blob, name);
    body.append('name', name);
    const saved = await apiJson('/api/v1/images', { method: 'POST', body });
    message.textContent = `Saved to your library as ${saved.name}.`;
  } catch (error) { showProblem(problem, error); }
}
$('result-save').addEventListener('click', saveToLibrary);
$('selection-save').addEventListener('click', saveToLibrary);

$('objects-csv').addEventListener('click', () => {
  if (state.objects) saveBlob(objectsCsv(state.objects.answer), `${stem(state.source.name)}-objects.csv`);
});
$('objects-zip').addEventListener('click', async () => {
  try {
    const response = await post('objects', { ...state.objects.fields, output: 'zip' }, 'application/zip');
    saveBlob(await response.blob(), `${stem(state.source.name)}-objects.zip`);
  } catch (error) { showProblem(problem, error); }
});

loadLibrary();
