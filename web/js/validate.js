// Client-side checks of the obvious rules of CONTRACT §2, so that a typo is caught before a
// round trip. The server stays the authority: its `detail` is shown whenever it disagrees.
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
  if (!username) errors.username = 'Enter a username.';
  else if (!USERNAME_RE.test(username))
    errors.username = 'A username is 1–64 characters: letters, digits, ".", "_" or "-".';
  if (!statusText || statusText.length === 0) errors.statusText = 'The status text must not be empty.';
  else if (textLength(statusText) > MAX_TEXT)
    errors.statusText = `The status text is ${textLength(statusText)} characters long; at most ${MAX_TEXT} are allowed.`;
  const lat = parseCoord(latitude);
  const lon = parseCoord(longitude);
  if (Number.isNaN(lat)) errors.latitude = 'Latitude must be a number, e.g. 48.2082.';
  else if (lat !== null && (lat < -90 || lat > 90)) errors.latitude = 'Latitude must be between −90 and 90.';
  if (Number.isNaN(lon)) errors.longitude = 'Longitude must be a number, e.g. 16.3738.';
  else if (lon !== null && (lon < -180 || lon > 180)) errors.longitude = 'Longitude must be between −180 and 180.';
  if (!errors.latitude && !errors.longitude && (lat === null) !== (lon === null)) {
    if (lat === null) errors.latitude = 'Give both latitude and longitude, or neither.';
    else errors.longitude = 'Give both latitude and longitude, or neither.';
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
    else errors.availability = 'Choose an availability from the list.';
  }
  const ex = expiryFields(expiry, expiresAt, now);
  if (ex.error) errors[expiry === 'custom' ? 'expiresAt' : 'expiry'] = ex.error;
  else Object.assign(status, ex);
  return { errors, status };
}
