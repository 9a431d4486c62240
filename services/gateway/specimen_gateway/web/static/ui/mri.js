// MRI: classify a slice (label, calibrated probability, model version, the crop box drawn,
// warnings when the model abstains or learned from generated slices), file it as a scan, and
// list, filter and export the hospital's scans; moderators re-classify with the active model.
import { api, apiJson, element, saveBlob, showProblem, whoAmI } from './api.js';
import { decodeDicom } from './dicom.js';

const $ = (id) => document.getElementById(id);
let slice = null;

function percent(value) { return value === null || value === undefined ? '—' : `${(value * 100).toFixed(1)} %`; }

/** The slice's pixels on the canvas: a picture as the browser decodes it, a DICOM as the
 * classifier reads it (dicom.js). Answers why it cannot be drawn, or null. */
async function paint(canvas, file) {
  try {
    const bitmap = await createImageBitmap(file);
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    return null;
  } catch { /* not a picture this browser decodes: a DICOM? */ }
  try {
    const { width, height, gray } = decodeDicom(await file.arrayBuffer());
    const picture = new ImageData(width, height);
    for (let i = 0; i < gray.length; i += 1) {
      picture.data.fill(gray[i], 4 * i, 4 * i + 3);
      picture.data[4 * i + 3] = 255;
    }
    canvas.width = width;
    canvas.height = height;
    canvas.getContext('2d').putImageData(picture, 0, 0);
    return null;
  } catch (error) { return `This page cannot draw ${file.name}: ${error.message}.`; }
}

async function drawSlice(file, box) {
  const canvas = $('slice-canvas');
  const why = await paint(canvas, file);
  if (!why && box) {
    const context = canvas.getContext('2d');
    context.lineWidth = Math.max(2, Math.round(canvas.width / 128));
    context.strokeStyle = '#f0a500';
    context.strokeRect(box.min_col, box.min_row, box.max_col - box.min_col, box.max_row - box.min_row);
  }
  canvas.hidden = Boolean(why);
  const where = box
    ? `Brain found in rows ${box.min_row}–${box.max_row}, columns ${box.min_col}–${box.max_col}${why ? '' : ' (the orange box)'}.`
    : 'No crop box.';
  $('crop-text').textContent = why ? `${where} ${why}` : where;
}

function showPrediction(answer) {
  const facts = {
    label: answer.label,
    probability: percent(answer.probability),
    'tumor probability': percent(answer.tumor_probability),
    'decision threshold': percent(answer.decision_threshold),
    model: `${answer.model.name} version ${answer.model.version}`,
  };
  $('prediction-facts').replaceChildren(...Object.entries(facts).flatMap(([key, value]) => [
    element('dt', { text: key }), element('dd', { text: String(value), 'data-fact': key })]));
  const warnings = [];
  if (answer.out_of_distribution || answer.label === 'uncertain') {
    warnings.push(`Uncertain: ${answer.ood_reason || 'this picture is unlike the slices the model learned from'}.`);
  }
  const data = answer.model.training_data;
  if (data && data.kind === 'generated') {
    warnings.push(`This model learned from generated slices (${data.summary}): it is not a diagnostic device.`);
  }
  $('warnings').replaceChildren(...warnings.map((text) => element('li', { text })));
  $('warnings').hidden = warnings.length === 0;
  $('prediction').hidden = false;
}

async function classifyStack(files) {
  const body = new FormData();
  for (const file of files) body.append('image', file, file.name);
  const answer = await apiJson('/api/v1/classify/mri/batch', { method: 'POST', body });
  $('stack-caption').textContent = `The stack: ${answer.classified} of ${files.length} slices classified by ${answer.model.name} version ${answer.model.version}`;
  $('stack-results').tBodies[0].replaceChildren(...answer.results.map((item) => element('tr', {},
    element('th', { scope: 'row', text: String(item.index + 1) }),
    element('td', { text: item.filename ?? '' }),
    element('td', { text: item.prediction ? item.prediction.label : '—' }),
    element('td', { text: item.prediction ? percent(item.prediction.probability) : '—' }),
    element('td', { text: item.problem ? item.problem.detail : (item.prediction.ood_reason ?? '') }))));
  $('stack').hidden = false;
  $('prediction').hidden = true;
}

$('classify-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const files = [...$('slice').files];
  if (!files.length) return;
  $('stack').hidden = true;
  if (files.length > 1) {
    showProblem($('classify-problem'), null);
    try { await classifyStack(files); } catch (error) { showProblem($('classify-problem'), error); }
    return;
  }
  const [file] = files;
  showProblem($('classify-problem'), null);
  $('file-status').textContent = '';
  const body = new FormData();
  body.append('image', file, file.name);
  try {
    const answer = await apiJson('/api/v1/classify/mri', { method: 'POST', body });
    slice = file;
    showPrediction(answer);
    await drawSlice(file, answer.crop_box);
  } catch (error) {
    $('prediction').hidden = true;
    showProblem($('classify-problem'), error);
  }
});

$('file-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!slice) return;
  showProblem($('file-problem'), null);
  const body = new FormData();
  body.append('image', slice, slice.name);
  for (const [name, value] of new FormData(event.currentTarget)) if (value !== '') body.append(name, value);
  try {
    const scan = await apiJson('/api/v1/scans', { method: 'POST', body });
    $('file-status').textContent = `Filed as scan ${scan.id}: ${scan.classification.label}.`;
    await loadScans();
  } catch (error) { showProblem($('file-problem'), error); }
});

function filters() {
  const query = new URLSearchParams();
  for (const [name, value] of new FormData($('scan-filters'))) {
    if (!value.trim()) continue;
    if (name === 'filed_until') {
      // The API's created_before is exclusive: the day after the last one asked for.
      const next = new Date(`${value}T00:00:00Z`);
      next.setUTCDate(next.getUTCDate() + 1);
      query.set('created_before', next.toISOString().slice(0, 10));
    } else query.set(name, value.trim());
  }
  return query;
}

async function reclassify(scan) {
  try {
    const updated = await apiJson(`/api/v1/scans/${scan.id}/classification`, { method: 'POST' });
    await loadScans();
    $('scans-status').textContent = `Scan ${scan.id} re-classified: ${updated.classification.label}.`;
  } catch (error) { showProblem($('page-problem'), error); }
}

let editing = null;

async function showHistory(scan) {
  try {
    const [page, me] = await Promise.all([apiJson(`/api/v1/scans/${scan.id}/classifications?limit=50`), whoAmI()]);
    // Editing a record is for moderators and admins (the service says so to anyone else).
    editing = scan;
    $('edit-scan').hidden = me.role === 'technician';
    $('edit-true-label').value = scan.true_label ?? '';
    $('edit-notes').value = scan.notes ?? '';
    $('edit-status').textContent = '';
    $('history-title').textContent = `History of scan ${scan.id}`;
    $('history-items').replaceChildren(...page.items.map((item) => element('li', {
      text: `${item.classified_at}: ${item.label} (${percent(item.probability)}), ${item.model.name} version ${item.model.version}` })));
    $('history').hidden = false;
  } catch (error) { showProblem($('page-problem'), error); }
}

async function loadScans() {
  const query = filters();
  query.set('limit', '50');
  try {
    const [page, me] = await Promise.all([apiJson(`/api/v1/scans?${query}`), whoAmI()]);
    const manager = me.role !== 'technician';
    $('scans').tBodies[0].replaceChildren(...page.items.map((scan) => element('tr', { 'data-scan-id': scan.id },
      element('th', { scope: 'row', text: String(scan.id) }),
      element('td', { text: scan.created_at }),
      element('td', { text: scan.patient_ref ?? '' }),
      element('td', { text: scan.patient_gender }),
      element('td', { text: scan.classification.label }),
      element('td', { text: percent(scan.classification.probability) }),
      element('td', { text: `${scan.classification.model.name} v${scan.classification.model.version}` }),
      element('td', {},
        element('button', { type: 'button', class: 'secondary', text: `History of scan ${scan.id}`,
          onclick: () => showHistory(scan) }),
        manager ? element('button', { type: 'button', class: 'secondary',
          text: `Re-classify scan ${scan.id}`, onclick: () => reclassify(scan) }) : ''))));
    $('scans-status').textContent = `${page.total} scan${page.total === 1 ? '' : 's'}.`;
  } catch (error) { showProblem($('page-problem'), error); }
}

$('edit-scan').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (!editing) return;
  const fields = Object.fromEntries(new FormData(event.currentTarget));
  const change = { true_label: fields.true_label || null, notes: fields.notes || null };
  try {
    const scan = await apiJson(`/api/v1/scans/${editing.id}`, { method: 'PATCH', json: change });
    editing = scan;
    await loadScans();
    $('edit-status').textContent = `Scan ${scan.id} saved.`;
  } catch (error) { showProblem($('page-problem'), error); }
});

$('scan-filters').addEventListener('submit', (event) => { event.preventDefault(); loadScans(); });
$('scans-csv').addEventListener('click', async () => {
  try {
    const response = await api(`/api/v1/scans/export.csv?${filters()}`, { accept: 'text/csv' });
    saveBlob(await response.blob(), 'scans.csv');
  } catch (error) { showProblem($('page-problem'), error); }
});

loadScans();
