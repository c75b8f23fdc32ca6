// The feed: the statuses that pass the filters (a search `q` and an availability, applied by the
// server), newest first, paged with ?limit=&offset= (X-Total-Count tells how many match). Live
// events are applied to the first page in place; where a change may have touched what this
// page cannot see (a later page), the total is asked for again; later pages reload.
import { statuses } from './api.js';
import { t } from './i18n.js';
import { filterParams, matchesFilter } from './status.js';
import { availabilityDot, colorOf, formatPos, h, pinIcon, refreshTimes, textWithEmoji, timeButton, untilOf }
  from './util.js';

export class Feed {
  constructor({ list, total, page, prev, next, empty, msg, onOpen, onShowOnMap, onLoad = () => {}, limit = 10 }) {
    Object.assign(this, { list, totalEl: total, pageEl: page, prev, next, empty, msg, onOpen, onShowOnMap, onLoad });
    this.limit = limit;
    this.offset = 0;
    this.items = [];
    this.total = 0;
    this.filter = { q: '', availability: '' };
    this.loaded = false;
    this.seq = 0;            // the latest load; older answers are dropped
    this.reloadTimer = null;
    this.recountTimer = null;
    prev.addEventListener('click', () => this.go(Math.max(0, this.offset - this.limit)));
    next.addEventListener('click', () => this.go(this.offset + this.limit));
    setInterval(() => refreshTimes(this.list), 15000); // local only: "vor 5 Minuten" moves on
  }

  get filtered() { return !!(this.filter.q || this.filter.availability); }

  /** New filters: from the first page again. */
  setFilter({ q = '', availability = '' }) {
    if (q === this.filter.q && availability === this.filter.availability) return Promise.resolve();
    this.filter = { q, availability };
    this.offset = 0;
    return this.load();
  }

  async go(offset) {
    this.offset = offset;
    await this.load();
    this.list.querySelector('button')?.focus({ preventScroll: true });
  }

  async load() {
    const seq = ++this.seq;
    clearTimeout(this.reloadTimer);
    try {
      const r = await statuses.list(this.limit, this.offset, filterParams(this.filter));
      if (seq !== this.seq) return; // other filters or another page were asked for meanwhile
      this.items = r.body || [];
      this.total = Number(r.headers.get('X-Total-Count') ?? this.items.length);
      // Where the event stream stood when this page was read: a stream opened from there misses nothing.
      this.eventId = r.headers.get('X-Event-Id') || '';
      if (!this.items.length && this.offset > 0 && this.total > 0) {
        // The page we were on emptied (deletes): step back to the last page that has entries.
        this.offset = Math.max(0, Math.floor((this.total - 1) / this.limit) * this.limit);
        return this.load();
      }
      this.msg.textContent = '';
      this.loaded = true;
      this.render();
      this.onLoad(this.items);
    } catch (e) {
      if (seq === this.seq) this.msg.textContent = t('feed.loadFailed', { why: e.message });
    }
  }

  /** Reloads the current page soon, once, however many events ask for it. */
  reloadSoon() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load(), 250);
  }

  /** Asks the server again how many match (soon, once): a change off this page may alter it. */
  recountSoon() {
    clearTimeout(this.recountTimer);
    this.recountTimer = setTimeout(async () => {
      const seq = this.seq;
      try {
        const r = await statuses.list(1, 0, filterParams(this.filter));
        const total = Number(r.headers.get('X-Total-Count'));
        if (seq !== this.seq || Number.isNaN(total)) return;
        this.total = total;
        // More match than a first page with room left shows: it is out of date, read it again.
        if (this.offset === 0 && this.items.length < this.limit && total > this.items.length) return this.load();
        this.renderCounts();
      } catch { /* the next change or load corrects it */ }
    }, 250);
  }

  /** A status was created or changed somewhere. */
  applyUpsert(s) {
    if (!this.loaded) return;
    if (this.offset !== 0) return this.reloadSoon();
    const old = this.items.findIndex((x) => x.username === s.username);
    if (!matchesFilter(s, this.filter)) {
      // It no longer passes the filters: it leaves, like a delete. Off this page it may have
      // passed them before, on a later page.
      if (old >= 0) this.applyDelete(s.username);
      else if (this.filtered) this.recountSoon();
      return;
    }
    const later = this.total - this.items.length; // how many match beyond this page
    if (old >= 0) this.items.splice(old, 1);
    const t = Date.parse(s.time);
    let at = this.items.findIndex((x) => Date.parse(x.time) < t);
    if (at < 0) at = this.items.length;
    if (at === this.items.length && later > 0) {
      // A first page with room left while more match: it is out of date (read from a node that
      // had not yet received them all, say). Read again.
      if (this.items.length < this.limit) return this.reloadSoon();
      // Older than everything here while more follow: it belongs to a later page (and if it was
      // on this one, the page now lacks an entry from the next).
      if (old < 0) return this.recountSoon();
      this.render();
      return this.reloadSoon();
    }
    this.items.splice(at, 0, s);
    if (old < 0) {
      // New on this page. With nothing beyond it, it is new altogether; otherwise it may have
      // been on a later page before.
      if (later > 0) this.recountSoon();
      else this.total += 1;
    }
    if (this.items.length > this.limit) this.items.length = this.limit;
    this.render(s.username);
  }

  /** A status was deleted, or expired (the server's event or the page's own clock). */
  applyDelete(username) {
    if (!this.loaded) return;
    const i = this.items.findIndex((x) => x.username === username);
    if (i < 0) {
      // Not on this page (or already gone): the total may still change, and later pages shift.
      if (this.offset === 0) this.recountSoon();
      else this.reloadSoon();
      return;
    }
    const li = this.list.querySelector(`li[data-username="${CSS.escape(username)}"]`);
    this.items.splice(i, 1);
    this.total = Math.max(0, this.total - 1);
    const finish = () => {
      this.render();
      // More follow on later pages: one of them moves up into the gap.
      if (this.total > this.offset + this.items.length) this.reloadSoon();
    };
    if (li) {
      li.classList.add('leaving');
      setTimeout(finish, 350);
    } else {
      finish();
    }
  }

  render(fresh = null) {
    const rows = this.items.map((s) => this.row(s, s.username === fresh));
    this.list.replaceChildren(...rows);
    this.renderCounts();
  }

  renderCounts() {
    this.empty.hidden = this.items.length > 0;
    this.empty.textContent = t(this.filtered ? 'feed.noMatch' : 'feed.empty');
    this.totalEl.textContent = t(this.filtered ? 'feed.matches' : 'feed.statuses', { count: this.total });
    this.totalEl.dataset.total = String(this.total);
    const first = this.items.length ? this.offset + 1 : 0;
    const last = this.offset + this.items.length;
    this.pageEl.textContent = this.items.length ? t('feed.page', { first, last, total: this.total }) : '';
    this.prev.disabled = this.offset === 0;
    this.next.disabled = !(this.offset + this.items.length < this.total);
  }

  row(s, fresh) {
    const pos = formatPos(s);
    const whoId = `feed-who-${s.username}`; // usernames are letters, digits, ".", "_", "-": a valid id
    const until = untilOf(s);
    return h('li', { class: fresh ? 'flash' : '', 'data-username': s.username,
      'data-availability': s.availability || 'available' },
      h('span', { class: 'face' },
        h('span', { class: 'avatar', 'aria-hidden': 'true', text: s.username.slice(0, 1), style: `background:${colorOf(s.username)}` }),
        availabilityDot(s.availability)),
      h('div', {},
        h('div', { class: 'line1' },
          h('button', { type: 'button', class: 'who', id: whoId, dir: 'auto', text: s.username,
            title: t('feed.open', { name: s.username }), onclick: () => this.onOpen(s.username) }),
          timeButton(s.time)),
        h('p', { class: 'text', dir: 'auto' }, ...textWithEmoji(s)),
        until ? h('p', { class: 'until-line muted' }, until) : null,
        pos ? h('div', { class: 'where muted' }, pinIcon(), ` ${pos} `,
          // Named by its visible words (what a voice user says); whose it is, by the description.
          h('button', { type: 'button', class: 'on-map', text: t('feed.showOnMap'), 'aria-describedby': whoId,
            onclick: () => this.onShowOnMap(s) })) : null));
  }
}
