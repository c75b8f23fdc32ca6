// The page's words: one message catalogue per language (web/i18n/<code>.json, flat
// "section.key": "text with {params}"), the language in force, and Intl for plurals, numbers,
// dates and relative times in that language.
//
// English, the fallback of every other language, is a JSON module imported with the page's code
// (bundled into dist/app.js); another language's catalogue is loaded when it is chosen (its own
// small file beside the bundle), before the page first shows, so the first render is already in
// the chosen language. A language is a catalogue file and one entry in LANGUAGES below.
//
// The language: the one chosen with the switch (localStorage), else the first of the browser's
// languages (navigator.languages) that has a catalogue, else English. <html lang> follows it.
import en from '../i18n/en.json' with { type: 'json' };

/** Every language of the page: its name in itself (its catalogue's "lang.name") and its catalogue. */
export const LANGUAGES = {
  de: { name: 'Deutsch', load: () => import('../i18n/de.json', { with: { type: 'json' } }) },
  en: { name: 'English', load: async () => ({ default: en }) },
};
export const FALLBACK = 'en';
/** The catalogues loaded so far. */
export const CATALOGUES = { en };
const KEY = 'statusServer.lang';

const listeners = new Set();
let current = initialLang();
if (current !== FALLBACK) {
  try {
    await loadLang(current);
  } catch (e) {
    console.warn(`The ${current} texts could not be loaded: ${e.message}`);
    current = FALLBACK;
  }
}

/** Loads the catalogue of `l` (once). */
export async function loadLang(l) {
  CATALOGUES[l] ||= (await LANGUAGES[l].load()).default;
  return CATALOGUES[l];
}

function stored() {
  try { return globalThis.localStorage?.getItem(KEY) || null; } catch { return null; }
}

/** The language for `preferred` (navigator.languages order): the first with a catalogue. */
export function pickLang(preferred = [], saved = null) {
  if (saved && LANGUAGES[saved]) return saved;
  for (const l of preferred || []) {
    const base = String(l).toLowerCase().split('-')[0];
    if (LANGUAGES[base]) return base;
  }
  return FALLBACK;
}

function initialLang() {
  const nav = globalThis.navigator;
  return pickLang(nav?.languages?.length ? nav.languages : [nav?.language].filter(Boolean), stored());
}

/** The language in force ("de", "en"). */
export const lang = () => current;

/**
 * The locale for dates and numbers: the browser's own one when it speaks the page's language
 * (en-GB writes 15:00, en-US 3:00 PM), else the page's language.
 */
export function locale() {
  const nav = globalThis.navigator;
  const langs = nav?.languages?.length ? nav.languages : [nav?.language].filter(Boolean);
  const key = `${current}|${langs.join(',')}`;
  if (localeKey !== key) {
    localeKey = key;
    localeNow = current;
    for (const l of langs) {
      if (String(l).toLowerCase().split('-')[0] === current) {
        try {
          localeNow = Intl.getCanonicalLocales(l)[0];
          break;
        } catch { /* not a locale */ }
      }
    }
  }
  return localeNow;
}
let localeKey = '';
let localeNow = '';

// An Intl formatter costs a good fraction of a millisecond to make, and the page formats
// hundreds of numbers and times at its start: each kind is made once per locale and options.
const formatters = new Map();
function formatter(Kind, options) {
  const key = `${Kind.name}|${locale()}|${JSON.stringify(options ?? {})}`;
  let f = formatters.get(key);
  if (!f) formatters.set(key, (f = new Kind(locale(), options)));
  return f;
}

/**
 * Switches the page to `l` (remembered in this browser) once its catalogue is loaded, re-labels
 * it and tells the listeners.
 */
export async function setLang(l) {
  if (!LANGUAGES[l]) return;
  try { globalThis.localStorage?.setItem(KEY, l); } catch { /* private mode: for this page only */ }
  await loadLang(l);
  if (l === current) return;
  current = l;
  if (globalThis.document) applyI18n(document);
  for (const fn of listeners) fn(l);
}

/** fn(lang) after every change of language (texts built by scripts are rebuilt there). */
export function onLangChange(fn) { listeners.add(fn); }

const plurals = new Map();
function pluralOf(l, n) {
  if (!plurals.has(l)) plurals.set(l, new Intl.PluralRules(l));
  return plurals.get(l).select(n);
}

/** Whether the catalogue of `l` has `key` (or its plural forms `key.one`, `key.other`, …). */
export function hasKey(key, l = current) {
  const c = CATALOGUES[l] || {};
  return key in c || `${key}.other` in c;
}

/**
 * The text of `key` in the page's language, its `{param}`s filled in (numbers formatted for the
 * language). A key with plural forms (`key.one`, `key.other`, … as Intl.PluralRules names them)
 * picks one by `params.count`. A missing text falls back to English, then to the key itself.
 */
export function t(key, params = {}) {
  let text;
  for (const l of [current, FALLBACK]) {
    const c = CATALOGUES[l];
    if (typeof params.count === 'number' && `${key}.other` in c) {
      text = c[`${key}.${pluralOf(l, params.count)}`] ?? c[`${key}.other`];
    } else {
      text = c[key];
    }
    if (text !== undefined) break;
  }
  if (text === undefined) return key;
  return text.replace(/\{(\w+)\}/g, (m, name) => {
    const v = params[name];
    if (v === undefined || v === null) return m;
    return typeof v === 'number' ? fmtNumber(v) : String(v);
  });
}

export const fmtNumber = (n, options) => formatter(Intl.NumberFormat, options).format(n);

/** A date and/or time in the page's language (Intl.DateTimeFormat `options`). */
export function fmtDate(d, options = { dateStyle: 'medium', timeStyle: 'short' }) {
  const date = d instanceof Date ? d : new Date(d);
  return Number.isNaN(date.getTime()) ? '' : formatter(Intl.DateTimeFormat, options).format(date);
}

const UNITS = [
  ['year', 365 * 86400], ['month', 30 * 86400], ['week', 7 * 86400], ['day', 86400], ['hour', 3600],
  ['minute', 60], ['second', 1],
];

/**
 * How long ago (or how far ahead) the instant `ms` (epoch milliseconds) is, in words of the page's
 * language: "vor 5 Minuten", "in 2 hours", "now" (Intl.RelativeTimeFormat).
 */
export function relTime(ms, now = Date.now()) {
  const s = Math.round((ms - now) / 1000);
  const rtf = formatter(Intl.RelativeTimeFormat, { numeric: 'auto' });
  if (Math.abs(s) < 10) return rtf.format(0, 'second');
  for (const [unit, size] of UNITS) {
    if (Math.abs(s) >= size || unit === 'second') return rtf.format(Math.trunc(s / size), unit);
  }
  return '';
}

/**
 * Fills the texts of `root`'s elements: `data-i18n="key"` sets the text, `data-i18n-attr=
 * "attr:key;attr2:key2"` attributes. <html lang> follows the language.
 */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((x) => x.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
  if (root === document || root === document.documentElement) {
    document.documentElement.lang = current;
    delete document.documentElement.dataset.i18nWait;
  }
}

/**
 * The language switch into `el`: one button per language, each named in its own language and
 * pressed for the one in force.
 */
export function languageSwitch(el) {
  const render = () => el.replaceChildren(...Object.keys(LANGUAGES).sort().map((l) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'small lang-choice';
    b.lang = l;
    b.dataset.lang = l;
    b.textContent = LANGUAGES[l].name;
    b.setAttribute('aria-pressed', String(l === current));
    b.addEventListener('click', () => setLang(l));
    return b;
  }));
  el.setAttribute('role', 'group');
  el.setAttribute('data-i18n-attr', 'aria-label:lang.switch');
  el.setAttribute('aria-label', t('lang.switch'));
  render();
  onLangChange(() => {
    const had = el.contains(document.activeElement) ? document.activeElement.dataset.lang : null;
    render();
    if (had) el.querySelector(`[data-lang="${had}"]`)?.focus();
  });
}

if (globalThis.document) applyI18n(document);
