// The web client as a browser gets it (issue 17, "Loads like a static site"): Debian's Chromium
// through playwright-core against a real cluster (tests/browser/cluster.mjs) holding BENCH_STATUSES
// statuses. Run by bench/web.sh, which prints what this prints (Markdown) into bench/run's report.
//
// Measured, each the median of BENCH_LOADS loads:
//   - first load: bytes over the wire (CDP Network.loadingFinished encodedDataLength, summed over
//     every request but the event stream), a fresh browser context each time, cache disabled;
//   - reload: the same in one context with its cache (page.reload());
//   - "list": milliseconds from navigation start (performance.timeOrigin) until the first entry
//     of the status list is in the page and visible (LIST_SELECTOR);
//   - the same under Chromium DevTools' "Fast 3G" (CDP Network.emulateNetworkConditions), cold
//     and warm, with the waterfall of one cold load;
//   - the requests an idle open page makes in IDLE_SECONDS besides its event stream.
import { createRequire } from 'node:module';
import { Cluster } from '../tests/browser/cluster.mjs';
import { isEventStream, recordNetwork, transferred, wireStatus } from '../tests/browser/netlog.mjs';

const require = createRequire(new URL('../tests/browser/package.json', import.meta.url));
const { chromium } = require('playwright-core');

const env = (k, d) => (process.env[k] === undefined || process.env[k] === '' ? d : process.env[k]);
const LOADS = Number(env('BENCH_LOADS', 10));
const STATUSES = Number(env('BENCH_STATUSES', 40));
const NODES = Number(env('BENCH_NODES', 3));
const IDLE_SECONDS = Number(env('IDLE_SECONDS', 60));
const LIST_SELECTOR = env('LIST_SELECTOR', '#feed-list li[data-username]');
const CHROMIUM = env('CHROMIUM', '/usr/bin/chromium');

// Chromium DevTools' "Fast 3G" preset (front_end/core/sdk/NetworkManager.ts, Fast3GConditions):
// download 1.6 Mbit/s × 0.9, upload 750 kbit/s × 0.9, latency 150 ms × 3.75 (the factors are
// DevTools' own, for the difference between a packet-level and a request-level throttle).
const FAST_3G = {
  offline: false,
  downloadThroughput: (1.6 * 1000 * 1000) / 8 * 0.9,  // 180,000 bytes/s
  uploadThroughput: (750 * 1000) / 8 * 0.9,           // 84,375 bytes/s
  latency: 150 * 3.75,                                // 562.5 ms per request
};

const TARGETS = {
  first: 90 * 1024, reload: 5 * 1024, list: 300, fast3g: 1500, idle: 1,
};

const median = (values) => {
  const s = values.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const kb = (b) => `${(b / 1024).toFixed(1)} KB`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const SCRIPTS = [
  ['alice', 'In the office until five', 48.2082, 16.3738],
  ['bob', 'Working from home', 52.52, 13.405],
  ['chiyo', '会議中です', 35.6762, 139.6503],
  ['daisuke', '大阪出張', 34.6937, 135.5023],
  ['fatima', 'في اجتماع', 24.7136, 46.6753],
  ['olga', 'В отпуске до понедельника', 55.7558, 37.6173],
  ['emoji', '🏖️ on the beach', 41.3874, 2.1686],
  ['pierre', 'Déjeuner', 48.8566, 2.3522],
];

async function seed(cluster) {
  const token = await cluster.adminToken();
  const headers = { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  for (let i = 0; i < STATUSES; i++) {
    const [name, text, lat, lon] = SCRIPTS[i % SCRIPTS.length];
    const user = i < SCRIPTS.length ? name : `${name}${i}`;
    const r = await fetch(`${cluster.url}/api/statuses/${user}`, {
      method: 'PUT', headers, signal: AbortSignal.timeout(10000),
      body: JSON.stringify({ statusText: `${text} #${i}`, latitude: lat + (i % 7) * 0.05, longitude: lon - (i % 5) * 0.05 }),
    });
    if (r.status !== 200 && r.status !== 201) throw new Error(`PUT ${user}: ${r.status} ${await r.text()}`);
  }
}

// Records when the first list entry appears (and is visible), in ms since navigation start.
function listProbe(selector) {
  window.__listAt = null;
  const check = () => {
    if (window.__listAt !== null) return true;
    const el = document.querySelector(selector);
    if (el && el.getClientRects().length > 0) {
      window.__listAt = performance.now();
      return true;
    }
    return false;
  };
  new MutationObserver((_, obs) => { if (check()) obs.disconnect(); })
    .observe(document, { childList: true, subtree: true, attributes: true });
}

/**
 * Waits for the list entry, then until no request but the event stream has been open for
 * `quietMs` — at most `capMs` after the list showed (a page that polls is never quiet: what it
 * fetches later is the idle figure's business, not the load's).
 */
async function settle(page, net, { timeoutMs = 20000, quietMs = 600, capMs = 2500 } = {}) {
  await page.waitForFunction(() => window.__listAt !== null, null, { timeout: timeoutMs });
  const deadline = Date.now() + capMs;
  let quietSince = Date.now();
  let seen = -1;
  while (Date.now() < deadline) {
    const open = net.entries().filter((r) => !r.done && !isEventStream(r)).length;
    const count = net.entries().length;
    if (open > 0 || count !== seen) {
      quietSince = Date.now();
      seen = count;
    } else if (Date.now() - quietSince >= quietMs) {
      break;
    }
    await sleep(100);
  }
  return page.evaluate(() => window.__listAt);
}

async function newPage(browser) {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-GB', timezoneId: 'UTC' });
  await ctx.addInitScript(listProbe, LIST_SELECTOR);
  const page = await ctx.newPage();
  const net = await recordNetwork(page);
  return { ctx, page, net };
}

/** One cold load (fresh context, cache off); returns {bytes, listMs, entries}. */
async function coldLoad(browser, url, { conditions = null, timeoutMs = 20000 } = {}) {
  const { ctx, page, net } = await newPage(browser);
  try {
    await net.cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    if (conditions) await net.cdp.send('Network.emulateNetworkConditions', conditions);
    await page.goto(`${url}/`, { waitUntil: 'commit', timeout: timeoutMs });
    const listMs = await settle(page, net, { timeoutMs, quietMs: conditions ? 1500 : 600, capMs: conditions ? 8000 : 2500 });
    const entries = net.entries();
    return { bytes: transferred(entries), listMs, entries };
  } catch (e) {
    // A load that never showed the list (a machine too busy, a page that broke): counted apart.
    return { bytes: null, listMs: null, entries: net.entries(), error: e.message.split('\n')[0] };
  } finally {
    await ctx.close();
  }
}

function waterfall(entries, origin) {
  // CDP timestamps are seconds on a monotonic clock; the document's request is the origin.
  const doc = entries.find((r) => r.type === 'Document') || entries[0];
  const t0 = doc.start;
  const rows = entries.filter((r) => r.start !== undefined).sort((a, b) => a.start - b.start).map((r) => {
    const p = new URL(r.url);
    const name = p.pathname.replace(/^\/_\/[0-9a-f]{16}\//, '/_/…/') + (p.search.length > 30 ? p.search.slice(0, 30) + '…' : p.search);
    const end = r.end === undefined ? '(open)' : ((r.end - t0) * 1000).toFixed(0);
    return `| ${((r.start - t0) * 1000).toFixed(0)} | ${end} | ${wireStatus(r) || r.failed || ''} | ${r.bytes || 0} | ${name} |`;
  });
  return ['| start ms | end ms | status | bytes | request |', '|---:|---:|---|---:|---|', ...rows].join('\n');
}

async function main() {
  const t0 = Date.now();
  const cluster = new Cluster({ nodes: NODES, broker: NODES > 1, tls: false });
  let browser;
  try {
    await cluster.start();
    await seed(cluster);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--no-first-run', '--disable-sync'],
    });
    const url = cluster.url;
    await coldLoad(browser, url);  // warm-up: the gateway's and nodes' first answers, Chromium's start

    // 1. First loads, cache disabled.
    const first = [];
    for (let i = 0; i < LOADS; i++) first.push(await coldLoad(browser, url));

    // 2. Reloads, with the cache.
    const reloads = [];
    {
      const { ctx, page, net } = await newPage(browser);
      await page.goto(`${url}/`);
      await settle(page, net);
      for (let i = 0; i < LOADS; i++) {
        net.clear();
        await page.reload({ waitUntil: 'commit' });
        const listMs = await settle(page, net, { timeoutMs: 60000 });
        const entries = net.entries();
        reloads.push({ bytes: transferred(entries), listMs, entries,
          staticBytes: transferred(entries.filter((r) => !new URL(r.url).pathname.startsWith('/api/'))) });
      }
      await ctx.close();
    }

    // 3. Fast 3G, cold and warm.
    const slow = [];
    for (let i = 0; i < LOADS; i++) slow.push(await coldLoad(browser, url, { conditions: FAST_3G, timeoutMs: 60000 }));
    const slowWarm = [];
    for (let i = 0; i < LOADS; i++) {
      // A fresh context each time, its cache filled by one unthrottled load, then the reload.
      const { ctx, page, net } = await newPage(browser);
      try {
        await page.goto(`${url}/`);
        await settle(page, net);
        await net.cdp.send('Network.emulateNetworkConditions', FAST_3G);
        net.clear();
        await page.reload({ waitUntil: 'commit', timeout: 60000 });
        slowWarm.push({ listMs: await settle(page, net, { timeoutMs: 60000, quietMs: 1500, capMs: 8000 }) });
      } catch (e) {
        slowWarm.push({ listMs: null, error: e.message.split('\n')[0] });
      } finally {
        await ctx.close();
      }
    }
    const byList = (xs) => xs.filter((r) => r.listMs !== null).sort((a, b) => a.listMs - b.listMs);
    const mid = byList(slow)[Math.floor(byList(slow).length / 2)];

    // 4. An idle open page.
    let idle;
    {
      const { ctx, page, net } = await newPage(browser);
      await page.goto(`${url}/`);
      await settle(page, net);
      net.clear();
      await sleep(IDLE_SECONDS * 1000);
      const made = net.entries().filter((r) => !isEventStream(r));
      idle = { count: made.length, perMin: made.length / (IDLE_SECONDS / 60), paths: made.map((r) => new URL(r.url).pathname) };
      await ctx.close();
    }

    const m = {
      first: median(first.map((r) => r.bytes)),
      reload: median(reloads.map((r) => r.bytes)),
      reloadStatic: median(reloads.map((r) => r.staticBytes)),
      list: median(first.map((r) => r.listMs)),
      listReload: median(reloads.map((r) => r.listMs)),
      fast3g: median(slow.map((r) => r.listMs)),
      fast3gWarm: median(slowWarm.map((r) => r.listMs)),
    };
    const ok = (v, t) => (v <= t ? 'met' : '**not met**');
    const ms = (xs) => xs.map((r) => (r.listMs === null ? 'timeout' : r.listMs.toFixed(0))).join(' ');
    const failures = [...first, ...slow, ...slowWarm].filter((r) => r.listMs === null);
    const firstStatic = median(first.filter((r) => r.listMs !== null).map((r) => transferred(r.entries.filter((e) => !new URL(e.url).pathname.startsWith('/api/')))));
    const out = [];
    out.push(`bench/web.mjs: ${NODES} node(s)${NODES > 1 ? ' + RabbitMQ' : ''}, ${STATUSES} statuses, Chromium ${browser.version()}, `
      + `median of ${LOADS} loads, idle ${IDLE_SECONDS} s; ${((Date.now() - t0) / 1000).toFixed(0)} s in all`);
    out.push('');
    out.push('| what | median | target | |');
    out.push('|---|---:|---:|---|');
    out.push(`| first load, transferred (cache disabled) | ${kb(m.first)} (static ${kb(firstStatic)}, ${median(first.map((r) => r.entries.length))} requests) | ≤ 90 KB | ${ok(m.first, TARGETS.first)} |`);
    out.push(`| reload, transferred (with the cache) | ${kb(m.reload)} (static ${kb(m.reloadStatic)}) | ≤ 5 KB | ${ok(m.reload, TARGETS.reload)} |`);
    out.push(`| navigation → list shows data, first load | ${m.list.toFixed(0)} ms | ≤ 300 ms | ${ok(m.list, TARGETS.list)} |`);
    out.push(`| navigation → list shows data, reload | ${m.listReload.toFixed(0)} ms | — | |`);
    out.push(`| the same under Fast 3G, first load | ${m.fast3g.toFixed(0)} ms | ≤ 1.5 s | ${ok(m.fast3g, TARGETS.fast3g)} |`);
    out.push(`| the same under Fast 3G, reload | ${m.fast3gWarm.toFixed(0)} ms | — | |`);
    out.push(`| requests of an idle page besides its event stream | ${idle.count} in ${IDLE_SECONDS} s = ${idle.perMin.toFixed(1)}/min | ≤ 1/min | ${ok(idle.perMin, TARGETS.idle)} |`);
    out.push('');
    out.push(`All first loads (bytes): ${first.map((r) => r.bytes).join(' ')}; list ms: ${ms(first)}`);
    out.push(`Reloads (bytes): ${reloads.map((r) => r.bytes).join(' ')}; list ms: ${ms(reloads)}`);
    out.push(`Fast 3G first loads (list ms): ${ms(slow)}; reloads: ${ms(slowWarm)}`);
    if (failures.length) out.push(`Loads without the list within their timeout: ${failures.length} (${[...new Set(failures.map((r) => r.error))].join('; ')})`);
    if (idle.count) out.push(`Idle requests: ${[...new Set(idle.paths)].map((p) => `${p} ×${idle.paths.filter((x) => x === p).length}`).join(', ')}`);
    out.push('');
    out.push(`Waterfall of the median Fast 3G first load (list at ${mid.listMs.toFixed(0)} ms; times from the page's request):`);
    out.push('');
    out.push(mid ? waterfall(mid.entries) : '(no Fast 3G load showed the list)');
    console.log(out.join('\n'));
  } finally {
    await browser?.close().catch(() => {});
    await cluster.stop();
  }
}

main().catch((e) => {
  console.error(`bench/web.mjs: ${e.stack || e}`);
  process.exit(1);
});
