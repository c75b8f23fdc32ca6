// The page's languages and words (web/js/i18n.js, web/i18n/*.json), the operators' view
// (web/cluster.html) and the idle page's requests, in Debian's Chromium against a real cluster
// (three nodes, a private RabbitMQ, a gateway: cluster.mjs):
// - a German browser gets the page in German (<html lang="de">, relative times in German); the
//   switch changes to English, which is remembered over a reload;
// - the user's page shows no node ids, versions or HTTP codes, also after a save, a look-up and
//   an edit conflict, whose two choices ("keep theirs", "save mine anyway") both work;
// - the cluster view (/cluster, or /cluster.html on a gateway without that route) shows the
//   nodes, in the chosen language, and pauses its animation on request;
// - an idle page with an open event stream makes no other request in 30 s (failover.test.mjs
//   watches 60 s with three gateways).
// Screenshots of both views in both languages: build/screenshots/i18n-*.png.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { Cluster, ROOT, TLS, waitUntil } from './cluster.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(ROOT, 'build', 'screenshots', ...(TLS ? ['tls'] : []));
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-dev-shm-usage'];

let cluster;
let browser;
const pageErrors = [];

async function apiCall(method, p, body, { ifMatch } = {}) {
  const headers = { Authorization: `Bearer ${await cluster.adminToken()}` };
  if (body) headers['Content-Type'] = 'application/json';
  if (ifMatch) headers['If-Match'] = `"${ifMatch}"`;
  const res = await fetch(cluster.url + p, { method, headers, body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(10000) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A page in a browser context of `locale`, signed in as the admin (who may set any status). */
async function openPage(locale, { signIn = true, url = '/?tiles=none' } = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 950 }, locale, timezoneId: 'Europe/Berlin' });
  ctx.setDefaultTimeout(15000);
  const p = await ctx.newPage();
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.goto(cluster.url + url);
  if (signIn) {
    await p.locator('#live[data-state="live"]').waitFor({ timeout: 30000 });
    await p.locator('#signin-link').click();
    await p.fill('#si-username', 'admin');
    await p.fill('#si-password', cluster.adminPassword);
    await p.click('#signin-btn');
    await p.locator('#whoami[data-state="in"]').waitFor();
  }
  return p;
}

/** The path of the operators' view: /cluster where the gateway has the route, else the file. */
async function clusterPath() {
  const res = await fetch(`${cluster.url}/cluster`, { signal: AbortSignal.timeout(5000) });
  await res.text();
  return res.ok ? '/cluster' : '/cluster.html';
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  cluster = new Cluster({ nodes: 3 });
  try {
    await cluster.start();
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30000 });
  const fiveAgo = new Date(Date.now() - 5 * 60 * 1000 - 5000).toISOString().replace(/\.\d+Z$/, 'Z');
  assert.equal((await apiCall('PUT', '/api/statuses/lena', { statusText: 'Kaffee mit dem Team', emoji: '☕',
    latitude: 48.2082, longitude: 16.3738, availability: 'away', time: fiveAgo })).status, 201);
  assert.equal((await apiCall('PUT', '/api/statuses/yusuf',
    { statusText: 'مرحبا بالجميع', latitude: 52.52, longitude: 13.405 })).status, 201);
}, { timeout: 240000 });

after(async () => {
  await browser?.close().catch(() => {});
  await cluster?.stop();
}, { timeout: 120000 });

test('a German browser gets German; the switch changes to English and is remembered', async () => {
  const p = await openPage('de-DE', { signIn: false });
  await p.locator('#live[data-state="live"]').waitFor({ timeout: 30000 });
  assert.equal(await p.evaluate(() => document.documentElement.lang), 'de');
  assert.equal(await p.title(), 'Status Server');
  assert.equal(await p.locator('#compose-h').innerText(), 'Setz deinen Status');
  assert.equal(await p.locator('#save').innerText(), 'Status speichern');
  assert.equal(await p.locator('#feed-h').innerText(), 'Alle Status');
  assert.equal(await p.locator('#live .label').innerText(), 'live');
  await p.locator('#whoami-text', { hasText: 'nicht angemeldet' }).waitFor();
  assert.equal(await p.locator('#f-text').getAttribute('placeholder'), 'Was machst du gerade?');
  assert.equal(await p.locator('#feed-q').getAttribute('placeholder'), 'Name oder Text suchen');
  // Built by scripts: the feed's words, availability names, relative times (Intl, German).
  const lena = p.locator('#feed-list li[data-username="lena"]');
  await lena.waitFor();
  assert.equal(await lena.locator('time.ago').innerText(), 'vor 5 Minuten');
  assert.equal(await lena.locator('.avail .visually-hidden').innerText(), '(Abwesend)');
  await p.locator('#feed-total', { hasText: '2 Status' }).waitFor();
  assert.deepEqual(await p.locator('#f-availability option').allInnerTexts(),
    ['Verfügbar', 'Beschäftigt', 'Abwesend', 'Nicht stören']);
  // The exact time on a tap, not only on hover; a second tap goes back.
  const when = lena.locator('button.time-toggle');
  await when.click();
  assert.equal(await when.getAttribute('aria-pressed'), 'true');
  assert.match(await when.innerText(), /^\d{2}\.\d{2}\.\d{4}, \d{2}:\d{2}:\d{2}$/);
  await when.click();
  assert.equal(await when.innerText(), 'vor 5 Minuten');
  // Users' texts keep their own direction.
  assert.equal(await p.locator('#feed-list li[data-username="yusuf"] .text').getAttribute('dir'), 'auto');
  assert.equal(await p.locator('#feed-list li[data-username="yusuf"] .who').getAttribute('dir'), 'auto');
  await p.screenshot({ path: path.join(SHOTS, 'i18n-user-de.png') });

  // The switch: a named group of real buttons, the language in force pressed.
  const sw = p.getByRole('group', { name: 'Sprache' });
  assert.equal(await sw.getByRole('button', { name: 'Deutsch' }).getAttribute('aria-pressed'), 'true');
  await sw.getByRole('button', { name: 'English' }).click();
  assert.equal(await p.evaluate(() => document.documentElement.lang), 'en');
  assert.equal(await p.locator('#compose-h').innerText(), 'Set your status');
  assert.equal(await lena.locator('time.ago').innerText(), '5 minutes ago');
  assert.equal(await p.locator('#f-availability option').first().innerText(), 'Available');
  assert.equal(await p.locator('#f-text').getAttribute('placeholder'), 'What are you up to?');
  assert.equal(await p.getByRole('group', { name: 'Language' }).getByRole('button', { name: 'English' })
    .getAttribute('aria-pressed'), 'true');
  await p.reload();
  await p.locator('#live[data-state="live"]').waitFor({ timeout: 30000 });
  assert.equal(await p.evaluate(() => document.documentElement.lang), 'en', 'remembered over a reload');
  assert.equal(await p.locator('#compose-h').innerText(), 'Set your status');
  await p.locator('#feed-list li[data-username="lena"] time.ago', { hasText: 'minutes ago' }).waitFor();
  await p.screenshot({ path: path.join(SHOTS, 'i18n-user-en.png') });
  await p.context().close();
});

test('the first paint is already in the chosen language (no English flash in a German browser)', async () => {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 950 }, locale: 'de-DE' });
  // When the page stops hiding itself (i18n.js removes data-i18n-wait), and what it says then.
  await ctx.addInitScript(() => {
    new MutationObserver(() => {
      const html = document.documentElement;
      if (html && !html.hasAttribute('data-i18n-wait') && window.shownAt === undefined) {
        window.shownAt = performance.now();
        window.shownHeading = document.getElementById('compose-h')?.textContent;
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-i18n-wait'] });
  });
  const p = await ctx.newPage();
  p.on('pageerror', (e) => pageErrors.push(e.message));
  await p.goto(`${cluster.url}/?tiles=none`);
  await p.locator('#live[data-state="live"]').waitFor({ timeout: 30000 });
  const seen = await p.evaluate(() => ({
    shownAt: window.shownAt, heading: window.shownHeading, lang: document.documentElement.lang,
    fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
  }));
  console.log(`  shown at ${seen.shownAt?.toFixed(0)} ms, first contentful paint at ${seen.fcp?.toFixed(0)} ms`);
  assert.equal(seen.heading, 'Setz deinen Status', 'German when it first shows');
  assert.equal(seen.lang, 'de');
  assert.ok(typeof seen.fcp === 'number' && seen.fcp >= seen.shownAt,
    `nothing was painted before the page was in German (paint ${seen.fcp}, shown ${seen.shownAt})`);
  await ctx.close();
});

const DEVELOPER_WORDS = [
  [/\bn[1-9]\b/, 'a node id'], [/version/i, 'a version'], [/[0-9a-f]{16}\.n\d/, 'a version string'],
  [/\b[1-5]\d\d\b(?![.,]\d)/, 'an HTTP code'], [/served by|last answer|X-Served-By|If-Match|precondition/i, 'HTTP terms'],
  [/\bnode\b|Knoten|registry/i, 'cluster terms'],
];
async function assertPlain(p, when) {
  const text = await p.evaluate(() => document.body.innerText);
  for (const [re, what] of DEVELOPER_WORDS) {
    const m = text.match(re);
    assert.ok(!m, `${when}: the user's page shows ${what}: "${m?.[0]}" in …${
      m ? text.slice(Math.max(0, m.index - 60), m.index + 60) : ''}…`);
  }
}

test('the user\'s page speaks plainly: no node ids, versions or HTTP codes; an edit conflict offers two choices', async () => {
  const p = await openPage('en-GB');
  await p.locator('#feed-list li[data-username="lena"]').waitFor();
  await assertPlain(p, 'after loading');
  // Save, look up: the answers say what happened, not who served them.
  await p.fill('#f-username', 'mira');
  await p.fill('#f-text', 'Writing the plain-words test');
  await p.click('#save');
  await p.locator('#form-ok', { hasText: 'Saved: mira now has a status.' }).waitFor();
  await p.fill('#l-username', 'mira');
  await p.click('#lookup-btn');
  await p.locator('#lookup-card[data-username="mira"] .text', { hasText: 'plain-words' }).waitFor();
  await assertPlain(p, 'after a save and a look-up');
  await p.fill('#l-username', 'nobody-here');
  await p.click('#lookup-btn');
  await p.locator('#lookup-msg', { hasText: 'nobody-here has no status.' }).waitFor();
  await assertPlain(p, 'after a look-up of nobody');

  // An edit conflict: someone else changes mira's status while the form edits it.
  const conflict = async () => {
    await p.fill('#l-username', 'mira');
    await p.click('#lookup-btn');
    await p.locator('#lookup-card[data-username="mira"]').waitFor();
    await p.click('#edit-btn');
    await p.locator('#compose-h', { hasText: 'Edit mira’s status' }).waitFor();
    const theirs = `Changed elsewhere at ${Date.now()}`;
    assert.equal((await apiCall('PUT', '/api/statuses/mira', { statusText: theirs })).status, 200);
    await p.fill('#f-text', 'Mine, from the form');
    await p.click('#save');
    await p.locator('#form-error', { hasText: 'mira changed this status meanwhile' }).waitFor();
    await assertPlain(p, 'after an edit conflict');
    return theirs;
  };
  const theirs = await conflict();
  await p.screenshot({ path: path.join(SHOTS, 'i18n-conflict-en.png') });
  await p.locator('#form-error').getByRole('button', { name: 'Keep theirs' }).click();
  await p.locator('#lookup-card[data-username="mira"] .text', { hasText: theirs }).waitFor();
  assert.equal(await p.locator('#compose-h').innerText(), 'Set your status', 'the edit is dropped');
  assert.equal((await apiCall('GET', '/api/statuses/mira')).body.statusText, theirs, 'theirs is kept');

  await conflict();
  await p.locator('#form-error').getByRole('button', { name: 'Save mine anyway' }).click();
  await p.locator('#form-ok', { hasText: 'Updated mira’s status.' }).waitFor();
  assert.equal((await apiCall('GET', '/api/statuses/mira')).body.statusText, 'Mine, from the form');
  await assertPlain(p, 'after saving over a conflict');

  // In German too.
  await p.getByRole('button', { name: 'Deutsch' }).click();
  await conflictGerman(p);
  await p.context().close();
});

async function conflictGerman(p) {
  await p.fill('#l-username', 'mira');
  await p.click('#lookup-btn');
  await p.locator('#lookup-card[data-username="mira"]').waitFor();
  await p.click('#edit-btn');
  await p.locator('#compose-h', { hasText: 'Status von mira bearbeiten' }).waitFor();
  assert.equal((await apiCall('PUT', '/api/statuses/mira', { statusText: 'Schon wieder anders' })).status, 200);
  await p.fill('#f-text', 'Meins');
  await p.click('#save');
  await p.locator('#form-error', { hasText: 'mira hat diesen Status inzwischen geändert' }).waitFor();
  await p.locator('#form-error').getByRole('button', { name: 'Die andere Fassung behalten' }).waitFor();
  await p.locator('#form-error').getByRole('button', { name: 'Meine trotzdem speichern' }).waitFor();
  await assertPlain(p, 'after an edit conflict in German');
  await p.screenshot({ path: path.join(SHOTS, 'i18n-conflict-de.png') });
}

test('the operators\' view shows the nodes in the chosen language and pauses its animation on request', async () => {
  const where = await clusterPath();
  // The user's page links to it discreetly, in the footer.
  const user = await openPage('de-DE', { signIn: false });
  const link = user.getByRole('link', { name: 'Cluster-Status' });
  assert.equal(await link.getAttribute('href'), 'cluster');
  await user.context().close();

  const p = await openPage('de-DE', { signIn: false, url: where });
  const nodes = p.locator('#nodes li.node');
  await waitUntil(async () => (await nodes.count()) === 3, { timeoutMs: 10000, what: 'three nodes' });
  await p.locator('#cluster-summary[data-up="3"]', { hasText: '3 von 3 Knoten in Betrieb' }).waitFor();
  assert.equal(await p.evaluate(() => document.documentElement.lang), 'de');
  assert.equal(await p.title(), 'Cluster-Status · Status Server');
  // The ids behind HOST:PORT instances are learned from rounds with no other traffic: a busy
  // moment may need another round, which "Jetzt aktualisieren" asks for.
  await waitUntil(async () => {
    if ((await p.locator('#nodes li.node h3', { hasText: /^Knoten n[123]/ }).count()) === 3) return true;
    await p.getByRole('button', { name: 'Jetzt aktualisieren' }).click();
    return false;
  }, { timeoutMs: 20000, intervalMs: 1500, what: 'the node ids learned' });
  assert.match(await nodes.first().innerText(), /Beantwortete Anfragen/);
  assert.match(await p.locator('#recent').innerText(), /n[123]/, 'the nodes that answered, by id');
  const pause = p.getByRole('button', { name: 'Animation anhalten' });
  assert.equal(await pause.getAttribute('aria-pressed'), 'false');
  await pause.click();
  assert.equal(await pause.getAttribute('aria-pressed'), 'true');
  assert.equal(await p.evaluate(() => getComputedStyle(document.querySelector('#recent li')).animationName), 'none');
  await p.screenshot({ path: path.join(SHOTS, 'i18n-cluster-de.png'), fullPage: true });
  await p.getByRole('button', { name: 'English' }).click();
  await p.locator('#cluster-summary', { hasText: '3 of 3 nodes working' }).waitFor();
  assert.match(await nodes.first().innerText(), /Requests answered/);
  await p.screenshot({ path: path.join(SHOTS, 'i18n-cluster-en.png'), fullPage: true });
  await p.context().close();

  // With the system's "reduce motion" the animation is off from the start.
  const ctx = await browser.newContext({ reducedMotion: 'reduce', locale: 'en-GB' });
  const r = await ctx.newPage();
  await r.goto(cluster.url + where);
  await r.locator('#nodes li.node').first().waitFor();
  assert.equal(await r.getByRole('button', { name: 'Pause animation' }).getAttribute('aria-pressed'), 'true');
  await ctx.close();
});

test('an idle page with an open event stream makes no other request in 30 s', async () => {
  const p = await openPage('en-GB', { signIn: false });
  await p.locator('#live[data-state="live"]').waitFor({ timeout: 30000 });
  await p.locator('#feed-list li[data-username="lena"]').waitFor();
  await p.waitForTimeout(2000); // the start's requests (map, feed, who am I) are answered
  const seen = [];
  p.on('request', (r) => { if (!new URL(r.url()).pathname.startsWith('/api/events')) seen.push(r.url()); });
  await p.waitForTimeout(30000);
  console.log(`  requests besides the event stream in 30 s: ${seen.length}${seen.length ? ` (${seen.join(', ')})` : ''}`);
  assert.equal(await p.locator('#live').getAttribute('data-state'), 'live', 'the stream stayed open');
  assert.equal(seen.length, 0, `no request besides the stream: ${seen.join(', ')}`);
  await p.context().close();
}, { timeout: 120000 });

test('no script errors on any page during the run', () => {
  assert.deepEqual(pageErrors, []);
});
