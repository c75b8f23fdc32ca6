// What a status says besides its text (CONTRACT §2, §8): availability, emoji, expiry, how a
// past status ended, and the feed's filters. Constants and pure functions (no DOM, no network),
// shared by the form, the feed, the map and the look-up card, and tested in unit.test.mjs.
// Labels are catalogue keys (i18n.js); the `label` getters give the words in the page's language.
import { locale as pageLocale, t } from './i18n.js';

const labelled = (list) => list.map((x) => ({ ...x, get label() { return t(x.key); } }));

export const AVAILABILITY = labelled([
  { value: 'available', key: 'avail.available' },
  { value: 'busy', key: 'avail.busy' },
  { value: 'away', key: 'avail.away' },
  { value: 'dnd', key: 'avail.dnd' },
]);

/** The words for an availability; a missing one is `available` (the server's default). */
export function availabilityLabel(value) {
  return (AVAILABILITY.find((a) => a.value === (value || 'available')) || { label: String(value) }).label;
}

/** Common status emoji, shipped with the page (nothing is fetched). */
export const EMOJI = labelled([
  { emoji: '📅', key: 'emoji.meeting' },
  { emoji: '📞', key: 'emoji.call' },
  { emoji: '🎯', key: 'emoji.focus' },
  { emoji: '💻', key: 'emoji.working' },
  { emoji: '🏠', key: 'emoji.home' },
  { emoji: '🚌', key: 'emoji.commuting' },
  { emoji: '🍽️', key: 'emoji.lunch' },
  { emoji: '☕', key: 'emoji.break' },
  { emoji: '🤒', key: 'emoji.sick' },
  { emoji: '🌴', key: 'emoji.holiday' },
  { emoji: '✈️', key: 'emoji.travelling' },
  { emoji: '🎉', key: 'emoji.celebrating' },
]);

export const MAX_EMOJI = 32;

/** The server's rule for `emoji` (1–32 code points, no control characters): a message or null. */
export function emojiError(emoji) {
  const n = [...emoji].length;
  if (n > MAX_EMOJI) return t('err.emojiLong', { max: MAX_EMOJI, count: n });
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(emoji)) return t('err.emojiControl');
  return null;
}

/** A `:shortcode:` rather than an emoji: shown as text, not on a map pin. */
export const isShortcode = (emoji) => /^:.*:$/.test(emoji || '');

// ---------------------------------------------------------------- expiry
/** "Clear after" choices, as Mattermost offers them. Numbers are seconds (sent as `clearAfter`). */
export const EXPIRY = labelled([
  { value: '', key: 'expiry.never' },
  { value: '1800', key: 'expiry.30min' },
  { value: '3600', key: 'expiry.1h' },
  { value: '14400', key: 'expiry.4h' },
  { value: 'today', key: 'expiry.today' },
  { value: 'week', key: 'expiry.week' },
  { value: 'custom', key: 'expiry.custom' },
]);

export const MAX_AHEAD_DAYS = 366;
const DAY_MS = 86400 * 1000;

/** RFC 3339 UTC without fractions: 2026-12-03T15:00:00Z. */
export const rfc3339 = (d) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The last second of `now`'s local day. */
export function endOfDay(now = new Date()) {
  const d = new Date(now);
  d.setHours(23, 59, 59, 0);
  return d;
}

/** The first day of the week where the page is used: 1 = Monday … 7 = Sunday (Intl's numbering). */
export function weekStart(locale = globalThis.navigator?.language) { // the region's, not the page language's
  const key = locale || 'en';
  if (!weekStarts.has(key)) { // Intl.Locale's week info is slow to make: once per locale
    let first = 1; // an odd locale: ISO weeks
    try {
      const loc = new Intl.Locale(key);
      const info = typeof loc.getWeekInfo === 'function' ? loc.getWeekInfo() : loc.weekInfo;
      if (info && info.firstDay >= 1 && info.firstDay <= 7) first = info.firstDay;
    } catch { /* an odd locale */ }
    weekStarts.set(key, first);
  }
  return weekStarts.get(key);
}
const weekStarts = new Map();

/** The last second of the local week that contains `now`, weeks starting on `firstDay` (1–7). */
export function endOfWeek(now = new Date(), firstDay = weekStart()) {
  const last = (firstDay + 6) % 7; // the week's last day as Date#getDay numbers it (0 = Sunday)
  const d = new Date(now);
  d.setDate(d.getDate() + ((last - d.getDay() + 7) % 7));
  return endOfDay(d);
}

/**
 * The expiry fields of a status to send for a "Clear after" choice: {} (none), {clearAfter}
 * or {expiresAt}; {error} when a chosen date cannot be used. `custom` is the value of a
 * datetime-local input (local time).
 */
export function expiryFields(choice, custom = '', now = new Date(), firstDay = weekStart()) {
  if (!choice) return {};
  if (/^\d+$/.test(choice)) return { clearAfter: Number(choice) };
  let at;
  if (choice === 'today') at = endOfDay(now);
  else if (choice === 'week') at = endOfWeek(now, firstDay);
  else if (choice === 'custom') {
    if (!custom) return { error: t('err.expiryMissing') };
    at = new Date(custom); // "YYYY-MM-DDTHH:MM" without an offset: local time
    if (Number.isNaN(at.getTime())) return { error: t('err.expiryInvalid') };
    if (at <= now) return { error: t('err.expiryPast') };
    if (at - now > MAX_AHEAD_DAYS * DAY_MS) return { error: t('err.expiryFar', { count: MAX_AHEAD_DAYS }) };
  } else return { error: t('err.expiryChoice', { choice }) };
  return { expiresAt: rfc3339(at) };
}

/** The local time of an RFC 3339 instant as a datetime-local input wants it: 2026-12-03T16:00. */
export function toLocalInput(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/**
 * "until 15:00" today, "until Fri 15:00" within the week ahead, else "until 3 Dec 15:00" (in the
 * page's language, or `locale`'s).
 */
export function untilText(iso, now = new Date(), locale = pageLocale()) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const n = new Date(now);
  const time = d.toLocaleTimeString(locale, { hour: '2-digit', minute: '2-digit' });
  const dayOf = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((dayOf(d) - dayOf(n)) / DAY_MS);
  if (days === 0) return t('status.until', { when: time });
  if (days > 0 && days < 7) return t('status.until', { when: `${d.toLocaleDateString(locale, { weekday: 'short' })} ${time}` });
  const date = d.toLocaleDateString(locale, {
    day: 'numeric', month: 'short', ...(d.getFullYear() !== n.getFullYear() ? { year: 'numeric' } : {}),
  });
  return t('status.until', { when: `${date} ${time}` });
}

/** What the "Clear after" choice will do, in words, for the hint under it. */
export function expiryHint(choice, custom, now = new Date(), locale = pageLocale(), firstDay = weekStart()) {
  const f = expiryFields(choice, custom, now, firstDay);
  if (f.error) return choice === 'custom' && !custom ? t('expiry.pick') : f.error;
  if (f.clearAfter) return t('expiry.shown', { until: untilText(now.getTime() + f.clearAfter * 1000, now, locale) });
  if (f.expiresAt) return t('expiry.shown', { until: untilText(f.expiresAt, now, locale) });
  return t('expiry.stays');
}

// ---------------------------------------------------------------- history
const ENDED = { replaced: 'history.replaced', deleted: 'history.deleted', expired: 'history.expired' };

/** How a history entry ended, in a word ("Replaced", "Deleted", "Expired"). */
export const endedLabel = (endedBy) => (ENDED[endedBy] ? t(ENDED[endedBy]) : String(endedBy || t('history.ended')));

// ---------------------------------------------------------------- feed filters
/** Case folding as the server does it for `q`: ASCII letters only. */
const fold = (s) => String(s || '').replace(/[A-Z]/g, (c) => c.toLowerCase());

/** Whether a status passes the feed's filters `{q, availability}` (as GET /api/statuses would). */
export function matchesFilter(s, { q = '', availability = '' } = {}) {
  if (availability && (s.availability || 'available') !== availability) return false;
  if (!q) return true;
  const needle = fold(q);
  return fold(s.username).includes(needle) || fold(s.statusText).includes(needle);
}

/** The query parameters of the feed's filters (empty ones left out). */
export function filterParams({ q = '', availability = '' } = {}) {
  const p = new URLSearchParams();
  if (q) p.set('q', q);
  if (availability) p.set('availability', availability);
  return p;
}

// ---------------------------------------------------------------- expiry on an open page
/**
 * Calls `onExpire(username)` when a tracked status's `expiresAt` passes, so that it leaves the
 * page on time even before the server's `event: expire` arrives. One timer, for the earliest.
 */
export class ExpiryClock {
  constructor(onExpire, { now = () => Date.now(), maxDelayMs = 3600 * 1000 } = {}) {
    Object.assign(this, { onExpire, now, maxDelayMs });
    this.at = new Map(); // username -> expiresAt in ms
    this.timer = null;
  }

  /** Follows `s`: its expiry, or none (an update without `expiresAt` ends the old one). */
  track(s) {
    const t = s.expiresAt ? Date.parse(s.expiresAt) : NaN;
    if (Number.isNaN(t)) this.at.delete(s.username);
    else this.at.set(s.username, t);
    this.schedule();
  }

  forget(username) {
    if (this.at.delete(username)) this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = null;
    if (!this.at.size) return;
    const next = Math.min(...this.at.values());
    // Long waits in steps: setTimeout cannot wait a year, and a sleeping laptop's timers drift.
    const delay = Math.min(Math.max(0, next - this.now()), this.maxDelayMs);
    this.timer = setTimeout(() => this.fire(), delay);
  }

  fire() {
    const now = this.now();
    const due = [...this.at].filter(([, t]) => t <= now).map(([u]) => u);
    for (const u of due) this.at.delete(u);
    this.schedule();
    for (const u of due) this.onExpire(u);
  }
}
