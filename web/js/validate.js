// Client-side checks of the obvious rules of CONTRACT §2, so that a typo is caught before a
// round trip. The server stays the authority: its `detail` is shown whenever it disagrees.
import { t } from './i18n.js';
import { AVAILABILITY, emojiError, expiryFields } from './status.js';

export const USERNAME_RE = /^[A-Za-z0-9._-]{1,64}$/;
export const MAX_TEXT = 1000;

/** Length in characters (code points), as the server counts them. */
export const textLength = (s) => [...s].length;

/** Parses a coordinate field: null when empty, NaN when not a number. */
export function parseCoord(s) {
  const t = String(s ?? '').trim().replace(',', '.');
  if (t === '') return null;
  return /^[+-]?(\d+\.?\d*|\.\d+)$/.test(t) ? Number(t) : NaN;
}

/**
 * Checks a form's values. Returns {errors: {field: message}, status} where status is the JSON
 * body to send (without the username, which goes in the path). `expiry` is a "Clear after"
 * choice (status.js EXPIRY), `expiresAt` the datetime-local value for a chosen date.
 */
export function validateStatus({ username, statusText, latitude, longitude, emoji = '', availability = '',
  expiry = '', expiresAt = '' }, now = new Date()) {
  const errors = {};
  if (!username) errors.username = t('err.usernameMissing');
  else if (!USERNAME_RE.test(username)) errors.username = t('err.usernameRule');
  if (!statusText || statusText.length === 0) errors.statusText = t('err.textEmpty');
  else if (textLength(statusText) > MAX_TEXT)
    errors.statusText = t('err.textLong', { count: textLength(statusText), max: MAX_TEXT });
  const lat = parseCoord(latitude);
  const lon = parseCoord(longitude);
  if (Number.isNaN(lat)) errors.latitude = t('err.latNumber');
  else if (lat !== null && (lat < -90 || lat > 90)) errors.latitude = t('err.latRange');
  if (Number.isNaN(lon)) errors.longitude = t('err.lonNumber');
  else if (lon !== null && (lon < -180 || lon > 180)) errors.longitude = t('err.lonRange');
  if (!errors.latitude && !errors.longitude && (lat === null) !== (lon === null)) {
    if (lat === null) errors.latitude = t('err.bothCoords');
    else errors.longitude = t('err.bothCoords');
  }
  const status = { statusText };
  if (lat !== null && lon !== null && !Number.isNaN(lat) && !Number.isNaN(lon)) {
    status.latitude = lat;
    status.longitude = lon;
  }
  const e = String(emoji).trim();
  if (e) {
    const why = emojiError(e);
    if (why) errors.emoji = why;
    else status.emoji = e;
  }
  // `available` is the default: a PUT replaces the whole status, so leaving it out is the same.
  if (availability && availability !== 'available') {
    if (AVAILABILITY.some((a) => a.value === availability)) status.availability = availability;
    else errors.availability = t('err.availability');
  }
  const ex = expiryFields(expiry, expiresAt, now);
  if (ex.error) errors[expiry === 'custom' ? 'expiresAt' : 'expiry'] = ex.error;
  else Object.assign(status, ex);
  return { errors, status };
}
