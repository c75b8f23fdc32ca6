// Small helpers shared by the views.
import { fmtDate, fmtNumber, relTime, t } from './i18n.js';
import { availabilityLabel, untilText } from './status.js';

/** A stable, pleasant color per username. */
export function colorOf(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${h % 360} 62% 46%)`;
}

/** How long ago `iso` was, in the page's language ("vor 5 Minuten", "3 hours ago", "now"). */
export function relativeTime(iso, now = Date.now()) {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso || '';
  return relTime(t, now);
}

/** The exact date and time of `iso` in the page's language. */
export function fullTime(iso) {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? String(iso || '') : fmtDate(t, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function formatPos(s) {
  if (typeof s.latitude !== 'number' || typeof s.longitude !== 'number') return '';
  const deg = (v) => fmtNumber(Math.abs(v), { minimumFractionDigits: 4, maximumFractionDigits: 4 });
  const lat = t(s.latitude >= 0 ? 'pos.north' : 'pos.south', { deg: deg(s.latitude) });
  const lon = t(s.longitude >= 0 ? 'pos.east' : 'pos.west', { deg: deg(s.longitude) });
  return t('pos.both', { lat, lon });
}

/** document.createElement with properties and children. */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role' || k === 'datetime' || k === 'title')
      el.setAttribute(k, v);
    else el[k] = v;
  }
  el.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

const PIN_SVG = '<svg viewBox="0 0 24 24" width="1em" height="1em" aria-hidden="true" class="icon">'
  + '<path fill="currentColor" d="M12 2a7 7 0 0 0-7 7c0 5.2 7 13 7 13s7-7.8 7-13a7 7 0 0 0-7-7Zm0 9.5A2.5 2.5 0 1 1 12 6a2.5 2.5 0 0 1 0 5.5Z"/></svg>';

/** A small map-pin icon (decorative). */
export function pinIcon() {
  const span = document.createElement('span');
  span.innerHTML = PIN_SVG; // a constant, no user data
  return span.firstChild;
}

/** fn, called `ms` after the last of a burst of calls (with that call's arguments). */
export function debounce(fn, ms) {
  let timer = null;
  const d = (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
  d.cancel = () => clearTimeout(timer);
  return d;
}

/**
 * A presence dot: the availability as a colour and a shape (away hollow, do not disturb
 * barred), with its name as the tooltip and as text for screen readers.
 */
export function availabilityDot(value, { labelled = false } = {}) {
  const v = value || 'available';
  const label = availabilityLabel(v);
  // `labelled`: the words stand next to it already, so screen readers skip the dot.
  return h('span', { class: `avail avail-${v}`, title: label, 'data-availability': v, 'aria-hidden': labelled ? 'true' : null },
    labelled ? null : h('span', { class: 'visually-hidden', text: t('avail.inParens', { label }) }));
}

/** A status's text with its emoji (if any) in front, both as text (in an element with dir="auto"). */
export function textWithEmoji(s) {
  // No `dir` here: the element that holds the text carries dir="auto" and takes its direction
  // (and so its alignment) from the text; a `dir` on a child would hide the text from it.
  return s.emoji ? [h('span', { class: 'emoji', text: s.emoji }), ' ', h('span', { class: 'status-text', text: s.statusText })]
    : [s.statusText];
}

/**
 * A time as a button: it shows how long ago `iso` was and, on a click or tap (not only on hover),
 * the exact date and time instead; again, and it is relative again. refreshTimes keeps it current.
 */
export function timeButton(iso, { cls = 'ago' } = {}) {
  const time = h('time', { class: cls, datetime: iso, text: relativeTime(iso) });
  const b = h('button', { type: 'button', class: 'time-toggle', title: fullTime(iso), 'aria-pressed': 'false',
    onclick: () => {
      const exact = b.getAttribute('aria-pressed') !== 'true';
      b.setAttribute('aria-pressed', String(exact));
      time.dataset.exact = String(exact);
      time.textContent = exact ? fullTime(iso) : relativeTime(iso);
    } }, time);
  return b;
}

/** "until 15:00" for a status that expires, or null. Feed.refreshTimes keeps it current. */
export function untilOf(s) {
  if (!s.expiresAt) return null;
  return h('time', { class: 'until', datetime: s.expiresAt, title: t('status.clearsAt', { time: fullTime(s.expiresAt) }),
    text: untilText(s.expiresAt) });
}

/** Brings every "… ago" and "until …" below `root` up to date (and into the page's language). */
export function refreshTimes(root) {
  for (const el of root.querySelectorAll('time.ago')) {
    const iso = el.getAttribute('datetime');
    el.textContent = el.dataset.exact === 'true' ? fullTime(iso) : relativeTime(iso);
    el.closest('.time-toggle')?.setAttribute('title', fullTime(iso));
  }
  for (const el of root.querySelectorAll('time.until')) {
    el.textContent = untilText(el.getAttribute('datetime'));
    el.title = t('status.clearsAt', { time: fullTime(el.getAttribute('datetime')) });
  }
}

/** 'smooth' scrolling, unless the user asked for less motion (prefers-reduced-motion). */
export function scrollBehavior() {
  return globalThis.matchMedia?.('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth';
}

/**
 * Runs `change` (which adds or removes content above `el`, such as error messages) and scrolls
 * the page by as much as `el` moved, so that it stays where it was on the screen: a button just
 * clicked does not slide away from under the pointer.
 */
export function keepInPlace(el, change) {
  const before = el.getBoundingClientRect().top;
  const result = change();
  const moved = el.getBoundingClientRect().top - before;
  if (moved) window.scrollBy({ top: moved, behavior: 'instant' });
  return result;
}

/**
 * Keeps --header-h on <html> at the sticky top bar's height (it wraps on narrow screens), so that
 * scroll-padding-top keeps focused and scrolled-to elements below it. Returns the bar.
 */
export function followTopbarHeight() {
  const bar = document.querySelector('.topbar');
  if (bar) {
    new ResizeObserver(() => document.documentElement.style.setProperty('--header-h', `${bar.offsetHeight}px`))
      .observe(bar);
  }
  return bar;
}
