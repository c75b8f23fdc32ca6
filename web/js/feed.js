// The feed: all statuses, newest first, paged with ?limit=&offset= (X-Total-Count tells the
// total). Live events are applied to the first page in place; other pages reload.
import { statuses } from './api.js';
import { colorOf, formatPos, fullTime, h, pinIcon, relativeTime } from './util.js';

export class Feed {
  constructor({ list, total, page, prev, next, empty, msg, onOpen, onShowOnMap, limit = 10 }) {
    Object.assign(this, { list, totalEl: total, pageEl: page, prev, next, empty, msg, onOpen, onShowOnMap });
    this.limit = limit;
    this.offset = 0;
    this.items = [];
    this.total = 0;
    this.loaded = false;
    this.reloadTimer = null;
    prev.addEventListener('click', () => this.go(Math.max(0, this.offset - this.limit)));
    next.addEventListener('click', () => this.go(this.offset + this.limit));
    setInterval(() => this.refreshTimes(), 15000);
  }

  async go(offset) {
    this.offset = offset;
    await this.load();
    this.list.querySelector('button')?.focus({ preventScroll: true });
  }

  async load() {
    try {
      const r = await statuses.list(this.limit, this.offset);
      this.items = r.body || [];
      this.total = Number(r.headers.get('X-Total-Count') ?? this.items.length);
      if (!this.items.length && this.offset > 0 && this.total > 0) {
        // The page we were on emptied (deletes): step back to the last page that has entries.
        this.offset = Math.max(0, Math.floor((this.total - 1) / this.limit) * this.limit);
        return this.load();
      }
      this.msg.textContent = '';
      this.loaded = true;
      this.render();
    } catch (e) {
      this.msg.textContent = `Could not load the statuses: ${e.message}`;
    }
  }

  /** Reloads the current page soon, once, however many events ask for it. */
  reloadSoon() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load(), 250);
  }

  /** A status was created or changed somewhere. `isNew`: this user had none before. */
  applyUpsert(s, isNew) {
    if (!this.loaded) return;
    if (this.offset !== 0) return this.reloadSoon();
    const old = this.items.findIndex((x) => x.username === s.username);
    if (old >= 0) this.items.splice(old, 1);
    else if (isNew) this.total += 1;
    const t = Date.parse(s.time);
    let at = this.items.findIndex((x) => Date.parse(x.time) < t);
    if (at < 0) at = this.items.length;
    if (at >= this.limit) {
      // Older than everything on this page: it belongs to a later page (and if it was on this
      // one, the page now lacks an entry from the next).
      if (old >= 0) this.reloadSoon();
      else this.render();
      return;
    }
    this.items.splice(at, 0, s);
    if (this.items.length > this.limit) this.items.length = this.limit;
    this.render(s.username);
  }

  applyDelete(username) {
    if (!this.loaded) return;
    const i = this.items.findIndex((x) => x.username === username);
    if (i < 0) {
      // Not on this page (or already gone): the counts and later pages may still change.
      this.reloadSoon();
      return;
    }
    const li = this.list.querySelector(`li[data-username="${CSS.escape(username)}"]`);
    this.items.splice(i, 1);
    this.total = Math.max(0, this.total - 1);
    const finish = () => (this.total > this.offset + this.items.length ? this.reloadSoon() : this.render());
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
    this.empty.hidden = this.items.length > 0;
    this.totalEl.textContent = `${this.total} ${this.total === 1 ? 'status' : 'statuses'}`;
    this.totalEl.dataset.total = String(this.total);
    const first = this.items.length ? this.offset + 1 : 0;
    const last = this.offset + this.items.length;
    this.pageEl.textContent = this.items.length ? `${first}–${last} of ${this.total}` : '';
    this.prev.disabled = this.offset === 0;
    this.next.disabled = !(this.offset + this.items.length < this.total);
  }

  row(s, fresh) {
    const pos = formatPos(s);
    return h('li', { class: fresh ? 'flash' : '', 'data-username': s.username },
      h('span', { class: 'avatar', 'aria-hidden': 'true', text: s.username.slice(0, 1), style: `background:${colorOf(s.username)}` }),
      h('div', {},
        h('div', { class: 'line1' },
          h('button', { type: 'button', class: 'who', text: s.username, title: `Open ${s.username}'s status`,
            onclick: () => this.onOpen(s.username) }),
          h('time', { datetime: s.time, title: fullTime(s.time), text: relativeTime(s.time) })),
        h('p', { class: 'text', text: s.statusText }),
        pos ? h('div', { class: 'where muted' }, pinIcon(), ` ${pos} `,
          h('button', { type: 'button', text: 'show on map', 'aria-label': `Show ${s.username} on the map`,
            onclick: () => this.onShowOnMap(s.username) })) : null));
  }

  refreshTimes() {
    for (const t of this.list.querySelectorAll('time')) t.textContent = relativeTime(t.getAttribute('datetime'));
  }
}
