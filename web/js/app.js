// Wires the user's page: the status form, the look-up card, the feed, the map and the live event
// stream, in the words of i18n.js (no node ids, versions or HTTP codes: the operators' view is
// cluster.html). Talks only to the gateway's /api (see docs/web.md).
import { canChange, changeNote, forbiddenMessage, isAdmin, signInMessage } from './access.js';
import { AccountView, rememberedUsername, rememberUsername } from './account.js';
import { allStatuses, ApiError, onRetry, statuses } from './api.js';
import { Feed } from './feed.js';
import { onGatewayChange, startGateways } from './gateways.js';
import { languageSwitch, onLangChange, t } from './i18n.js';
import { connectEvents } from './live.js';
import { StatusMap } from './map.js';
import { AVAILABILITY, availabilityLabel, EMOJI, endedLabel, EXPIRY, ExpiryClock, expiryHint, toLocalInput }
  from './status.js';
import { availabilityDot, colorOf, debounce, followTopbarHeight, formatPos, fullTime, h, keepInPlace, pinIcon,
  refreshTimes, scrollBehavior, textWithEmoji, timeButton, untilOf } from './util.js';
import { MAX_TEXT, parseCoord, textLength, validateStatus } from './validate.js';

const $ = (id) => document.getElementById(id);

// The sticky top bar's height as --header-h (scroll-padding-top, the sticky list).
const topbar = followTopbarHeight();

// ---------------------------------------------------------------- shared state
let editing = null;        // {username, version} while the form edits a looked-up status
let shown = null;          // the status in the look-up card
let lookedUp = null;       // the username whose history is shown
let saving = false;        // a save is under way: a second submit is ignored
let pickingFromForm = false; // "Pick on the map" was pressed: a pick returns to the form

// ---------------------------------------------------------------- banner: retries, surprises
const banner = $('banner');
function showBanner(text, kind = 'warn') {
  banner.textContent = text;
  banner.className = `banner ${kind === 'error' ? 'error' : ''}`;
  banner.hidden = false;
}
function hideBanner() { banner.hidden = true; banner.textContent = ''; }

onRetry((r) => {
  if (!r) return hideBanner();
  showBanner(t('banner.retry', { why: r.error, s: r.delayMs / 1000, attempt: r.attempt + 1, of: r.of + 1 }));
});
window.addEventListener('error', (e) => showBanner(t('banner.unexpected', { what: e.message }), 'error'));
window.addEventListener('unhandledrejection', (e) =>
  showBanner(t('banner.unexpected', { what: e.reason?.message || e.reason }), 'error'));

/** Words for an error: what we tried, and why in words (ApiError's message; never an HTTP code). */
function describe(err, what) {
  if (!(err instanceof ApiError)) return t('err.what', { what, why: err.message || err });
  if (err.status === 401) return t('err.signIn', { what });
  return t('err.what', { what, why: err.message });
}

// ---------------------------------------------------------------- who you are
const accountView = new AccountView({ describe });
let access = accountView.access;

/** A "Sign in" button for messages that ask for it. */
function signInButton() {
  return h('button', { type: 'button', class: 'primary', text: t('account.signIn'), onclick: () => accountView.focusSignIn() });
}

/**
 * 401 and 403 on a write to `target`'s status, in words (null for any other error). A 401 means
 * the page's session is gone; a 403 that the page's idea of who you are may be stale (a sign-in
 * in another tab replaces the cookie), so it asks again.
 */
function refusal(err, target) {
  if (!(err instanceof ApiError)) return null;
  if (err.status === 401) {
    accountView.signedOut();
    return signInMessage();
  }
  if (err.status === 403) {
    accountView.refresh();
    return forbiddenMessage(target);
  }
  return null;
}

// ---------------------------------------------------------------- map
const map = new StatusMap($('map'), {
  onPick: ({ lat, lon }) => {
    $('f-lat').value = String(lat);
    $('f-lon').value = String(lon);
    setFieldError('latitude', '');
    setFieldError('longitude', '');
    map.setPick({ lat, lon });
    $('form-ok').textContent = t('form.positionSet', { pos: formatPos({ latitude: lat, longitude: lon }) });
    if (pickingFromForm) {
      // Came from "Pick on the map" (a phone, the map far below): back to the form, to the message.
      pickingFromForm = false;
      document.querySelector('fieldset.position').scrollIntoView({ behavior: scrollBehavior(), block: 'center' });
      $('form-ok').focus({ preventScroll: true });
    }
  },
  onOpen: (username) => lookup(username, { focus: true }),
  // Only what is in view: one box, or two across the antimeridian.
  load: async (boxes) => {
    const parts = await Promise.all(boxes.map((b) => allStatuses({ params: new URLSearchParams({ bbox: b.join(',') }) })));
    return Object.assign(parts.flat(), { complete: parts.every((p) => p.complete) });
  },
  onLoad: (list) => {
    for (const s of list) clock.track(s);
    updateMapCount();
  },
  onError: (e) => { $('map-count').textContent = describe(e, t('map.loadFailed')); },
});
// A popup opening near the top of the map may lie under the sticky top bar (on a phone the map is
// scrolled to): once Leaflet has panned it into the map, the page scrolls until it is clear of the bar.
function clearOfTopbar(el) {
  const gap = el.getBoundingClientRect().top - topbar.getBoundingClientRect().bottom - 8;
  if (gap < 0) window.scrollBy({ top: gap, behavior: 'instant' });
}
new MutationObserver((changes) => {
  for (const c of changes) {
    for (const n of c.addedNodes) {
      if (n.classList?.contains('leaflet-popup')) setTimeout(() => n.isConnected && clearOfTopbar(n), 300);
    }
  }
}).observe($('map'), { childList: true, subtree: true });

function updateMapCount() {
  $('map-count').textContent = map.ok ? t('map.count', { count: map.count }) : '';
}

// ---------------------------------------------------------------- feed
const feed = new Feed({
  list: $('feed-list'), total: $('feed-total'), page: $('feed-page'), prev: $('feed-prev'),
  next: $('feed-next'), empty: $('feed-empty'), msg: $('feed-msg'),
  onOpen: (u) => lookup(u, { focus: true }),
  onShowOnMap: (s) => {
    $('map-section').scrollIntoView({ behavior: scrollBehavior(), block: 'center' });
    map.focus(s);
  },
  onLoad: (items) => { for (const s of items) clock.track(s); },
});

async function reloadAll() {
  await Promise.all([feed.load(), map.refresh()]);
}

/**
 * The page's start: the first list page (its request preloaded by the HTML), then the map's
 * statuses and the event stream, which starts after that list's X-Event-Id. The node replays
 * every change since that read, so the map's later read is covered too and nothing is loaded
 * twice. Without an id (the list failed) the stream's opening reloads both.
 */
async function start() {
  await feed.load();
  map.refresh();
  streamEvents(feed.eventId);
}

// The search and the availability filter of the feed, applied by the server.
const filterFeed = () => feed.setFilter({ q: $('feed-q').value.trim(), availability: $('feed-availability').value });
const filterSoon = debounce(filterFeed, 300);
function fillFeedAvailability() {
  const el = $('feed-availability');
  const v = el.value;
  el.replaceChildren(h('option', { value: '', text: t('feed.anyAvailability') }),
    ...AVAILABILITY.map((a) => h('option', { value: a.value, text: a.label })));
  el.value = v;
}
fillFeedAvailability();
$('feed-q').addEventListener('input', filterSoon);
$('feed-availability').addEventListener('change', () => { filterSoon.cancel(); filterFeed(); });
$('feed-filter').addEventListener('submit', (e) => { e.preventDefault(); filterSoon.cancel(); filterFeed(); });

// ---------------------------------------------------------------- a status leaves the page
/** Gone: deleted or expired (`how`), by an event, by this page, or by the page's own clock. */
function gone(username, how) {
  clock.forget(username);
  feed.applyDelete(username);
  map.remove(username);
  updateMapCount();
  if (shown?.username === username) {
    hideCard();
    const msg = $('lookup-msg');
    msg.className = 'msg ok';
    msg.textContent = t(how === 'expired' ? 'lookup.expired' : 'lookup.deletedElsewhere', { name: username });
  }
  if (lookedUp === username) historySoon();
}

/** A status created or changed: everywhere it is shown. */
function arrived(s, { fresh = true } = {}) {
  clock.track(s);
  feed.applyUpsert(s);
  map.upsert(s, { fresh });
  updateMapCount();
  if (shown?.username === s.username && shown.version !== s.version) renderCard(s, true);
  if (lookedUp === s.username) historySoon();
}

// An expiresAt that passes on an open page: the status goes on time, whether or not the
// server's `event: expire` has arrived yet (it follows within a second).
const clock = new ExpiryClock((u) => gone(u, 'expired'));

// ---------------------------------------------------------------- the status form
const form = $('status-form');
const fields = {
  username: $('f-username'), statusText: $('f-text'), latitude: $('f-lat'), longitude: $('f-lon'),
  emoji: $('f-emoji'), availability: $('f-availability'), expiry: $('f-expiry'), expiresAt: $('f-expires-at'),
};
const errEl = { username: 'f-username-err', statusText: 'f-text-err', latitude: 'f-lat-err', longitude: 'f-lon-err',
  emoji: 'f-emoji-err', availability: 'f-availability-err', expiry: 'f-expiry-err', expiresAt: 'f-expires-at-err' };

/** The form's choices in the page's language (again after a change of language). */
function fillChoices() {
  for (const [el, list] of [[fields.availability, AVAILABILITY], [fields.expiry, EXPIRY]]) {
    const v = el.value;
    el.replaceChildren(...list.map((a) => h('option', { value: a.value, text: a.label })));
    if (v || el === fields.expiry) el.value = v;
  }
  $('emoji-choices').replaceChildren(...EMOJI.map(({ emoji, label }) => h('button', {
    type: 'button', class: 'emoji-choice', text: emoji, title: label, 'aria-label': `${emoji} ${label}`,
    'aria-pressed': 'false', 'data-emoji': emoji,
    onclick: () => setEmoji(fields.emoji.value.trim() === emoji ? '' : emoji),
  })));
  markEmoji();
}

/** The emoji field and its buttons (pressed: the one in the field). */
function setEmoji(v) {
  fields.emoji.value = v;
  setFieldError('emoji', '');
  markEmoji();
}
function markEmoji() {
  const v = fields.emoji.value.trim();
  const buttons = [...$('emoji-choices').children];
  for (const b of buttons) b.setAttribute('aria-pressed', String(b.dataset.emoji === v));
  // One tab stop for the whole row (the pressed emoji, else the first); arrow keys move within it.
  const stop = buttons.find((b) => b.dataset.emoji === v) || buttons[0];
  for (const b of buttons) b.tabIndex = b === stop ? 0 : -1;
}
$('emoji-choices').addEventListener('keydown', (e) => {
  const buttons = [...$('emoji-choices').children];
  const i = buttons.indexOf(document.activeElement);
  if (i < 0) return;
  // Left and right swap in a right-to-left layout; up and down do not.
  const flip = getComputedStyle(e.currentTarget).direction === 'rtl' ? -1 : 1;
  const step = { ArrowRight: flip, ArrowLeft: -flip, ArrowDown: 1, ArrowUp: -1 }[e.key];
  let j = null;
  if (step) j = (i + step + buttons.length) % buttons.length;
  else if (e.key === 'Home') j = 0;
  else if (e.key === 'End') j = buttons.length - 1;
  if (j === null) return;
  e.preventDefault();
  for (const b of buttons) b.tabIndex = b === buttons[j] ? 0 : -1;
  buttons[j].focus();
});
fields.emoji.addEventListener('input', () => { setFieldError('emoji', ''); markEmoji(); });
fillChoices();

/** "Clear after": the date-time field for a chosen date, and what the choice means in words. */
function updateExpiry() {
  const custom = fields.expiry.value === 'custom';
  $('f-expires-at-field').hidden = !custom;
  $('f-expiry-hint').textContent = expiryHint(fields.expiry.value, fields.expiresAt.value, new Date());
}
fields.expiry.addEventListener('change', () => {
  setFieldError('expiry', '');
  setFieldError('expiresAt', '');
  if (fields.expiry.value === 'custom' && !fields.expiresAt.value) {
    fields.expiresAt.value = toLocalInput(new Date(Date.now() + 3600 * 1000).toISOString());
  }
  updateExpiry();
});
fields.expiresAt.addEventListener('input', () => { setFieldError('expiresAt', ''); updateExpiry(); });
// Local only: the hint's "Today", "1 hour" and the card's "5 minutes ago" move on.
setInterval(() => { updateExpiry(); refreshTimes(card); }, 30000);

/** Emoji, availability and "Clear after" as for a new status, or as `s` has them. */
function setExtras(s = null) {
  setEmoji(s?.emoji || '');
  fields.availability.value = s?.availability || 'available';
  fields.expiry.value = s?.expiresAt ? 'custom' : '';
  fields.expiresAt.value = s?.expiresAt ? toLocalInput(s.expiresAt) : '';
  updateExpiry();
}

function setFieldError(name, msg) {
  $(errEl[name]).textContent = msg;
  if (msg) fields[name].setAttribute('aria-invalid', 'true');
  else fields[name].removeAttribute('aria-invalid');
}

/** The server names the field in its detail ("statusText must not be empty"): point at it. */
function fieldOfDetail(detail) {
  const d = (detail || '').toLowerCase();
  if (d.includes('statustext')) return 'statusText';
  if (d.includes('username')) return 'username';
  if (d.includes('latitude')) return 'latitude';
  if (d.includes('longitude')) return 'longitude';
  if (d.includes('emoji')) return 'emoji';
  if (d.includes('availability')) return 'availability';
  if (d.includes('expiresat') || d.includes('clearafter')) return fields.expiry.value === 'custom' ? 'expiresAt' : 'expiry';
  return null;
}

function updateCount() {
  const n = textLength(fields.statusText.value);
  const el = $('f-text-count');
  el.textContent = `${n} / ${MAX_TEXT}`;
  el.classList.toggle('over', n > MAX_TEXT);
}
fields.statusText.addEventListener('input', () => { updateCount(); setFieldError('statusText', ''); });
fields.username.addEventListener('input', () => setFieldError('username', ''));
for (const name of ['latitude', 'longitude']) {
  fields[name].addEventListener('input', () => {
    setFieldError(name, '');
    const lat = parseCoord(fields.latitude.value);
    const lon = parseCoord(fields.longitude.value);
    const ok = lat !== null && lon !== null && Math.abs(lat) <= 90 && Math.abs(lon) <= 180;
    map.setPick(ok ? { lat, lon } : null);
  });
}

function clearMessages() {
  $('form-ok').textContent = '';
  $('form-error').replaceChildren();
}

function showFormError(text, ...actions) {
  $('form-error').replaceChildren(h('span', { text }), ...(actions.length ? [h('br')] : []), ...actions);
}

/**
 * The username field follows who you are: your own name, fixed, when signed in; any name for an
 * admin, and with --auth off; while signed out it stays editable (the node says 401 on saving).
 */
function applyAccessToForm() {
  const { mode, me } = access;
  const fixed = !!me && !isAdmin(me);
  const who = $('f-username-who');
  if (!editing) {
    fields.username.readOnly = fixed;
    if (fixed) fields.username.value = me.username;
    // Signed out: the name last used (yours, from signing in) stays offered; an admin starts empty.
    else if (fields.username.dataset.fixed === 'true' || !fields.username.value) {
      fields.username.value = me ? '' : rememberedUsername();
    }
  }
  if (!editing) fields.username.dataset.fixed = String(fixed);
  fields.username.placeholder = me && !fixed ? t('form.anyUsername') : '';
  $('f-username-hint').hidden = fixed;
  who.hidden = !me;
  who.textContent = !me ? '' : t(fixed ? 'form.signedInAs' : 'form.signedInAdmin', { name: me.username });
  const note = $('compose-note');
  note.hidden = !!me || mode === 'off' || mode === 'unknown';
  if (!note.hidden) {
    note.replaceChildren(`${t('form.notSignedIn')} `, h('button', { type: 'button', class: 'link', text: t('account.signIn'),
      onclick: () => accountView.focusSignIn() }), ` ${t('form.notSignedInRest')}`);
  }
}

function setComposeTitle() {
  $('compose-h').textContent = editing ? t('form.editTitle', { name: editing.username }) : t('form.title');
  $('save').textContent = t(editing ? 'form.update' : 'form.save');
}

function setEditing(s) {
  editing = s ? { username: s.username, version: s.version } : null;
  fields.username.readOnly = !!s;
  if (!s) applyAccessToForm();
  setComposeTitle();
  $('cancel-edit').hidden = !s;
  if (s) {
    fields.username.value = s.username;
    fields.statusText.value = s.statusText;
    fields.latitude.value = typeof s.latitude === 'number' ? String(s.latitude) : '';
    fields.longitude.value = typeof s.longitude === 'number' ? String(s.longitude) : '';
    map.setPick(typeof s.latitude === 'number' ? { lat: s.latitude, lon: s.longitude } : null);
    setExtras(s);
    updateCount();
  }
}

$('cancel-edit').addEventListener('click', () => {
  setEditing(null);
  clearMessages();
  fields.statusText.value = '';
  setExtras();
  updateCount();
  fields.username.focus();
});

form.addEventListener('submit', async (e) => {
  e.preventDefault();
  await save({ overwrite: false });
});

/**
 * Focuses `el` (a message under the Save button); when it is not quite in view, the page
 * scrolls by as little as shows it, so that the button moves as little as can be.
 */
function focusQuietly(el) {
  el.focus({ preventScroll: true });
  const r = el.getBoundingClientRect();
  if (r.top < topbar.getBoundingClientRect().bottom || r.bottom > window.innerHeight) {
    el.scrollIntoView({ block: 'nearest', behavior: 'instant' });
  }
}

/** The errors under the Save button, each a link-like button to its field (an error summary). */
function errorSummary(errors) {
  return h('ul', { class: 'fixes' }, ...Object.entries(errors).map(([n, text]) => h('li', {},
    h('button', { type: 'button', class: 'link', 'data-field': n, text, onclick: () => fields[n].focus() }))));
}

async function save({ overwrite }) {
  // One save at a time: the button is disabled meanwhile, and Enter in a field lands here too.
  if (saving) return;
  const btn = $('save');
  const values = Object.fromEntries(Object.entries(fields).map(([k, el]) => [k, el.value]));
  values.username = values.username.trim();
  if (!editing && access.me && !isAdmin(access.me)) values.username = access.me.username;
  const { errors, status } = validateStatus(values, new Date());
  const bad = Object.keys(errors);
  // Messages come and go above the button: the page scrolls along, the button stays put.
  keepInPlace(btn, () => {
    clearMessages();
    for (const n of Object.keys(fields)) setFieldError(n, errors[n] || '');
    if (bad.length) showFormError(t('form.correct'), errorSummary(errors));
  });
  if (bad.length) {
    // Focus on the summary right under the button (a field higher up would scroll the page).
    focusQuietly($('form-error'));
    return;
  }
  saving = true;
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  btn.classList.add('busy');
  const username = values.username;
  // Not signed in (no accounts, or about to be asked to sign in): this name is the one to offer again.
  if (!access.me) rememberUsername(username);
  try {
    const ifMatch = editing && !overwrite ? editing.version : undefined;
    const r = await accountView.fresh(() => statuses.put(username, status, { ifMatch }));
    const s = r.body;
    arrived(s);
    keepInPlace(btn, () => {
      if (editing) setEditing(null);
      // Done: the text (and its emoji) go, so that the next click does not post it again; the
      // name, the position, the availability and "Clear after" stay for the next status.
      fields.statusText.value = '';
      setEmoji('');
      updateCount();
      $('form-ok').textContent = t(r.status === 201 ? 'form.saved' : 'form.updated', { name: s.username });
    });
    focusQuietly($('form-ok'));
  } catch (err) {
    keepInPlace(btn, () => {
      const refused = refusal(err, username);
      if (refused) {
        showFormError(refused, ...(err.status === 401 ? [signInButton()] : []));
        if (err.status === 401) accountView.forms.signin.user.value ||= username;
      } else if (err.status === 412) {
        // Changed (or deleted) meanwhile: keep theirs (show it, drop the edit), or save mine over it.
        const mine = h('button', { type: 'button', class: 'danger', text: t('conflict.saveMine'),
          onclick: () => save({ overwrite: true }) });
        const theirs = h('button', { type: 'button', text: t('conflict.keepTheirs'),
          onclick: async () => {
            setEditing(null);
            clearMessages();
            fields.statusText.value = '';
            setExtras();
            updateCount();
            await lookup(username, { focus: true });
          } });
        showFormError(t('conflict.changed', { name: username }), theirs, mine);
      } else {
        const f = err.status === 400 ? fieldOfDetail(err.detail) : null;
        if (f) setFieldError(f, err.detail);
        showFormError(describe(err, t('form.notAccepted')), ...(f ? [errorSummary({ [f]: err.detail })] : []));
      }
    });
    focusQuietly($('form-error'));
  } finally {
    saving = false;
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
    btn.classList.remove('busy');
  }
}

$('pick-on-map').addEventListener('click', () => {
  pickingFromForm = true;
  $('map-section').scrollIntoView({ behavior: scrollBehavior(), block: 'start' });
  $('map').focus({ preventScroll: true });
});

$('clear-position').addEventListener('click', () => {
  fields.latitude.value = '';
  fields.longitude.value = '';
  setFieldError('latitude', '');
  setFieldError('longitude', '');
  map.setPick(null);
});

$('use-location').addEventListener('click', () => {
  clearMessages();
  if (!('geolocation' in navigator)) {
    showFormError(t('geo.unsupported'));
    return;
  }
  const btn = $('use-location');
  btn.disabled = true;
  $('form-ok').textContent = t('geo.asking');
  navigator.geolocation.getCurrentPosition((p) => {
    btn.disabled = false;
    const lat = Math.round(p.coords.latitude * 1e5) / 1e5;
    const lon = Math.round(p.coords.longitude * 1e5) / 1e5;
    fields.latitude.value = String(lat);
    fields.longitude.value = String(lon);
    setFieldError('latitude', '');
    setFieldError('longitude', '');
    map.setPick({ lat, lon }, { pan: true });
    $('form-ok').textContent = t('geo.set', { m: Math.round(p.coords.accuracy) });
  }, (err) => {
    btn.disabled = false;
    $('form-ok').textContent = '';
    const why = { 1: t('geo.denied'), 2: t('geo.unavailable'), 3: t('geo.slow') }[err.code] || err.message;
    showFormError(t('geo.failed', { why }));
  }, { enableHighAccuracy: false, timeout: 10000, maximumAge: 60000 });
});

// ---------------------------------------------------------------- look-up, edit, delete
const card = $('lookup-card');

function renderCard(s, flash = false) {
  shown = s;
  clock.track(s);
  card.hidden = false;
  card.dataset.username = s.username;
  const av = card.querySelector('.avatar');
  av.textContent = s.username.slice(0, 1);
  av.style.background = colorOf(s.username);
  card.querySelector('.who').textContent = s.username;
  const when = card.querySelector('.when');
  when.replaceChildren(timeButton(s.time), ` · ${fullTime(s.time)}`);
  card.querySelector('.text').replaceChildren(...textWithEmoji(s));
  const until = untilOf(s);
  card.querySelector('.state').replaceChildren(availabilityDot(s.availability, { labelled: true }), ` ${availabilityLabel(s.availability)}`,
    ...(until ? [' · ', until] : []));
  const pos = formatPos(s);
  card.querySelector('.where').replaceChildren(...(pos ? [pinIcon(), ` ${pos}`] : [t('lookup.noPosition')]));
  updateCardActions();
  if (flash) {
    card.classList.remove('flash');
    void card.offsetWidth;
    card.classList.add('flash');
  }
}

/** Edit and Delete only where the node would allow them; otherwise a sentence saying why. */
function updateCardActions() {
  if (!shown) return;
  const allowed = canChange(access, shown.username);
  $('card-actions').hidden = !allowed;
  const note = $('card-note');
  const text = changeNote(access, shown.username);
  note.hidden = !text;
  if (!text) note.replaceChildren();
  else if (!access.me) note.replaceChildren(`${text} `, h('button', { type: 'button', class: 'link', text: t('account.signIn'),
    onclick: () => accountView.focusSignIn() }));
  else note.textContent = text;
}

function hideCard() {
  shown = null;
  card.hidden = true;
  delete card.dataset.username;
}

/**
 * Looks `username` up into the card. `focus`: opened from elsewhere (the list, the map, a
 * conflict), so the focus moves to the card (or to the message saying why there is none).
 */
async function lookup(username, { focus = false } = {}) {
  username = username.trim();
  $('l-username').value = username;
  const msg = $('lookup-msg');
  msg.className = 'msg';
  if (!username) {
    msg.className = 'msg error';
    msg.textContent = t('lookup.enterName');
    lookedUp = null;
    $('history').hidden = true;
    $('l-username').focus();
    return;
  }
  msg.textContent = t('lookup.looking', { name: username });
  lookedUp = username;
  const history = loadHistory(username); // at the same time
  try {
    const r = await statuses.get(username);
    msg.textContent = '';
    renderCard(r.body, true);
    $('lookup').scrollIntoView({ behavior: scrollBehavior(), block: 'nearest' });
    if (focus) card.focus({ preventScroll: true });
  } catch (err) {
    hideCard();
    msg.className = 'msg error';
    msg.textContent = err.status === 404
      ? t('lookup.none', { name: username })
      : describe(err, t('lookup.failed', { name: username }));
    if (focus) msg.focus();
  }
  await history;
}

// ---------------------------------------------------------------- history of the looked-up user
let historySeq = 0;

/** GET …/history into the list under the card: each earlier status and how it ended. */
async function loadHistory(username) {
  const seq = ++historySeq;
  const section = $('history');
  const list = $('history-list');
  const msg = $('history-msg');
  try {
    const entries = (await statuses.history(username)).body || [];
    if (seq !== historySeq) return;
    section.hidden = false;
    msg.textContent = entries.length ? '' : t('history.none', { name: username });
    list.replaceChildren(...entries.map(historyRow));
  } catch (err) {
    if (seq !== historySeq) return;
    list.replaceChildren();
    // 404: neither a status nor any history; the look-up's message says so.
    section.hidden = err.status === 404;
    msg.textContent = err.status === 404 ? '' : describe(err, t('history.failed', { name: username }));
  }
}
const historySoon = debounce(() => { if (lookedUp) loadHistory(lookedUp); }, 300);

function historyRow(e) {
  const at = (iso) => h('time', { datetime: iso, text: fullTime(iso) });
  return h('li', { 'data-ended-by': e.endedBy },
    h('p', { class: 'text', dir: 'auto' }, ...textWithEmoji(e)),
    h('p', { class: 'muted' }, availabilityDot(e.availability, { labelled: true }),
      ` ${availabilityLabel(e.availability)} · ${t('history.set')} `, at(e.time), ' · ',
      h('strong', { class: 'ended', text: endedLabel(e.endedBy) }), ' ', at(e.endedAt)));
}

$('lookup-form').addEventListener('submit', (e) => {
  e.preventDefault();
  lookup($('l-username').value);
});

function startEdit() {
  clearMessages();
  setEditing(shown);
  $('compose').scrollIntoView({ behavior: scrollBehavior(), block: 'start' });
  fields.statusText.focus();
}
$('edit-btn').addEventListener('click', () => shown && startEdit());

const dialog = $('confirm-delete');
$('delete-btn').addEventListener('click', () => {
  if (!shown) return;
  // The user's text in a <bdi>: Arabic or Hebrew keeps its own direction inside the sentence.
  $('confirm-text').replaceChildren(t('confirm.textBefore', { name: shown.username }),
    h('bdi', { text: shown.statusText }), t('confirm.textAfter', { name: shown.username }));
  dialog.returnValue = '';
  dialog.showModal();
});
dialog.addEventListener('close', async () => {
  if (dialog.returnValue !== 'delete' || !shown) return;
  const s = shown;
  const msg = $('lookup-msg');
  msg.className = 'msg';
  msg.textContent = t('lookup.deleting', { name: s.username });
  try {
    await accountView.fresh(() => statuses.remove(s.username));
    gone(s.username, 'deleted');
    msg.className = 'msg ok';
    msg.textContent = t('lookup.deleted', { name: s.username });
    if (editing?.username === s.username) setEditing(null);
    // The card and its Delete button are gone: focus goes to the sentence that says what happened.
    msg.focus();
  } catch (err) {
    msg.className = 'msg error';
    msg.textContent = refusal(err, s.username) || describe(err, t('lookup.deleteFailed', { name: s.username }));
  }
});

// ---------------------------------------------------------------- gateways
// Every gateway of the cluster (gateways.js): when this page's own stops answering, the page
// carries on through another, and says so quietly.
startGateways();
onGatewayChange((gateway) => {
  const via = $('via');
  via.hidden = !gateway;
  via.dataset.gateway = gateway || '';
  via.textContent = gateway ? t('live.via', { host: new URL(gateway).host }) : '';
});

// ---------------------------------------------------------------- live events
const live = $('live');
let liveRetryS = 0;
function liveLabel() {
  live.querySelector('.label').textContent = t(`live.${live.dataset.state}`, { s: liveRetryS });
}
/** The stream, from where the first list page was read (see start()). */
const streamEvents = (from) => connectEvents({
  from,
  onState: (state, retryS) => {
    live.dataset.state = state;
    liveRetryS = retryS;
    liveLabel();
  },
  // Resumed from the last event id: the node replays what was missed, nothing to reload.
  onOpen: ({ resumed }) => { if (!resumed) reloadAll(); },
  onReset: () => reloadAll(),
  onUpsert: (s) => arrived(s),
  onDelete: ({ username }) => gone(username, 'deleted'),
  onExpire: ({ username }) => gone(username, 'expired'),
});

// ---------------------------------------------------------------- language
languageSwitch($('lang-switch'));
// Texts built here follow a change of language at once (those in the HTML: applyI18n).
onLangChange(() => {
  fillFeedAvailability();
  fillChoices();
  updateExpiry();
  setComposeTitle();
  applyAccessToForm();
  accountView.render();
  liveLabel();
  if ($('via').dataset.gateway) $('via').textContent = t('live.via', { host: new URL($('via').dataset.gateway).host });
  updateCount();
  updateMapCount();
  feed.render();
  if (shown) renderCard(shown);
  updateCardActions();
  refreshTimes(document.body);
  if (lookedUp) historySoon();
});

accountView.onChange((a) => {
  access = a;
  applyAccessToForm();
  updateCardActions();
});
accountView.refresh();

updateCount();
setExtras();
start();
window.addEventListener('resize', () => map.invalidate());
