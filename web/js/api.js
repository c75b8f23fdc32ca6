// Talks to the gateway's REST API. Every answer's X-Served-By is reported to the listeners
// (the cluster view shows who answered); errors become ApiError with words for people (the
// server's problem+json `detail` where it explains a rule, never an HTTP code in the message);
// network errors are retried a few times and say so. With several
// gateways (gateways.js), a call its gateway does not answer moves to the next one at once.
import { answers, currentGateway, moveOn, requestInit, setSessionToken, severalGateways }
  from './gateways.js';
import { t } from './i18n.js';

const TIMEOUT_MS = 8000;
const RETRY_DELAYS_MS = [500, 1000, 2000];
// With another gateway to go to: a call without an answer after this long has its gateway's
// /health probed (1 s); when that fails too, the call moves on instead of waiting for TIMEOUT_MS.
const PROBE_AFTER_MS = 1500;

/** An error to show to the user: `message` is already in words. */
export class ApiError extends Error {
  constructor(message, { status = 0, title = '', detail = '', network = false, retryAfter = null } = {}) {
    super(message);
    this.status = status;   // HTTP status, 0 for a network failure
    this.title = title;     // problem+json title
    this.detail = detail;   // problem+json detail: the server's explanation
    this.network = network;
    this.retryAfter = retryAfter; // the Retry-After header as sent (429, 503), or null
  }
}

const servedByListeners = new Set();
const retryListeners = new Set();

/** fn(nodeId, {method, path, status, background}) after every answer naming the node that served it. */
export function onServedBy(fn) { servedByListeners.add(fn); }
/** fn({attempt, of, delayMs, method, path, error}) before each retry; fn(null) when it worked.
 * `error` is in words (no HTTP code). */
export function onRetry(fn) { retryListeners.add(fn); }

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function problemOf(res) {
  const text = await res.text().catch(() => '');
  try {
    const p = JSON.parse(text);
    if (p && typeof p === 'object' && !Array.isArray(p)) return p;
  } catch { /* not JSON */ }
  return { title: res.statusText, detail: text.trim().slice(0, 300) };
}

/**
 * One API call. Returns {status, headers, body} for 2xx and 304 (body parsed from JSON when
 * there is one); throws ApiError otherwise. Network failures, timeouts and 502/503/504 are
 * retried (every request of this API is idempotent: writes are upserts by username).
 */
export async function api(method, path,
  { body, headers = {}, retries = RETRY_DELAYS_MS.length, background = false } = {}) {
  const init = { method, headers: { Accept: 'application/json', ...headers }, cache: 'no-store' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  let announced = false; // whether this call told the listeners it is retrying
  const done = () => { if (announced) retryDone(); };
  const tried = new Set(); // the gateways that did not answer this call since its last pause
  for (let attempt = 0; ; attempt++) {
    let res;
    const gateway = currentGateway();
    try {
      res = await send(gateway, path, init);
    } catch (e) {
      tried.add(gateway);
      // Another gateway: the call is repeated there now (not a retry, no pause).
      if (moveOn(gateway, tried)) {
        attempt--;
        continue;
      }
      const why = e === GATEWAY_DOWN ? t('net.gatewayDown')
        : e.name === 'TimeoutError' ? t('net.timeout', { s: TIMEOUT_MS / 1000 })
          : t('net.unreachable');
      if (attempt < retries) {
        announced = true;
        await retryPause(attempt, retries, method, path, why);
        tried.clear();
        continue;
      }
      done();
      throw new ApiError(t('net.failed', { why, count: attempt + 1 }), { network: true });
    }
    const servedBy = res.headers.get('X-Served-By');
    if (servedBy) for (const fn of servedByListeners) fn(servedBy, { method, path, status: res.status, background });

    if ([502, 503, 504].includes(res.status) && attempt < retries) {
      await res.text().catch(() => ''); // drained: the connection is reused
      announced = true;
      await retryPause(attempt, retries, method, path, t('net.busy'),
        Number(res.headers.get('Retry-After')) * 1000 || 0);
      continue;
    }
    done();
    if (res.ok || res.status === 304) {
      const text = res.status === 204 || res.status === 304 ? '' : await res.text();
      let parsed = null;
      if (text) {
        try { parsed = JSON.parse(text); } catch {
          throw new ApiError(t('net.notJson'), { status: res.status });
        }
      }
      return { status: res.status, headers: res.headers, body: parsed, servedBy };
    }
    const p = await problemOf(res);
    const title = p.title || res.statusText || `HTTP ${res.status}`;
    const detail = p.detail || '';
    throw new ApiError(res.status >= 500 ? t('net.serverTrouble') : detail || t('net.refused'),
      { status: res.status, title, detail, retryAfter: res.headers.get('Retry-After') });
  }
}

const GATEWAY_DOWN = new Error('the gateway stopped answering');

// One attempt on `gateway`. With another gateway to go to, a slow read has the gateway's
// /health probed: a gateway that answers neither is given up on (GATEWAY_DOWN) within ~2.5 s.
// Not a write: a slow one may still be applied, and its repetition elsewhere could then be
// refused (a conditional PUT: 412); it moves on after a network error or TIMEOUT_MS only.
async function send(gateway, path, init) {
  const timeout = AbortSignal.timeout(TIMEOUT_MS);
  const url = gateway + path;
  const read = init.method === 'GET' || init.method === 'HEAD';
  if (!read || !severalGateways()) return fetch(url, requestInit({ ...init, signal: timeout }, gateway));
  const down = new AbortController();
  const watch = setTimeout(async () => {
    if (!(await answers(gateway))) down.abort(GATEWAY_DOWN);
  }, PROBE_AFTER_MS);
  try {
    return await fetch(url, requestInit({ ...init, signal: AbortSignal.any([timeout, down.signal]) }, gateway));
  } finally {
    clearTimeout(watch);
  }
}

async function retryPause(attempt, of, method, path, error, minDelayMs = 0) {
  const delayMs = Math.max(RETRY_DELAYS_MS[Math.min(attempt, RETRY_DELAYS_MS.length - 1)], Math.min(minDelayMs, 5000));
  for (const fn of retryListeners) fn({ attempt: attempt + 1, of, delayMs, method, path, error });
  await sleep(delayMs);
}

function retryDone() { for (const fn of retryListeners) fn(null); }

// Accounts and sessions (CONTRACT §6). The browser's credential is the session cookie the node
// sets (HttpOnly, SameSite=Strict): the page never sees or stores the token.
export const account = {
  /** 200 {username, roles}; 401 when signed out; 404 when the nodes run with --auth off. */
  me: () => api('GET', '/api/me', { retries: 1 }),
  // The token of the answer is kept in memory for gateways on other hosts (gateways.js).
  signIn: async (username, password) => {
    const r = await api('POST', '/api/sessions', { body: { username, password } });
    setSessionToken(r.body?.token);
    return r;
  },
  signUp: (username, password) => api('POST', '/api/accounts', { body: { username, password } }),
  signOut: async () => {
    try {
      const r = await api('DELETE', '/api/sessions/current');
      setSessionToken(null);
      return r;
    } catch (err) {
      if (err.status === 401) setSessionToken(null); // it had ended already
      throw err;
    }
  },
};

// The status resource.
const enc = encodeURIComponent;
export const statuses = {
  /** One page; `params`: more query parameters (the filters q, availability, bbox, username). */
  list: (limit, offset, params = new URLSearchParams()) =>
    api('GET', `/api/statuses?${listQuery(limit, offset, params)}`),
  get: (username) => api('GET', `/api/statuses/${enc(username)}`),
  /** The user's previous statuses, newest first (404: no status and no history). */
  history: (username) => api('GET', `/api/statuses/${enc(username)}/history`),
  /** PUT: create or replace. `ifMatch`: the version the user edited (412 if it changed). */
  put: (username, body, { ifMatch } = {}) =>
    api('PUT', `/api/statuses/${enc(username)}`, { body, headers: ifMatch ? { 'If-Match': `"${ifMatch}"` } : {} }),
  remove: (username, { ifMatch } = {}) =>
    api('DELETE', `/api/statuses/${enc(username)}`, { headers: ifMatch ? { 'If-Match': `"${ifMatch}"` } : {} }),
  services: () => api('GET', '/api/services', { retries: 0, background: true }),
};

function listQuery(limit, offset, params) {
  const q = new URLSearchParams({ limit: String(limit), offset: String(offset) });
  for (const [k, v] of params) q.append(k, v);
  return q.toString().replace(/%2C/g, ','); // bbox=1,2,3,4 reads better, and a comma needs no escaping
}

/**
 * Every status that passes `params` (filters), following the Link rel="next" pages (bounded):
 * an array, whose `complete` says whether the last page was reached.
 */
export async function allStatuses({ params = new URLSearchParams(), pageSize = 1000, maxPages = 20 } = {}) {
  const out = [];
  let url = `/api/statuses?${listQuery(pageSize, 0, params)}`;
  for (let i = 0; url && i < maxPages; i++) {
    const r = await api('GET', url);
    out.push(...(r.body || []));
    url = nextLink(r.headers.get('Link'));
  }
  out.complete = !url; // every page followed (not cut off at maxPages)
  return out;
}

/** The target of rel="next" in a Link header, or null. */
export function nextLink(link) {
  if (!link) return null;
  for (const part of link.split(',')) {
    const m = part.match(/<([^>]*)>\s*;\s*rel="?next"?/i);
    if (m) {
      const u = new URL(m[1], location.href);
      return u.pathname + u.search;
    }
  }
  return null;
}
