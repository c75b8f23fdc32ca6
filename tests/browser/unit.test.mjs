// Plain Node tests of the page's pure helpers (no browser): the client-side validation, the
// access rules and their messages, the status features' helpers (expiry presets, "until …",
// filters, the map's bbox, outlines and words, the expiry clock) and small formatting functions, so that their
// rules are pinned down next to the contract's.
// Local times are Vienna's (a zone with summer time): the presets are about the local day.
process.env.TZ = 'Europe/Vienna';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { hasKey, LANGUAGES, lang, loadLang, pickLang, relTime, setLang, t } from '../../web/js/i18n.js';
import { parseCoord, textLength, validateStatus } from '../../web/js/validate.js';
import { debounce, formatPos, relativeTime } from '../../web/js/util.js';
import { availabilityLabel, emojiError, endedLabel, endOfDay, endOfWeek, ExpiryClock, expiryFields, expiryHint,
  filterParams, isShortcode, matchesFilter, rfc3339, toLocalInput, untilText, weekStart } from '../../web/js/status.js';
import { clusterWords, inBoxes, markerLabel, tileConfig, unwrapRing, viewBoxes } from '../../web/js/map.js';
import { canChange, changeNote, credentialFieldOf, forbiddenMessage, isAdmin, retryAfterSeconds,
  tooManyMessage, validateCredentials } from '../../web/js/access.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const ok = { username: 'alice', statusText: 'hi', latitude: '', longitude: '' };

test('a valid status without position', () => {
  assert.deepEqual(validateStatus(ok), { errors: {}, status: { statusText: 'hi' } });
});

test('usernames: 1–64 of A-Z a-z 0-9 . _ -', () => {
  assert.equal(validateStatus({ ...ok, username: 'a.b_c-D9' }).errors.username, undefined);
  assert.equal(validateStatus({ ...ok, username: 'x'.repeat(64) }).errors.username, undefined);
  assert.match(validateStatus({ ...ok, username: 'x'.repeat(65) }).errors.username, /1–64/);
  assert.match(validateStatus({ ...ok, username: 'with space' }).errors.username, /letters, digits/);
  assert.match(validateStatus({ ...ok, username: 'ümlaut' }).errors.username, /letters, digits/);
  assert.match(validateStatus({ ...ok, username: '' }).errors.username, /Enter a username/);
});

test('status text: not empty, at most 1000 characters (code points, not UTF-16 units)', () => {
  assert.match(validateStatus({ ...ok, statusText: '' }).errors.statusText, /must not be empty/);
  assert.equal(validateStatus({ ...ok, statusText: '😀'.repeat(1000) }).errors.statusText, undefined);
  assert.match(validateStatus({ ...ok, statusText: 'x'.repeat(1001) }).errors.statusText, /1,001 characters/);
  assert.equal(textLength('😀é'), 2);
});

test('coordinates: both or neither, in range, numbers (a decimal comma is accepted)', () => {
  const v = validateStatus({ ...ok, latitude: '48,2082', longitude: '-16.5' });
  assert.deepEqual(v.errors, {});
  assert.deepEqual(v.status, { statusText: 'hi', latitude: 48.2082, longitude: -16.5 });
  assert.match(validateStatus({ ...ok, latitude: '91', longitude: '0' }).errors.latitude, /between −90 and 90/);
  assert.match(validateStatus({ ...ok, latitude: '0', longitude: '-180.5' }).errors.longitude, /−180 and 180/);
  assert.match(validateStatus({ ...ok, latitude: '10' }).errors.longitude, /both latitude and longitude/);
  assert.match(validateStatus({ ...ok, longitude: '10' }).errors.latitude, /both latitude and longitude/);
  assert.match(validateStatus({ ...ok, latitude: 'north', longitude: '1' }).errors.latitude, /must be a number/);
  assert.equal(parseCoord('  '), null);
  assert.ok(Number.isNaN(parseCoord('1e5')));
});

test('formatting', () => {
  assert.equal(formatPos({ latitude: 48.2082, longitude: -16.3738 }), '48.2082° N, 16.3738° W');
  assert.equal(formatPos({}), '');
  const now = Date.parse('2026-11-25T12:00:00Z');
  assert.equal(relativeTime('2026-11-25T11:59:58Z', now), 'now');
  assert.equal(relativeTime('2026-11-25T11:55:00Z', now), '5 minutes ago');
  assert.equal(relativeTime('2026-11-25T11:59:00Z', now), '1 minute ago');
  assert.equal(relativeTime('2026-11-25T09:00:00Z', now), '3 hours ago');
  assert.equal(relativeTime('2026-11-24T09:00:00Z', now), 'yesterday');
  assert.equal(relativeTime('2026-11-25T14:00:00Z', now), 'in 2 hours');
});

test('in German: relative times, plurals, numbers, positions and the "until" words', async () => {
  const now = Date.parse('2026-11-25T12:00:00Z');
  await setLang('de');
  try {
    assert.equal(lang(), 'de');
    assert.equal(relativeTime('2026-11-25T11:55:00Z', now), 'vor 5 Minuten');
    assert.equal(relativeTime('2026-11-25T11:59:00Z', now), 'vor 1 Minute');
    assert.equal(relativeTime('2026-11-24T09:00:00Z', now), 'gestern');
    assert.equal(relTime(now + 3 * 3600 * 1000, now), 'in 3 Stunden');
    assert.equal(t('feed.matches', { count: 1 }), '1 Treffer');
    assert.equal(t('access.tooMany', { count: 1 }), 'Zu viele Versuche — warte 1 Sekunde.');
    assert.equal(tooManyMessage(42), 'Zu viele Versuche — warte 42 Sekunden.');
    assert.match(validateStatus({ ...ok, statusText: 'x'.repeat(1001) }).errors.statusText, /1\.001 Zeichen/);
    assert.equal(formatPos({ latitude: 48.2082, longitude: 16.3738 }), '48,2082° N, 16,3738° O');
    assert.equal(untilText('2026-12-03T14:00:00Z', new Date('2026-12-03T10:00:00Z'), 'de-DE'), 'bis 15:00');
    assert.equal(expiryHint('', '', new Date('2026-12-03T10:00:00Z')), 'Der Status bleibt, bis du ihn änderst.');
    assert.equal(availabilityLabel('dnd'), 'Nicht stören');
    assert.equal(t('no.such.key'), 'no.such.key', 'a missing key shows as itself');
  } finally {
    await setLang('en');
  }
  assert.equal(relativeTime('2026-11-25T11:55:00Z', now), '5 minutes ago');
});

test('the language: stored choice, else the browser\'s languages in order (de*, en*), else English', () => {
  assert.equal(pickLang(['de-AT', 'en-US']), 'de');
  assert.equal(pickLang(['fr-FR', 'en-GB', 'de']), 'en');
  assert.equal(pickLang(['fr-FR', 'DE-CH']), 'de');
  assert.equal(pickLang(['ja-JP']), 'en');
  assert.equal(pickLang([]), 'en');
  assert.equal(pickLang(['de-DE'], 'en'), 'en', 'the switch beats the browser');
  assert.equal(pickLang(['de-DE'], 'xx'), 'de', 'a stored language without a catalogue is ignored');
});

// ---------------------------------------------------------------- the bundles
test('web/dist/ is what scripts/web-bundle.mjs makes of web/js/ (the pages load the bundles)', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'web-bundle.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  for (const [page, bundle] of [['index.html', 'dist/app.js'], ['cluster.html', 'dist/cluster-page.js']]) {
    const html = fs.readFileSync(path.join(ROOT, 'web', page), 'utf8');
    assert.ok(html.includes(`<script src="${bundle}" type="module"></script>`), `${page} loads ${bundle}`);
  }
});

// ---------------------------------------------------------------- the catalogues
const I18N = path.join(ROOT, 'web', 'i18n');
const catalogues = Object.fromEntries(fs.readdirSync(I18N).filter((f) => f.endsWith('.json'))
  .map((f) => [f.replace(/\.json$/, ''), JSON.parse(fs.readFileSync(path.join(I18N, f), 'utf8'))]));
const paramsOf = (text) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

test('every catalogue has every key of the English one and no other, each with a text and the same {params}', async () => {
  assert.deepEqual(Object.keys(catalogues).sort(), Object.keys(LANGUAGES).sort(), 'each file is listed in i18n.js');
  for (const [l, c] of Object.entries(catalogues)) {
    assert.equal(LANGUAGES[l].name, c['lang.name'], `the switch names ${l} as its catalogue does`);
    assert.deepEqual(await loadLang(l), c, `i18n.js loads ${l}.json`);
  }
  const en = catalogues.en;
  assert.ok(Object.keys(en).length > 200, `the English catalogue is complete (${Object.keys(en).length} keys)`);
  for (const [l, c] of Object.entries(catalogues)) {
    for (const k of Object.keys(en)) assert.ok(k in c, `${l}.json lacks ${k}`);
    for (const [k, text] of Object.entries(c)) {
      assert.ok(k in en, `${l}.json has ${k}, which en.json lacks`);
      assert.equal(typeof text, 'string', `${l}: ${k} is a string`);
      assert.ok(text.trim().length > 0, `${l}: ${k} is not empty`);
      // Plural forms may leave out a {count} the language does not need ("einmal"); all others match.
      const base = k.replace(/\.(zero|one|two|few|many|other)$/, '');
      if (base === k || k.endsWith('.other')) assert.deepEqual(paramsOf(text), paramsOf(en[k]), `${l}: ${k} has the {params} of en`);
      else assert.ok(paramsOf(text).every((p) => paramsOf(en[`${base}.other`]).includes(p)), `${l}: ${k}`);
    }
  }
  assert.notEqual(catalogues.de['form.title'], en['form.title'], 'German is German');
});

test('every data-i18n key of the pages and every t(\'…\') key of the scripts is in the catalogue', () => {
  const used = new Set();
  for (const f of ['index.html', 'cluster.html']) {
    const html = fs.readFileSync(path.join(ROOT, 'web', f), 'utf8');
    for (const m of html.matchAll(/data-i18n="([^"]+)"/g)) used.add(m[1]);
    for (const m of html.matchAll(/data-i18n-attr="([^"]+)"/g)) {
      for (const pair of m[1].split(';')) used.add(pair.split(':')[1].trim());
    }
  }
  const js = path.join(ROOT, 'web', 'js');
  let literal = 0;
  for (const f of fs.readdirSync(js).filter((x) => x.endsWith('.js'))) {
    const src = fs.readFileSync(path.join(js, f), 'utf8');
    // t('key'), t("key"), and every quoted key in a t(a ? 'x' : 'y') or a { key: 'x' } list
    for (const m of src.matchAll(/\bt\(\s*'([\w.]+)'/g)) { used.add(m[1]); literal++; }
    for (const m of src.matchAll(/\bt\([^()]*\?\s*'([\w.]+)'\s*:\s*'([\w.]+)'/g)) { used.add(m[1]); used.add(m[2]); }
    for (const m of src.matchAll(/\bkey: '([\w.]+)'/g)) used.add(m[1]);
    for (const m of src.matchAll(/data-i18n(?:Attr)? = '([\w.:;]+)'/g)) used.add(m[1]);
  }
  assert.ok(literal > 100, `the scripts use the catalogue (${literal} literal keys)`);
  assert.ok(used.size > 150, `${used.size} keys in use`);
  for (const k of used) assert.ok(hasKey(k, 'en'), `${k} is used but not in en.json`);
});

test('who may change a status, and the words for it', () => {
  const alice = { username: 'alice', roles: [] };
  const admin = { username: 'root', roles: ['admin'] };
  assert.equal(canChange({ mode: 'required', me: alice }, 'alice'), true);
  assert.equal(canChange({ mode: 'required', me: alice }, 'bob'), false);
  assert.equal(canChange({ mode: 'required', me: admin }, 'bob'), true);
  assert.equal(canChange({ mode: 'required', me: null }, 'alice'), false);
  assert.equal(canChange({ mode: 'off', me: null }, 'alice'), true, '--auth off: anyone writes anything');
  assert.equal(isAdmin(admin), true);
  assert.equal(isAdmin({ username: 'x' }), false);
  assert.equal(changeNote({ mode: 'required', me: alice }, 'alice'), null);
  assert.equal(changeNote({ mode: 'required', me: alice }, 'bob'), 'Only bob or an admin can change bob’s status.');
  assert.equal(forbiddenMessage('alice'), 'Only alice or an admin can change alice’s status.');
  assert.match(changeNote({ mode: 'required', me: null }, 'bob'), /^Sign in as bob \(or as an admin\)/);
});

test('Retry-After and the 429 message', () => {
  assert.equal(retryAfterSeconds('42'), 42);
  assert.equal(retryAfterSeconds(null), null);
  assert.equal(retryAfterSeconds('soon'), null);
  const now = Date.parse('2026-11-25T12:00:00Z');
  assert.equal(retryAfterSeconds('Wed, 25 Nov 2026 12:00:30 GMT', now), 30);
  assert.equal(retryAfterSeconds('Wed, 25 Nov 2026 11:00:00 GMT', now), 0);
  assert.equal(tooManyMessage(42), 'Too many attempts — wait 42 seconds.');
  assert.equal(tooManyMessage(1), 'Too many attempts — wait 1 second.');
  assert.equal(tooManyMessage(0), 'You can try again now.');
  assert.match(tooManyMessage(null), /wait a minute/);
});

test('sign-in and sign-up checks before sending; the field a server 400 is about', () => {
  assert.deepEqual(validateCredentials({ username: 'alice', password: 'x' }), {}, 'sign-in: anything typed');
  assert.match(validateCredentials({ username: '', password: '' }).username, /Enter a username/);
  assert.match(validateCredentials({ username: 'a', password: '' }).password, /Enter a password/);
  const up = (username, password) => validateCredentials({ username, password }, { signUp: true });
  assert.deepEqual(up('alice', '12345678'), {});
  assert.match(up('alice', '1234567').password, /8–256 characters long; this one has 7/);
  assert.deepEqual(up('alice', 'x'.repeat(256)), {});
  assert.match(up('alice', 'x'.repeat(257)).password, /8–256/);
  assert.deepEqual(up('alice', '😀'.repeat(8)), {}, 'characters, not UTF-16 units');
  assert.match(up('no space', '12345678').username, /letters, digits/);
  assert.equal(credentialFieldOf('password must be 8-256 characters'), 'password');
  assert.equal(credentialFieldOf('username must be 1-64 characters of A-Z a-z 0-9 . _ -'), 'username');
  assert.equal(credentialFieldOf('request body must be a JSON object'), null);
});

// ---------------------------------------------------------------- status features (issue 13)
// Thursday 3 December 2026, 10:00 UTC = 11:00 in Vienna.
const NOW = new Date('2026-12-03T10:00:00Z');

test('expiry presets: seconds as clearAfter; Today and This week end the local day and week', () => {
  assert.deepEqual(expiryFields('', '', NOW), {}, 'Don’t clear: nothing sent');
  assert.deepEqual(expiryFields('1800', '', NOW), { clearAfter: 1800 });
  assert.deepEqual(expiryFields('3600', '', NOW), { clearAfter: 3600 });
  assert.deepEqual(expiryFields('14400', '', NOW), { clearAfter: 14400 });
  // 23:59:59 in Vienna (UTC+1 in winter) is 22:59:59 UTC.
  assert.deepEqual(expiryFields('today', '', NOW), { expiresAt: '2026-12-03T22:59:59Z' });
  assert.equal(rfc3339(endOfDay(NOW)), '2026-12-03T22:59:59Z');
  // Weeks from Monday (most of Europe): Sunday 6 December; from Sunday (US): Saturday 5 December.
  assert.deepEqual(expiryFields('week', '', NOW, 1), { expiresAt: '2026-12-06T22:59:59Z' });
  assert.deepEqual(expiryFields('week', '', NOW, 7), { expiresAt: '2026-12-05T22:59:59Z' });
  // On the week's last day, "This week" is the end of that day.
  assert.equal(rfc3339(endOfWeek(new Date('2026-12-06T12:00:00Z'), 1)), '2026-12-06T22:59:59Z');
  // Across the change to summer time (29 March 2026): 23:59:59 local is 21:59:59 UTC.
  assert.equal(rfc3339(endOfWeek(new Date('2026-03-25T12:00:00Z'), 1)), '2026-03-29T21:59:59Z');
  assert.equal(weekStart('en-GB'), 1);
  assert.equal(weekStart('en-US'), 7);
  assert.equal(weekStart('not a locale!'), 1, 'an unreadable locale: ISO weeks');
});

test('a chosen date and time: local, in the future, at most 366 days ahead', () => {
  assert.deepEqual(expiryFields('custom', '2026-12-03T15:00', NOW), { expiresAt: '2026-12-03T14:00:00Z' });
  assert.deepEqual(expiryFields('custom', '2027-06-01T09:30', NOW), { expiresAt: '2027-06-01T07:30:00Z' },
    'summer time in June');
  assert.match(expiryFields('custom', '', NOW).error, /Choose the date and time/);
  assert.match(expiryFields('custom', '2026-12-03T10:59', NOW).error, /must be in the future/);
  assert.match(expiryFields('custom', '2027-12-05T10:00', NOW).error, /At most 366 days ahead/);
  assert.match(expiryFields('custom', 'soon', NOW).error, /not a date/);
  assert.equal(toLocalInput('2026-12-03T14:00:00Z'), '2026-12-03T15:00');
  assert.equal(toLocalInput('nonsense'), '');
});

test('"until 15:00": the time today, the weekday within a week, else the date', () => {
  assert.equal(untilText('2026-12-03T14:00:00Z', NOW, 'en-GB'), 'until 15:00');
  assert.equal(untilText('2026-12-03T22:59:59Z', NOW, 'en-GB'), 'until 23:59');
  assert.equal(untilText('2026-12-04T14:00:00Z', NOW, 'en-GB'), 'until Fri 15:00');
  assert.equal(untilText('2026-12-24T14:00:00Z', NOW, 'en-GB'), 'until 24 Dec 15:00');
  assert.equal(untilText('2027-01-04T14:00:00Z', NOW, 'en-GB'), 'until 4 Jan 2027 15:00');
  assert.equal(untilText('garbage', NOW, 'en-GB'), '');
  assert.equal(expiryHint('3600', '', NOW, 'en-GB'), 'Shown until 12:00.');
  assert.equal(expiryHint('today', '', NOW, 'en-GB'), 'Shown until 23:59.');
  assert.equal(expiryHint('week', '', NOW, 'en-GB', 1), 'Shown until Sun 23:59.');
  assert.equal(expiryHint('', '', NOW, 'en-GB'), 'The status stays until you change it.');
  assert.equal(expiryHint('custom', '', NOW, 'en-GB'), 'Pick a date and time below.');
});

test('the form: emoji, availability and expiry go into the body; bad ones are caught at their field', () => {
  const v = validateStatus({ ...ok, emoji: ' 📅 ', availability: 'busy', expiry: '3600' }, NOW);
  assert.deepEqual(v, { errors: {}, status: { statusText: 'hi', emoji: '📅', availability: 'busy', clearAfter: 3600 } });
  assert.deepEqual(validateStatus({ ...ok, availability: 'available', expiry: 'custom', expiresAt: '2026-12-04T09:00' }, NOW).status,
    { statusText: 'hi', expiresAt: '2026-12-04T08:00:00Z' }, 'available is the default: not sent');
  assert.deepEqual(validateStatus({ ...ok, emoji: ':coffee:' }, NOW).status, { statusText: 'hi', emoji: ':coffee:' });
  assert.match(validateStatus({ ...ok, emoji: '😀'.repeat(33) }, NOW).errors.emoji, /at most 32 characters; this one has 33/);
  assert.equal(validateStatus({ ...ok, emoji: '👨‍👩‍👧‍👦' }, NOW).errors.emoji, undefined, 'a family: 7 code points');
  assert.match(validateStatus({ ...ok, emoji: 'a\u0007' }, NOW).errors.emoji, /control characters/);
  assert.match(validateStatus({ ...ok, availability: 'asleep' }, NOW).errors.availability, /from the list/);
  assert.match(validateStatus({ ...ok, expiry: 'custom', expiresAt: '' }, NOW).errors.expiresAt, /Choose the date/);
  assert.equal(emojiError('📅'), null);
  assert.equal(isShortcode(':coffee:'), true);
  assert.equal(isShortcode('☕'), false);
  assert.equal(availabilityLabel('dnd'), 'Do not disturb');
  assert.equal(availabilityLabel(undefined), 'Available');
  assert.deepEqual(['replaced', 'deleted', 'expired'].map(endedLabel), ['Replaced', 'Deleted', 'Expired']);
});

test('feed filters: q case-insensitive (ASCII, as the server folds) on name or text; availability', () => {
  const s = { username: 'Alice', statusText: 'In a MEETING about Ärger', availability: 'busy' };
  assert.equal(matchesFilter(s, {}), true);
  assert.equal(matchesFilter(s, { q: 'meet' }), true);
  assert.equal(matchesFilter(s, { q: 'ALI' }), true);
  assert.equal(matchesFilter(s, { q: 'bob' }), false);
  assert.equal(matchesFilter(s, { q: 'ärger' }), false, 'no folding beyond ASCII, like the server');
  assert.equal(matchesFilter(s, { q: 'Ärger' }), true);
  assert.equal(matchesFilter(s, { availability: 'busy' }), true);
  assert.equal(matchesFilter(s, { availability: 'away' }), false);
  assert.equal(matchesFilter({ username: 'x', statusText: 'y' }, { availability: 'available' }), true, 'the default');
  assert.equal(matchesFilter(s, { q: 'meet', availability: 'dnd' }), false, 'both must hold');
  assert.equal(filterParams({ q: 'a b', availability: 'dnd' }).toString(), 'q=a+b&availability=dnd');
  assert.equal(filterParams({ q: '', availability: '' }).toString(), '');
});

test('the map’s bbox: clamped, wrapped round the world, split across the antimeridian', () => {
  assert.deepEqual(viewBoxes(40.12341, 10.98761, 50.5, 20.00001), [[10.9876, 40.1234, 20.0001, 50.5]],
    'rounded outwards');
  assert.deepEqual(viewBoxes(-95, -30, 97, 30), [[-30, -90, 30, 90]], 'latitudes clamped');
  assert.deepEqual(viewBoxes(-60, -400, 60, 400), [[-180, -60, 180, 60]], 'more than the world: all of it');
  assert.deepEqual(viewBoxes(-60, -180, 60, 180), [[-180, -60, 180, 60]]);
  // A view across the antimeridian: two boxes.
  assert.deepEqual(viewBoxes(-10, 170, 10, 190), [[170, -10, 180, 10], [-180, -10, -170, 10]]);
  assert.deepEqual(viewBoxes(-10, -190, 10, -170), [[170, -10, 180, 10], [-180, -10, -170, 10]]);
  // The same view one world further (panned round): the same box.
  assert.deepEqual(viewBoxes(0, 370, 10, 380), [[10, 0, 20, 10]]);
  for (const [s, w, n, e] of [[0, 100, 80, 260], [-89.9, -500, 89.9, -300], [10, 179.99999, 11, 180.5]]) {
    for (const [minLon, minLat, maxLon, maxLat] of viewBoxes(s, w, n, e)) {
      assert.ok(minLon >= -180 && maxLon <= 180 && minLon <= maxLon, `lon in range: ${[s, w, n, e]}`);
      assert.ok(minLat >= -90 && maxLat <= 90 && minLat <= maxLat, `lat in range: ${[s, w, n, e]}`);
    }
  }
  const boxes = viewBoxes(-10, 170, 10, 190);
  assert.equal(inBoxes({ latitude: 0, longitude: 179.5 }, boxes), true);
  assert.equal(inBoxes({ latitude: 0, longitude: -179.5 }, boxes), true);
  assert.equal(inBoxes({ latitude: 0, longitude: 0 }, boxes), false);
  assert.equal(inBoxes({ latitude: 20, longitude: 175 }, boxes), false);
  assert.equal(inBoxes({}, boxes), false, 'no position: never on the map');
  assert.equal(inBoxes({ latitude: 1, longitude: 2 }, null), true, 'before the first load');
});

test('the expiry clock calls back when expiresAt passes, once, for the earliest first', async () => {
  const fired = [];
  const clock = new ExpiryClock((u) => fired.push([u, Date.now()]));
  const t0 = Date.now();
  const at = (ms) => new Date(t0 + ms).toISOString();
  clock.track({ username: 'late', expiresAt: at(250) });
  clock.track({ username: 'early', expiresAt: at(80) });
  clock.track({ username: 'never', expiresAt: at(100) });
  clock.track({ username: 'never' }); // updated without an expiry
  clock.track({ username: 'gone', expiresAt: at(120) });
  clock.forget('gone'); // deleted meanwhile
  clock.track({ username: 'past', expiresAt: at(-5000) }); // expired already: at once
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual(fired.map(([u]) => u), ['past', 'early', 'late']);
  assert.ok(fired[1][1] - t0 >= 70, `not before its time (${fired[1][1] - t0} ms)`);
  assert.ok(fired[2][1] - t0 >= 240 && fired[2][1] - t0 < 350, `on time (${fired[2][1] - t0} ms)`);
  assert.equal(clock.timer, null, 'nothing left to wait for');
  // Far-off expiries wait in steps of at most an hour (setTimeout cannot wait a year).
  const far = new ExpiryClock(() => {}, { maxDelayMs: 50 });
  far.track({ username: 'x', expiresAt: at(300 * 86400 * 1000) });
  assert.ok(far.timer !== null);
  far.forget('x');
  assert.equal(far.timer, null);
});

test('debounce: one call after a burst, with the last arguments; cancel drops it', async () => {
  const calls = [];
  const d = debounce((x) => calls.push(x), 40);
  for (let i = 0; i < 5; i++) {
    d(i);
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(calls, [4]);
  d(5);
  d.cancel();
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(calls, [4]);
});

test('the basemap: outlines across the antimeridian continue beyond 180°; a ring round the pole stays', () => {
  // Like Russia's: east to 180°, on at −180° (Chukotka), back, and home.
  const russia = [[170, 60], [180, 65], [-180, 65], [-170, 66], [-180, 68], [180, 68], [170, 70], [170, 60]];
  assert.deepEqual(unwrapRing(russia, true),
    [[170, 60], [180, 65], [180, 65], [190, 66], [180, 68], [180, 68], [170, 70], [170, 60]]);
  // Antarctica's: once round the world, closed along the pole.
  const antarctica = [[-180, -84], [0, -70], [180, -84], [180, -90], [-180, -90], [-180, -84]];
  assert.deepEqual(unwrapRing(antarctica, true), antarctica);
  assert.deepEqual(unwrapRing([[179, -16], [-179, -17]], false), [[179, -16], [181, -17]]);
  assert.deepEqual(unwrapRing([[10, 1], [20, 2]], false), [[10, 1], [20, 2]]);
});

test('the map\'s words: markers named by the full username, clusters by how many people', () => {
  assert.equal(markerLabel({ username: 'alice', statusText: 'in a meeting' }), 'alice (Available): in a meeting');
  assert.equal(markerLabel({ username: 'bob', statusText: 'Lunch', emoji: '🍜', availability: 'away' }),
    'bob (Away): 🍜 Lunch');
  assert.deepEqual(clusterWords(['zoe', 'al', 'bo']), { label: '3 people', title: '3 people: al, bo, zoe' });
  assert.deepEqual(clusterWords(['a', 'b', 'c', 'd', 'e', 'f', 'g']),
    { label: '7 people', title: '7 people: a, b, c, d, e and 2 more' });
});

test('online tiles only from the page\'s meta tags (filled by the gateway); empty: none', () => {
  const doc = (tags) => ({ querySelector: (sel) => {
    const name = /name="([^"]+)"/.exec(sel)[1];
    return name in tags ? { getAttribute: () => tags[name] } : null;
  } });
  assert.deepEqual(tileConfig(doc({})), { url: '', attribution: '' });
  assert.deepEqual(tileConfig(doc({ 'tile-url': '', 'tile-attribution': '' })), { url: '', attribution: '' });
  assert.deepEqual(tileConfig(doc({ 'tile-url': ' https://t.example/{z}/{x}/{y}.png ', 'tile-attribution': '© OSM' })),
    { url: 'https://t.example/{z}/{x}/{y}.png', attribution: '© OSM' });
});

// ------------------------------------------------------------------ the live feed's silence watch

test('the live feed asks for heartbeats and takes 2.5 s of silence for a failed stream', async (t) => {
  const { connectEvents, eventsPath, SILENT_MS, HEARTBEAT_S } = await import('../../web/js/live.js');
  assert.equal(HEARTBEAT_S, 1);
  assert.equal(SILENT_MS, 2500);
  assert.equal(eventsPath(''), '/api/events?heartbeat=1');
  assert.equal(eventsPath('1a.2.b c'), '/api/events?heartbeat=1&lastEventId=1a.2.b%20c');
  const opened = [];
  class FakeEventSource {
    constructor(url) { this.url = url; this.listeners = {}; this.closed = false; opened.push(this); }
    addEventListener(type, fn) { (this.listeners[type] ??= []).push(fn); }
    emit(type, data, lastEventId = '') {
      for (const fn of this.listeners[type] ?? []) fn({ data: JSON.stringify(data), lastEventId });
    }
    close() { this.closed = true; }
  }
  const saved = globalThis.EventSource;
  globalThis.EventSource = FakeEventSource;
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'] });
  // Time goes on in steps of 10 ms, as it would for the page (a timer runs about when due).
  const advance = (ms) => { for (let left = ms; left > 0; left -= 10) t.mock.timers.tick(Math.min(10, left)); };
  const states = [];
  const upserts = [];
  const live = connectEvents({ onUpsert: (s) => upserts.push(s.username), onDelete() {}, onExpire() {}, onReset() {},
    onState: (s) => states.push(s), onOpen() {} });
  try {
    // One gateway (no list loaded): a silent stream is reconnected through the same one.
    assert.equal(opened.length, 1);
    assert.equal(opened[0].url, '/api/events?heartbeat=1');
    opened[0].onopen();
    opened[0].emit('upsert', { username: 'ann' }, 'id-1');
    // Heartbeats every second keep it: 20 s, still the one stream.
    for (let i = 0; i < 20; i++) {
      advance(1000);
      opened[0].emit('heartbeat', {});
    }
    assert.equal(opened.length, 1);
    assert.equal(opened[0].closed, false);
    assert.deepEqual(states, ['connecting', 'live']);
    // An event keeps it too; a heartbeat carries no id, so the last id stays the event's.
    advance(2000);
    opened[0].emit('upsert', { username: 'ben' }, 'id-2');
    advance(2000);
    opened[0].emit('heartbeat', {});
    assert.equal(opened[0].closed, false);
    assert.equal(live.lastEventId, 'id-2');
    // Then nothing for 2.5 s: closed, and after 0.5 s a new stream resumes from the last id.
    advance(SILENT_MS - 1);
    assert.equal(opened[0].closed, false);
    advance(1);
    assert.equal(opened[0].closed, true);
    assert.equal(states.at(-1), 'reconnecting');
    advance(500);
    assert.equal(opened.length, 2);
    assert.equal(opened[1].url, '/api/events?heartbeat=1&lastEventId=id-2');
    // A stream that does not even open within 2.5 s has failed as well (the next wait: 1 s).
    advance(SILENT_MS);
    assert.equal(opened[1].closed, true);
    advance(999);
    assert.equal(opened.length, 2);
    advance(1);
    assert.equal(opened.length, 3);
    opened[2].onopen();
    opened[2].emit('upsert', { username: 'cat' }, 'id-3');
    assert.deepEqual(upserts, ['ann', 'ben', 'cat']);
    // A page that stood still (its timer runs 4 s late, the stream's events may wait behind it)
    // does not give up at once: it waits SILENT_MS more for what the stream brings.
    t.mock.timers.tick(4000);
    assert.equal(opened[2].closed, false);
    advance(SILENT_MS - 10);
    assert.equal(opened[2].closed, false);
    advance(10);
    assert.equal(opened[2].closed, true);
    advance(500);
    assert.equal(opened.length, 4);
    assert.equal(opened[3].url, '/api/events?heartbeat=1&lastEventId=id-3');
    // Late events of a stream given up on change nothing.
    opened[0].emit('heartbeat', {});
    opened[1].onerror?.();
    assert.equal(opened.length, 4);
  } finally {
    live.close();
    t.mock.timers.reset();
    globalThis.EventSource = saved;
  }
  assert.equal(opened[3].closed, true);
});
