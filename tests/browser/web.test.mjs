// Browser tests of the web client: Debian's Chromium, driven by playwright-core, against the
// real status-gateway, three real status-nodes and a private RabbitMQ (see cluster.mjs).
// The nodes require sign-in for writes (--auth required): the main page signs in as `admin`
// (so it may write any user's status, as the older tests do), "another client" is this test
// process with admin's bearer token, and the tests of accounts use browser contexts of their
// own (each has its own cookies, i.e. its own session). Screenshots land in build/screenshots/.
//
// With STATUS_TLS=1 (`run --tls`) the cluster runs TLS on every hop and Chromium trusts its
// private CA the way a user would: an NSS database ($HOME/.pki/nssdb, which Chromium reads on
// Linux) in a HOME of its own, made with certutil. No certificate error is ignored anywhere. Only
// the smoke tests run then (uiTest's `smoke`), unless STATUS_TLS_ALL=1; screenshots go to
// build/screenshots/tls/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { Cluster, ROOT, TLS, waitUntil } from './cluster.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'build', 'screenshots', ...(TLS ? ['tls'] : []));
const TEST_TIMEOUT = 90000;
const ONLY_SMOKE = TLS && process.env.STATUS_TLS_ALL !== '1';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-sync'];

let cluster;
let browser;
let context;
let page;
const pageErrors = [];
const extraContexts = [];

/**
 * A call to the gateway's API from "another client" (this test process, not the page), as
 * `admin` by default; `token: null` for no credentials.
 */
async function apiCall(method, p, body, { token } = {}) {
  if (token === undefined) token = await cluster.adminToken();
  const headers = body ? { 'Content-Type': 'application/json' } : {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(cluster.url + p, {
    method,
    headers,
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

async function shot(name, opts = {}, p = page) {
  await p.screenshot({ path: path.join(SHOTS, `${name}.png`), ...opts });
}

/**
 * A HOME for Chromium whose NSS database trusts `ca` as a CA of web sites, as
 * `certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n status-ca -i ca.crt` makes it for a user.
 */
function homeTrusting(ca) {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'status-browser-home-'));
  const db = path.join(home, '.pki', 'nssdb');
  fs.mkdirSync(db, { recursive: true });
  const r = spawnSync('certutil', ['-d', `sql:${db}`, '-A', '-t', 'C,,', '-n', 'status-ca', '-i', ca],
    { encoding: 'utf8', timeout: 30000 });
  if (r.status !== 0) {
    throw new Error(`certutil (libnss3-tools; WITH_BROWSER=1 scripts/install-deps) failed: ${r.error ?? r.stderr}`);
  }
  return home;
}

let chromiumHome = null;

/** A browser context of its own (own cookies: a separate user) and a page in it, loaded. */
async function newUserPage() {
  const ctx = await newUserContext();
  return { ctx, p: await openPage(ctx) };
}

/** A browser context of its own, closed at the end. */
async function newUserContext() {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 950 }, locale: 'en-GB', timezoneId: 'UTC' });
  ctx.setDefaultTimeout(15000);
  extraContexts.push(ctx);
  return ctx;
}

async function openPage(ctx, url = cluster.url) {
  const p = await ctx.newPage();
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.goto(`${url}/`);
  await p.locator('#live[data-state="live"]').waitFor({ timeout: 30000 });
  await p.locator('#whoami:not([data-state="unknown"])').waitFor({ state: 'attached' });
  return p;
}

/** The session token in a browser context's HttpOnly cookie (the page's script cannot read it). */
async function sessionToken(ctx) {
  return (await ctx.cookies()).find((c) => c.name === 'status_session')?.value;
}

/** Signs in through the page's form and waits until the page says who you are. */
async function signIn(p, username, password) {
  await p.locator('#account').waitFor();
  if (await p.locator('#signin-form').isHidden()) await p.click('#show-signin');
  await p.fill('#si-username', username);
  await p.fill('#si-password', password);
  await p.click('#signin-btn');
  await p.locator('#whoami[data-state="in"] #whoami-text', { hasText: `you are ${username}` }).waitFor();
}

async function signOut(p) {
  await p.click('#signout-btn');
  await p.locator('#whoami[data-state="out"]').waitFor();
  await p.locator('#signin-msg', { hasText: 'You are signed out' }).waitFor();
}

/** The usernames the map holds (on pins of their own or in clusters), sorted. */
function mapHolds(p) {
  return p.evaluate(() => {
    let group;
    window.testMap.eachLayer((l) => { if (l.getVisibleParent) group = l; });
    return group.getLayers().map((m) => m.status.username).sort();
  });
}

/** The people in the map's view: each pin one, each cluster as many as it holds. */
function peopleOnMap(p) {
  return p.locator('#map .leaflet-marker-icon').evaluateAll((icons) =>
    icons.reduce((n, i) => n + (i.classList.contains('cluster') ? Number(i.dataset.count) : 1), 0));
}

async function lookUp(p, username) {
  await p.fill('#l-username', username);
  await p.click('#lookup-btn');
  await p.locator(`#lookup-card[data-username="${username}"]`).waitFor();
}

/**
 * A test whose failure also leaves a screenshot and the processes' last log lines. `smoke`: one of
 * the few that also run in the TLS pass (in their order: the later ones build on the earlier).
 */
function uiTest(name, fn, { smoke = false } = {}) {
  if (ONLY_SMOKE && !smoke) return;
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
  if (TLS) chromiumHome = homeTrusting(cluster.ca);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    timeout: 30000,
    ...(chromiumHome ? { env: { ...process.env, HOME: chromiumHome } } : {}),
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
  // The map's Leaflet instance, for tests that move the map the way a user would (pan, zoom) and
  // compare what the page asked for with what it shows: window.testMap, caught as Leaflet loads.
  await context.addInitScript(() => {
    let leaflet;
    Object.defineProperty(window, 'L', {
      configurable: true,
      get: () => leaflet,
      set: (v) => {
        leaflet = v;
        v?.Map?.addInitHook(function keep() { window.testMap = this; });
      },
    });
  });
  page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  // No --tile-url: the page asks nothing outside 127.0.0.1; the basemap is drawn from the client's files.
  await page.goto(`${cluster.url}/`);
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 30000 });
}, { timeout: 240000 });

after(async () => {
  for (const ctx of extraContexts) await ctx.close().catch(() => {});
  await browser?.close().catch(() => {});
  await cluster?.stop();
  if (chromiumHome) fs.rmSync(chromiumHome, { recursive: true, force: true });
}, { timeout: 120000 });

uiTest('the page loads, connects to the live stream and shows the empty feed', async () => {
  await page.locator('#feed-total[data-total="0"]').waitFor();
  assert.equal(await page.locator('#feed-empty').isVisible(), true);
  assert.equal(await page.title(), 'Status Server');

  // Signed out (GET /api/me said 401): the sign-in form, and the status form says why it needs it.
  await page.locator('#whoami[data-state="out"] #whoami-text', { hasText: 'not signed in' }).waitFor();
  assert.equal(await page.locator('#account').isVisible(), true);
  await page.locator('#compose-note', { hasText: 'You are not signed in' }).waitFor();
  await page.locator('#account').screenshot({ path: path.join(SHOTS, 'signin.png') });

  // The rest of these tests run as admin, who may write anyone's status.
  await signIn(page, 'admin', cluster.adminPassword);
  await page.locator('#whoami .role', { hasText: 'admin' }).waitFor();
  assert.equal(await page.locator('#account').isVisible(), false);
  assert.equal(await page.locator('#f-username').getAttribute('readonly'), null, 'an admin chooses the username');
  await page.locator('#f-username-who', { hasText: 'you may set anyone’s status' }).waitFor();
}, { smoke: true });

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
}, { smoke: true });

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
}, { smoke: true });

if (TLS) {
  uiTest('over TLS: the page comes over https, trusted through the NSS database; http:// redirects to it', async () => {
    assert.equal(await page.evaluate(() => location.protocol), 'https:');
    const index = await fetch(`${cluster.url}/`, { signal: AbortSignal.timeout(10000) });
    assert.match(index.headers.get('strict-transport-security') ?? '', /max-age=\d+/);

    // Plain HTTP on the redirect port: 308 to the same address over HTTPS, where the page works.
    const plain = `http://127.0.0.1:${cluster.redirectPort}`;
    const r = await fetch(`${plain}/?q=kept`, { redirect: 'manual', signal: AbortSignal.timeout(10000) });
    assert.equal(r.status, 308);
    assert.equal(r.headers.get('location'), `${cluster.url}/?q=kept`);
    const redirected = await openPage(await newUserContext(), plain);
    assert.equal(redirected.url(), `${cluster.url}/`);
    await redirected.close();

    // The trust is the NSS database's, not an ignored error: a Chromium without it refuses the
    // gateway's certificate.
    const bareHome = fs.mkdtempSync(path.join(os.tmpdir(), 'status-browser-home-'));
    const untrusting = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000,
      env: { ...process.env, HOME: bareHome } });
    try {
      const bare = await untrusting.newPage();
      await assert.rejects(bare.goto(`${cluster.url}/`), /ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      await untrusting.close();
      fs.rmSync(bareHome, { recursive: true, force: true });
    }
    await shot('https-page');
  }, { smoke: true });
}

uiTest('validation errors are shown in words, the server’s detail too', async () => {
  // Client-side: empty text and a bad username.
  await page.fill('#f-username', 'no spaces allowed');
  await page.fill('#f-text', '');
  await page.click('#save');
  await page.locator('#f-text-err', { hasText: 'must not be empty' }).waitFor();
  await page.locator('#f-username-err', { hasText: 'letters, digits' }).waitFor();
  await page.locator('#form-error', { hasText: 'Please correct the marked fields' }).waitFor();
  assert.equal(await page.getAttribute('#f-text', 'aria-invalid'), 'true');
  // The focus is on the summary under the Save button (the button stays put); each problem in it
  // is a button to its field.
  assert.equal(await page.evaluate(() => document.activeElement.id), 'form-error');
  assert.equal(await page.locator('#form-error .fixes button').count(), 2);
  await page.click('#form-error .fixes button[data-field="username"]');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'f-username');
  await page.fill('#f-username', 'carol');
  await page.fill('#f-lat', '91');
  await page.fill('#f-lon', '');
  await page.click('#save');
  await page.locator('#f-lat-err', { hasText: 'between −90 and 90' }).waitFor();
  await page.locator('#compose').screenshot({ path: path.join(SHOTS, 'validation.png') });
  await page.fill('#f-lat', '');

  // Server-side: a conflicting edit (If-Match) is refused; the page says so in words, with two choices.
  await apiCall('PUT', '/api/statuses/carol', { statusText: 'first' });
  await page.fill('#l-username', 'carol');
  await page.click('#lookup-btn');
  await page.locator('#lookup-card[data-username="carol"]').waitFor();
  await page.click('#edit-btn');
  await apiCall('PUT', '/api/statuses/carol', { statusText: 'changed by someone else' });
  await page.fill('#f-text', 'mine');
  await page.click('#save');
  const err = page.locator('#form-error');
  await err.locator('text=carol changed this status meanwhile').waitFor();
  assert.doesNotMatch(await err.innerText(), /412|precondition|If-Match/i, 'no HTTP words');
  await err.getByRole('button', { name: 'Keep theirs' }).waitFor();
  await page.click('#form-error >> text=Save mine anyway');
  await page.locator('#form-ok', { hasText: 'Updated carol’s status' }).waitFor();
  assert.equal((await apiCall('GET', '/api/statuses/carol')).body.statusText, 'mine');

  // A 404 on look-up says so, in words (no code, no server jargon).
  await page.fill('#l-username', 'nobody');
  await page.click('#lookup-btn');
  assert.equal((await apiCall('GET', '/api/statuses/nobody')).status, 404);
  await page.locator('#lookup-msg', { hasText: 'nobody has no status.' }).waitFor();
  assert.equal(await page.locator('#lookup-msg').innerText(), 'nobody has no status.');
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
  await page.locator('.leaflet-marker-icon[data-username="vienna"]').waitFor({ timeout: 2000 });

  // Through the page: click the map, then save.
  await page.fill('#f-username', 'dora');
  await page.fill('#f-text', 'Somewhere I clicked');
  const box = await page.locator('#map').boundingBox();
  await page.mouse.click(box.x + box.width * 0.3, box.y + box.height * 0.6);
  assert.notEqual(await page.inputValue('#f-lat'), '');
  assert.notEqual(await page.inputValue('#f-lon'), '');
  await page.click('#save');
  await page.locator('#form-ok', { hasText: 'Saved: dora' }).waitFor();
  await page.locator('.leaflet-marker-icon[data-username="dora"]').waitFor();
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
  await page.locator('.leaflet-marker-icon[data-username="geo"]').waitFor();

  // The map shows what is in view (Graz now, at zoom 8): "show on map" in the feed brings vienna
  // into it, with its popup (out of a cluster if it is in one). A click on its marker opens it too.
  await page.click('#feed-list li[data-username="vienna"] .where button');
  await page.locator('.leaflet-popup-content', { hasText: 'Kaffee im Hawelka' }).waitFor();
  await page.click('.leaflet-popup-close-button');
  await page.locator('.leaflet-popup-content').waitFor({ state: 'detached' });
  await page.locator('.leaflet-marker-icon[data-username="vienna"]').click();
  await page.locator('.leaflet-popup-content', { hasText: 'Kaffee im Hawelka' }).waitFor();
  // The count: everyone in view, on a pin of their own or in a cluster.
  await waitUntil(async () => (await page.locator('#map-count').innerText()) === `${await peopleOnMap(page)} on the map`,
    { what: 'the count of the people in view' });

  // The page asks nothing but its gateway, even with the old ?tiles= in the address (no setting
  // any more): no tiles without the operator's --tile-url, the land drawn from the client's own
  // files, no errors, and no tile setting on the page.
  const offline = await context.newPage();
  const offlineErrors = [];
  const elsewhere = [];
  offline.on('pageerror', (e) => offlineErrors.push(e.message));
  offline.on('request', (r) => { if (new URL(r.url()).host !== new URL(cluster.url).host) elsewhere.push(r.url()); });
  await offline.goto(`${cluster.url}/?tiles=${encodeURIComponent('http://127.0.0.1:9/{z}/{x}/{y}.png')}`);
  await offline.locator('#map path.basemap-land').first().waitFor({ state: 'attached' });
  await waitUntil(async () => /^\d+ on the map$/.test(await offline.locator('#map-count').innerText()),
    { what: 'the map loaded' });
  await offline.locator('#live[data-state="live"]').waitFor();
  await offline.waitForTimeout(500);
  assert.equal(await offline.locator('img.leaflet-tile').count(), 0);
  assert.deepEqual(elsewhere, []);
  assert.deepEqual(offlineErrors, []);
  assert.equal(await offline.locator('#tiles, #tiles-url').count(), 0);
  assert.equal(await offline.evaluate(() => localStorage.getItem('statusServer.tiles')), null);
  await offline.close();

  // A delete removes the marker.
  await page.click('#feed-list li[data-username="geo"] .where button');
  await page.locator('.leaflet-marker-icon[data-username="geo"]').waitFor();
  await apiCall('DELETE', '/api/statuses/geo');
  await page.locator('.leaflet-marker-icon[data-username="geo"]').waitFor({ state: 'detached', timeout: 2000 });
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

// ---------------------------------------------------------------- status features (issue 13, §8)
/** The page's requests whose URL matches `re`, from now on (stop() ends the recording). */
function recordRequests(p, re) {
  const urls = [];
  const on = (r) => {
    if (!re.test(r.url())) return;
    const u = new URL(r.url());
    u.at = Date.now();
    urls.push(u);
  };
  p.on('request', on);
  return { urls, stop: () => p.off('request', on) };
}

/** How many bursts the requests came in (gaps over 150 ms between them). */
const bursts = (urls) => urls.filter((u, i) => i === 0 || u.at - urls[i - 1].at > 150).length;

/** "until 15:00" as the page (en-GB, UTC) writes a time of today. */
const untilUtc = (iso) => `until ${new Date(iso).toLocaleTimeString('en-GB',
  { timeZone: 'UTC', hour: '2-digit', minute: '2-digit' })}`;

/** Saves the status form and returns the JSON body the page sent. */
async function saveForm(p = page) {
  const [req] = await Promise.all([
    p.waitForRequest((r) => r.method() === 'PUT' && r.url().includes('/api/statuses/')),
    p.click('#save'),
  ]);
  await p.locator('#form-ok', { hasText: /Saved|Updated/ }).waitFor();
  return req.postDataJSON();
}

uiTest('the status form: emoji, availability and “Clear after”; shown in the feed, on the map and in the card', async () => {
  await page.evaluate(() => window.scrollTo(0, 0));
  // The offered emoji are part of the page: no request leaves 127.0.0.1 for them.
  const outside = recordRequests(page, /^(?!https?:\/\/127\.0\.0\.1[:/])/);
  await page.fill('#f-username', 'emma');
  await page.fill('#f-text', 'Sprint planning');
  await page.fill('#f-lat', '52.52');
  await page.fill('#f-lon', '13.405');
  const meeting = page.locator('#emoji-choices button[data-emoji="📅"]');
  assert.equal(await page.locator('#emoji-choices button').count(), 12);
  await meeting.click();
  assert.equal(await page.inputValue('#f-emoji'), '📅');
  assert.equal(await meeting.getAttribute('aria-pressed'), 'true');
  assert.equal(await meeting.getAttribute('aria-label'), '📅 In a meeting');
  await page.selectOption('#f-availability', 'busy');
  // The choices of Mattermost's "Clear after", and what each does in words.
  assert.deepEqual(await page.locator('#f-expiry option').allInnerTexts(),
    ['Don’t clear', '30 minutes', '1 hour', '4 hours', 'Today', 'This week', 'Choose date and time']);
  await page.locator('#f-expiry-hint', { hasText: 'The status stays until you change it.' }).waitFor();
  await page.selectOption('#f-expiry', '3600');
  await page.locator('#f-expiry-hint', { hasText: /^Shown until \d\d:\d\d\.$/ }).waitFor();
  await page.locator('#compose').evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 80));
  await page.locator('#compose').screenshot({ path: path.join(SHOTS, 'status-form.png') });
  const t0 = Date.now();
  assert.deepEqual(await saveForm(), { statusText: 'Sprint planning', latitude: 52.52, longitude: 13.405,
    emoji: '📅', availability: 'busy', clearAfter: 3600 });
  // Saved: the text and its emoji are cleared for the next status; position, availability and
  // "Clear after" stay.
  assert.equal(await page.inputValue('#f-text'), '');
  assert.equal(await page.inputValue('#f-emoji'), '');
  assert.equal(await meeting.getAttribute('aria-pressed'), 'false');
  assert.equal(await page.inputValue('#f-lat'), '52.52');
  assert.equal(await page.inputValue('#f-availability'), 'busy');
  assert.equal(await page.inputValue('#f-expiry'), '3600');
  /** The same text and emoji again, as a user types them for the next save. */
  const again = async () => {
    await page.fill('#f-text', 'Sprint planning');
    await meeting.click();
  };
  const emma = (await apiCall('GET', '/api/statuses/emma')).body;
  assert.equal(emma.availability, 'busy');
  assert.equal(emma.emoji, '📅');
  assert.ok(Math.abs(Date.parse(emma.expiresAt) - (t0 + 3600e3)) < 60e3, `expires in an hour: ${emma.expiresAt}`);

  // The feed: the availability as a colour and a shape, with its name for screen readers and as
  // a tooltip; the emoji; the expiry time.
  const row = page.locator('#feed-list li[data-username="emma"]');
  await row.waitFor();
  assert.equal(await row.getAttribute('data-availability'), 'busy');
  const dot = row.locator('.avail');
  assert.equal(await dot.getAttribute('title'), 'Busy');
  assert.equal(await dot.locator('.visually-hidden').innerText(), '(Busy)');
  assert.match(await row.innerText(), /📅\s*Sprint planning/);
  assert.equal(await row.locator('.until-line').innerText(), untilUtc(emma.expiresAt));
  assert.equal(await row.locator('time.until').getAttribute('datetime'), emma.expiresAt);
  const colour = (sel) => page.locator(sel).first().evaluate((el) => getComputedStyle(el).backgroundColor);
  const busy = await colour('#feed-list li[data-username="emma"] .avail');
  const available = await colour('#feed-list li[data-availability="available"] .avail');
  assert.notEqual(busy, available, 'busy and available differ in colour');

  // The map ("show on map" in the feed brings emma's pin into view, out of any cluster): the pin
  // shows the emoji and a dot; its name says it all in words; a click opens its popup.
  await row.locator('.where button').click();
  const popup = page.locator('.leaflet-popup-content', { hasText: 'Sprint planning' });
  await popup.waitFor();
  await page.click('.leaflet-popup-close-button');
  await popup.waitFor({ state: 'detached' });
  const pin = page.locator('.leaflet-marker-icon[data-username="emma"]');
  await pin.waitFor();
  assert.equal(await pin.locator('.pin-shape span').innerText(), '📅');
  assert.equal(await pin.locator('.avail').getAttribute('data-availability'), 'busy');
  assert.equal(await pin.getAttribute('role'), 'button');
  assert.equal(await pin.getAttribute('aria-label'), `emma (Busy): 📅 Sprint planning, ${untilUtc(emma.expiresAt)}`);
  await pin.click();
  await popup.locator('.popup-state', { hasText: `Busy · ${untilUtc(emma.expiresAt)}` }).waitFor();
  await page.waitForTimeout(500); // the popup fades in
  await page.locator('#map-section').screenshot({ path: path.join(SHOTS, 'map-status.png') });
  await page.keyboard.press('Escape'); // the click left the focus on the map: Escape closes the popup
  await popup.waitFor({ state: 'detached' });

  // The card.
  await lookUp(page, 'emma');
  const card = page.locator('#lookup-card');
  assert.match(await card.locator('.text').innerText(), /📅\s*Sprint planning/);
  assert.equal((await card.locator('.state').innerText()).trim(), `Busy · ${untilUtc(emma.expiresAt)}`);

  // Today and This week: the end of the local day and of the local week (en-GB: Monday to Sunday).
  await page.selectOption('#f-expiry', 'today');
  const endOfToday = await page.evaluate(() => {
    const d = new Date();
    d.setHours(23, 59, 59, 0);
    return d.toISOString().replace('.000Z', 'Z');
  });
  await page.locator('#f-expiry-hint', { hasText: 'Shown until 23:59.' }).waitFor();
  await again();
  assert.equal((await saveForm()).expiresAt, endOfToday);
  await page.selectOption('#f-expiry', 'week');
  await again();
  const week = new Date((await saveForm()).expiresAt);
  assert.equal(week.getUTCDay(), 0, 'a Sunday');
  assert.equal(week.toISOString().slice(11), '23:59:59.000Z');
  assert.ok(week - Date.now() > 0 && week - Date.now() <= 7 * 86400e3, 'within the week');

  // A chosen date and time (local), prefilled an hour ahead; one in the past is caught at its field.
  await page.selectOption('#f-expiry', 'custom');
  await page.locator('#f-expires-at').waitFor();
  assert.match(await page.inputValue('#f-expires-at'), /^\d{4}-\d\d-\d\dT\d\d:\d\d$/);
  await page.fill('#f-expires-at', '2020-01-01T10:00');
  await again();
  await page.click('#save');
  await page.locator('#f-expires-at-err', { hasText: 'must be in the future' }).waitFor();
  assert.equal(await page.getAttribute('#f-expires-at', 'aria-invalid'), 'true');
  const tomorrow = new Date(Date.now() + 86400e3).toISOString().slice(0, 10);
  await page.fill('#f-expires-at', `${tomorrow}T15:00`);
  assert.equal((await saveForm()).expiresAt, `${tomorrow}T15:00:00Z`);
  const weekday = new Date(`${tomorrow}T15:00:00Z`).toLocaleDateString('en-GB', { timeZone: 'UTC', weekday: 'short' });
  await card.locator('.state', { hasText: `until ${weekday} 15:00` }).waitFor();

  // Edit loads all of it back into the form.
  await page.click('#edit-btn');
  assert.equal(await page.inputValue('#f-emoji'), '📅');
  assert.equal(await page.inputValue('#f-availability'), 'busy');
  assert.equal(await page.inputValue('#f-expiry'), 'custom');
  assert.equal(await page.inputValue('#f-expires-at'), `${tomorrow}T15:00`);
  // A free-text emoji (a shortcode), back to available, no expiry: nothing of the old extras stays.
  await page.fill('#f-emoji', ':coffee:');
  assert.equal(await meeting.getAttribute('aria-pressed'), 'false');
  await page.selectOption('#f-availability', 'available');
  await page.selectOption('#f-expiry', '');
  assert.deepEqual(await saveForm(), { statusText: 'Sprint planning', latitude: 52.52, longitude: 13.405, emoji: ':coffee:' });
  const after = (await apiCall('GET', '/api/statuses/emma')).body;
  assert.equal(after.availability, 'available');
  assert.equal(after.expiresAt, undefined);
  await row.locator('.until-line').waitFor({ state: 'detached' });
  await pin.locator('.avail[data-availability="available"]').waitFor();
  assert.equal(await pin.locator('.pin-shape span').innerText(), 'E', 'a shortcode is not drawn on the pin');

  // Too long an emoji is caught before sending.
  await page.fill('#f-emoji', '😀'.repeat(33));
  await page.click('#save');
  await page.locator('#f-emoji-err', { hasText: 'at most 32 characters; this one has 33' }).waitFor();
  await page.fill('#f-emoji', '');
  outside.stop();
  assert.deepEqual(outside.urls.map(String), [], 'nothing fetched from elsewhere');
});

uiTest('users’ texts and emoji are shown as text, never as markup', async () => {
  const evil = '<img src=x onerror="window.pwned=1">';
  await apiCall('PUT', '/api/statuses/mallory', { statusText: `${evil} hi`, emoji: '<b>', availability: 'dnd',
    latitude: 48.1, longitude: 16.2, clearAfter: 3600 });
  await apiCall('PUT', '/api/statuses/mallory', { statusText: `${evil} again`, emoji: '<i>', latitude: 48.1, longitude: 16.2 });
  const row = page.locator('#feed-list li[data-username="mallory"]');
  await row.locator('.text', { hasText: `${evil} again` }).waitFor();
  assert.equal(await row.locator('.text').innerText(), `<i> ${evil} again`);
  await lookUp(page, 'mallory');
  await page.locator('#history-list li .text', { hasText: `<b> ${evil} hi` }).waitFor();
  await page.click('#feed-list li[data-username="mallory"] .where button');
  await page.locator('.leaflet-popup-content', { hasText: `${evil} again` }).waitFor();
  assert.equal(await page.locator('#feed-list img, #lookup img, .leaflet-popup-content img, #feed-list b, #history-list b').count(), 0);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  await page.keyboard.press('Escape');
  await apiCall('DELETE', '/api/statuses/mallory');
});

uiTest('the look-up shows the user’s earlier statuses and how each ended', async () => {
  await apiCall('PUT', '/api/statuses/hist', { statusText: 'first', emoji: '☕' });
  await apiCall('PUT', '/api/statuses/hist', { statusText: 'second', availability: 'busy' });
  await apiCall('DELETE', '/api/statuses/hist');
  const third = (await apiCall('PUT', '/api/statuses/hist', { statusText: 'third', availability: 'away', clearAfter: 1 })).body;
  await waitUntil(async () => (await apiCall('GET', '/api/statuses/hist')).status === 404,
    { timeoutMs: 5000, what: 'hist expired' });

  // No status now, but a history: the look-up says so and lists it, newest first.
  await page.fill('#l-username', 'hist');
  await page.click('#lookup-btn');
  await page.locator('#lookup-msg', { hasText: 'hist has no status' }).waitFor();
  const items = page.locator('#history-list li');
  await waitUntil(async () => (await items.count()) === 3, { what: 'three entries' });
  assert.deepEqual(await items.evaluateAll((lis) => lis.map((li) => li.dataset.endedBy)), ['expired', 'deleted', 'replaced']);
  assert.deepEqual(await items.locator('.text').allInnerTexts(), ['third', 'second', '☕ first']);
  assert.deepEqual(await items.locator('.ended').allInnerTexts(), ['Expired', 'Deleted', 'Replaced']);
  const expired = items.first();
  assert.equal(await expired.locator('time').last().getAttribute('datetime'), third.expiresAt, 'ended when it expired');
  assert.match(await expired.innerText(), /Away · set .* · Expired /);
  assert.equal(await items.nth(1).locator('.avail').getAttribute('data-availability'), 'busy');

  // With a status again: the card and the history; a change by another client moves into the
  // history of the open look-up.
  await apiCall('PUT', '/api/statuses/hist', { statusText: 'fourth', emoji: '🎯', availability: 'dnd' });
  await lookUp(page, 'hist');
  await page.locator('#lookup-card .text', { hasText: 'fourth' }).waitFor();
  await apiCall('PUT', '/api/statuses/hist', { statusText: 'fifth' });
  await page.locator('#lookup-card .text', { hasText: 'fifth' }).waitFor({ timeout: 2000 });
  await items.first().locator('.text', { hasText: '🎯 fourth' }).waitFor({ timeout: 3000 });
  assert.equal(await items.count(), 4);
  assert.equal(await items.first().getAttribute('data-ended-by'), 'replaced');
  await page.locator('#lookup').screenshot({ path: path.join(SHOTS, 'history.png') });

  // A user with neither: the usual 404 sentence and no history section.
  await page.fill('#l-username', 'never-was');
  await page.click('#lookup-btn');
  await page.locator('#lookup-msg', { hasText: 'never-was has no status' }).waitFor();
  await page.locator('#history').waitFor({ state: 'hidden' });
});

uiTest('the feed’s search and availability filter are applied by the server, debounced, and page within the matches', async () => {
  for (let i = 1; i <= 13; i++) {
    const time = new Date(Date.UTC(2026, 1, 1, 12, i)).toISOString();
    await apiCall('PUT', `/api/statuses/filt${String(i).padStart(2, '0')}`,
      { statusText: `Quarterly review ${i}`, availability: i % 2 ? 'busy' : 'away', time });
  }
  const lists = recordRequests(page, /\/api\/statuses\?limit=10&/);
  const matches = async (query) => Number((await apiCall('GET', `/api/statuses?limit=1&${query}`)).headers.get('x-total-count'));
  assert.equal(await matches('q=quarterly'), 13);

  // Typed quickly: one request, for the whole word (case does not matter).
  await page.locator('#feed-q').pressSequentially('QUARTERLY', { delay: 40 });
  await page.locator('#feed-total[data-total="13"]', { hasText: '13 matches' }).waitFor();
  await page.waitForTimeout(400);
  assert.deepEqual(lists.urls.map((u) => u.searchParams.get('q')), ['QUARTERLY'], 'debounced: one request');
  assert.equal(await page.locator('#feed-list li').count(), 10);
  assert.deepEqual(await page.locator('#feed-list li .text').allInnerTexts(),
    [13, 12, 11, 10, 9, 8, 7, 6, 5, 4].map((i) => `Quarterly review ${i}`));

  // Paging keeps the filter.
  await page.click('#feed-next');
  await page.locator('#feed-page', { hasText: '11–13 of 13' }).waitFor();
  const next = lists.urls.at(-1);
  assert.equal(next.searchParams.get('offset'), '10');
  assert.equal(next.searchParams.get('q'), 'QUARTERLY');

  // The availability filter: from the first page again, both filters on the server.
  await page.selectOption('#feed-availability', 'busy');
  const busy = await matches('q=quarterly&availability=busy');
  assert.equal(busy, 7);
  await page.locator(`#feed-total[data-total="${busy}"]`).waitFor();
  const both = lists.urls.at(-1);
  assert.deepEqual([both.searchParams.get('q'), both.searchParams.get('availability'), both.searchParams.get('offset')],
    ['QUARTERLY', 'busy', '0']);
  assert.deepEqual(await page.locator('#feed-list li').evaluateAll((lis) => lis.map((li) => li.dataset.availability)),
    Array(7).fill('busy'));
  await page.locator('#feed').screenshot({ path: path.join(SHOTS, 'feed-filter.png') });

  // Live: a new match appears at the top; a change that no longer matches leaves; a status that
  // never matched does not show; the total follows.
  await apiCall('PUT', '/api/statuses/filt14', { statusText: 'Quarterly review 14', availability: 'busy' });
  await page.locator('#feed-list li:first-child[data-username="filt14"]').waitFor({ timeout: 2000 });
  await page.locator('#feed-total[data-total="8"]').waitFor({ timeout: 2000 });
  await apiCall('PUT', '/api/statuses/filt14', { statusText: 'Quarterly review 14', availability: 'away' });
  await page.locator('#feed-list li[data-username="filt14"]').waitFor({ state: 'detached', timeout: 2000 });
  await page.locator('#feed-total[data-total="7"]').waitFor({ timeout: 2000 });
  await apiCall('PUT', '/api/statuses/unrelated', { statusText: 'Lunch', availability: 'busy' });
  await page.waitForTimeout(800);
  assert.equal(await page.locator('#feed-list li[data-username="unrelated"]').count(), 0);
  assert.equal(await page.getAttribute('#feed-total', 'data-total'), '7');
  // A status that comes to match, with an old time: in its place by time, and counted.
  await apiCall('PUT', '/api/statuses/filt02', { statusText: 'Quarterly review 2', availability: 'busy',
    time: new Date(Date.UTC(2026, 1, 1, 12, 2)).toISOString() });
  await page.locator('#feed-total[data-total="8"]').waitFor({ timeout: 2000 });
  assert.deepEqual(await page.locator('#feed-list li').evaluateAll((lis) => lis.map((li) => li.dataset.username)),
    ['filt13', 'filt11', 'filt09', 'filt07', 'filt05', 'filt03', 'filt02', 'filt01'], 'in time order');

  // No match.
  await page.fill('#feed-q', 'no such thing');
  await page.locator('#feed-empty', { hasText: 'No status matches.' }).waitFor();
  await page.locator('#feed-total[data-total="0"]', { hasText: '0 matches' }).waitFor();
  // Cleared: everything again.
  await page.fill('#feed-q', '');
  await page.selectOption('#feed-availability', '');
  const total = await matches('');
  await page.locator(`#feed-total[data-total="${total}"]`, { hasText: `${total} statuses` }).waitFor();
  lists.stop();
});

uiTest('the map asks only for what is in view, again after moving (debounced), split across the antimeridian', async () => {
  await apiCall('PUT', '/api/statuses/fiji', { statusText: 'Bula', latitude: -17.71, longitude: 178.06 });
  await apiCall('PUT', '/api/statuses/samoa', { statusText: 'Talofa', latitude: -13.83, longitude: -172.13 });
  const boxes = recordRequests(page, /\/api\/statuses\?.*bbox=/);
  const bboxes = () => boxes.urls.map((u) => u.searchParams.get('bbox').split(',').map(Number));
  /** The map's own edges, as Leaflet has them. */
  const view = () => page.evaluate(() => {
    const b = window.testMap.getBounds();
    return { south: b.getSouth(), west: b.getWest(), north: b.getNorth(), east: b.getEast() };
  });
  const near = (a, b, what) => assert.ok(Math.abs(a - b) < 0.001, `${what}: ${a} vs ${b}`);
  await page.reload();
  await page.locator('#live[data-state="live"]').waitFor();
  await waitUntil(async () => (await mapHolds(page)).includes('vienna'), { what: 'vienna on the map' });
  // The first load asks for the whole world, and the view is fitted to what it finds (here
  // statuses all round the world). That answer holds every status, so the fitted view is not
  // asked for again.
  await waitUntil(() => boxes.urls.length >= 1, { what: 'the first load' });
  await page.waitForTimeout(800); // a load of the fitted view would come within the debounce
  assert.deepEqual(bboxes(), [[-180, -90, 180, 90]]);
  const v0 = await view();
  assert.ok(v0.west < 16.37 && v0.east > 16.37 && v0.south < 48.21 && v0.north > 48.21, `vienna in view: ${JSON.stringify(v0)}`);

  // "show on map" from the feed centres fiji at zoom 5: a view across the antimeridian, asked
  // for as two boxes, and only what is in them is shown.
  boxes.urls.length = 0;
  await page.click('#feed-list li[data-username="fiji"] .where button');
  await page.locator('.leaflet-marker-icon[data-username="samoa"]').waitFor();
  await page.locator('.leaflet-marker-icon[data-username="vienna"]').waitFor({ state: 'detached' });
  await page.waitForTimeout(800); // the popup may pan the map a little: let that settle too
  // Both islands are drawn in the view (samoa east of the antimeridian, not a world away).
  const mapBox = await page.locator('#map').boundingBox();
  for (const u of ['fiji', 'samoa']) {
    const b = await page.locator(`.leaflet-marker-icon[data-username="${u}"]`).boundingBox();
    assert.ok(b.x >= mapBox.x && b.x + b.width <= mapBox.x + mapBox.width
      && b.y >= mapBox.y && b.y + b.height <= mapBox.y + mapBox.height, `${u} drawn inside the map`);
  }
  const fijiX = (await page.locator('.leaflet-marker-icon[data-username="fiji"]').boundingBox()).x;
  assert.ok((await page.locator('.leaflet-marker-icon[data-username="samoa"]').boundingBox()).x > fijiX, 'samoa east of fiji');
  const moved = bboxes();
  assert.ok(moved.length % 2 === 0 && moved.every(([w, , e]) => !(w <= 16.37 && 16.37 <= e)),
    `boxes in pairs, none with vienna: ${JSON.stringify(moved)}`);
  const [east, west] = moved.slice(-2).sort((a, b) => b[0] - a[0]);
  const v1 = await view();
  const wrap = (lon) => ((((lon + 180) % 360) + 360) % 360) - 180;
  // Leaflet's edges may run past 180° (or −180°): the page wraps them and splits at the antimeridian.
  near(east[0], wrap(v1.west), 'west edge');
  assert.equal(east[2], 180);
  assert.equal(west[0], -180);
  near(west[2], wrap(v1.east), 'east edge');
  for (const b of [east, west]) {
    near(b[1], v1.south, 'south');
    near(b[3], v1.north, 'north');
  }
  assert.ok(east[0] < 178.06 && west[2] > -172.13, `both islands in view: ${JSON.stringify(moved)}`);
  assert.equal(await page.locator('#map-count').innerText(), '2 on the map');
  await page.locator('#map-section').screenshot({ path: path.join(SHOTS, 'map-antimeridian.png') });

  // Live: a status written in view appears; one outside it does not (the feed still has it).
  // (dateline may join fiji's cluster at this zoom: the map holds it either way.)
  await apiCall('PUT', '/api/statuses/dateline', { statusText: 'Just east of it', latitude: -16.8, longitude: -179.9 });
  await page.locator('#map-count', { hasText: '3 on the map' }).waitFor({ timeout: 2000 });
  assert.deepEqual(await mapHolds(page), ['dateline', 'fiji', 'samoa']);
  assert.equal(await peopleOnMap(page), 3);
  await apiCall('PUT', '/api/statuses/lima', { statusText: 'Hola', latitude: -12.05, longitude: -77.04 });
  await page.locator('#feed-list li[data-username="lima"]').waitFor({ timeout: 2000 });
  assert.deepEqual(await mapHolds(page), ['dateline', 'fiji', 'samoa']);

  // Five moves in a row (as a drag or the arrow keys make them): one request after they settle,
  // for where the map ended up.
  boxes.urls.length = 0;
  await page.evaluate(async () => {
    for (let i = 0; i < 5; i++) {
      window.testMap.panBy([60, 0], { animate: false });
      await new Promise((r) => setTimeout(r, 50));
    }
  });
  await page.waitForTimeout(1000);
  assert.equal(bursts(boxes.urls), 1, `one refresh: ${JSON.stringify(bboxes())}`);
  const v2 = await view();
  const last = bboxes().sort((a, b) => b[0] - a[0]);
  near(last[0][0], wrap(v2.west), 'west edge after the moves');
  near(last.at(-1)[2], wrap(v2.east), 'east edge after the moves');

  // Zoomed out with the keyboard: the whole world again, vienna and lima back.
  await page.locator('#map').focus();
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press('Minus');
    await page.waitForTimeout(350); // Leaflet ignores the key while a zoom is animated
  }
  await waitUntil(async () => {
    const held = await mapHolds(page);
    return held.includes('vienna') && held.includes('lima');
  }, { what: 'vienna and lima on the map again' });
  boxes.stop();
});

uiTest('live events resume after a reconnect from the last id, without reloading the lists; event: reset reloads', async () => {
  await apiCall('PUT', '/api/statuses/resume-a', { statusText: 'before the break' });
  await page.locator('#feed-list li[data-username="resume-a"]').waitFor({ timeout: 2000 });
  const events = recordRequests(page, /\/api\/events/);
  const reloads = recordRequests(page, /\/api\/statuses\?limit=(10|1000)&/);

  // The gateway goes away and comes back; meanwhile a status is written on a node directly.
  await cluster.gateway.kill();
  await page.locator('#live[data-state="reconnecting"]').waitFor({ timeout: 5000 });
  const token = await cluster.adminToken();
  const direct = await fetch(`${cluster.nodes[0].url}/api/statuses/resume-b`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ statusText: 'written while the page was cut off' }), signal: AbortSignal.timeout(5000),
  });
  assert.equal(direct.status, 201);
  await cluster.gateway.start();
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 15000 });
  // The missed status arrives by replay, not by a reload of the feed or the map.
  await page.locator('#feed-list li[data-username="resume-b"]', { hasText: 'written while the page was cut off' })
    .waitFor({ timeout: 5000 });
  const resumed = events.urls.filter((u) => u.searchParams.has('lastEventId'));
  assert.ok(resumed.length >= 1, `a new EventSource with ?lastEventId= (${events.urls.map(String)})`);
  assert.notEqual(resumed.at(-1).searchParams.get('lastEventId'), '');
  assert.deepEqual(reloads.urls.map(String), [], 'no list reloaded');
  // And live goes on.
  await apiCall('PUT', '/api/statuses/resume-c', { statusText: 'after the break' });
  await page.locator('#feed-list li[data-username="resume-c"]').waitFor({ timeout: 2000 });
  assert.deepEqual(reloads.urls.map(String), [], 'still no list reloaded');

  // An id the node cannot read: it answers with event: reset, and the page reloads its lists.
  const resuming = (u) => u.pathname === '/api/events' && u.searchParams.has('lastEventId');
  await page.route(resuming, (route) => {
    const u = new URL(route.request().url());
    u.searchParams.set('lastEventId', 'not-an-id-of-any-node');
    return route.continue({ url: u.toString() });
  });
  await cluster.gateway.kill();
  await page.locator('#live[data-state="reconnecting"]').waitFor({ timeout: 5000 });
  await cluster.gateway.start();
  await waitUntil(() => reloads.urls.some((u) => u.searchParams.get('limit') === '10'),
    { timeoutMs: 15000, what: 'the feed reloaded after event: reset' });
  await waitUntil(() => reloads.urls.some((u) => u.searchParams.has('bbox')),
    { timeoutMs: 5000, what: 'the map reloaded after event: reset' });
  await page.unroute(resuming);
  await page.locator('#live[data-state="live"]').waitFor({ timeout: 15000 });
  events.stop();
  reloads.stop();
});

uiTest('an expired status leaves the open page on time: by the server’s event: expire, and by the page’s own clock', async () => {
  // A page whose clock is an hour behind: its own timer would wait an hour, so what removes the
  // status on time is the server's event: expire.
  const behind = await browser.newContext({ viewport: { width: 1400, height: 950 }, locale: 'en-GB', timezoneId: 'UTC' });
  behind.setDefaultTimeout(15000);
  extraContexts.push(behind);
  await behind.clock.install({ time: Date.now() - 3600e3 });
  const late = await openPage(behind);
  // A page that never gets the event stream: only its own clock can remove the status.
  const cut = await context.newPage();
  cut.on('pageerror', (e) => pageErrors.push(e.message));
  await cut.route('**/api/events**', (route) => route.abort('connectionrefused'));

  // In Nuuk: no other status near it, so its own pin shows (not a cluster); the main page's map
  // is there already, so the pin arrives with the event.
  await page.evaluate(() => window.testMap.setView([64.18, -51.72], 5, { animate: false }));
  await page.waitForTimeout(700); // the map's load for its new view
  const s = (await apiCall('PUT', '/api/statuses/brief', { statusText: 'Gone in a moment', clearAfter: 4,
    latitude: 64.18, longitude: -51.72 })).body;
  const at = Date.parse(s.expiresAt);
  await cut.goto(`${cluster.url}/`);
  for (const p of [page, late, cut]) await p.locator('#feed-list li[data-username="brief"] time.until').waitFor();
  await lookUp(page, 'brief');
  await page.locator('.leaflet-marker-icon[data-username="brief"]').waitFor();
  await page.waitForTimeout(700); // the pin's drop
  assert.notEqual(await cut.locator('#live').getAttribute('data-state'), 'live');
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot('expiring');

  // Checked at every frame, so that the times below are the page's, not a polling interval's.
  const goneAt = (p, sel) => p.waitForFunction((q) => !document.querySelector(q), sel,
    { polling: 'raf', timeout: at - Date.now() + 5000 }).then(() => Date.now());
  const [byEvent, byClock, main, marker] = await Promise.all([
    goneAt(late, '#feed-list li[data-username="brief"]'),
    goneAt(cut, '#feed-list li[data-username="brief"]'),
    goneAt(page, '#feed-list li[data-username="brief"]'),
    goneAt(page, '.leaflet-marker-icon[data-username="brief"]'),
  ]);
  console.log(`  expiresAt + ${byEvent - at} ms by the event, + ${byClock - at} ms by the page's clock`);
  // The server's clock and this process's are the same machine's.
  assert.ok(byClock >= at - 100 && byClock - at < 1000, `the page's own clock: on time (${byClock - at} ms)`);
  // Within a second by the contract, and the feed's leaving animation (0.35 s).
  assert.ok(byEvent - at < 2000, `event: expire within a second or so (${byEvent - at} ms)`);
  // The main page has both (event and clock); on a machine this busy its animation frames lag.
  assert.ok(main - at < 2000 && marker - at < 2000, `the main page: ${main - at}, ${marker - at} ms`);
  await page.locator('#lookup-msg', { hasText: 'brief’s status has expired.' }).waitFor();
  await page.locator('#history-list li[data-ended-by="expired"]', { hasText: 'Gone in a moment' }).waitFor({ timeout: 3000 });
  assert.equal((await apiCall('GET', '/api/statuses/brief')).status, 404);
  await cut.close();
  await late.close();
});

// ---------------------------------------------------------------- accounts and access (§6)
// Each user has a browser context of their own. alice's page stays open across these tests.
const ALICE_PW = 'correct horse battery';
const BOB_PW = 'bob’s own passphrase';
let alicePage;

uiTest('sign up, sign in, set your own status and see it in the feed', async () => {
  const { p } = await newUserPage();
  alicePage = p;
  await p.locator('#whoami[data-state="out"]').waitFor();
  // The fields say what they are, for password managers too.
  assert.equal(await p.getAttribute('#si-username', 'autocomplete'), 'username');
  assert.equal(await p.getAttribute('#si-password', 'autocomplete'), 'current-password');
  assert.equal(await p.getAttribute('#su-username', 'autocomplete'), 'username');
  assert.equal(await p.getAttribute('#su-password', 'autocomplete'), 'new-password');
  assert.equal(await p.getAttribute('#si-password', 'type'), 'password');

  // Sign up; a short password is caught at the field before anything is sent.
  await p.click('#show-signup');
  await p.locator('#account-h', { hasText: 'Create an account' }).waitFor();
  await p.fill('#su-username', 'alice');
  await p.fill('#su-password', 'short');
  await p.click('#signup-btn');
  await p.locator('#su-password-err', { hasText: 'A password is 8–256 characters long; this one has 5' }).waitFor();
  assert.equal(await p.getAttribute('#su-password', 'aria-invalid'), 'true');
  assert.equal(await p.evaluate(() => document.activeElement.id), 'su-password');
  await p.fill('#su-password', ALICE_PW);
  await p.click('#signup-btn');
  // Signed in right away: the name comes from the node's answer.
  await p.locator('#whoami[data-state="in"] #whoami-text', { hasText: 'you are alice' }).waitFor();
  await p.locator('#form-ok', { hasText: 'Welcome, alice: your account is ready and you are signed in' }).waitFor();
  assert.equal(await p.locator('#account').isVisible(), false);
  assert.equal(await p.inputValue('#f-username'), 'alice');
  assert.equal(await p.getAttribute('#f-username', 'readonly'), '', 'your own name, fixed');
  await p.locator('#f-username-who', { hasText: 'You are signed in as alice: this sets your own status' }).waitFor();
  // The cookie works on every node once the session has replicated (asynchronously, like a status).
  console.log(`  alice's session accepted by every node after ${await cluster.waitForSession(await sessionToken(p.context()))} ms`);
  const me = await p.evaluate(async () => (await fetch('/api/me')).json());
  assert.deepEqual(me, { username: 'alice', roles: [] });
  // The token stays in the HttpOnly cookie, nothing in document.cookie; the page's storage holds
  // only the name last used (offered again after signing out), never the token.
  assert.deepEqual(await p.evaluate(() => ({ ...localStorage, ...sessionStorage })), { 'statusServer.username': 'alice' });
  assert.equal(await p.evaluate(() => document.cookie), '');
  const [cookie] = (await p.context().cookies()).filter((c) => c.name === 'status_session');
  assert.ok(cookie?.httpOnly && cookie.sameSite === 'Strict', `HttpOnly SameSite=Strict cookie: ${JSON.stringify(cookie)}`);

  // Sign out and in again.
  await signOut(p);
  assert.equal(await p.inputValue('#si-username'), 'alice', 'the name is kept for signing in again');
  // The name is offered in the status form too (remembered), no longer fixed: signed out it can be changed.
  assert.equal(await p.inputValue('#f-username'), 'alice', 'the name is remembered after signing out');
  assert.equal(await p.getAttribute('#f-username', 'readonly'), null, 'the fixed name went with the session');
  assert.equal((await p.context().cookies()).some((c) => c.name === 'status_session' && c.value), false);
  await p.fill('#si-password', ALICE_PW);
  await p.click('#signin-btn');
  await p.locator('#whoami-text', { hasText: 'you are alice' }).waitFor();
  await p.locator('#form-ok', { hasText: 'Signed in as alice' }).waitFor();

  // Set your own status: it is saved and shows in the feed.
  await p.fill('#f-text', 'Signed in and writing');
  await p.click('#save');
  await p.locator('#form-ok', { hasText: 'Saved: alice now has a status' }).waitFor();
  await p.locator('#feed-list li[data-username="alice"]', { hasText: 'Signed in and writing' }).waitFor();
  // …and in everybody else's page, live.
  await page.locator('#feed-list li[data-username="alice"]', { hasText: 'Signed in and writing' }).waitFor({ timeout: 2000 });
  assert.equal((await apiCall('GET', '/api/statuses/alice', null, { token: null })).body.statusText, 'Signed in and writing');
  // A reload asks the node who we are (GET /api/me): still alice.
  await p.reload();
  await p.locator('#whoami[data-state="in"] #whoami-text', { hasText: 'you are alice' }).waitFor();
  assert.equal(await p.inputValue('#f-username'), 'alice');
  // Her own status has Edit and Delete.
  await lookUp(p, 'alice');
  assert.equal(await p.locator('#edit-btn').isVisible(), true);
  assert.equal(await p.locator('#delete-btn').isVisible(), true);
  await p.evaluate(() => window.scrollTo(0, 0));
  await shot('signed-in', {}, p);
});

uiTest('signed out, a write attempt says “Please sign in”', async () => {
  const p = alicePage;
  await signOut(p);
  // The status card offers no Edit or Delete and says why.
  await lookUp(p, 'alice');
  assert.equal(await p.locator('#edit-btn').isVisible(), false);
  await p.locator('#card-note', { hasText: 'Sign in as alice (or as an admin) to change alice’s status.' }).waitFor();
  // The form can still be sent (another tab may have signed in); the node refuses with 401.
  await p.locator('#compose-note', { hasText: 'You are not signed in' }).waitFor();
  await p.fill('#f-username', 'alice');
  await p.fill('#f-text', 'Nobody signed in wrote this');
  const [res] = await Promise.all([
    p.waitForResponse((r) => r.url().endsWith('/api/statuses/alice') && r.request().method() === 'PUT'),
    p.click('#save'),
  ]);
  assert.equal(res.status(), 401);
  await p.locator('#form-error', { hasText: 'Please sign in to change a status.' }).waitFor();
  assert.doesNotMatch(await p.locator('#form-error').innerText(), /sign in to change a status \(401/i,
    'plain words, not the raw answer');
  // Below the sticky top bar, so that the element's screenshot shows all of it.
  await p.locator('#compose').evaluate((el) => window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - 80));
  await p.locator('#compose').screenshot({ path: path.join(SHOTS, 'signed-out-write.png') });
  // Its "Sign in" button leads to the sign-in form, the name filled in.
  await p.locator("#form-error button", { hasText: "Sign in" }).click();
  assert.equal(await p.evaluate(() => document.activeElement.id), 'si-password');
  assert.equal(await p.inputValue('#si-username'), 'alice');
  assert.equal((await apiCall('GET', '/api/statuses/alice')).body.statusText, 'Signed in and writing');
});

uiTest('another user cannot change alice’s status: no buttons, and the node’s 403 in words', async () => {
  // bob, in a browser of his own: "alice" is taken, so he signs up as bob.
  const { p: bob } = await newUserPage();
  await bob.click('#show-signup');
  await bob.fill('#su-username', 'alice');
  await bob.fill('#su-password', BOB_PW);
  await bob.click('#signup-btn');
  await bob.locator('#su-username-err', { hasText: 'That name is taken' }).waitFor();
  await bob.locator('#signup-msg', { hasText: 'That name is taken.' }).waitFor();
  assert.equal(await bob.evaluate(() => document.activeElement.id), 'su-username');
  await bob.locator('#account').screenshot({ path: path.join(SHOTS, 'signup-taken.png') });
  await bob.fill('#su-username', 'bob');
  await bob.click('#signup-btn');
  await bob.locator('#whoami-text', { hasText: 'you are bob' }).waitFor();
  // alice's status: no Edit or Delete for bob, and a sentence why.
  await lookUp(bob, 'alice');
  assert.equal(await bob.locator('#edit-btn').isVisible(), false);
  assert.equal(await bob.locator('#delete-btn').isVisible(), false);
  await bob.locator('#card-note', { hasText: 'Only alice or an admin can change alice’s status.' }).waitFor();
  // bob's form writes bob's status only.
  assert.equal(await bob.inputValue('#f-username'), 'bob');
  assert.equal(await bob.getAttribute('#f-username', 'readonly'), '');

  // alice's page, signed in as alice, starts editing her status; meanwhile a second tab of the
  // same browser signs in as bob (the cookie is now bob's). Saving is refused by the node (403)
  // and the page says so in words, then learns who it really is.
  const p = alicePage;
  await p.fill('#si-password', ALICE_PW);
  await p.press('#si-password', 'Enter');  // the keyboard is enough
  await p.locator('#whoami-text', { hasText: 'you are alice' }).waitFor();
  await lookUp(p, 'alice');
  await p.click('#edit-btn');
  await p.locator('#compose-h', { hasText: 'Edit alice’s status' }).waitFor();
  const tab2 = await openPage(p.context());
  await tab2.locator('#whoami-text', { hasText: 'you are alice' }).waitFor();
  const signedIn = await tab2.evaluate(async (password) => (await fetch('/api/sessions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'bob', password }) })).status, BOB_PW);
  assert.equal(signedIn, 201);
  await tab2.close();
  await cluster.waitForSession(await sessionToken(p.context()));
  await p.fill('#f-text', 'bob tries to change this');
  const [res] = await Promise.all([
    p.waitForResponse((r) => r.url().endsWith('/api/statuses/alice') && r.request().method() === 'PUT'),
    p.click('#save'),
  ]);
  assert.equal(res.status(), 403);
  await p.locator('#form-error', { hasText: 'Only alice or an admin can change alice’s status.' }).waitFor();
  await p.locator('#whoami-text', { hasText: 'you are bob' }).waitFor();
  await p.locator('#card-note', { hasText: 'Only alice or an admin can change alice’s status.' }).waitFor();
  assert.equal(await p.locator('#edit-btn').isVisible(), false);
  await p.evaluate(() => window.scrollTo(0, 0));
  await shot('forbidden', {}, p);
  assert.equal((await apiCall('GET', '/api/statuses/alice')).body.statusText, 'Signed in and writing');

  // The node, asked directly with bob's credentials, refuses a delete too.
  const token = (await cluster.signIn('bob', BOB_PW)).token;
  await cluster.waitForSession(token);
  const del = await apiCall('DELETE', '/api/statuses/alice', null, { token });
  assert.equal(del.status, 403);
  assert.equal((await apiCall('PUT', '/api/statuses/alice', { statusText: 'x' }, { token: null })).status, 401);
  assert.equal((await apiCall('GET', '/api/statuses/alice')).body.statusText, 'Signed in and writing');
});

uiTest('an admin edits and deletes another user’s status', async () => {
  // The main page is signed in as admin.
  await lookUp(page, 'alice');
  assert.equal(await page.locator('#edit-btn').isVisible(), true);
  assert.equal(await page.locator('#card-note').isVisible(), false);
  await page.click('#edit-btn');
  await page.locator('#compose-h', { hasText: 'Edit alice’s status' }).waitFor();
  assert.equal(await page.inputValue('#f-username'), 'alice');
  await page.fill('#f-text', 'Changed by the admin');
  await page.click('#save');
  await page.locator('#form-ok', { hasText: 'Updated alice’s status' }).waitFor();
  assert.equal((await apiCall('GET', '/api/statuses/alice')).body.statusText, 'Changed by the admin');
  await alicePage.locator('#feed-list li[data-username="alice"]', { hasText: 'Changed by the admin' }).waitFor({ timeout: 2000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot('admin');
  // Any name in the admin's form: a status for bob.
  assert.equal(await page.getAttribute('#f-username', 'readonly'), null);
  await page.fill('#f-username', 'bob');
  await page.fill('#f-text', 'Set for bob by the admin');
  await page.click('#save');
  await page.locator('#form-ok', { hasText: 'Saved: bob now has a status' }).waitFor();
  // And delete it.
  await lookUp(page, 'bob');
  await page.click('#delete-btn');
  await page.click('#confirm-yes');
  await page.locator('#lookup-msg', { hasText: 'Deleted: bob’s status is gone' }).waitFor();
  assert.equal((await apiCall('GET', '/api/statuses/bob')).status, 404);
});

uiTest('a wrong password again and again: “Too many attempts — wait N seconds”', async () => {
  const { p } = await newUserPage();
  await p.fill('#si-username', 'alice');
  // Each node counts the failures it sees (CONTRACT §6): through the gateway over three nodes the
  // name is locked after at most 5 × 3 failures.
  const limit = 5 * cluster.nodes.length + 1;
  let statuses = [];
  for (let i = 0; i < limit; i++) {
    await p.fill('#si-password', `wrong password ${i}`);
    const [res] = await Promise.all([
      p.waitForResponse((r) => r.url().endsWith('/api/sessions') && r.request().method() === 'POST'),
      p.click('#signin-btn'),
    ]);
    statuses.push(res.status());
    if (res.status() === 429) break;
    await p.locator('#signin-msg', { hasText: 'Wrong username or password.' }).waitFor();
  }
  console.log(`  sign-in answers: ${statuses.join(' ')}`);
  assert.equal(statuses.at(-1), 429, `429 within ${limit} attempts (got ${statuses.join(' ')})`);
  assert.ok(statuses.length > 5, 'not locked before 5 failures');
  const msg = p.locator('#signin-msg');
  await msg.filter({ hasText: /Too many attempts — wait \d+ seconds?\./ }).waitFor();
  const first = Number((await msg.innerText()).match(/wait (\d+) second/)[1]);
  assert.ok(first >= 1 && first <= 60, `a wait of 1–60 s (${first})`);
  assert.equal(await p.locator('#signin-btn').isDisabled(), true, 'no more attempts while locked');
  await p.locator('#account').screenshot({ path: path.join(SHOTS, 'too-many-attempts.png') });
  // It counts down.
  await waitUntil(async () => Number((await msg.innerText()).match(/wait (\d+) second/)?.[1]) < first,
    { timeoutMs: 3000, what: 'the countdown' });
});

uiTest('the page works under the gateway\'s Content-Security-Policy (no inline script or style)', async () => {
  // The gateway sends the web client's files with a CSP without 'unsafe-inline' (review F19):
  // any inline <script>, on…= attribute or style attribute in the markup would show up as a
  // violation.
  const index = await fetch(cluster.url + '/', { signal: AbortSignal.timeout(10000) });
  const csp = index.headers.get('content-security-policy') || '';
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /style-src 'self';/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.equal(index.headers.get('x-frame-options'), 'DENY');
  assert.equal(index.headers.get('x-content-type-options'), 'nosniff');
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 950 }, locale: 'en-GB', timezoneId: 'UTC' });
  ctx.setDefaultTimeout(15000);
  extraContexts.push(ctx);
  let documentCsp = null;
  ctx.on('response', (r) => {
    if (new URL(r.url()).pathname === '/') documentCsp = r.headers()['content-security-policy'];
  });
  await ctx.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation',
      (e) => window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
  });
  const consoleCsp = [];
  ctx.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) consoleCsp.push(m.text()); });
  const p = await openPage(ctx);
  assert.equal(documentCsp, csp, 'the page came with the CSP');

  // Sign up, set a status with a position, open its card, its marker's popup and the delete dialog.
  await p.click('#show-signup');
  await p.fill('#su-username', 'strict');
  await p.fill('#su-password', 'strict-csp-pass');
  await p.click('#signup-btn');
  await p.locator('#whoami-text', { hasText: 'you are strict' }).waitFor();
  await p.fill('#f-text', 'No inline script here');
  await p.fill('#f-lat', '46.05');
  await p.fill('#f-lon', '14.51');
  await p.click('#save');
  await p.locator('#form-ok', { hasText: 'Saved: strict now has a status' }).waitFor();
  await p.locator('#feed-list li[data-username="strict"] .avatar').waitFor();
  await p.click('#feed-list li[data-username="strict"] .where button');
  await p.locator('.leaflet-popup-content', { hasText: 'No inline script here' }).waitFor();
  await lookUp(p, 'strict');
  await p.click('#delete-btn');
  await p.keyboard.press('Escape');
  // The styles set from script (avatar colours) are applied: they go through the CSSOM, which a
  // CSP does not block.
  // (A style attribute in markup would be dropped: el.style would stay empty.)
  const bg = await p.locator('#feed-list li[data-username="strict"] .avatar').evaluate((el) => el.style.backgroundColor);
  assert.match(bg, /^rgb/);
  assert.deepEqual(await p.evaluate(() => window.cspViolations), []);
  assert.deepEqual(consoleCsp, []);
}, { smoke: true });

uiTest('with --auth off there is no sign-in, and anyone may set any status', async () => {
  // A node of its own (no broker, no replication) with the open mode of the original description.
  const open = new Cluster({ nodes: 1, auth: 'off', broker: false });
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 950 }, locale: 'en-GB', timezoneId: 'UTC' });
  ctx.setDefaultTimeout(15000);
  extraContexts.push(ctx);
  try {
    await open.start();
    const p = await openPage(ctx, open.url);
    await p.locator('#whoami[data-state="open"]').waitFor({ state: 'attached' });
    assert.equal(await p.locator('#whoami').isVisible(), false);
    assert.equal(await p.locator('#account').isVisible(), false);
    assert.equal(await p.locator('#compose-note').isVisible(), false);
    assert.equal(await p.getAttribute('#f-username', 'readonly'), null);
    await p.fill('#f-username', 'anyone');
    await p.fill('#f-text', 'No accounts here');
    await p.click('#save');
    await p.locator('#form-ok', { hasText: 'Saved: anyone now has a status' }).waitFor();
    await lookUp(p, 'anyone');
    assert.equal(await p.locator('#edit-btn').isVisible(), true);
    assert.equal(await p.locator('#delete-btn').isVisible(), true);
    assert.equal(await p.locator('#card-note').isVisible(), false);
    await p.close();
  } finally {
    await open.stop();
  }
});

/** The operators' view in a tab of its own: /cluster where the gateway has the route, else the file. */
let ops = null;
async function opsPage() {
  if (ops) return ops;
  const res = await fetch(`${cluster.url}/cluster`, { signal: AbortSignal.timeout(5000) });
  await res.text();
  ops = await context.newPage();
  ops.on('pageerror', (e) => pageErrors.push(`cluster view: ${e.message}`));
  await ops.goto(`${cluster.url}${res.ok ? '/cluster' : '/cluster.html'}`);
  return ops;
}

uiTest('the cluster view shows three nodes; a killed node is shown as down within 5 s of a refresh', async () => {
  const view = await opsPage();
  const nodes = view.locator('#nodes li.node');
  await waitUntil(async () => (await nodes.count()) === 3, { timeoutMs: 5000, what: 'three nodes' });
  await view.locator('#cluster-summary[data-up="3"]').waitFor({ timeout: 5000 });
  // The view's own requests name the nodes that answered them.
  assert.match(await view.locator('#recent li').first().innerText(), /^n[123]$/);
  await view.locator('#cluster').screenshot({ path: path.join(SHOTS, 'cluster.png') });

  const victim = cluster.nodes[1];
  const t0 = Date.now();
  await victim.kill();
  // The view refreshes every 15 s by itself; an operator who wants to know now asks for it.
  await view.getByRole('button', { name: 'Refresh now' }).click();
  await view.locator(`#nodes li.node[data-instance="127.0.0.1:${victim.port}"][data-state="down"]`)
    .waitFor({ timeout: 5000 });
  console.log(`  killed node shown as down after ${Date.now() - t0} ms`);
  await view.locator('#cluster-summary[data-up="2"]').waitFor({ timeout: 2000 });
  await view.locator('#cluster').screenshot({ path: path.join(SHOTS, 'cluster-node-down.png') });

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
  assert.equal(await page.evaluate(() => document.activeElement.id), 'signout-btn');
  // The language switch: one button per language, each named in its own language.
  for (const name of ['Deutsch', 'English']) {
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), name);
  }
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
  const view = await opsPage();
  await cluster.gateway.kill();
  await page.locator('#live[data-state="reconnecting"]').waitFor({ timeout: 5000 });
  await view.getByRole('button', { name: 'Refresh now' }).click();
  await view.locator('#cluster-msg', { hasText: 'The gateway cannot be reached' }).waitFor({ timeout: 5000 });
  await page.fill('#l-username', 'vienna');
  await page.click('#lookup-btn');
  await page.locator('#banner', { hasText: 'Retrying' }).waitFor({ timeout: 3000 });
  await page.locator('#lookup-msg', { hasText: 'Could not look up vienna: the server could not be reached (tried 4 times).' })
    .waitFor({ timeout: 10000 });
  await page.locator('#banner').waitFor({ state: 'hidden' });
  await view.locator('#cluster').screenshot({ path: path.join(SHOTS, 'gateway-down.png') });
});

uiTest('no script errors on the page during the whole run', async () => {
  assert.deepEqual(pageErrors, []);
}, { smoke: true });
