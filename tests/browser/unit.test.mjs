// Plain Node tests of the page's pure helpers (no browser): the client-side validation, the
// access rules and their messages, and small formatting functions, so that their rules are pinned down next to the contract's.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseCoord, textLength, validateStatus } from '../../web/js/validate.js';
import { formatPos, relativeTime } from '../../web/js/util.js';
import { canChange, changeNote, credentialFieldOf, forbiddenMessage, isAdmin, retryAfterSeconds,
  tooManyMessage, validateCredentials } from '../../web/js/access.js';

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
