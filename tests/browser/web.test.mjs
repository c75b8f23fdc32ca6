// Browser tests of the web client: Debian's Chromium, driven by playwright-core, against the
// real status-gateway, three real status-nodes and a private RabbitMQ (see cluster.mjs).
// Screenshots of the main views land in build/screenshots/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { Cluster, ROOT, waitUntil } from './cluster.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'build', 'screenshots');
const TEST_TIMEOUT = 90000;

let cluster;
let browser;
let context;
let page;
const pageErrors = [];

/** A call to the gateway's API from "another client" (this test process, not the page). */
async function apiCall(method, p, body) {
  const res = await fetch(cluster.url + p, {
    method,
    headers: body ? { 'Content-Type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function shot(name, opts = {}) {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), ...opts });
}

/** A test whose failure also leaves a screenshot and the processes' last log lines. */
function uiTest(name, fn) {
  test(name, { timeout: TEST_TIMEOUT }, async () => {
    try {
      await fn();
    } catch (e) {
      const file = `FAILED-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`;
      await shot(file, { fullPage: true }).catch(() => {});
      // The reporter prints the stack taken at the throw: the extra context goes to stderr.
      console.error(`--- ${name} failed; screenshot: build/screenshots/${file}.png\n${cluster?.logs() ?? ''}`);
      throw e;
    }
  });
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const f of fs.readdirSync(SHOTS)) if (f.startsWith('FAILED-')) fs.rmSync(path.join(SHOTS, f));
  cluster = new Cluster({ nodes: 3 });
  try {
    await cluster.start();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync'],
    timeout: 30000,
  });
  context = await browser.newContext({
    viewport: { width: 1400, height: 950 },
    geolocation: { latitude: 47.0707, longitude: 15.4395, accuracy: 20 },  // Graz
    permissions: ['geolocation'],
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  // Generous for loading and ordinary waits (a busy CI machine); the timing requirements
  // (2 s for live updates, 5 s for a dead node) have their own explicit timeouts.
  context.setDefaultTimeout(15000);
  context.setDefaultNavigationTimeout(30000);
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // No tiles: the tests must not reach outside 127.0.0.1; the offline grid is drawn instead.
  await page.goto(`${cluster.url}/?tiles=none`);
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 30000 });
}, { timeout: 240000 });

after(async () => {
  await browser?.close().catch(() => {});
  await cluster?.stop();
}, { timeout: 120000 });

uiTest('the page loads, connects to the live stream and shows the empty feed', async () => {
  await page.locator('#feed-total[data-total="0"]').waitFor();
  assert.equal(await page.locator('#feed-empty').isVisible(), true);
  assert.equal(await page.title(), 'Status Server');
});

uiTest('set, read, update and delete a status through the page', async () => {
  // Set.
  await page.fill('#f-username', 'alice');
  await page.fill('#f-text', 'Writing browser tests');
  await page.click('#save');
  await page.locator('#form-ok', { hasText: 'Saved: alice now has a status' }).waitFor();
  await page.locator('#feed-list li[data-username="alice"]', { hasText: 'Writing browser tests' }).waitFor();
  assert.equal((await apiCall('GET', '/api/statuses/alice')).body.statusText, 'Writing browser tests');

  // Read.
  await page.fill('#l-username', 'alice');
  await page.press('#l-username', 'Enter');
  const card = page.locator('#lookup-card[data-username="alice"]');
  await card.locator('.text', { hasText: 'Writing browser tests' }).waitFor();

  // Update: edit loads the status into the form, the username stays fixed.
  await page.click('#edit-btn');
  await page.locator('#compose-h', { hasText: 'Edit alice’s status' }).waitFor();
  assert.equal(await page.locator('#f-username').getAttribute('readonly'), '');
  assert.equal(await page.inputValue('#f-text'), 'Writing browser tests');
  await page.fill('#f-text', 'All tests green');
  await page.click('#save');
  await page.locator('#form-ok', { hasText: 'Updated alice’s status' }).waitFor();
  await card.locator('.text', { hasText: 'All tests green' }).waitFor();
  await page.locator('#feed-list li[data-username="alice"]', { hasText: 'All tests green' }).waitFor();
  assert.equal((await apiCall('GET', '/api/statuses/alice')).body.statusText, 'All tests green');
  await shot('lookup-and-feed');

  // Delete, with confirmation.
  await page.click('#delete-btn');
  const dialog = page.locator('#confirm-delete');
  await dialog.waitFor({ state: 'visible' });
  assert.match(await dialog.innerText(), /alice’s status “All tests green” will be deleted/);
  await shot('delete-confirmation');
  await page.click('#confirm-yes');
  await page.locator('#lookup-msg', { hasText: 'Deleted: alice’s status is gone' }).waitFor();
  assert.equal(await card.isVisible(), false);
  await page.locator('#feed-list li[data-username="alice"]').waitFor({ state: 'detached' });
  assert.equal((await apiCall('GET', '/api/statuses/alice')).status, 404);

  // Cancelling the dialog deletes nothing.
  await apiCall('PUT', '/api/statuses/keeper', { statusText: 'still here' });
  await page.fill('#l-username', 'keeper');
  await page.click('#lookup-btn');
  await page.locator('#lookup-card[data-username="keeper"]').waitFor();
  await page.click('#delete-btn');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal((await apiCall('GET', '/api/statuses/keeper')).status, 200);
});

uiTest('a status written by another client appears in the open page within 2 s', async () => {
  const t0 = Date.now();
  const r = await apiCall('POST', '/api/statuses', { username: 'bob', statusText: 'Hello from curl' });
  assert.equal(r.status, 201);
  await page.locator('#feed-list li[data-username="bob"]', { hasText: 'Hello from curl' })
    .waitFor({ timeout: 2000 });
  const ms = Date.now() - t0;
  console.log(`  new status visible after ${ms} ms`);

  // An update and a delete by another client arrive too: in the feed and in the open card.
  await page.fill('#l-username', 'bob');
  await page.click('#lookup-btn');
  await page.locator('#lookup-card[data-username="bob"] .text', { hasText: 'Hello from curl' }).waitFor();
  await apiCall('PUT', '/api/statuses/bob', { statusText: 'Changed elsewhere' });
  await page.locator('#feed-list li[data-username="bob"]', { hasText: 'Changed elsewhere' })
    .waitFor({ timeout: 2000 });
  await page.locator('#lookup-card[data-username="bob"] .text', { hasText: 'Changed elsewhere' })
    .waitFor({ timeout: 2000 });
  assert.equal(await page.locator('#feed-list li[data-username="bob"]').count(), 1);
  await apiCall('DELETE', '/api/statuses/bob');
  await page.locator('#feed-list li[data-username="bob"]').waitFor({ state: 'detached', timeout: 2000 });
  await page.locator('#lookup-msg', { hasText: 'bob’s status was deleted' }).waitFor({ timeout: 2000 });
  assert.equal(await page.locator('#lookup-card').isVisible(), false);
});

uiTest('validation errors are shown in words, the server’s detail too', async () => {
  // Client-side: empty text and a bad username.
  await page.fill('#f-username', 'no spaces allowed');
  await page.fill('#f-text', '');
  await page.click('#save');
  await page.locator('#f-text-err', { hasText: 'must not be empty' }).waitFor();
  await page.locator('#f-username-err', { hasText: 'letters, digits' }).waitFor();
  await page.locator('#form-error', { hasText: 'Please correct the marked fields' }).waitFor();
  assert.equal(await page.getAttribute('#f-text', 'aria-invalid'), 'true');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-username');
  await page.fill('#f-username', 'carol');
  await page.fill('#f-lat', '91');
  await page.fill('#f-lon', '');
  await page.click('#save');
  await page.locator('#f-lat-err', { hasText: 'between −90 and 90' }).waitFor();
  await page.locator('#compose').screenshot({ path: path.join(SHOTS, 'validation.png') });
  await page.fill('#f-lat', '');

  // Server-side: a conflicting edit (If-Match) is refused with the server's detail.
  await apiCall('PUT', '/api/statuses/carol', { statusText: 'first' });
  await page.fill('#l-username', 'carol');
  await page.click('#lookup-btn');
  await page.locator('#lookup-card[data-username="carol"]').waitFor();
  await page.click('#edit-btn');
  await apiCall('PUT', '/api/statuses/carol', { statusText: 'changed by someone else' });
  await page.fill('#f-text', 'mine');
  await page.click('#save');
  const err = page.locator('#form-error');
  await err.locator('text=changed by someone else since you loaded it').waitFor();
  assert.match(await err.innerText(), /precondition failed.*\(412 Precondition Failed\)/s);
  await page.click('#form-error >> text=Overwrite anyway');
  await page.locator('#form-ok', { hasText: 'Updated carol’s status' }).waitFor();
  assert.equal((await apiCall('GET', '/api/statuses/carol')).body.statusText, 'mine');

  // A 404 on look-up says so, with the server's words.
  await page.fill('#l-username', 'nobody');
  await page.click('#lookup-btn');
  const detail = (await apiCall('GET', '/api/statuses/nobody')).body.detail;
  await page.locator('#lookup-msg', { hasText: `nobody has no status (server: ${detail})` }).waitFor();
});

uiTest('a network error is retried and the page says so', async () => {
  await apiCall('PUT', '/api/statuses/flaky', { statusText: 'reached after a retry' });
  let failures = 0;
  await page.route('**/api/statuses/flaky', (route) => {
    if (failures++ < 1) return route.abort('connectionrefused');
    return route.continue();
  });
  await page.fill('#l-username', 'flaky');
  await page.click('#lookup-btn');
  await page.locator('#banner', { hasText: 'Retrying' }).waitFor({ timeout: 3000 });
  await page.locator('#lookup-card[data-username="flaky"] .text', { hasText: 'reached after a retry' }).waitFor();
  await page.locator('#banner').waitFor({ state: 'hidden' });
  await page.unroute('**/api/statuses/flaky');
});

uiTest('statuses with coordinates appear as markers; position by map click and geolocation', async () => {
  // Written elsewhere, with a position: a marker appears live.
  await apiCall('POST', '/api/statuses', { username: 'vienna', statusText: 'Kaffee im Hawelka',
    latitude: 48.2082, longitude: 16.3738 });
  await page.locator('.leaflet-marker-icon[title="vienna"]').waitFor({ timeout: 2000 });

  // Through the page: click the map, then save.
  await page.fill('#f-username', 'dora');
  await page.fill('#f-text', 'Somewhere I clicked');
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + box.width * 0.3, box.y + box.height * 0.6);
  assert.notEqual(await page.inputValue('#f-lat'), '');
  assert.notEqual(await page.inputValue('#f-lon'), '');
  await page.click('#save');
  await page.locator('#form-ok', { hasText: 'Saved: dora' }).waitFor();
  await page.locator('.leaflet-marker-icon[title="dora"]').waitFor();
  const dora = (await apiCall('GET', '/api/statuses/dora')).body;
  assert.equal(typeof dora.latitude, 'number');
  assert.equal(typeof dora.longitude, 'number');

  // "Use my location" (the browser context pretends to be in Graz).
  await page.fill('#f-username', 'geo');
  await page.fill('#f-text', 'Where the browser says I am');
  await page.click('#use-location');
  await page.locator('#form-ok', { hasText: 'Position set to your location' }).waitFor();
  assert.equal(await page.inputValue('#f-lat'), '47.0707');
  assert.equal(await page.inputValue('#f-lon'), '15.4395');
  await page.click('#save');
  await page.locator('.leaflet-marker-icon[title="geo"]').waitFor();

  // The popup of a marker shows the status; markers are reachable by keyboard.
  await page.locator('.leaflet-marker-icon[title="vienna"]').focus();
  await page.keyboard.press('Enter');
  await page.locator('.leaflet-popup-content', { hasText: 'Kaffee im Hawelka' }).waitFor();
  assert.equal(await page.locator('#map-count').innerText(), '3 on the map');

  // Without reachable tiles the map still works: markers on the locally drawn grid, no errors.
  // (A closed port on 127.0.0.1 stands in for "no network".)
  const offline = await context.newPage();
  const offlineErrors = [];
  offline.on('pageerror', (e) => offlineErrors.push(e.message));
  await offline.goto(`${cluster.url}/?tiles=${encodeURIComponent('http://127.0.0.1:9/{z}/{x}/{y}.png')}`);
  await offline.locator('.leaflet-marker-icon[title="vienna"]').waitFor();
  await waitUntil(async () => (await offline.locator('img.leaflet-tile').count()) > 0,
    { timeoutMs: 5000, what: 'tile images requested' });
  assert.match(await offline.locator('img.leaflet-tile').first().getAttribute('src'), /^http:\/\/127\.0\.0\.1:9\//);
  await offline.locator('#live[data-state="live"]').waitFor();
  await offline.waitForTimeout(500);
  assert.deepEqual(offlineErrors, []);
  await offline.close();

  // The tile setting is stored in the browser.
  await page.click('#tiles summary');
  await page.fill('#tiles-url', 'http://127.0.0.1:9/t/{z}/{x}/{y}.png');
  await page.click('#tiles-form button[type="submit"]');
  assert.equal(await page.evaluate(() => localStorage.getItem('statusServer.tiles')),
    'http://127.0.0.1:9/t/{z}/{x}/{y}.png');
  await page.click('#tiles-none');
  assert.equal(await page.evaluate(() => localStorage.getItem('statusServer.tiles')), 'none');
  await page.click('#tiles summary');

  // A delete removes the marker.
  await apiCall('DELETE', '/api/statuses/geo');
  await page.locator('.leaflet-marker-icon[title="geo"]').waitFor({ state: 'detached', timeout: 2000 });
  await page.locator('#map-section').screenshot({ path: path.join(SHOTS, 'map.png') });
});

uiTest('the feed is paged, newest first', async () => {
  for (let i = 1; i <= 12; i++) {
    const time = new Date(Date.UTC(2026, 0, 1, 12, i)).toISOString();
    await apiCall('PUT', `/api/statuses/user${String(i).padStart(2, '0')}`, { statusText: `number ${i}`, time });
  }
  await page.reload();
  await page.locator('#live[data-state="live"]').waitFor();
  const total = Number((await apiCall('GET', '/api/statuses?limit=1000')).body.length);
  await page.locator(`#feed-total[data-total="${total}"]`).waitFor();
  const first = await page.locator('#feed-list li').evaluateAll((lis) => lis.map((li) => li.dataset.username));
  assert.equal(first.length, 10);
  const times = await page.locator('#feed-list time').evaluateAll((ts) => ts.map((t) => Date.parse(t.getAttribute('datetime'))));
  assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
  await page.click('#feed-next');
  await page.locator('#feed-page', { hasText: `11–${total} of ${total}` }).waitFor();
  const second = await page.locator('#feed-list li').evaluateAll((lis) => lis.map((li) => li.dataset.username));
  assert.equal(second.length, total - 10);
  assert.equal(second.at(-1), 'user01', 'the oldest status is last');
  await page.click('#feed-prev');
  await page.locator('#feed-page', { hasText: `1–10 of ${total}` }).waitFor();
  await shot('desktop', { fullPage: true });
});

uiTest('the cluster view shows three nodes; a killed node is shown as down within 5 s', async () => {
  const nodes = page.locator('#nodes li.node');
  await waitUntil(async () => (await nodes.count()) === 3, { timeoutMs: 5000, what: 'three nodes' });
  await page.locator('#cluster-summary[data-up="3"]').waitFor({ timeout: 5000 });
  // Some request of the page has named the node that answered it.
  assert.match(await page.locator('#served-by').innerText(), /^n[123]$/);
  await page.locator('#cluster').screenshot({ path: path.join(SHOTS, 'cluster.png') });

  const victim = cluster.nodes[1];
  const t0 = Date.now();
  await victim.kill();
  await page.locator(`#nodes li.node[data-instance="127.0.0.1:${victim.port}"][data-state="down"]`)
    .waitFor({ timeout: 5000 });
  console.log(`  killed node shown as down after ${Date.now() - t0} ms`);
  await page.locator('#cluster-summary[data-up="2"]').waitFor({ timeout: 2000 });
  await page.locator('#cluster').screenshot({ path: path.join(SHOTS, 'cluster-node-down.png') });

  // The page goes on working with two nodes, live updates included.
  await page.fill('#f-username', 'survivor');
  await page.fill('#f-text', 'Two nodes are enough');
  await page.fill('#f-lat', '');
  await page.fill('#f-lon', '');
  await page.click('#save');
  await page.locator('#form-ok', { hasText: 'Saved: survivor' }).waitFor();
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 10000 });
  await apiCall('PUT', '/api/statuses/after-kill', { statusText: 'still live' });
  await page.locator('#feed-list li[data-username="after-kill"]').waitFor({ timeout: 3000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot('overview');
});

uiTest('keyboard use and a phone-sized screen', async () => {
  // Tab from the top reaches the form; the focused field is visibly outlined.
  await page.reload();
  await page.locator('#live[data-state="live"]').waitFor();
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.className), 'skip');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-username');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'visible focus');
  await page.keyboard.type('kbd');
  await page.keyboard.press('Tab');
  await page.keyboard.type('typed without a mouse');
  await page.focus('#save');
  await page.keyboard.press('Enter');
  await page.locator('#form-ok', { hasText: 'Saved: kbd' }).waitFor();

  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling on a phone (overflow ${overflow}px)`);
  await shot('phone', { fullPage: true });
  await page.setViewportSize({ width: 1400, height: 950 });
});

uiTest('when the gateway itself is gone, the page says so and retries', async () => {
  await cluster.gateway.kill();
  await page.locator('#cluster-msg', { hasText: 'The gateway cannot be reached' }).waitFor({ timeout: 5000 });
  await page.locator('#live[data-state="reconnecting"]').waitFor({ timeout: 5000 });
  await page.fill('#l-username', 'vienna');
  await page.click('#lookup-btn');
  await page.locator('#banner', { hasText: 'Retrying' }).waitFor({ timeout: 3000 });
  await page.locator('#lookup-msg', { hasText: 'Network error: the server could not be reached (tried 4 times)' })
    .waitFor({ timeout: 10000 });
  await page.locator('#banner').waitFor({ state: 'hidden' });
  await page.locator('#cluster').screenshot({ path: path.join(SHOTS, 'gateway-down.png') });
});

uiTest('no script errors on the page during the whole run', async () => {
  assert.deepEqual(pageErrors, []);
});
