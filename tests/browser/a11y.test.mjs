// Accessibility, keyboard, phones and the forgiving form of the web client: Debian's Chromium
// (playwright-core) against a real gateway, node and RabbitMQ (cluster.mjs), with axe-core 4.x
// injected into the page. What is checked, at 1280×800 and 390×844 (and 320 px), light and dark:
// - axe-core finds no violation of impact serious or critical on the page in each of its states
//   (signed out, sign-up, errors, signed in, the look-up card, editing, an edit conflict, the
//   delete confirmation) and on /cluster.html where the branch has it;
// - keyboard alone signs in, posts, edits and deletes; the focus lands on the confirmation;
// - every Tab stop is visibly outlined, follows the reading order and is never under the top bar;
// - every control is at least 24×24 CSS px (WCAG 2.2 2.5.8; links inside a sentence excepted);
// - nothing scrolls sideways at 320 px; on a phone the form and the list come before the map;
// - the form: a double submit posts once, the text clears, errors do not move the button,
//   no placeholder looks like a value, the username is remembered;
// - prefers-reduced-motion: nothing moves; otherwise nothing moves forever.
// Screenshots: build/screenshots/a11y-*.png.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { CHROMIUM, CHROMIUM_ARGS, Cluster, keepLeafletMap, ROOT, TLS } from './cluster.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const SHOTS = path.join(ROOT, 'build', 'screenshots', ...(TLS ? ['tls'] : []));
const TEST_TIMEOUT = 180000;
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const NARROW = { width: 320, height: 640 };
const PASSWORD = 'correct horse battery';

let cluster;
let browser;
const contexts = [];
const pageErrors = [];

async function apiCall(method, p, body, { token } = {}) {
  if (token === undefined) token = await cluster.adminToken();
  const headers = body ? { 'Content-Type': 'application/json' } : {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const res = await fetch(cluster.url + p, { method, headers, body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

async function createAccount(username) {
  const r = await apiCall('POST', '/api/accounts', { username, password: PASSWORD });
  assert.equal(r.status, 201, `account ${username}: ${JSON.stringify(r.body)}`);
}

/** A fresh browser context (own cookies and storage) and its page, loaded and live. */
async function openPage({ viewport = DESKTOP, colorScheme = 'light', reducedMotion = 'no-preference', url = '/',
  locale = 'en-GB' } = {}) {
  const ctx = await browser.newContext({ viewport, colorScheme, reducedMotion, locale, timezoneId: 'UTC' });
  ctx.setDefaultTimeout(15000);
  contexts.push(ctx);
  // The map's Leaflet instance as window.testMap (caught as Leaflet loads), for opening a popup.
  await keepLeafletMap(ctx);
  const p = await ctx.newPage();
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.goto(cluster.url + url);
  if (url === '/') {
    await p.locator('#live[data-state="live"]').waitFor({ timeout: 30000 });
    await p.locator('#whoami:not([data-state="unknown"])').waitFor({ state: 'attached' });
    await p.locator('#feed-list li').first().waitFor();
  }
  return p;
}

async function signIn(p, username, password = PASSWORD) {
  if (await p.locator('#signin-form').isHidden()) await p.click('#show-signin');
  await p.fill('#si-username', username);
  await p.fill('#si-password', password);
  await p.click('#signin-btn');
  await p.locator('#whoami[data-state="in"]').waitFor();
}

async function shot(p, name, opts = {}) {
  await p.screenshot({ path: path.join(SHOTS, `a11y-${name}.png`), ...opts });
}

/** axe-core on the whole document: the violations of impact serious or critical, in words. */
async function axeProblems(p) {
  if (!(await p.evaluate(() => typeof window.axe === 'object'))) await p.evaluate(AXE); // CDP: not subject to the CSP
  const violations = await p.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] }))
    .violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}) ×${v.nodes.length}: ${v.nodes.slice(0, 3)
      .map((n) => `${n.target.join(' ')} — ${(n.failureSummary || '').split('\n').slice(1).join(' ').trim()}`)
      .join(' | ')}`));
  return violations;
}

async function assertAxeClean(p, where, problems) {
  const found = await axeProblems(p);
  if (found.length) problems.push(`${where}:\n    ${found.join('\n    ')}`);
}

/** Which element has the focus: its id, or a short description. */
const focused = (p) => p.evaluate(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return 'body';
  return e.id || [e.tagName.toLowerCase(), ...e.classList].join('.');
});

/** Presses Tab until the element `id` has the focus (at most `max` times); returns the stops passed. */
async function tabTo(p, id, max = 25) {
  const passed = [];
  for (let i = 0; i < max; i++) {
    await p.keyboard.press('Tab');
    const f = await focused(p);
    passed.push(f);
    if (f === id) return passed;
  }
  throw new Error(`Tab did not reach #${id} in ${max} presses: ${passed.join(' → ')}`);
}

/**
 * Every visible control smaller than 24×24 CSS px. Excepted as WCAG 2.5.8 allows: a link or a
 * button inside a sentence (its parent has text of its own), and Leaflet's attribution line.
 */
const smallTargets = (p) => p.evaluate(() => {
  const inSentence = (e) => [...e.parentElement.childNodes].some((n) => n !== e && n.nodeType === 3 && n.textContent.trim());
  return [...document.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex="-1"])')]
    .filter((e) => e.getClientRects().length && getComputedStyle(e).visibility !== 'hidden' && !e.closest('[hidden]'))
    .filter((e) => !(e.matches('a, button.link') && inSentence(e)) && !e.closest('.leaflet-control-attribution'))
    .map((e) => ({ e, r: e.getBoundingClientRect() }))
    .filter(({ r }) => r.width < 24 || r.height < 24)
    .map(({ e, r }) => `${e.outerHTML.slice(0, 80)} (${r.width.toFixed(1)}×${r.height.toFixed(1)})`);
});

const SEED = [
  ['amara', 'مرحبا، أنا في اجتماع حتى الظهر', 30.04, 31.24, '📅'],
  ['haruki', '会議中です。午後に戻ります', 35.68, 139.69, ''],
  ['olga', 'Работаю из дома сегодня', 55.75, 37.62, '🏠'],
  ['noah', 'Lunch at the canteen — back at 13:30', 48.21, 16.37, '🍽️'],
  ['lena', 'Supercalifragilisticexpialidocious-without-any-space-to-break-at-all-really', null, null, ''],
];

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const f of fs.readdirSync(SHOTS)) if (f.startsWith('FAILED-a11y-')) fs.rmSync(path.join(SHOTS, f));
  cluster = new Cluster({ nodes: 1 });
  try {
    await cluster.start();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
  for (const [u, text, lat, lon, emoji] of SEED) {
    const body = { statusText: text, ...(lat !== null ? { latitude: lat, longitude: lon } : {}), ...(emoji ? { emoji } : {}) };
    assert.equal((await apiCall('PUT', `/api/statuses/${u}`, body)).status, 201);
  }
  await apiCall('PUT', '/api/statuses/noah', { statusText: 'Back at my desk', latitude: 48.21, longitude: 16.37 });
  for (const u of ['kim', 'rosa', 'tess']) await createAccount(u);
}, { timeout: 240000 });

after(async () => {
  for (const ctx of contexts) await ctx.close().catch(() => {});
  await browser?.close().catch(() => {});
  await cluster?.stop();
}, { timeout: 120000 });

/** A test that leaves a screenshot of each open page when it fails. */
function a11yTest(name, fn) {
  test(name, { timeout: TEST_TIMEOUT }, async () => {
    const open = contexts.length;
    try {
      await fn();
    } catch (e) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').slice(0, 50);
      for (const [i, ctx] of contexts.slice(open).entries()) {
        for (const p of ctx.pages()) {
          await p.screenshot({ path: path.join(SHOTS, `FAILED-a11y-${slug}-${i}.png`), fullPage: true }).catch(() => {});
        }
      }
      console.error(`--- ${name} failed\n${cluster?.logs() ?? ''}`);
      throw e;
    } finally {
      for (const ctx of contexts.splice(open)) await ctx.close().catch(() => {});
    }
  });
}

a11yTest('axe-core: no serious or critical violation in any state, at both sizes, light and dark', async () => {
  const problems = [];
  const hasClusterPage = fs.existsSync(path.join(ROOT, 'web', 'cluster.html'));
  for (const viewport of [DESKTOP, PHONE]) {
    for (const colorScheme of ['light', 'dark']) {
      const at = `${viewport.width}×${viewport.height} ${colorScheme}`;
      const p = await openPage({ viewport, colorScheme });
      await assertAxeClean(p, `${at}, signed out`, problems);
      // Sign-in with its field errors.
      await p.click('#signin-btn');
      await p.locator('#si-username[aria-invalid="true"]').waitFor();
      await assertAxeClean(p, `${at}, sign-in errors`, problems);
      await p.click('#show-signup');
      await p.click('#signup-btn');
      await p.locator('#su-username[aria-invalid="true"]').waitFor();
      await assertAxeClean(p, `${at}, sign-up with errors`, problems);
      // Signed in as admin (may edit and delete anyone's status): the form, its errors.
      await signIn(p, 'admin', cluster.adminPassword);
      await p.fill('#f-lat', '123');
      await p.click('#save');
      await p.locator('#f-lat[aria-invalid="true"]').waitFor();
      await assertAxeClean(p, `${at}, status form with errors`, problems);
      await p.fill('#f-lat', '');
      // The look-up card, its history, editing.
      await p.fill('#l-username', 'noah');
      await p.press('#l-username', 'Enter');
      await p.locator('#lookup-card[data-username="noah"]').waitFor();
      await p.locator('#history-list li').first().waitFor();
      await p.click('#edit-btn');
      await p.locator('#cancel-edit').waitFor();
      await assertAxeClean(p, `${at}, look-up card and editing`, problems);
      // An edit conflict: someone else changes noah's status meanwhile.
      await apiCall('PUT', '/api/statuses/noah', { statusText: `Changed meanwhile (${at})`, latitude: 48.21, longitude: 16.37 });
      await p.fill('#f-text', 'My edit');
      await p.click('#save');
      await p.locator('#form-error button').first().waitFor();
      await assertAxeClean(p, `${at}, edit conflict`, problems);
      if (viewport === DESKTOP && colorScheme === 'light') await shot(p, 'conflict');
      await p.click('#cancel-edit');
      // The delete confirmation (cancelled).
      await p.click('#delete-btn');
      await p.locator('#confirm-delete[open]').waitFor();
      await assertAxeClean(p, `${at}, delete confirmation`, problems);
      if (viewport === PHONE) await shot(p, `phone-dialog-${colorScheme}`);
      await p.keyboard.press('Escape');
      await p.locator('#confirm-delete[open]').waitFor({ state: 'detached' });
      await p.evaluate(() => window.scrollTo(0, 0));
      await shot(p, `${viewport === DESKTOP ? 'desktop' : 'phone'}-${colorScheme}`, { fullPage: viewport === PHONE });
      if (hasClusterPage) {
        const c = await openPage({ viewport, colorScheme, url: '/cluster.html' });
        await c.waitForLoadState('load');
        await c.waitForTimeout(1000);
        await assertAxeClean(c, `${at}, /cluster.html`, problems);
      }
    }
  }
  assert.deepEqual(problems, [], `axe-core violations:\n  ${problems.join('\n  ')}`);
});

a11yTest('keyboard alone signs in, posts, edits and deletes; focus lands on each confirmation', async () => {
  const p = await openPage();
  // From the top: the skip link, the top bar's "Sign in" and language switch, then the sign-in form.
  const top = await tabTo(p, 'si-username', 6);
  assert.deepEqual(top.filter((id) => !id.includes('lang-choice')), ['a.skip', 'signin-link', 'si-username']);
  assert.ok(top.length <= 5, `at most two language buttons before the form: ${top.join(' → ')}`);
  await p.keyboard.type('kim');
  await p.keyboard.press('Tab');
  assert.equal(await focused(p), 'si-password');
  await p.keyboard.type(PASSWORD);
  await p.keyboard.press('Enter');
  await p.locator('#whoami[data-state="in"]').waitFor();
  // Signed in: the cursor is in the status text, the name is yours and fixed.
  assert.equal(await focused(p), 'f-text');
  assert.equal(await p.inputValue('#f-username'), 'kim');
  assert.equal(await p.getAttribute('#f-username', 'readonly'), '');

  // Post: the tab order through the form is its visual order, the emoji row is one stop.
  await p.keyboard.type('Typed without a mouse');
  const stops = await tabTo(p, 'save', 12);
  assert.deepEqual(stops, ['f-emoji', 'button.emoji-choice', 'f-availability', 'f-expiry', 'f-lat', 'f-lon',
    'use-location', 'clear-position', 'save']);
  await p.keyboard.press('Enter');
  await p.locator('#form-ok:not(:empty)').waitFor();
  assert.equal(await focused(p), 'form-ok', 'after saving, the focus is on the confirmation');
  assert.equal((await apiCall('GET', '/api/statuses/kim')).body.statusText, 'Typed without a mouse');
  assert.equal(await p.inputValue('#f-text'), '', 'the text is cleared after a save');

  // Edit: look up kim, Edit, change the text, save.
  assert.deepEqual(await tabTo(p, 'l-username', 2), ['l-username']);
  await p.keyboard.type('kim');
  await p.keyboard.press('Enter');
  await p.locator('#lookup-card[data-username="kim"]').waitFor();
  await tabTo(p, 'edit-btn', 3);
  await p.keyboard.press('Enter');
  await p.locator('#cancel-edit').waitFor();
  assert.equal(await focused(p), 'f-text');
  assert.equal(await p.inputValue('#f-text'), 'Typed without a mouse');
  await p.keyboard.press('Control+A');
  await p.keyboard.type('Edited by keyboard');
  await tabTo(p, 'save', 12);
  await p.keyboard.press('Enter');
  await p.locator('#cancel-edit').waitFor({ state: 'hidden' });
  await p.locator('#form-ok:not(:empty)').waitFor();
  assert.equal(await focused(p), 'form-ok');
  assert.equal((await apiCall('GET', '/api/statuses/kim')).body.statusText, 'Edited by keyboard');

  // Delete: Tab to Delete, the dialog opens on Cancel, Tab to Delete, Enter.
  await tabTo(p, 'delete-btn', 5);
  await p.keyboard.press('Enter');
  await p.locator('#confirm-delete[open]').waitFor();
  assert.equal(await focused(p), 'button', 'the dialog opens on its Cancel button');
  assert.equal(await p.evaluate(() => document.activeElement.value), 'cancel');
  await p.keyboard.press('Tab');
  assert.equal(await focused(p), 'confirm-yes');
  await p.keyboard.press('Enter');
  await p.locator('#lookup-card').waitFor({ state: 'hidden' });
  await p.locator('#lookup-msg:not(:empty)').waitFor();
  assert.equal(await focused(p), 'lookup-msg', 'after deleting, the focus is on the sentence that says so');
  assert.equal((await apiCall('GET', '/api/statuses/kim')).status, 404);

  // A name in the list opens the card, and the focus goes there (Edit and Delete are close by).
  await tabTo(p, 'feed-who-olga', 20);
  await p.keyboard.press('Enter');
  await p.locator('#lookup-card[data-username="olga"]').waitFor();
  assert.equal(await focused(p), 'lookup-card', 'a name opened from the list takes the focus to its card');
});

/**
 * Tabs through the whole page from the top; for each stop, where it is and whether it shows an
 * outline. Stops inside the map (w17map's) are reported but their outline is the map's affair.
 */
async function tabWalk(p, max = 90) {
  // From the top: the body focused (which also moves the browser's Tab starting point there).
  await p.evaluate(() => {
    document.body.tabIndex = -1;
    document.body.focus();
    document.body.removeAttribute('tabindex');
    window.scrollTo(0, 0);
  });
  const stops = [];
  for (let i = 0; i < max; i++) {
    await p.keyboard.press('Tab');
    const s = await p.evaluate(() => {
      const e = document.activeElement;
      if (!e || e === document.body) return null;
      const r = e.getBoundingClientRect();
      const bar = document.querySelector('.topbar').getBoundingClientRect();
      const cs = getComputedStyle(e);
      return {
        id: e.id || [e.tagName.toLowerCase(), ...e.classList].join('.'),
        // The skip link shows over the bar when focused.
        inBar: !!e.closest('.topbar') || e.classList.contains('skip'), inMap: !!e.closest('#map'), top: r.top, bottom: r.bottom,
        left: r.left, pageTop: r.top + window.scrollY, barBottom: bar.bottom, vh: window.innerHeight,
        outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2,
      };
    });
    if (!s || (stops.length && s.id === stops[0].id)) break; // back at the start
    stops.push(s);
  }
  return stops;
}

a11yTest('every Tab stop is outlined, in reading order, and never under the sticky top bar', async () => {
  for (const viewport of [PHONE, DESKTOP]) {
    const p = await openPage({ viewport });
    await signIn(p, 'rosa');
    await p.fill('#l-username', 'amara');
    await p.press('#l-username', 'Enter');
    await p.locator('#lookup-card[data-username="amara"]').waitFor();
    const stops = await tabWalk(p);
    assert.ok(stops.length >= 20, `Tab reaches the page (${stops.length} stops)`);
    const at = `${viewport.width}px`;
    for (const s of stops) {
      if (!s.inBar) {
        assert.ok(s.top >= s.barBottom - 0.5, `${at}: #${s.id} is under the top bar (top ${s.top}, bar ends ${s.barBottom})`);
      }
      assert.ok(s.bottom <= s.vh + 2 && s.top >= -0.5, `${at}: #${s.id} is in view (${s.top}–${s.bottom} of ${s.vh})`);
      if (!s.inMap) assert.ok(s.outline, `${at}: #${s.id} shows a focus outline`);
    }
    const ids = stops.map((s) => s.id);
    assert.equal(ids[0], 'a.skip', `${at}: the walk starts at the top: ${ids.join(' → ')}`);
    for (const id of ['signout-btn', 'f-text', 'save', 'l-username', 'feed-q']) {
      assert.ok(ids.includes(id), `${at}: #${id} is a Tab stop: ${ids.join(' → ')}`);
    }
    // The list comes right after your form and the look-up; the map after the list.
    const firstEntry = ids.findIndex((id) => id.startsWith('feed-who-'));
    const mapStop = stops.findIndex((s) => s.inMap);
    assert.ok(firstEntry > ids.indexOf('save') && firstEntry < ids.indexOf('save') + 10,
      `${at}: the first list entry follows the form closely: ${ids.join(' → ')}`);
    assert.ok(mapStop < 0 || mapStop > firstEntry, `${at}: the map comes after the list`);
    if (viewport === PHONE) {
      // One column: each stop is below (or beside, on the same line after) the one before.
      const main = stops.filter((s) => !s.inBar && !s.inMap);
      for (let i = 1; i < main.length; i++) {
        const [a, b] = [main[i - 1], main[i]];
        const sameLine = Math.abs(a.pageTop - b.pageTop) < 12;
        assert.ok(b.pageTop > a.pageTop - 2 && (!sameLine || b.left >= a.left - 2 || b.pageTop > a.pageTop + 2),
          `${at}: #${b.id} (y ${Math.round(b.pageTop)}) comes after #${a.id} (y ${Math.round(a.pageTop)}) but is above it`);
      }
    }
    console.log(`  ${at}: ${stops.length} Tab stops; the first list entry is stop ${firstEntry + 1}, the map's first stop `
      + `${mapStop + 1}; up to the list: ${ids.slice(0, firstEntry + 1).join(' → ')}`);
  }
});

a11yTest('every control is at least 24×24 px, at 1280, 390 and 320 px wide', async () => {
  for (const viewport of [DESKTOP, PHONE, NARROW]) {
    const p = await openPage({ viewport });
    const at = `${viewport.width}px`;
    assert.deepEqual(await smallTargets(p), [], `${at}, signed out`);
    // "Pick on the map" only where the map is not beside the form.
    assert.equal(await p.locator('#pick-on-map').isVisible(), viewport.width < 760);
    await signIn(p, 'admin', cluster.adminPassword);
    await p.fill('#l-username', 'olga');
    await p.press('#l-username', 'Enter');
    await p.locator('#lookup-card[data-username="olga"]').waitFor();
    await p.fill('#f-text', '');
    await p.click('#save');
    await p.locator('#form-error:not(:empty)').waitFor();
    assert.deepEqual(await smallTargets(p), [], `${at}, signed in, card and errors shown`);
    if (fs.existsSync(path.join(ROOT, 'web', 'cluster.html'))) {
      const c = await openPage({ viewport, url: '/cluster.html' });
      await c.locator('#nodes li').first().waitFor();
      assert.deepEqual(await smallTargets(c), [], `${at}, /cluster.html`);
    }
  }
});

a11yTest('phones: form and list before the map, a small top bar, nothing wider than 320 px, popups clear of the bar', async () => {
  for (const viewport of [PHONE, NARROW]) {
    const p = await openPage({ viewport });
    await signIn(p, 'tess');
    const at = `${viewport.width}px`;
    const top = (sel) => p.evaluate((s) => document.querySelector(s).getBoundingClientRect().top + window.scrollY, sel);
    const [compose, feed, map] = [await top('#compose'), await top('#feed'), await top('#map-section')];
    assert.ok(compose < feed && feed < map, `${at}: your status, then the list, then the map (${compose}, ${feed}, ${map})`);
    const bar = await p.evaluate(() => document.querySelector('.topbar').offsetHeight);
    assert.ok(bar <= 72, `${at}: the top bar is small (${bar} px)`);
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${at}: nothing scrolls sideways (overflow ${overflow} px)`);
    // The long word and the right-to-left text stay inside the list.
    const rtl = p.locator('#feed-list li[data-username="amara"] .text');
    assert.equal(await rtl.getAttribute('dir'), 'auto');
    assert.equal(await rtl.evaluate((e) => getComputedStyle(e).direction), 'rtl');
    if (viewport === NARROW) await shot(p, 'narrow-320', { fullPage: true });
    if (viewport === PHONE) await shot(p, 'phone-view'); // what a phone shows first (docs/web-phone.png)

    // "Pick on the map": down to the map, and after a tap on it back to the form and its message.
    await p.click('#pick-on-map');
    await p.waitForTimeout(900); // the page's (smooth) scroll
    const mapBox = await p.locator('#map').boundingBox();
    const barEnd = await p.evaluate(() => document.querySelector('.topbar').getBoundingClientRect().bottom);
    assert.ok(mapBox.y >= barEnd - 1 && mapBox.y + mapBox.height <= viewport.height + 1,
      `${at}: the map is in view below the bar (${mapBox.y}–${mapBox.y + mapBox.height}, bar ${barEnd})`);
    await p.mouse.click(mapBox.x + 40, mapBox.y + mapBox.height - 60);
    await p.locator('#form-ok:not(:empty)').waitFor();
    assert.notEqual(await p.inputValue('#f-lat'), '');
    await p.waitForTimeout(900);
    assert.equal(await p.evaluate(() => document.activeElement.id), 'form-ok');
    const ok = await p.locator('#form-ok').boundingBox();
    assert.ok(ok.y >= barEnd && ok.y + ok.height <= viewport.height, `${at}: back at the form, its message in view`);
    await p.click('#clear-position');

    // "show on map" scrolls to the map and opens the popup: the popup is below the top bar.
    const popupClear = async (what, hasText) => {
      const popup = p.locator('#map .leaflet-popup', { hasText });
      await popup.waitFor();
      await p.waitForTimeout(900); // Leaflet's pan, then the page's own scroll
      const popTop = await popup.evaluate((e) => e.getBoundingClientRect().top);
      const barBottom = await p.evaluate(() => document.querySelector('.topbar').getBoundingClientRect().bottom);
      assert.ok(popTop >= barBottom, `${at}, ${what}: the popup (top ${popTop}) is clear of the top bar (${barBottom})`);
    };
    await p.click('#feed-list li[data-username="haruki"] button.on-map');
    await popupClear('show on map', 'haruki');
    // A popup at the map's top edge while the page is scrolled so that the bar covers the map's top
    // (as when tapping a pin there): the page scrolls it clear.
    await p.evaluate(() => {
      const bar = document.querySelector('.topbar').getBoundingClientRect().bottom;
      window.scrollBy({ top: document.getElementById('map').getBoundingClientRect().top - bar + 60, behavior: 'instant' });
      const m = window.testMap;
      m.closePopup();
      window.L.popup({ autoPanPadding: [5, 5] }).setLatLng(m.containerPointToLatLng([100, 10])).setContent('near the top')
        .openOn(m);
    });
    await popupClear('a popup at the top edge', 'near the top');
  }
  // German's longer words fit too: signed out and signed in, at 320 px.
  const de = await openPage({ viewport: NARROW, locale: 'de-AT' });
  assert.equal(await de.getAttribute('html', 'lang'), 'de');
  for (const state of ['signed out', 'signed in']) {
    if (state === 'signed in') await signIn(de, 'tess');
    const overflow = await de.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `320px, German, ${state}: nothing scrolls sideways (overflow ${overflow} px)`);
    const bar = await de.evaluate(() => document.querySelector('.topbar').offsetHeight);
    assert.ok(bar <= 72, `320px, German, ${state}: the top bar is small (${bar} px)`);
  }
  assert.deepEqual(await smallTargets(de), [], '320px, German');
  // The operators' page on a phone keeps its heading, and its bar stays small.
  const ops = await openPage({ viewport: NARROW, url: '/cluster.html' });
  await ops.locator('#nodes li').first().waitFor();
  assert.equal(await ops.locator('h1.brand').isVisible(), true);
  const opsHeading = await ops.locator('h1.brand span').boundingBox();
  assert.ok(opsHeading && opsHeading.width > 40, `the operators' page shows its heading (${JSON.stringify(opsHeading)})`);
  const opsBar = await ops.evaluate(() => document.querySelector('.topbar').offsetHeight);
  assert.ok(opsBar <= 72, `320px, /cluster.html: the top bar is small (${opsBar} px)`);
  assert.equal(await ops.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--header-h')),
    `${opsBar}px`, 'the operators\' page follows its bar\'s height too');
  await shot(ops, 'cluster-320', { fullPage: true });
  await shot(de, 'narrow-320-de', { fullPage: true });
});

a11yTest('the form forgives: one post per submit, the text clears, errors keep the button in place', async () => {
  const p = await openPage();
  // No placeholder that looks like a value.
  for (const id of ['f-lat', 'f-lon', 'f-emoji', 'f-text', 'f-username']) {
    const ph = (await p.getAttribute(`#${id}`, 'placeholder')) || '';
    assert.doesNotMatch(ph, /\d|:[a-z_]+:/, `#${id}: placeholder “${ph}” looks like data`);
  }
  // Sign-in: its field errors appear above the button, which stays where it was.
  const signinBefore = await p.locator('#signin-btn').boundingBox();
  await p.click('#signin-btn');
  await p.locator('#si-username-err:not(:empty)').waitFor();
  const signinAfter = await p.locator('#signin-btn').boundingBox();
  assert.ok(Math.abs(signinAfter.y - signinBefore.y) < 1, `Sign in stayed in place (${signinBefore.y} → ${signinAfter.y})`);
  // One sign-in at a time: a second submit while the first is under way sends nothing.
  let signIns = 0;
  await p.route('**/api/sessions', async (route) => {
    if (route.request().method() === 'POST') {
      signIns += 1;
      await new Promise((r) => setTimeout(r, 500));
    }
    await route.continue();
  });
  await p.fill('#si-username', 'rosa');
  await p.fill('#si-password', PASSWORD);
  await p.click('#signin-btn');
  await p.locator('#signin-btn[aria-busy="true"]').waitFor();
  await p.evaluate(() => document.getElementById('signin-form').requestSubmit());
  await p.locator('#whoami[data-state="in"]').waitFor();
  assert.equal(signIns, 1, 'one sign-in request');
  await p.unroute('**/api/sessions');
  // Slow writes, counted: the second click and an Enter while the first is under way post nothing.
  let writes = 0;
  await p.route('**/api/statuses/rosa', async (route) => {
    if (['PUT', 'POST'].includes(route.request().method())) {
      writes += 1;
      await new Promise((r) => setTimeout(r, 700));
    }
    await route.continue();
  });
  await p.fill('#f-text', 'Only once, please');
  await p.fill('#f-lat', '41.39');
  await p.fill('#f-lon', '2.17');
  await p.click('#save');
  await p.locator('#save[aria-busy="true"]').waitFor();
  assert.equal(await p.locator('#save').isDisabled(), true, 'the button is disabled while saving');
  await p.click('#save', { force: true }).catch(() => {});
  await p.evaluate(() => document.getElementById('status-form').requestSubmit());
  await p.locator('#form-ok:not(:empty)').waitFor();
  await p.waitForTimeout(300);
  assert.equal(writes, 1, 'one write for one save');
  assert.equal(await p.locator('#save').isDisabled(), false);
  assert.equal(await p.getAttribute('#save', 'aria-busy'), null);
  // Cleared: the text; kept: the chosen position.
  assert.equal(await p.inputValue('#f-text'), '');
  assert.equal(await p.inputValue('#f-lat'), '41.39');
  assert.equal(await p.inputValue('#f-lon'), '2.17');
  const saved = (await apiCall('GET', '/api/statuses/rosa')).body;
  assert.equal(saved.statusText, 'Only once, please');
  assert.equal(saved.latitude, 41.39);
  // A save with nothing to say: errors appear, the button stays where the pointer is.
  await p.locator('#save').scrollIntoViewIfNeeded();
  const before = await p.locator('#save').boundingBox();
  await p.fill('#f-lat', '99');
  await p.click('#save');
  await p.locator('#f-text-err:not(:empty)').waitFor();
  await p.locator('#f-lat-err:not(:empty)').waitFor();
  const afterBox = await p.locator('#save').boundingBox();
  assert.ok(Math.abs(afterBox.y - before.y) < 1 && Math.abs(afterBox.x - before.x) < 1,
    `the Save button stayed in place (${before.y} → ${afterBox.y})`);
  assert.equal(writes, 1, 'nothing sent for an invalid form');
  await shot(p, 'form-errors');

  // The name is remembered: signed out, the forms offer it; after a reload too.
  await p.click('#signout-btn');
  await p.locator('#whoami[data-state="out"]').waitFor();
  assert.equal(await p.inputValue('#si-username'), 'rosa');
  assert.equal(await p.inputValue('#f-username'), 'rosa');
  assert.equal(await p.getAttribute('#f-username', 'readonly'), null, 'signed out, the name can be changed');
  await p.reload();
  await p.locator('#whoami[data-state="out"]').waitFor();
  assert.equal(await p.inputValue('#si-username'), 'rosa');
  assert.equal(await p.inputValue('#f-username'), 'rosa');
  // Signing in as someone else replaces it.
  await signIn(p, 'tess');
  assert.equal(await p.inputValue('#f-username'), 'tess');
  assert.equal(await p.evaluate(() => localStorage.getItem('statusServer.username')), 'tess');
});

/** Animations running on the page (CSS and Web Animations), as "element: name". */
const running = (p) => p.evaluate(() => document.getAnimations().filter((a) => a.playState === 'running')
  .map((a) => `${a.effect?.target?.className || a.effect?.target?.tagName}: ${a.animationName || a.transitionProperty || 'animation'}`
    + ` (${a.effect.getTiming().iterations} ×)`));

a11yTest('motion: nothing moves with prefers-reduced-motion, and nothing moves forever without it', async () => {
  const still = await openPage({ reducedMotion: 'reduce' });
  await signIn(still, 'tess');
  await still.fill('#f-text', 'Quietly');
  await still.click('#save');
  await still.locator('#form-ok:not(:empty)').waitFor();
  await still.locator('#feed-list li[data-username="tess"]').waitFor();
  assert.deepEqual(await running(still), [], 'no animation with prefers-reduced-motion: reduce');
  const transitions = await still.evaluate(() => [...document.querySelectorAll('*')]
    .filter((e) => getComputedStyle(e).transitionDuration.split(',').some((d) => parseFloat(d) > 0)).length);
  assert.equal(transitions, 0, 'no transitions with prefers-reduced-motion: reduce');

  const moving = await openPage();
  await moving.waitForTimeout(5500);
  const forever = await moving.evaluate(() => document.getAnimations()
    .filter((a) => a.playState === 'running' && a.effect.getTiming().iterations === Infinity)
    .map((a) => `${a.effect.target?.className}: ${a.animationName}`));
  assert.deepEqual(forever, [], 'after 5 s nothing on the page is still animating forever (WCAG 2.2.2)');
});

a11yTest('no script errors on the pages during the whole run', async () => {
  assert.deepEqual(pageErrors, []);
});
