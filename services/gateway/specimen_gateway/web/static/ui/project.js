// A plankton project: its facts, members (managers add, change and remove them), frames
// uploaded in bulk (images, ZIPs, a metadata table; the per-file report), runs on the workers
// with a progress bar that follows the job (GET /jobs/{id}), and exports to download.
// A 404 from the API (no such project, or not yours) shows the not-found page.
import { api, apiJson, element, formatBytes, showProblem, whoAmI } from './api.js';
import { showNotFound, followJob } from './jobs.js';

const $ = (id) => document.getElementById(id);
const projectId = Number($('project').dataset.projectId);
const base = `/api/v1/projects/${projectId}`;
let project = null;
let me = null;
let knownUsers = new Map(); // id -> user, for the moderators and admins who can list users
const frameNames = new Map();

function userLabel(userId) {
  if (me && userId === me.id) return `${me.full_name} (you)`;
  const user = knownUsers.get(userId);
  return user ? `${user.full_name} <${user.email}>` : `user #${userId}`;
}

function showFacts() {
  const facts = {
    name: project.name, description: project.description || '—', instrument: project.instrument || '—',
    'pixel size': project.pixel_size_um ? `${project.pixel_size_um} µm per pixel` : '—',
    'your role': project.role, created: project.created_at,
  };
  $('facts').replaceChildren(...Object.entries(facts).flatMap(([key, value]) => [
    element('dt', { text: key }), element('dd', { text: String(value) })]));
  document.querySelector('main h1').textContent = project.name;
  document.title = `${project.name} · Specimen`;
  for (const node of document.querySelectorAll('.manager-only')) node.hidden = project.role !== 'manager';
}

// ---- members -------------------------------------------------------------------------------

async function loadMembers() {
  try {
    const page = await apiJson(`${base}/members?limit=500`);
    const manager = project.role === 'manager';
    $('members').tBodies[0].replaceChildren(...page.items.map((member) => {
      const label = userLabel(member.user_id);
      let role = element('span', { text: member.owner ? 'manager (owner)' : member.role });
      const actions = element('td');
      if (manager && !member.owner) {
        role = element('select', { 'aria-label': `Role of ${label}`,
          onchange: (event) => setRole(member.user_id, event.target.value, label) },
        ...['viewer', 'annotator', 'manager'].map((r) => element('option', { value: r, text: r, selected: r === member.role })));
        actions.append(element('button', { type: 'button', class: 'secondary', text: `Remove ${label}`,
          onclick: () => removeMember(member.user_id, label) }));
      }
      return element('tr', { 'data-user-id': String(member.user_id) },
        element('th', { scope: 'row', text: label }), element('td', {}, role), actions);
    }));
    showProblem($('members-problem'), null);
  } catch (error) { showProblem($('members-problem'), error); }
}

async function setRole(userId, role, label) {
  try {
    await apiJson(`${base}/members/${userId}`, { method: 'PUT', json: { role } });
    $('members-status').textContent = `${label} is now ${role === 'annotator' ? 'an' : 'a'} ${role}.`;
    await loadMembers();
  } catch (error) { showProblem($('members-problem'), error); }
}

async function removeMember(userId, label) {
  try {
    await api(`${base}/members/${userId}`, { method: 'DELETE' });
    $('members-status').textContent = `${label} is no longer a member.`;
    await loadMembers();
  } catch (error) { showProblem($('members-problem'), error); }
}

function resolveUser(text) {
  const value = text.trim();
  if (/^\d+$/.test(value)) return Number(value);
  const lower = value.toLowerCase();
  for (const user of knownUsers.values()) if (user.email.toLowerCase() === lower) return user.id;
  return null;
}

$('add-member').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const userId = resolveUser(form.get('user'));
  if (userId === null) {
    showProblem($('members-problem'), new Error('Give the user\u2019s id (a number), or the email of a user you manage.'));
    return;
  }
  await setRole(userId, form.get('role'), userLabel(userId));
  event.target.reset();
});

async function loadKnownUsers() {
  // Only moderators and admins may list users; anyone else adds members by id.
  if (me.role === 'technician') return;
  try {
    const page = await apiJson('/api/v1/users?limit=500');
    knownUsers = new Map(page.items.map((user) => [user.id, user]));
    $('known-users').replaceChildren(...page.items.map((user) => element('option', { value: user.email, text: user.full_name })));
  } catch { /* the list is a convenience: ids still work */ }
}

// ---- frames --------------------------------------------------------------------------------

async function loadFrames() {
  try {
    const page = await apiJson(`${base}/frames?limit=500`);
    for (const frame of page.items) frameNames.set(frame.id, frame.file_name);
    $('frames-count').textContent = page.total === 1 ? '1 frame.' : `${page.total} frames.`;
    $('start-run').disabled = page.total === 0;
  } catch (error) { showProblem($('upload-problem'), error); }
}

function showReport(report) {
  $('report-summary').textContent = `${report.imported_count} imported, ${report.rejected_count} rejected.`;
  $('report-imported').tBodies[0].replaceChildren(...report.imported.map((frame) => element('tr', {},
    element('th', { scope: 'row', text: frame.file_name }), element('td', { text: formatBytes(frame.bytes) }),
    element('td', { text: frame.sample_id ?? '—' }), element('td', { text: frame.acq_id ?? '—' }),
    element('td', { text: frame.taken_at ?? '—' }))));
  $('report-rejected').tBodies[0].replaceChildren(...report.rejected.map((file) => element('tr', {},
    element('th', { scope: 'row', text: file.file_name }), element('td', { text: file.source ?? '—' }),
    element('td', { class: 'reason', text: file.reason }))));
  $('report-rejected').hidden = report.rejected.length === 0;
  $('report-imported').hidden = report.imported.length === 0;
  $('report-unmatched').textContent = report.unmatched_metadata?.length
    ? `Metadata rows for files not in the upload: ${report.unmatched_metadata.join(', ')}.` : '';
  $('upload-report').hidden = false;
}

let dropped = null;
function chosenFiles() { return dropped ?? [...$('frame-files').files]; }
function showChosen() {
  const files = chosenFiles();
  $('chosen').textContent = files.length ? `Chosen: ${files.map((f) => f.name).join(', ')}` : '';
}
$('frame-files').addEventListener('change', () => { dropped = null; showChosen(); });
const zone = $('dropzone');
zone.addEventListener('dragover', (event) => { event.preventDefault(); zone.classList.add('over'); });
zone.addEventListener('dragleave', () => zone.classList.remove('over'));
zone.addEventListener('drop', (event) => {
  event.preventDefault();
  zone.classList.remove('over');
  const files = [...event.dataTransfer.files];
  const table = files.find((f) => /\.(csv|tsv)$/i.test(f.name));
  if (table) {
    const transfer = new DataTransfer();
    transfer.items.add(table);
    $('metadata-file').files = transfer.files;
  }
  dropped = files.filter((f) => f !== table);
  showChosen();
});

$('upload').addEventListener('submit', async (event) => {
  event.preventDefault();
  const files = chosenFiles();
  if (!files.length) { showProblem($('upload-problem'), new Error('Choose frames or a ZIP first.')); return; }
  const body = new FormData();
  for (const file of files) body.append('image', file, file.name);
  const table = $('metadata-file').files[0];
  if (table) body.append('metadata', table, table.name);
  $('upload-status').textContent = `Uploading ${files.length} file${files.length === 1 ? '' : 's'}…`;
  $('upload-button').disabled = true;
  try {
    const report = await apiJson(`${base}/frames`, { method: 'POST', body });
    showProblem($('upload-problem'), null);
    showReport(report);
    $('upload-status').textContent = `Uploaded: ${report.imported_count} imported, ${report.rejected_count} rejected.`;
    event.target.reset();
    dropped = null;
    showChosen();
  } catch (error) {
    $('upload-status').textContent = '';
    showProblem($('upload-problem'), error);
    // "nothing imported" still lists every file and its reason.
    if (error.problem?.rejected) showReport({ imported_count: 0, rejected_count: error.problem.rejected.length,
      imported: [], rejected: error.problem.rejected, unmatched_metadata: error.problem.unmatched_metadata ?? [] });
  } finally {
    $('upload-button').disabled = false;
    await loadFrames();
  }
});

// ---- runs ----------------------------------------------------------------------------------

let stopFollowing = null;

function showRun(job) {
  const { total, done, failed, objects } = job.progress;
  const finished = done + failed;
  const percent = total ? Math.round((100 * finished) / total) : (['succeeded', 'failed'].includes(job.status) ? 100 : 0);
  const bar = $('run-progress');
  bar.setAttribute('aria-valuenow', String(percent));
  bar.setAttribute('aria-valuetext', `${percent} %: ${finished} of ${total} frames (${failed} failed)`);
  bar.dataset.status = job.status;
  bar.querySelector('.bar').style.width = `${percent}%`; // CSSOM, not an inline style: the CSP allows it
  $('run-label').textContent = `Run ${job.id}: ${percent} %`;
  const words = { queued: 'queued', running: 'running', succeeded: 'finished', failed: 'failed', cancelled: 'cancelled' };
  $('run-status').textContent = `Run ${job.id} ${words[job.status] || job.status}: ${finished} of ${total} frames`
    + ` (${done} done, ${failed} failed), ${objects} objects${job.cancel_requested && job.status === 'running' ? '; cancelling…' : ''}.`;
  const active = ['queued', 'running'].includes(job.status);
  $('cancel-run').hidden = !active || project.role !== 'manager';
  // The job's errors list its failed frames only: a cancel shows as frames left unfinished.
  const left = total - finished;
  const cancelled = job.status === 'cancelled' && left > 0;
  $('retry-run').hidden = active || project.role !== 'manager' || (failed === 0 && !cancelled);
  $('retry-run').textContent = cancelled ? 'Run the cancelled and failed frames' : 'Run the failed frames again';
  const failures = job.errors.filter((e) => e.status === 'failed');
  $('run-errors').tBodies[0].replaceChildren(...failures.map((task) => element('tr', {},
    element('th', { scope: 'row', text: frameNames.get(task.frame_id) ?? (task.item || `frame ${task.frame_id}`) }),
    element('td', { class: 'reason', text: task.error }))));
  $('run-failures').hidden = failures.length === 0;
  $('run').dataset.jobId = String(job.id);
  $('run').hidden = false;
}

function follow(job) {
  if (stopFollowing) stopFollowing();
  showRun(job);
  stopFollowing = followJob(`/api/v1/jobs/${job.id}`, {
    onUpdate: showRun,
    onProblem: (error) => showProblem($('run-problem'), error),
  });
}

$('start-run').addEventListener('click', async () => {
  $('start-run').disabled = true;
  try {
    const job = await apiJson(`${base}/runs`, { method: 'POST', json: {} });
    showProblem($('run-problem'), null);
    follow(job);
  } catch (error) { showProblem($('run-problem'), error); } finally { $('start-run').disabled = false; }
});

$('cancel-run').addEventListener('click', async () => {
  try {
    showRun(await apiJson(`/api/v1/jobs/${$('run').dataset.jobId}/cancel`, { method: 'POST' }));
  } catch (error) { showProblem($('run-problem'), error); }
});

$('retry-run').addEventListener('click', async () => {
  try {
    follow(await apiJson(`/api/v1/jobs/${$('run').dataset.jobId}/retry`, { method: 'POST' }));
  } catch (error) { showProblem($('run-problem'), error); }
});

async function loadLatestRun() {
  try {
    const page = await apiJson(`${base}/runs?limit=1`);
    if (page.items.length) follow(page.items[0]);
  } catch (error) { showProblem($('run-problem'), error); }
}

// ---- export --------------------------------------------------------------------------------

function showExport(job) {
  const words = { queued: 'queued', running: 'being written', succeeded: 'ready', failed: 'failed', cancelled: 'cancelled' };
  $('export-status-text').textContent = `Export ${job.id} (${job.format}) ${words[job.status] || job.status}`
    + (job.status === 'succeeded' ? `: ${job.objects} objects, ${formatBytes(job.bytes ?? 0)}.` : (job.error ? `: ${job.error}` : '.'));
  const link = $('export-download');
  if (job.status === 'succeeded' && job.content_url) {
    link.href = job.content_url;
    link.download = job.file_name || '';
    link.textContent = `Download ${job.file_name}`;
    link.hidden = false;
  }
}

$('export-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = { format: form.get('format') };
  if (form.get('status')) body.status = [form.get('status')];
  $('export-download').hidden = true;
  $('start-export').disabled = true;
  try {
    const job = await apiJson(`${base}/exports`, { method: 'POST', json: body });
    showProblem($('export-problem'), null);
    showExport(job);
    followJob(`/api/v1/exports/${job.id}`, {
      onUpdate: showExport,
      onProblem: (error) => showProblem($('export-problem'), error),
      onEnd: () => { $('start-export').disabled = false; },
    });
  } catch (error) {
    showProblem($('export-problem'), error);
    $('start-export').disabled = false;
  }
});

// ---- start ---------------------------------------------------------------------------------

async function start() {
  try {
    [project, me] = await Promise.all([apiJson(base), whoAmI()]);
  } catch (error) {
    if (error.status === 404 || error.status === 422) { showNotFound(); return; }
    showProblem($('page-problem'), error);
    return;
  }
  showFacts();
  $('project').hidden = false;
  await loadKnownUsers();
  await Promise.all([loadMembers(), loadFrames()]);
  await loadLatestRun();
}

start();
