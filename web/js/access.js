// Who may change what, and the words for it (CONTRACT §6). Pure functions, no DOM: the page and
// tests/browser/unit.test.mjs both use them.
import { t } from './i18n.js';
import { textLength, USERNAME_RE } from './validate.js';

export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 256;

/**
 * The page's view of access. `mode`: 'required' (accounts; the node answered /api/me),
 * 'off' (the nodes run with --auth off: anyone may write anything, no accounts), or 'unknown'
 * (no answer yet). `me`: {username, roles} while signed in, else null.
 */
export function isAdmin(me) {
  return !!me && Array.isArray(me.roles) && me.roles.includes('admin');
}

/** Whether the page should offer to change `target`'s status. */
export function canChange({ mode, me }, target) {
  if (mode === 'off') return true;
  if (!me) return false;
  return me.username === target || isAdmin(me);
}

/** Why the page does not offer to change `target`'s status, in words; null when it does. */
export function changeNote(access, target) {
  if (canChange(access, target)) return null;
  if (!access.me) return t('access.signInAs', { name: target });
  return forbiddenMessage(target);
}

/** The words when a change needs a signed-in user. */
export const signInMessage = () => t('access.signIn');

export function forbiddenMessage(target) {
  return t('access.forbidden', { name: target });
}

/**
 * Seconds to wait from a Retry-After header: a number of seconds or an HTTP date. null when it
 * is missing or unreadable.
 */
export function retryAfterSeconds(value, now = Date.now()) {
  if (value === null || value === undefined) return null;
  const v = String(value).trim();
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  if (Number.isNaN(t)) return null;
  return Math.max(0, Math.ceil((t - now) / 1000));
}

/** "Too many attempts — wait 42 seconds." */
export function tooManyMessage(seconds) {
  if (seconds === null || seconds === undefined) return t('access.tooManyMinute');
  if (seconds <= 0) return t('access.tryAgain');
  return t('access.tooMany', { count: seconds });
}

/**
 * Checks a sign-in or sign-up form before sending. Returns {field: message}. Sign-in checks only
 * that something was typed (any other mistake is "wrong username or password" anyway).
 */
export function validateCredentials({ username, password }, { signUp = false } = {}) {
  const errors = {};
  if (!username) errors.username = t('err.usernameMissing');
  else if (signUp && !USERNAME_RE.test(username)) errors.username = t('err.usernameRule');
  if (!password) errors.password = t('err.passwordMissing');
  else if (signUp && (textLength(password) < PASSWORD_MIN || textLength(password) > PASSWORD_MAX))
    errors.password = t('err.passwordLength', { min: PASSWORD_MIN, max: PASSWORD_MAX, count: textLength(password) });
  return errors;
}

/** The form field a server's 400 detail is about ("password must be 8-256 characters"). */
export function credentialFieldOf(detail) {
  const d = String(detail || '').toLowerCase();
  if (d.includes('password')) return 'password';
  if (d.includes('username')) return 'username';
  return null;
}
