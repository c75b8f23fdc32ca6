// The web client moves to another gateway when its own stops answering (web/js/gateways.js):
// a registry, two status-nodes with a private RabbitMQ, and three status-gateways registered at
// the registry as STATUS-GATEWAY — A and B on 127.0.0.1, C advertised as http://localhost:PORT
// (another host for the browser: its cookies are not sent there). The nodes require sign-in.
//   0. The page on A, idle for 60 s with all three up: at most one request besides its event
//      stream, which stays the same one (its heartbeats keep it trusted: no /health polling).
//   1. The page on A; A hangs (SIGSTOP): the stream goes silent — no heartbeat — and within 5 s
//      the page moves to B all the same (then A goes on).
//   2. The page on A, signed in; A is killed (-9): within 5 s a write through B (another
//      client) shows in the open page's feed, and the page's own write goes through B with the
//      session (the cookie: same host), without a reload.
//   3. A page on B, signed in; B is killed: the page carries on through C, on another host,
//      with the token of its sign-in kept in memory (Authorization: Bearer).
// First the pure helpers of gateways.js (no browser). Screenshots land in build/screenshots/.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { BIN, freePort, ROOT, waitUntil } from './cluster.mjs';
import { baseOf, candidates, nextAfter } from '../../web/js/gateways.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'build', 'screenshots');
const RABBIT = path.join(ROOT, 'scripts', 'rabbitmq-private');
const FAILOVER_MS = 5000;

// ------------------------------------------------------------------ the helpers, no browser

test('gateway URLs become bases; the own origin is the empty base', () => {
  const home = 'http://127.0.0.1:8080';
  assert.equal(baseOf('http://127.0.0.1:8080', home), '');
  assert.equal(baseOf('http://127.0.0.1:8080/', home), '');
  assert.equal(baseOf('http://127.0.0.1:8081', home), 'http://127.0.0.1:8081');
  assert.equal(baseOf('HTTPS://GW.example:443/status/', home), 'https://gw.example/status');
  for (const bad of ['javascript:alert(1)', 'ftp://gw', 'http://u:p@gw', 'not a url'])
    assert.equal(baseOf(bad, home), null, bad);
});

test('gateways are tried in the list order, after the failed one, each once', () => {
  const home = 'http://127.0.0.1:2';
  const order = candidates(['http://127.0.0.1:1', '', 'http://localhost:3'], home);
  assert.deepEqual(order, ['http://127.0.0.1:1', '', 'http://localhost:3']);
  // The own gateway is among them even when the list names it otherwise.
  assert.deepEqual(candidates(['http://localhost:3'], home), ['', 'http://localhost:3']);
  assert.equal(nextAfter(order, '', new Set([''])), 'http://localhost:3');
  assert.equal(nextAfter(order, 'http://localhost:3', new Set(['', 'http://localhost:3'])), 'http://127.0.0.1:1');
  assert.equal(nextAfter(order, 'http://localhost:3', new Set(order)), null);
  assert.equal(nextAfter([''], '', new Set([''])), null);
  assert.equal(nextAfter(order, 'http://gone:9', new Set()), 'http://127.0.0.1:1');
});

// ------------------------------------------------------------------ the cluster

const workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'status-failover-'));
fs.chmodSync(workdir, 0o755); // the broker may run as `rabbitmq`
const brokerDir = path.join(workdir, 'rabbitmq');
let brokerUp = false;
const children = new Set();

function endAll() {
  for (const c of children) {
    try { process.kill(-c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  children.clear();
  if (brokerUp) spawnSync(RABBIT, ['stop', brokerDir], { stdio: 'ignore', timeout: 60000 });
  brokerUp = false;
  if (!process.env.KEEP_WORKDIR) fs.rmSync(workdir, { recursive: true, force: true });
}
process.on('exit', endAll);

/** Starts `binary` (its own process group, its log in the work dir) and waits for /health. */
async function run(name, binary, args, env = {}) {
  const port = Number(args[args.indexOf('--port') + 1]);
  const log = fs.openSync(path.join(workdir, `${name}.log`), 'a');
  const child = spawn(path.join(BIN, binary), args, { stdio: ['ignore', log, log], detached: true, env: { ...process.env, ...env } });
  fs.closeSync(log);
  children.add(child);
  const gone = new Promise((r) => child.once('exit', () => { children.delete(child); r(); }));
  const p = { name, port, url: `http://127.0.0.1:${port}`, child, gone };
  await waitUntil(async () => {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited`);
    return (await fetch(`${p.url}/health`, { signal: AbortSignal.timeout(2000) })).status === 200;
  }, { timeoutMs: 30000, what: `${name} healthy` }).catch((e) => {
    throw new Error(`${e.message}\n${fs.readFileSync(path.join(workdir, `${name}.log`), 'utf8').slice(-3000)}`);
  });
  return p;
}

async function kill9(p) {
  p.child.kill('SIGKILL');
  await p.gone;
}

const secret = (name, content) => {
  const f = path.join(workdir, name);
  fs.writeFileSync(f, content, { mode: 0o600 });
  return f;
};

let browser;
let gws;           // [A, B, C]: C is advertised as http://localhost:PORT
let adminPassword;
let adminToken;

/** A write from another client (this process, as admin) through `gw`. */
async function putThrough(gw, username, statusText) {
  const res = await fetch(`${gw.url}/api/statuses/${username}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${adminToken}` },
    body: JSON.stringify({ statusText }),
    signal: AbortSignal.timeout(5000),
  });
  return res.status;
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const brokerPort = await freePort();
  brokerUp = true;
  const r = spawnSync(RABBIT, ['start', brokerDir, String(brokerPort)], { stdio: 'inherit', timeout: 120000 });
  if (r.status !== 0) throw new Error(`rabbitmq-private start failed (${r.status ?? r.error})`);
  const env = { STATUS_AMQP_URL: fs.readFileSync(path.join(brokerDir, 'amqp-url'), 'utf8').trim() };

  const registry = await run('registry', 'status-registry', ['--port', String(await freePort())]);
  const eureka = `${registry.url}/eureka`;
  adminPassword = crypto.randomBytes(18).toString('base64url');
  const auth = ['--auth', 'required', '--cluster-key-file', secret('cluster.key', crypto.randomBytes(48)),
    '--admin-password-file', secret('admin.password', `${adminPassword}\n`)];
  const nodePorts = [await freePort(), await freePort()];
  const nodeArgs = (i) => ['--port', String(nodePorts[i]), '--node-id', `n${i + 1}`, '--threads', '2',
    '--data-dir', path.join(workdir, `data-n${i + 1}`), '--registry-url', eureka,
    '--peer', `http://127.0.0.1:${nodePorts[1 - i]}`, ...auth];
  // Together: each waits for its peer at start.
  await Promise.all([run('node-n1', 'status-node', nodeArgs(0), env), run('node-n2', 'status-node', nodeArgs(1), env)]);

  // The two on 127.0.0.1 in the order of the list (sorted): A's next is B, B's next is C.
  const ports = [await freePort(), await freePort()].sort((a, b) => String(a).localeCompare(String(b)));
  const cPort = await freePort();
  const gwArgs = (port, extra = []) => ['--port', String(port), '--threads', '2', '--registry-url', eureka,
    '--web-root', path.join(ROOT, 'web'), '--rate-limit', '2000', '--rate-burst', '4000', ...extra];
  gws = [await run('gateway-a', 'status-gateway', gwArgs(ports[0])),
    await run('gateway-b', 'status-gateway', gwArgs(ports[1])),
    await run('gateway-c', 'status-gateway', gwArgs(cPort, ['--advertise-url', `http://localhost:${cPort}`]))];
  gws[2].advertised = `http://localhost:${cPort}`;
  const all = [gws[0].url, gws[1].url, gws[2].advertised].sort();
  // Every gateway lists all three, and its page's CSP lets it reach the others.
  for (const g of gws) {
    await waitUntil(async () => {
      const list = (await (await fetch(`${g.url}/api/gateways`)).json()).map((x) => x.url);
      const csp = (await fetch(`${g.url}/`)).headers.get('content-security-policy');
      return JSON.stringify(list) === JSON.stringify(all) && all.filter((u) => csp.includes(u)).length === 2;
    }, { timeoutMs: 20000, what: `${g.name} listing every gateway` });
  }
  // Both nodes known to every gateway, and admin's session accepted by both nodes.
  for (const g of gws)
    await waitUntil(async () => (await (await fetch(`${g.url}/api/services`)).json()).length === 2,
      { timeoutMs: 20000, what: `${g.name} knowing both nodes` });
  const s = await fetch(`${gws[0].url}/api/sessions`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'admin', password: adminPassword }) });
  assert.equal(s.status, 201);
  adminToken = (await s.json()).token;
  for (const port of nodePorts)
    await waitUntil(async () => (await fetch(`http://127.0.0.1:${port}/api/me`,
      { headers: { Authorization: `Bearer ${adminToken}` } })).status === 200, { what: 'the session on both nodes' });

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync'],
    timeout: 30000,
  });
}, { timeout: 240000 });

after(async () => {
  await browser?.close().catch(() => {});
  endAll();
}, { timeout: 120000 });

/** A page on `gw`, signed in as admin through its form, with a mark that a reload would lose. */
async function signedInPage(gw) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 950 }, locale: 'en-GB', timezoneId: 'UTC' });
  ctx.setDefaultTimeout(15000);
  const page = await ctx.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  const streams = []; // the URLs of the event streams the page opened
  page.on('request', (r) => { if (new URL(r.url()).pathname === '/api/events') streams.push(r.url()); });
  await page.goto(`${gw.url}/`);
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 30000 });
  await page.locator('#account').waitFor();
  await page.fill('#si-username', 'admin');
  await page.fill('#si-password', adminPassword);
  await page.click('#signin-btn');
  await page.locator('#whoami[data-state="in"] #whoami-text', { hasText: 'you are admin' }).waitFor();
  await page.evaluate(() => { window.loadMark = 'loaded once'; });
  problems.length = 0; // the 401 of GET /api/me before signing in is the page's way to ask
  return { ctx, page, problems, streams };
}

async function postFromPage(page, username, text, saved) {
  await page.fill('#f-username', username);
  await page.fill('#f-text', text);
  await page.click('#save');
  await page.locator('#form-ok', { hasText: saved }).waitFor();
  await page.locator(`#feed-list li[data-username="${username}"]`, { hasText: text }).waitFor();
}

/**
 * Kills `dead` while `page` is open on it; another client writes through `next` at once; returns
 * the milliseconds from the kill until that write shows in the page's feed.
 */
async function failOver(page, dead, next, username) {
  const text = `written through ${next.name} after ${dead.name} died`;
  await kill9(dead);
  const killed = Date.now();
  assert.ok([200, 201].includes(await putThrough(next, username, text)));
  await page.locator(`#feed-list li[data-username="${username}"]`, { hasText: text })
    .waitFor({ timeout: FAILOVER_MS });
  return Date.now() - killed;
}

/** Only the failed requests to the dead gateway may have been logged: refused connections and
 * the event stream it cut off. */
function unexpected(problems) {
  return problems.filter((m) =>
    !/^Failed to load resource: net::ERR_(CONNECTION_REFUSED|CONNECTION_RESET|EMPTY_RESPONSE|INCOMPLETE_CHUNKED_ENCODING)$/.test(m));
}

const timings = [];

test('an idle page with several gateways makes at most one request in 60 s besides its stream', { timeout: 120000 }, async () => {
  const { ctx, page, problems, streams } = await signedInPage(gws[0]);
  try {
    // The stream asks for heartbeats.
    assert.ok(streams.length >= 1 && streams.every((u) => new URL(u).searchParams.get('heartbeat') === '1'),
      streams.join(', '));
    await page.waitForTimeout(2000); // the start's requests are answered
    const others = [];
    const opened = streams.length;
    page.on('request', (r) => { if (new URL(r.url()).pathname !== '/api/events') others.push(r.url()); });
    await page.waitForTimeout(60000);
    console.log(`  requests besides the event stream in 60 s with three gateways: ${others.length}` +
      `${others.length ? ` (${others.join(', ')})` : ''}; streams opened meanwhile: ${streams.length - opened}`);
    assert.ok(others.length <= 1, `at most one request a minute: ${others.join(', ')}`);
    // The one stream stayed open all along: its heartbeats came, so it was never taken for gone.
    assert.deepEqual(streams.slice(opened), []);
    assert.equal(await page.locator('#live').getAttribute('data-state'), 'live');
    assert.deepEqual(unexpected(problems), []);
  } finally {
    await ctx.close();
  }
});

test('a gateway that hangs is given up on within 5 s (its stream brings no heartbeat)', { timeout: 120000 }, async () => {
  const [a, b] = gws;
  const { ctx, page, problems } = await signedInPage(a);
  try {
    await postFromPage(page, 'erin', 'Before the gateway hung', 'Saved: erin now has a status');
    // SIGSTOP: connections stay open, nothing answers, the event stream just goes quiet.
    process.kill(a.child.pid, 'SIGSTOP');
    const stopped = Date.now();
    const text = 'written through gateway-b while gateway-a hangs';
    assert.ok([200, 201].includes(await putThrough(b, 'frank', text)));
    await page.locator('#feed-list li[data-username="frank"]', { hasText: text }).waitFor({ timeout: FAILOVER_MS });
    const ms = Date.now() - stopped;
    timings.push(['A hung → B (SIGSTOP)', ms]);
    assert.ok(ms < FAILOVER_MS, `${ms} ms`);
    await page.locator('#via', { hasText: `connected through another server (127.0.0.1:${b.port})` }).waitFor();
    await postFromPage(page, 'erin', 'Written while A hangs', 'Updated erin’s status');
    assert.equal(await page.evaluate(() => window.loadMark), 'loaded once', 'no reload');
    assert.deepEqual(unexpected(problems.filter((m) => !/ERR_TIMED_OUT|ERR_ABORTED/.test(m))), []);
  } catch (e) {
    await page.screenshot({ path: path.join(SHOTS, 'FAILED-failover-hung.png'), fullPage: true }).catch(() => {});
    console.error('form:', await page.locator('#form-error').textContent().catch(() => '?'),
      'banner:', await page.locator('#banner').textContent().catch(() => '?'), 'console:', problems);
    throw e;
  } finally {
    process.kill(a.child.pid, 'SIGCONT');
    await ctx.close();
  }
});

test('the page carries on through another gateway of the same host within 5 s', { timeout: 120000 }, async () => {
  const [a, b] = gws;
  const { ctx, page, problems } = await signedInPage(a);
  try {
    await postFromPage(page, 'alice', 'Before the gateway died', 'Saved: alice now has a status');
    const ms = await failOver(page, a, b, 'bob');
    timings.push(['A → B (same host, cookie)', ms]);
    assert.ok(ms < FAILOVER_MS, `${ms} ms`);
    await page.locator('#via', { hasText: `connected through another server (127.0.0.1:${b.port})` }).waitFor();
    // The page's own write: through B, with the session (the cookie, sent to the same host).
    await postFromPage(page, 'alice', 'Written after the failover', 'Updated alice’s status');
    const got = await (await fetch(`${b.url}/api/statuses/alice`)).json();
    assert.equal(got.statusText, 'Written after the failover');
    assert.equal(await page.evaluate(() => window.loadMark), 'loaded once', 'no reload');
    await page.locator('#whoami[data-state="in"]').waitFor();
    assert.equal(await page.locator('#live').getAttribute('data-state'), 'live');
    await page.screenshot({ path: path.join(SHOTS, 'failover-same-host.png') });
    assert.deepEqual(unexpected(problems), []);
  } catch (e) {
    await page.screenshot({ path: path.join(SHOTS, 'FAILED-failover-same-host.png'), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await ctx.close();
  }
});

test('on another host the session goes along as the in-memory token', { timeout: 120000 }, async () => {
  const [, b, c] = gws;
  const { ctx, page, problems } = await signedInPage(b);
  try {
    // The token is in memory only: not in the page's storage.
    const token = (await ctx.cookies()).find((k) => k.name === 'status_session')?.value;
    assert.ok(token);
    const stored = () => page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }]));
    assert.ok(!(await stored()).includes(token));
    await postFromPage(page, 'carol', 'Before B died', 'Saved: carol now has a status');
    const ms = await failOver(page, b, c, 'dave');
    timings.push(['B → C (another host, token)', ms]);
    assert.ok(ms < FAILOVER_MS, `${ms} ms`);
    await page.locator('#via', { hasText: `connected through another server (localhost:${c.port})` }).waitFor();
    // No cookie of 127.0.0.1 reaches localhost: only the token can have signed this write.
    await postFromPage(page, 'carol', 'Written through another host', 'Updated carol’s status');
    assert.equal((await (await fetch(`${c.url}/api/statuses/carol`)).json()).statusText, 'Written through another host');
    assert.equal(await page.evaluate(() => window.loadMark), 'loaded once', 'no reload');
    assert.ok(!(await stored()).includes(token));
    await page.screenshot({ path: path.join(SHOTS, 'failover-other-host.png') });
    assert.deepEqual(unexpected(problems), []);
  } catch (e) {
    await page.screenshot({ path: path.join(SHOTS, 'FAILED-failover-other-host.png'), fullPage: true }).catch(() => {});
    throw e;
  } finally {
    await ctx.close();
  }
});

test('failover times', () => {
  for (const [what, ms] of timings) console.log(`failover ${what}: ${ms} ms from the failure to the first event through the next gateway`);
});
