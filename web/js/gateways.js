// Every gateway of the cluster serves the same API: the page knows them all (GET /api/gateways,
// loaded at start and every 5 minutes while the page is visible: the one request an idle page
// makes besides its event stream) and, when the gateway it talks to
// stops answering, carries on through the next one of the list — its calls, its live feed and
// its session — without a reload.
//
// The page's own gateway is '' (relative URLs, same origin, as before). Another one is its
// absolute base URL: the calls there are cross-origin (the gateways answer CORS for each other's
// origins only, and the page's CSP lists them in connect-src), fetch sends credentials
// ('include') and the EventSource withCredentials. The session is the node's cookie, which a
// browser keeps per host, whatever the port: on the same host it carries over by itself. For a
// gateway on another host the page sends `Authorization: Bearer` with the token of its own
// sign-in, kept in this module's memory only (never in localStorage or sessionStorage): after a
// reload there, one signs in again.

const HOME = globalThis.location?.origin ?? '';
const REFRESH_MS = 5 * 60 * 1000;
const PROBE_MS = 1000;

let listed = [];       // the bases of /api/gateways, as listed (sorted)
let current = '';      // '' (this page's gateway) or the base URL of the one in use
let token = null;      // the session token of this page's sign-in, for other hosts
let loadedAt = 0;
const listeners = new Set();

/** A gateway URL as a base to put "/api/…" after: its origin and path, without a trailing '/'
 * ('' for this page's own origin); null when it is not an http(s) URL without credentials. */
export function baseOf(url, home = HOME) {
  let u;
  try { u = new URL(url); } catch { return null; }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password) return null;
  const base = u.origin + u.pathname.replace(/\/+$/, '');
  return base === home ? '' : base;
}

/** The order in which gateways are tried: the list's (sorted, as the gateways sort it), this
 * page's own among them ('' — also when the list names it otherwise or not at all). */
export function candidates(bases, home = HOME) {
  const all = [...new Set([home, ...bases.map((b) => (b === '' ? home : b))])].sort();
  return all.map((b) => (b === home ? '' : b));
}

/** The gateway after `failed` in `order` (cyclic) that is not in `tried`; null when none is. */
export function nextAfter(order, failed, tried) {
  const at = order.indexOf(failed);
  for (let i = 1; i <= order.length; i++) {
    const b = order[(at + i + order.length) % order.length];
    if (b !== failed && !tried.has(b)) return b;
  }
  return null;
}

/** '' while the page talks to its own gateway, else the base URL of the one it moved to. */
export function currentGateway() { return current; }
/** The URL of `path` ("/api/…") on the current gateway. */
export function gatewayUrl(path) { return current + path; }
/** Whether there is another gateway to move to. */
export function severalGateways() { return candidates(listed).length > 1; }
/** fn(base) when the page moves to another gateway. */
export function onGatewayChange(fn) { listeners.add(fn); }

/** The session token of this page's sign-in (null: signed out); memory only. */
export function setSessionToken(t) { token = typeof t === 'string' && t ? t : null; }

function otherHost(base) {
  try { return new URL(base).hostname !== globalThis.location?.hostname; } catch { return false; }
}

/** fetch's `init` for a call to `base` (the current gateway when not given). */
export function requestInit(init, base = current) {
  if (!base) return init;
  const headers = { ...init.headers };
  if (token && otherHost(base) && !('Authorization' in headers)) headers.Authorization = `Bearer ${token}`;
  return { ...init, headers, mode: 'cors', credentials: 'include' };
}

/** An EventSource on `path` of the current gateway. */
export function openEventSource(path) {
  return current ? new EventSource(current + path, { withCredentials: true }) : new EventSource(path);
}

function moveTo(base) {
  current = base;
  for (const fn of listeners) fn(base);
}

/**
 * After a call to `failed` got no answer (`tried`: the gateways this call has tried): moves to
 * the next gateway of the list at once. True when the call should be repeated now (on
 * gatewayUrl()): another gateway is current — just chosen, or already by another call.
 */
export function moveOn(failed, tried = new Set([failed])) {
  if (current !== failed && !tried.has(current)) return true;
  const next = nextAfter(candidates(listed), failed, tried);
  if (next === null) return false;
  moveTo(next);
  return true;
}

/** Whether `base` answers GET /health within a second. */
export async function answers(base) {
  try {
    const res = await fetch(`${base}/health`, requestInit({ cache: 'no-store', signal: AbortSignal.timeout(PROBE_MS) }, base));
    return res.ok;
  } catch {
    return false;
  }
}

/** When the live feed through `base` failed: if its gateway does not answer either, moves on
 * (true). Only with another gateway to go to. */
export async function gatewayGone(base) {
  if (!severalGateways() || (await answers(base))) return false;
  return moveOn(base);
}

async function load() {
  loadedAt = Date.now();
  try {
    const res = await fetch(gatewayUrl('/api/gateways'),
      requestInit({ headers: { Accept: 'application/json' }, cache: 'no-store', signal: AbortSignal.timeout(5000) }));
    if (!res.ok) return;
    const body = await res.json();
    if (!Array.isArray(body)) return;
    const bases = body.map((g) => (g && typeof g.url === 'string' ? baseOf(g.url) : null)).filter((b) => b !== null);
    if (bases.length) listed = bases;
  } catch {
    // Keep the last list: the calls themselves find out when the gateway is gone.
  }
}

/** Loads the list now, then every 5 minutes while the page is visible (and when it shows again
 * after that long hidden). */
export function startGateways() {
  setInterval(() => { if (document.visibilityState === 'visible') load(); }, REFRESH_MS);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && Date.now() - loadedAt >= REFRESH_MS) load();
  });
  return load();
}
