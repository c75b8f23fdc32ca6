// What a page fetched, from Chromium's own network log (CDP): per request its URL, status, the
// bytes that came over the wire (Network.loadingFinished's encodedDataLength: headers and body as
// sent, i.e. compressed), whether the browser's cache answered it, and when it started and ended.
// Used by static.test.mjs and bench/web.mjs.

/** Starts recording the network of `page`; returns {entries(), clear(), cdp, stop()}. */
export async function recordNetwork(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  let byId = new Map();
  const get = (id) => {
    if (!byId.has(id)) byId.set(id, { id, url: '', bytes: 0, cached: false, status: 0, done: false });
    return byId.get(id);
  };
  cdp.on('Network.requestWillBeSent', (e) => {
    const r = get(e.requestId);
    r.url = e.request.url;
    r.method = e.request.method;
    r.type = e.type;
    r.start = e.timestamp;
  });
  cdp.on('Network.requestServedFromCache', (e) => { get(e.requestId).cached = true; });
  cdp.on('Network.responseReceived', (e) => {
    const r = get(e.requestId);
    r.status = e.response.status;
    r.type = e.type;
    if (e.response.fromDiskCache || e.response.fromPrefetchCache) r.cached = true;
    r.encoding = e.response.headers['content-encoding'] || e.response.headers['Content-Encoding'] || '';
    r.headersEnd = e.timestamp;
  });
  // The status on the wire: a revalidated answer is reported as its cached 200 above, with the
  // 304 that actually came only here.
  cdp.on('Network.responseReceivedExtraInfo', (e) => { get(e.requestId).wireStatus = e.statusCode; });
  cdp.on('Network.dataReceived', (e) => { get(e.requestId).streamed = (get(e.requestId).streamed || 0) + e.encodedDataLength; });
  cdp.on('Network.loadingFinished', (e) => {
    const r = get(e.requestId);
    r.bytes = e.encodedDataLength;
    r.end = e.timestamp;
    r.done = true;
  });
  cdp.on('Network.loadingFailed', (e) => {
    const r = get(e.requestId);
    r.failed = e.errorText;
    r.blocked = e.blockedReason;
    r.end = e.timestamp;
    r.done = true;
  });
  return {
    cdp,
    entries: () => [...byId.values()].filter((r) => r.url && !r.url.startsWith('data:')),
    clear: () => { byId = new Map(); },
    stop: () => cdp.detach().catch(() => {}),
  };
}

/** The status that came over the wire (304 for a revalidation), else the one reported. */
export const wireStatus = (r) => r.wireStatus || r.status;

/** The event stream: long-lived, counted apart from everything else. */
export const isEventStream = (r) => new URL(r.url).pathname === '/api/events';
export const isApi = (r) => new URL(r.url).pathname.startsWith('/api/');

/** Bytes over the wire of finished requests, the event stream excluded. */
export function transferred(entries) {
  return entries.filter((r) => !isEventStream(r)).reduce((n, r) => n + (r.bytes || 0), 0);
}
