// Wires the page: the status form, the look-up card, the feed, the map, the cluster view and
// the live event stream. Talks only to the gateway's /api (see docs/web.md).
import { canChange, changeNote, forbiddenMessage, isAdmin, SIGN_IN_MESSAGE } from './access.js';
import { AccountView } from './account.js';
import { allStatuses, ApiError, onRetry, statuses } from './api.js';
import { ClusterView } from './cluster.js';
import { Feed } from './feed.js';
import { onGatewayChange, startGateways } from './gateways.js';
import { connectEvents } from './live.js';
import { StatusMap } from './map.js';
import { AVAILABILITY, availabilityLabel, EMOJI, endedLabel, EXPIRY, ExpiryClock, expiryHint, toLocalInput }
  from './status.js';
import { availabilityDot, colorOf, debounce, formatPos, fullTime, h, pinIcon, relativeTime, textWithEmoji, untilOf }
  from './util.js';
import { MAX_TEXT, parseCoord, textLength, validateStatus } from './validate.js';

const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- shared state
let editing = null;        // {username, version} while the form edits a looked-up status
let shown = null;          // the status in the look-up card
let lookedUp = null;       // the username whose history is shown

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
  showBanner(`Network problem on ${r.method} ${r.path}: ${r.error}. Retrying in ${r.delayMs / 1000} s `
    + `(attempt ${r.attempt + 1} of ${r.of + 1})…`);
});
window.addEventListener('error', (e) => showBanner(`Unexpected error: ${e.message}`, 'error'));
window.addEventListener('unhandledrejection', (e) =>
  showBanner(`Unexpected error: ${e.reason?.message || e.reason}`, 'error'));

/** Words for an error: what we tried, and the server's own detail. */
function describe(err, what) {
  if (!(err instanceof ApiError)) return `${what}: ${err.message || err}`;
  if (err.network) return `${what}. ${err.message}`;
  if (err.status === 401) return `${what}. Please sign in.`;
  return `${what}: ${err.detail || err.message} (${err.status}${err.title ? ` ${err.title}` : ''})`;
}

// ---------------------------------------------------------------- who you are
const accountView = new AccountView({ describe });
let access = accountView.access;

/** A "Sign in" button for messages that ask for it. */
function signInButton() {
  return h('button', { type: 'button', class: 'primary', text: 'Sign in', onclick: () => accountView.focusSignIn() });
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
    return SIGN_IN_MESSAGE;
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
    $('form-ok').textContent = `Position set to ${lat}, ${lon} — save to keep it.`;
  },
  onOpen: (username) => lookup(username),
  // Only what is in view: one box, or two across the antimeridian.
  load: async (boxes) => (await Promise.all(boxes.map((b) =>
    allStatuses({ params: new URLSearchParams({ bbox: b.join(',') }) })))).flat(),
  onLoad: (list) => {
    for (const s of list) clock.track(s);
    updateMapCount();
  },
  onError: (e) => { $('map-count').textContent = describe(e, 'Could not load the map’s statuses'); },
});
function updateMapCount() {
  $('map-count').textContent = map.ok ? `${map.count} on the map` : '';
}

// ---------------------------------------------------------------- feed
const feed = new Feed({
  list: $('feed-list'), total: $('feed-total'), page: $('feed-page'), prev: $('feed-prev'),
  next: $('feed-next'), empty: $('feed-empty'), msg: $('feed-msg'),
  onOpen: (u) => lookup(u),
  onShowOnMap: (s) => {
    $('map-section').scrollIntoView({ behavior: 'smooth', block: 'center' });
    map.focus(s);
  },
  onLoad: (items) => { for (const s of items) clock.track(s); },
});

async function reloadAll() {
  await Promise.all([feed.load(), map.refresh()]);
}

// The search and the availability filter of the feed, applied by the server.
const filterFeed = () => feed.setFilter({ q: $('feed-q').value.trim(), availability: $('feed-availability').value });
const filterSoon = debounce(filterFeed, 300);
$('feed-availability').replaceChildren(h('option', { value: '', text: 'Any availability' }),
  ...AVAILABILITY.map((a) => h('option', { value: a.value, text: a.label })));
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
    msg.textContent = how === 'expired' ? `${username}’s status has expired.` : `${username}’s status was deleted.`;
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

fields.availability.replaceChildren(...AVAILABILITY.map((a) => h('option', { value: a.value, text: a.label })));
fields.expiry.replaceChildren(...EXPIRY.map((x) => h('option', { value: x.value, text: x.label })));
$('emoji-choices').replaceChildren(...EMOJI.map(({ emoji, label }) => h('button', {
  type: 'button', class: 'emoji-choice', text: emoji, title: label, 'aria-label': `${emoji} ${label}`,
  'aria-pressed': 'false', 'data-emoji': emoji,
  onclick: () => setEmoji(fields.emoji.value.trim() === emoji ? '' : emoji),
})));

/** The emoji field and its buttons (pressed: the one in the field). */
function setEmoji(v) {
  fields.emoji.value = v;
  setFieldError('emoji', '');
  markEmoji();
}
function markEmoji() {
  const v = fields.emoji.value.trim();
  for (const b of $('emoji-choices').children) b.setAttribute('aria-pressed', String(b.dataset.emoji === v));
}
fields.emoji.addEventListener('input', () => { setFieldError('emoji', ''); markEmoji(); });

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
setInterval(updateExpiry, 30000); // "Today", "1 hour": the hint's times move on

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
    // Signed out (or now an admin): the name that was fixed to the old user goes.
    else if (fields.username.dataset.fixed === 'true') fields.username.value = '';
  }
  if (!editing) fields.username.dataset.fixed = String(fixed);
  fields.username.placeholder = me && !fixed ? 'anyone’s username' : '';
  $('f-username-hint').hidden = fixed;
  who.hidden = !me;
  who.textContent = !me ? '' : fixed
    ? `You are signed in as ${me.username}: this sets your own status.`
    : `You are signed in as ${me.username}, with the admin role: you may set anyone’s status.`;
  const note = $('compose-note');
  note.hidden = !!me || mode === 'off' || mode === 'unknown';
  if (!note.hidden) {
    note.replaceChildren('You are not signed in. ', h('button', { type: 'button', class: 'link', text: 'Sign in',
      onclick: () => accountView.focusSignIn() }), ' or create an account to set your status.');
  }
}

function setEditing(s) {
  editing = s ? { username: s.username, version: s.version } : null;
  fields.username.readOnly = !!s;
  if (!s) applyAccessToForm();
  $('compose-h').textContent = s ? `Edit ${s.username}’s status` : 'Set your status';
  $('save').textContent = s ? 'Update status' : 'Save status';
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

async function save({ overwrite }) {
  clearMessages();
  for (const n of Object.keys(fields)) setFieldError(n, '');
  const values = Object.fromEntries(Object.entries(fields).map(([k, el]) => [k, el.value]));
  values.username = values.username.trim();
  if (!editing && access.me && !isAdmin(access.me)) values.username = access.me.username;
  const { errors, status } = validateStatus(values, new Date());
  const bad = Object.keys(errors);
  if (bad.length) {
    for (const n of bad) setFieldError(n, errors[n]);
    showFormError('Please correct the marked fields.');
    fields[bad[0]].focus();
    return;
  }
  const btn = $('save');
  btn.disabled = true;
  btn.classList.add('busy');
  const username = values.username;
  try {
    const ifMatch = editing && !overwrite ? editing.version : undefined;
    const r = await accountView.fresh(() => statuses.put(username, status, { ifMatch }));
    const s = r.body;
    arrived(s);
    $('form-ok').textContent = r.status === 201
      ? `Saved: ${s.username} now has a status (served by ${r.servedBy || '?'}).`
      : `Updated ${s.username}’s status (served by ${r.servedBy || '?'}).`;
    if (editing) setEditing(null);
    map.setPick(null);
  } catch (err) {
    const refused = refusal(err, username);
    if (refused) {
      showFormError(refused, ...(err.status === 401 ? [signInButton()] : []));
      if (err.status === 401) accountView.forms.signin.user.value ||= username;
    } else if (err.status === 412) {
      const overwriteBtn = h('button', { type: 'button', class: 'danger', text: 'Overwrite anyway',
        onclick: () => save({ overwrite: true }) });
      const reloadBtn = h('button', { type: 'button', text: 'Load the current one',
        onclick: async () => { await lookup(username); if (shown) startEdit(); } });
      showFormError(describe(err, `${username}’s status was changed by someone else since you loaded it`),
        reloadBtn, overwriteBtn);
    } else {
      const f = err.status === 400 ? fieldOfDetail(err.detail) : null;
      if (f) setFieldError(f, err.detail);
      showFormError(describe(err, 'The server did not accept the status'));
      if (f) fields[f].focus();
    }
  } finally {
    btn.disabled = false;
    btn.classList.remove('busy');
  }
}

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
    showFormError('This browser cannot tell its location (no geolocation, or the page is not served over HTTPS or from localhost).');
    return;
  }
  const btn = $('use-location');
  btn.disabled = true;
  $('form-ok').textContent = 'Asking the browser for your location…';
  navigator.geolocation.getCurrentPosition((p) => {
    btn.disabled = false;
    const lat = Math.round(p.coords.latitude * 1e5) / 1e5;
    const lon = Math.round(p.coords.longitude * 1e5) / 1e5;
    fields.latitude.value = String(lat);
    fields.longitude.value = String(lon);
    setFieldError('latitude', '');
    setFieldError('longitude', '');
    map.setPick({ lat, lon }, { pan: true });
    $('form-ok').textContent = `Position set to your location (±${Math.round(p.coords.accuracy)} m) — save to keep it.`;
  }, (err) => {
    btn.disabled = false;
    $('form-ok').textContent = '';
    const why = { 1: 'permission was denied', 2: 'the position is not available', 3: 'it took too long' }[err.code]
      || err.message;
    showFormError(`Could not get your location: ${why}. You can click the map or type coordinates instead.`);
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
  when.textContent = `${relativeTime(s.time)} · ${fullTime(s.time)}`;
  card.querySelector('.text').replaceChildren(...textWithEmoji(s));
  const until = untilOf(s);
  card.querySelector('.state').replaceChildren(availabilityDot(s.availability, { labelled: true }), ` ${availabilityLabel(s.availability)}`,
    ...(until ? [' · ', until] : []));
  const pos = formatPos(s);
  card.querySelector('.where').replaceChildren(...(pos ? [pinIcon(), ` ${pos}`] : ['no position']));
  card.querySelector('.meta').textContent = `version ${s.version}`;
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
  else if (!access.me) note.replaceChildren(`${text} `, h('button', { type: 'button', class: 'link', text: 'Sign in',
    onclick: () => accountView.focusSignIn() }));
  else note.textContent = text;
}

function hideCard() {
  shown = null;
  card.hidden = true;
  delete card.dataset.username;
}

async function lookup(username) {
  username = username.trim();
  $('l-username').value = username;
  const msg = $('lookup-msg');
  msg.className = 'msg';
  if (!username) {
    msg.className = 'msg error';
    msg.textContent = 'Enter a username to look up.';
    lookedUp = null;
    $('history').hidden = true;
    $('l-username').focus();
    return;
  }
  msg.textContent = `Looking up ${username}…`;
  lookedUp = username;
  const history = loadHistory(username); // at the same time
  try {
    const r = await statuses.get(username);
    msg.textContent = '';
    renderCard(r.body, true);
    $('lookup').scrollIntoView({ behavior: 'smooth', block: 'nearest' });
  } catch (err) {
    hideCard();
    msg.className = 'msg error';
    msg.textContent = err.status === 404
      ? `${username} has no status (server: ${err.detail || 'not found'}).`
      : describe(err, `Could not look up ${username}`);
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
    msg.textContent = entries.length ? '' : `${username} has no earlier statuses yet.`;
    list.replaceChildren(...entries.map(historyRow));
  } catch (err) {
    if (seq !== historySeq) return;
    list.replaceChildren();
    // 404: neither a status nor any history; the look-up's message says so.
    section.hidden = err.status === 404;
    msg.textContent = err.status === 404 ? '' : describe(err, `Could not load ${username}’s earlier statuses`);
  }
}
const historySoon = debounce(() => { if (lookedUp) loadHistory(lookedUp); }, 300);

function historyRow(e) {
  const at = (iso) => h('time', { datetime: iso, title: fullTime(iso), text: fullTime(iso) });
  return h('li', { 'data-ended-by': e.endedBy },
    h('p', { class: 'text' }, ...textWithEmoji(e)),
    h('p', { class: 'muted' }, availabilityDot(e.availability, { labelled: true }),
      ` ${availabilityLabel(e.availability)} · set `, at(e.time), ' · ',
      h('strong', { class: 'ended', text: endedLabel(e.endedBy) }), ' ', at(e.endedAt)));
}

$('lookup-form').addEventListener('submit', (e) => {
  e.preventDefault();
  lookup($('l-username').value);
});

function startEdit() {
  clearMessages();
  setEditing(shown);
  $('compose').scrollIntoView({ behavior: 'smooth', block: 'start' });
  fields.statusText.focus();
}
$('edit-btn').addEventListener('click', () => shown && startEdit());

const dialog = $('confirm-delete');
$('delete-btn').addEventListener('click', () => {
  if (!shown) return;
  $('confirm-text').textContent = `${shown.username}’s status “${shown.statusText}” will be deleted on every node.`;
  dialog.returnValue = '';
  dialog.showModal();
});
dialog.addEventListener('close', async () => {
  if (dialog.returnValue !== 'delete' || !shown) return;
  const s = shown;
  const msg = $('lookup-msg');
  msg.className = 'msg';
  msg.textContent = `Deleting ${s.username}’s status…`;
  try {
    const r = await accountView.fresh(() => statuses.remove(s.username));
    gone(s.username, 'deleted');
    msg.className = 'msg ok';
    msg.textContent = `Deleted: ${s.username}’s status is gone (served by ${r.servedBy || '?'}).`;
    if (editing?.username === s.username) setEditing(null);
    $('l-username').focus();
  } catch (err) {
    msg.className = 'msg error';
    msg.textContent = refusal(err, s.username) || describe(err, `Could not delete ${s.username}’s status`);
  }
});

// ---------------------------------------------------------------- gateways
// Every gateway of the cluster (gateways.js): when this page's own stops answering, the page
// carries on through another, and says so quietly.
startGateways();
onGatewayChange((gateway) => {
  const via = $('via');
  via.hidden = !gateway;
  via.title = gateway ? `This page's own server stopped answering: it now talks to ${gateway}` : '';
  via.textContent = gateway ? `connected through another server (${new URL(gateway).host})` : '';
});

// ---------------------------------------------------------------- live events
const live = $('live');
connectEvents({
  onState: (state, retryS) => {
    live.dataset.state = state;
    live.querySelector('.label').textContent = {
      connecting: 'connecting…',
      live: 'live',
      reconnecting: `reconnecting in ${retryS} s…`,
    }[state];
  },
  // Resumed from the last event id: the node replays what was missed, nothing to reload.
  onOpen: ({ resumed }) => { if (!resumed) reloadAll(); },
  onReset: () => reloadAll(),
  onUpsert: (s) => arrived(s),
  onDelete: ({ username }) => gone(username, 'deleted'),
  onExpire: ({ username }) => gone(username, 'expired'),
});

// ---------------------------------------------------------------- cluster
new ClusterView({
  list: $('nodes'), summary: $('cluster-summary'), msg: $('cluster-msg'), recent: $('recent'),
  servedBy: $('served-by'),
}).start();

accountView.onChange((a) => {
  access = a;
  applyAccessToForm();
  updateCardActions();
});
accountView.refresh();

updateCount();
setExtras();
reloadAll();
window.addEventListener('resize', () => map.invalidate());
