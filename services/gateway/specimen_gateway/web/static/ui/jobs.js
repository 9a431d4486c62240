// Shared by the project pages: follow a job until it ends, and the not-found page.
import { apiJson } from './api.js';

const ACTIVE = new Set(['queued', 'running']);

/**
 * Poll `url` (GET /api/v1/jobs/{id} or /exports/{id}) while its status is queued or running,
 * calling onUpdate with each answer; onEnd once it ended. Answers a function that stops it.
 */
export function followJob(url, { onUpdate, onProblem, onEnd, everyMs = 500 } = {}) {
  let stopped = false;
  let timer = null;
  let misses = 0;
  async function poll() {
    if (stopped) return;
    try {
      const job = await apiJson(url);
      misses = 0;
      if (stopped) return;
      onUpdate?.(job);
      if (!ACTIVE.has(job.status)) { onEnd?.(job); return; }
    } catch (error) {
      misses += 1;
      onProblem?.(error);
      if (error.status === 404 || misses >= 5) { onEnd?.(null); return; }
    }
    timer = setTimeout(poll, everyMs);
  }
  timer = setTimeout(poll, everyMs);
  return () => { stopped = true; clearTimeout(timer); };
}

/** The API answered 404 for the page's project: show the not-found page instead. */
export function showNotFound() {
  document.title = 'Not found · Specimen';
  document.querySelector('main h1').textContent = 'Not found';
  for (const node of document.querySelectorAll('main > :not(h1):not(#page-problem)')) node.hidden = true;
  document.getElementById('not-found').hidden = false;
}
