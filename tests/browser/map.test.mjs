// Browser tests of the map (web/js/map.js): the basemap drawn without any network, online tiles
// only when the operator configured them, 40 people in Europe and Japan clustered and each one
// reachable by clicks, the map as one tab stop moved by the keyboard, markers named by their full
// usernames, popups below the sticky header. Debian's Chromium driven by playwright-core against
// a real gateway and node (one node, no broker: the map needs no replication). Screenshots in
// build/screenshots/map-*.png.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, Cluster, keepLeafletMap, ROOT, waitUntil } from './cluster.mjs';

const SHOTS = path.join(ROOT, 'build', 'screenshots');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** How long the load event may take on this (shared, slow) machine with nothing reachable outside. */
const LOAD_BOUND_MS = 8000;

// 28 people in Europe, 12 in Japan; two of them at the very same place in Tokyo.
const PEOPLE = [
  ['anna.berlin', 52.52, 13.405], ['ben.hamburg', 53.55, 9.99], ['clara.muenchen', 48.14, 11.58],
  ['david.wien', 48.21, 16.37], ['eva.graz', 47.07, 15.44], ['felix.zuerich', 47.37, 8.54],
  ['gabrielle.paris', 48.86, 2.35], ['hugo.lyon', 45.76, 4.84], ['isla.london', 51.51, -0.13],
  ['jack.dublin', 53.35, -6.26], ['lucia.madrid', 40.42, -3.7], ['joao.lisboa', 38.72, -9.14],
  ['marco.roma', 41.9, 12.5], ['giulia.milano', 45.46, 9.19], ['petr.praha', 50.08, 14.44],
  ['ola.warszawa', 52.23, 21.01], ['sven.stockholm', 59.33, 18.07], ['nora.oslo', 59.91, 10.75],
  ['aino.helsinki', 60.17, 24.94], ['mads.koebenhavn', 55.68, 12.57], ['daan.amsterdam', 52.37, 4.9],
  ['lea.bruxelles', 50.85, 4.35], ['zsofia.budapest', 47.5, 19.04], ['nikos.athina', 37.98, 23.73],
  ['pau.barcelona', 41.39, 2.17], ['kasia.krakow', 50.06, 19.94], ['ailsa.edinburgh', 55.95, -3.19],
  ['gudrun.reykjavik', 64.15, -21.94],
  ['aki.tokyo', 35.68, 139.69], ['ben.tokyo', 35.68, 139.69], ['yui.yokohama', 35.44, 139.64],
  ['haruto.osaka', 34.69, 135.5], ['sakura.kyoto', 35.01, 135.77], ['ren.kobe', 34.69, 135.2],
  ['mei.nagoya', 35.18, 136.91], ['sota.sapporo', 43.06, 141.35], ['hina.fukuoka', 33.59, 130.4],
  ['yuto.sendai', 38.27, 140.87], ['riko.hiroshima', 34.39, 132.46], ['kai.naha', 26.21, 127.68],
];

let cluster;
let browser;
let gatewayHost;

async function api(method, p, body) {
  const res = await fetch(cluster.url + p, {
    method,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${await cluster.adminToken()}` },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10000),
  });
  assert.ok(res.ok, `${method} ${p}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

/**
 * A page in a context of its own, with everything that leaves the gateway recorded and handled
 * by `outside` ('abort', 'hang' or a route handler), its console errors and page errors
 * collected, and window.testMap caught as Leaflet creates the map.
 */
async function openMapPage({ viewport = DESKTOP, colorScheme = 'light', outside = 'abort', html = null } = {}) {
  const ctx = await browser.newContext({ viewport, colorScheme, locale: 'en-GB', timezoneId: 'UTC' });
  ctx.setDefaultTimeout(15000);
  await keepLeafletMap(ctx);
  const foreign = [];
  const hanging = [];
  await ctx.route((u) => u.host !== gatewayHost, (route) => {
    foreign.push(route.request().url());
    if (outside === 'abort') return route.abort('internetdisconnected');
    if (outside === 'hang') { hanging.push(route); return undefined; } // never answered
    return outside(route);
  });
  // The page as a gateway started with --tile-url would serve it (the meta tags filled in, the
  // CSP allowing that host's images).
  if (html) await ctx.route((u) => u.host === gatewayHost && (u.pathname === '/' || u.pathname === '/index.html'), html);
  const page = await ctx.newPage();
  const errors = [];
  page.on('console', (m) => {
    // A signed-out visitor's "who am I?" (GET /api/me) is answered 401, which Chromium logs: the
    // page's way of learning it is signed out, not an error of the map.
    if (m.type() !== 'error') return;
    if (/status of 401/.test(m.text()) && new URL(m.location().url).pathname === '/api/me') return;
    errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return { ctx, page, errors, foreign, hanging };
}

/** Navigates and waits for the load event; returns how long that took. */
async function load(page, url = `${cluster.url}/`) {
  const t0 = Date.now();
  await page.goto(url, { waitUntil: 'load', timeout: LOAD_BOUND_MS });
  return Date.now() - t0;
}

/** The basemap's land: SVG paths, and how much they draw (the length of their `d`). */
async function landDrawn(page) {
  await page.locator('#map path.basemap-land').first().waitFor({ state: 'attached', timeout: 10000 });
  return page.locator('#map path.basemap-land').evaluateAll((ps) => ({
    paths: ps.length, chars: ps.reduce((n, p) => n + (p.getAttribute('d') || '').length, 0),
  }));
}

/** Every marker the map holds (in clusters or not), by username. */
const markerCount = (page) => page.evaluate(() => {
  let n = 0;
  window.testMap.eachLayer((l) => { if (l.getVisibleParent) n = l.getLayers().length; });
  return n;
});

/** Waits until no zoom, pan or cluster animation is under way. */
async function idle(page) {
  await page.waitForFunction(() => {
    const map = window.testMap;
    let group;
    map.eachLayer((l) => { if (l.getVisibleParent) group = l; });
    return !map._animatingZoom && !map._panAnim?._inProgress && !group?._inZoomAnimation;
  }, null, { polling: 100 });
  await page.waitForTimeout(300); // the plugin's CSS transitions (0.3 s) after its flag
}

/** Waits until the map holds all 40 people and no zoom or fit is under way. */
async function settled(page) {
  await waitUntil(async () => (await markerCount(page)) === PEOPLE.length, { what: 'all 40 people on the map' });
  await idle(page);
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  cluster = new Cluster({ nodes: 1, broker: false });
  try {
    await cluster.start();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  gatewayHost = new URL(cluster.url).host;
  for (const [u, lat, lon] of PEOPLE) {
    await api('PUT', `/api/statuses/${u}`, { statusText: `Hello from ${u.split('.')[1]}`, latitude: lat, longitude: lon });
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
}, { timeout: 240000 });

after(async () => {
  await browser?.close().catch(() => {});
  await cluster?.stop();
}, { timeout: 120000 });

for (const outside of ['abort', 'hang']) {
  test(`offline (every other host ${outside === 'abort' ? 'refused' : 'hanging'}): land drawn, load fires, no console error, nothing asked elsewhere`, { timeout: 60000 }, async () => {
    const { ctx, page, errors, foreign } = await openMapPage({ outside });
    try {
      const ms = await load(page);
      assert.ok(ms < LOAD_BOUND_MS, `load after ${ms} ms`);
      const land = await landDrawn(page);
      assert.ok(land.paths >= 1 && land.chars > 20000, `land drawn: ${JSON.stringify(land)}`);
      const borders = await page.locator('#map path.basemap-border').evaluateAll((ps) =>
        ps.reduce((n, p) => n + (p.getAttribute('d') || '').length, 0));
      assert.ok(borders > 5000, `borders drawn (${borders} characters of path)`);
      await settled(page);
      assert.deepEqual(foreign, [], 'no request to any host but the gateway');
      assert.equal(await page.locator('#map img.leaflet-tile').count(), 0, 'no tiles without --tile-url');
      assert.match(await page.locator('.leaflet-control-attribution').innerText(), /Natural Earth/);
      assert.deepEqual(errors, []);
    } finally {
      await ctx.close();
    }
  });
}

/** index.html as the gateway serves it with --tile-url/--tile-attribution set to these. */
function withTiles(tileUrl, attribution) {
  return async (route) => {
    const res = await route.fetch();
    let body = await res.text();
    body = body.replace('<meta name="tile-url" content="">', `<meta name="tile-url" content="${tileUrl}">`)
      .replace('<meta name="tile-attribution" content="">', `<meta name="tile-attribution" content="${attribution}">`);
    assert.match(body, /tiles\.example\.test/, 'the tile-url meta tag was found and filled');
    const headers = { ...res.headers() };
    const tileOrigin = new URL(tileUrl.replace(/[{}]/g, '')).origin;
    if (headers['content-security-policy']) {
      headers['content-security-policy'] = headers['content-security-policy']
        .replace(/img-src ([^;]*)/, (m, v) => `img-src ${v} ${tileOrigin}`);
    }
    delete headers['content-length'];
    delete headers['content-encoding'];
    delete headers.etag;
    return route.fulfill({ status: res.status(), headers, body });
  };
}
const TILE_URL = 'https://tiles.example.test/{z}/{x}/{y}.png';
const TILE_ATTRIBUTION = '© Example Tiles &amp; OpenStreetMap contributors';
// A 1×1 PNG (light grey).
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4//8/AAX+Av4N70a4AAAAAElFTkSuQmCC', 'base64');

test('with a tile URL configured: tiles over the basemap with the attribution; hanging tiles hold up nothing', { timeout: 60000 }, async () => {
  // The tile server answers.
  let tiles = 0;
  const served = await openMapPage({
    outside: (route) => {
      assert.equal(new URL(route.request().url()).host, 'tiles.example.test');
      tiles++;
      return route.fulfill({ status: 200, contentType: 'image/png', body: PNG });
    },
    html: withTiles(TILE_URL, TILE_ATTRIBUTION),
  });
  try {
    await load(served.page);
    await waitUntil(async () => (await served.page.locator('#map img.leaflet-tile-loaded').count()) > 0,
      { what: 'tiles shown' });
    assert.match(await served.page.locator('#map img.leaflet-tile').first().getAttribute('src'),
      /^https:\/\/tiles\.example\.test\/\d+\/\d+\/\d+\.png$/);
    assert.ok(tiles > 0);
    await landDrawn(served.page);
    assert.equal(await served.page.locator('.leaflet-control-attribution').innerText(),
      '© Example Tiles & OpenStreetMap contributors, Natural Earth');
    // The tiles lie over the basemap (which stays underneath for a tile that fails).
    const z = await served.page.evaluate(() => [
      getComputedStyle(document.querySelector('.leaflet-tile-pane')).zIndex,
      getComputedStyle(document.querySelector('.leaflet-basemap-pane')).zIndex].map(Number));
    assert.ok(z[0] > z[1], `tile pane ${z[0]} over basemap pane ${z[1]}`);
    assert.deepEqual(served.errors, []);
  } finally {
    await served.ctx.close();
  }
  // The tile server never answers: the load event still fires, the basemap is drawn.
  const hung = await openMapPage({ outside: 'hang', html: withTiles(TILE_URL, TILE_ATTRIBUTION) });
  try {
    const ms = await load(hung.page);
    assert.ok(ms < LOAD_BOUND_MS, `load after ${ms} ms`);
    const land = await landDrawn(hung.page);
    assert.ok(land.chars > 20000);
    await waitUntil(() => hung.hanging.length > 0, { what: 'tiles asked for' });
    assert.deepEqual(hung.errors, []);
  } finally {
    await hung.ctx.close();
  }
});

test('40 people: clustered at the fitted view, each reachable and opened by clicks at some zoom', { timeout: 420000 }, async () => {
  const { ctx, page, errors } = await openMapPage();
  try {
    await load(page);
    await settled(page);
    await page.locator('#map-section').scrollIntoViewIfNeeded();
    let mapBox = await page.locator('#map').boundingBox();
    // Fitted: every person inside the view, Europe and Japan both, and the view not the whole world.
    const view = await page.evaluate(() => {
      const b = window.testMap.getBounds();
      return { zoom: window.testMap.getZoom(), west: b.getWest(), east: b.getEast(), south: b.getSouth(), north: b.getNorth() };
    });
    for (const [u, lat, lon] of PEOPLE) {
      assert.ok(lat > view.south && lat < view.north && lon > view.west && lon < view.east, `${u} in view ${JSON.stringify(view)}`);
    }
    // Clusters form; with the single pins they account for all 40; all icons wholly inside the map.
    const clusters = page.locator('#map .leaflet-marker-icon.cluster');
    const pins = page.locator('#map .leaflet-marker-icon.pin');
    assert.ok(await clusters.count() >= 2, 'clusters at the fitted view');
    const inClusters = (await clusters.evaluateAll((cs) => cs.map((c) => Number(c.dataset.count)))).reduce((a, b) => a + b, 0);
    assert.equal(inClusters + await pins.count(), PEOPLE.length);
    for (const icon of await page.locator('#map .leaflet-marker-icon').all()) {
      const b = await icon.boundingBox();
      assert.ok(b.x >= mapBox.x && b.y >= mapBox.y && b.x + b.width <= mapBox.x + mapBox.width
        && b.y + b.height <= mapBox.y + mapBox.height, `${await icon.getAttribute('aria-label')} wholly in the map`);
    }
    // Named for screen readers: clusters by how many people, pins by the full username.
    for (const c of await clusters.all()) {
      assert.equal(await c.getAttribute('role'), 'button');
      assert.equal(await c.getAttribute('aria-label'), `${await c.getAttribute('data-count')} people`);
      assert.match(await c.getAttribute('title'), /^\d+ people: [a-z]+\.[a-z]+/);
    }
    await page.screenshot({ path: path.join(SHOTS, 'map-desktop-light.png') });
    await page.locator('#map-section').screenshot({ path: path.join(SHOTS, 'map-clusters.png') });

    // A click on a cluster zooms in on it.
    const zoom0 = view.zoom;
    const fitted = [await page.evaluate(() => window.testMap.getCenter()), zoom0];
    await clusters.first().click();
    await waitUntil(() => page.evaluate((z) => window.testMap.getZoom() > z, zoom0), { what: 'zoomed in' });

    // Every person: from the fitted view, click what holds them (the cluster they are in, as the
    // plugin reports it) until their own pin shows, then click the pin: its popup names them,
    // below the sticky header. Mouse clicks at the icons' centres, as a user makes them.
    await page.evaluate(() => window.testMap.eachLayer((l) => {
      if (l.getVisibleParent) l.on('spiderfied', (e) => { window.spread = [...(window.spread || []), e.markers.length]; });
    }));
    const header = await page.locator('.topbar').boundingBox();
    for (const [u] of PEOPLE) {
      await page.evaluate(([c, z]) => { window.scrollTo(0, 0); window.testMap.setView(c, z, { animate: false }); }, fitted);
      await settled(page);
      mapBox = await page.locator('#map').boundingBox();
      for (let clicks = 0; ; clicks++) {
        assert.ok(clicks <= 8, `${u} reached within 8 clicks`);
        const at = await page.evaluate((name) => {
          let group;
          window.testMap.eachLayer((l) => { if (l.getVisibleParent) group = l; });
          const m = group.getLayers().find((x) => x.status.username === name);
          const shown = group.getVisibleParent(m);
          const el = shown?.getElement();
          const r = el?.getBoundingClientRect();
          if (!r) return null;
          // Where a click reaches this icon (another may overlap part of it): the centre if it can.
          const points = [[0.5, 0.5], ...[0.25, 0.5, 0.75].flatMap((fx) => [0.25, 0.5, 0.75].map((fy) => [fx, fy]))];
          const hit = points.map(([fx, fy]) => [r.x + r.width * fx, r.y + r.height * fy])
            .find(([x, y]) => document.elementFromPoint(x, y)?.closest('.leaflet-marker-icon') === el);
          return { x: hit?.[0], y: hit?.[1], left: r.left, top: r.top, right: r.right, bottom: r.bottom,
            pin: shown === m, zoom: window.testMap.getZoom(), label: el.getAttribute('aria-label') };
        }, u);
        assert.ok(at, `${u}: the cluster holding them is in view`);
        assert.ok(at.left >= mapBox.x && at.top >= mapBox.y && at.right <= mapBox.x + mapBox.width
          && at.bottom <= mapBox.y + mapBox.height, `${u}: the icon holding them is wholly in the map (${JSON.stringify(at)})`);
        assert.ok(at.x !== undefined, `${u}: some of ${at.label} can be clicked`);
        await page.mouse.click(at.x, at.y);
        if (at.pin) break;
        // The zoom, or the spiderfy, and the plugin's animation after it.
        await page.waitForFunction(([z, name]) => {
          let group;
          window.testMap.eachLayer((l) => { if (l.getVisibleParent) group = l; });
          const m = group.getLayers().find((x) => x.status.username === name);
          return window.testMap.getZoom() !== z || group.getVisibleParent(m) === m;
        }, [at.zoom, u], { polling: 100 }).catch(async (e) => {
          throw new Error(`${u}: a click on ${at.label} (${JSON.stringify(at)}) neither zoomed nor spread out: ${
            await page.evaluate(() => JSON.stringify({ zoom: window.testMap.getZoom(), popup: !!document.querySelector('.leaflet-popup') }))} ${e.message}`);
        });
        await idle(page);
      }
      const popup = page.locator('.leaflet-popup');
      await popup.locator('strong', { hasText: u }).waitFor({ timeout: 5000 });
      assert.match(await popup.innerText(), new RegExp(`Hello from ${u.split('.')[1]}`));
      await idle(page); // the auto-pan
      assert.ok((await popup.boundingBox()).y >= header.y + header.height, `${u}: popup below the header`);
      await page.keyboard.press('Escape');
      await popup.waitFor({ state: 'detached' });
    }
    // The two people at the very same place in Tokyo: spread out (spiderfied) to be reached.
    assert.deepEqual(await page.evaluate(() => window.spread), [2, 2]);
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
  }
});

test('the map is one tab stop; arrow keys pan and +/− zoom; markers are no tab stops; live moves keep the view', { timeout: 90000 }, async () => {
  const { ctx, page, errors } = await openMapPage();
  try {
    await load(page);
    await settled(page);
    const map = page.locator('#map');
    assert.equal(await map.getAttribute('role'), 'region');
    assert.equal(await map.getAttribute('aria-label'), 'Map of statuses');
    // Nothing inside the map is a tab stop of its own.
    const stops = await page.locator('#map a[href], #map button, #map [tabindex]').evaluateAll((els) =>
      els.filter((e) => e.tabIndex >= 0).map((e) => e.outerHTML.slice(0, 80)));
    assert.deepEqual(stops, []);
    // Tab from the element before the map lands on the map; the next Tab leaves it.
    await map.focus();
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.evaluate(() => document.getElementById('map').contains(document.activeElement)), false);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'map');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.getElementById('map').contains(document.activeElement)), false,
      'the next Tab leaves the map');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), 'map');
    await page.waitForTimeout(300);

    // The keys move it.
    const state = () => page.evaluate(() => ({ ...window.testMap.getCenter(), zoom: window.testMap.getZoom() }));
    const s0 = await state();
    await page.keyboard.press('ArrowRight');
    await waitUntil(async () => (await state()).lng > s0.lng + 1, { what: 'panned east' });
    await page.waitForTimeout(400); // Leaflet ignores the keys while a pan is animated
    await page.keyboard.press('ArrowUp');
    await waitUntil(async () => (await state()).lat > s0.lat + 1, { what: 'panned north' });
    await page.waitForTimeout(400);
    await page.keyboard.press('Equal'); // the +/= key
    await waitUntil(async () => (await state()).zoom === s0.zoom + 1, { what: 'zoomed in' });
    await page.waitForTimeout(400);
    await page.keyboard.press('Minus');
    await waitUntil(async () => (await state()).zoom === s0.zoom, { what: 'zoomed out' });
    await page.waitForTimeout(600);

    // Marker names: the full username first, then the status in words.
    for (const pin of await page.locator('#map .leaflet-marker-icon.pin').all()) {
      const u = await pin.getAttribute('data-username');
      assert.equal(await pin.getAttribute('role'), 'button');
      assert.equal(await pin.getAttribute('tabindex'), '-1');
      assert.equal(await pin.getAttribute('aria-label'), `${u} (Available): Hello from ${u.split('.')[1]}`);
    }
    assert.ok(await page.getByRole('button', { name: /^\d+ people$/ }).count() >= 1);

    // The user moved the map: a live update moves a marker, the view stays where the user put it.
    const before = await state();
    await api('PUT', '/api/statuses/anna.berlin', { statusText: 'Hello from berlin', latitude: 52.4, longitude: 13.0 });
    await waitUntil(() => page.evaluate(() => {
      let group;
      window.testMap.eachLayer((l) => { if (l.getVisibleParent) group = l; });
      const m = group.getLayers().find((x) => x.status.username === 'anna.berlin');
      return m && m.getLatLng().lat === 52.4;
    }), { timeoutMs: 3000, what: 'anna moved on the map' });
    await page.waitForTimeout(500);
    assert.deepEqual(await state(), before, 'the view did not jump');
    await api('PUT', '/api/statuses/anna.berlin', { statusText: 'Hello from berlin', latitude: 52.52, longitude: 13.405 });
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
  }
});

test('phone: a popup opens below the sticky header; screenshots light, dark and phone', { timeout: 90000 }, async () => {
  const phone = await openMapPage({ viewport: PHONE });
  try {
    const { page } = phone;
    await load(page);
    await settled(page);
    // Berlin's pin near the top of the map, the map's top scrolled a little under the header.
    await page.evaluate(() => {
      window.testMap.setView([52.52, 13.405], 9, { animate: false });
      window.testMap.panBy([0, window.testMap.getSize().y / 2 - 60], { animate: false });
    });
    await page.waitForTimeout(800);
    const header = await page.locator('.topbar').boundingBox();
    await page.evaluate((hb) => {
      const top = document.getElementById('map').getBoundingClientRect().top + window.scrollY;
      window.scrollTo(0, top - hb + 30);
    }, header.height);
    await page.waitForTimeout(300);
    const pin = page.locator('#map .leaflet-marker-icon.pin[data-username="anna.berlin"]');
    await pin.click();
    const popup = page.locator('.leaflet-popup');
    await popup.locator('strong', { hasText: 'anna.berlin' }).waitFor();
    await page.waitForTimeout(500); // the auto-pan
    const hb = (await page.locator('.topbar').boundingBox());
    const pb = await popup.boundingBox();
    assert.ok(pb.y >= hb.y + hb.height, `popup top ${pb.y} below the header's bottom ${hb.y + hb.height}`);
    await page.screenshot({ path: path.join(SHOTS, 'map-phone-popup.png') });
    await page.click('.leaflet-popup-close-button');
    // The phone's fitted view.
    await page.reload({ waitUntil: 'load' });
    await settled(page);
    await page.locator('#map-section').scrollIntoViewIfNeeded();
    await landDrawn(page); // loaded as the map comes near the screen
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(SHOTS, 'map-phone.png') });
    assert.deepEqual(phone.errors, []);
  } finally {
    await phone.ctx.close();
  }
  const dark = await openMapPage({ colorScheme: 'dark' });
  try {
    const { page } = dark;
    await load(page);
    await landDrawn(page);
    await settled(page);
    const fill = await page.locator('#map path.basemap-land').first().evaluate((p) => getComputedStyle(p).fill);
    assert.equal(fill, 'rgb(39, 45, 60)', 'dark land');
    await page.locator('#map-section').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(SHOTS, 'map-desktop-dark.png') });
    await page.locator('#map-section').screenshot({ path: path.join(SHOTS, 'map-dark.png') });
    assert.deepEqual(dark.errors, []);
  } finally {
    await dark.ctx.close();
  }
});
