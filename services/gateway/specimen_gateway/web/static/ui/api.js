// The public API through the gateway, authenticated by the session cookies (never by a token
// this script could read). Unsafe requests carry the page's CSRF token; a 401 is answered by
// one refresh of the session, then the request again; a session that cannot be refreshed
// sends the user to sign in.

const csrfToken = document.querySelector('meta[name="csrf-token"]').content;

export class ApiProblem extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `The server answered ${status}.`);
    this.status = status;
    this.problem = problem;
  }
}

let refreshing = null;

async function refreshSession() {
  // One refresh at a time: parallel requests that all met a 401 share it.
  refreshing ??= fetch('/ui/session/refresh', {
    method: 'POST', credentials: 'same-origin',
    headers: { 'X-CSRF-Token': csrfToken, Accept: 'application/json' },
  }).then((response) => response.ok).finally(() => { refreshing = null; });
  return refreshing;
}

export function signIn() {
  const here = location.pathname + location.search;
  location.assign(`/login?next=${encodeURIComponent(here)}`);
}

async function problemOf(response) {
  const type = response.headers.get('content-type') || '';
  if (type.includes('json')) {
    try { return await response.json(); } catch { /* fall through */ }
  }
  return { title: response.statusText, detail: `The server answered ${response.status} ${response.statusText}.` };
}

/**
 * fetch() an API path. `json` sends a JSON body, `body` anything fetch takes (FormData).
 * Answers the Response when ok; throws ApiProblem (with the problem's detail) otherwise.
 */
export async function api(path, { method = 'GET', json, body, accept, retry = true } = {}) {
  const headers = {};
  if (accept) headers.Accept = accept;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  if (!['GET', 'HEAD'].includes(method)) headers['X-CSRF-Token'] = csrfToken;
  const response = await fetch(path, { method, headers, body, credentials: 'same-origin' });
  if (response.status === 401 && retry) {
    if (await refreshSession()) return api(path, { method, json, body, accept, retry: false });
    signIn();
    throw new ApiProblem(401, await problemOf(response));
  }
  if (!response.ok) throw new ApiProblem(response.status, await problemOf(response));
  return response;
}

export async function apiJson(path, options) {
  const response = await api(path, { accept: 'application/json', ...options });
  return response.status === 204 ? null : response.json();
}

/** Show a problem's detail in `element` (a role="alert" box), or hide it with null. */
export function showProblem(element, error) {
  if (!element) return;
  if (!error) { element.hidden = true; element.textContent = ''; return; }
  element.textContent = error instanceof ApiProblem ? error.message : String(error.message || error);
  element.hidden = false;
}

export async function signOut(target = '/login') {
  await fetch('/ui/session/logout', {
    method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': csrfToken },
  });
  location.assign(target);
}

let me = null;
/** The signed-in user (GET /api/v1/auth/me), asked once per page. */
export function whoAmI() {
  me ??= apiJson('/api/v1/auth/me');
  return me;
}

/** Save a Blob as a file the browser downloads. */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'text') node.textContent = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : value);
  }
  node.append(...children);
  return node;
}

export function formatBytes(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
