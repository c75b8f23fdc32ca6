// Plain Node tests of the page's pure helpers (no browser): the client-side validation and
// small formatting functions, so that their rules are pinned down next to the contract's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCoord, textLength, validateStatus } from '../../web/js/validate.js';
import { formatPos, relativeTime } from '../../web/js/util.js';

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
  assert.match(validateStatus({ ...ok, statusText: 'x'.repeat(1001) }).errors.statusText, /1001 characters/);
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
  assert.equal(relativeTime('2026-11-25T11:59:58Z', now), 'just now');
  assert.equal(relativeTime('2026-11-25T11:55:00Z', now), '5 min ago');
  assert.equal(relativeTime('2026-11-25T09:00:00Z', now), '3 h ago');
});
