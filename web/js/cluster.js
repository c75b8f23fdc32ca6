// The operators' view of the cluster (cluster.html): GET /api/services and around one cheap API
// request per node through the gateway each round (it shows the balancer at work, and a dead
// node is noticed by the gateway's passive health check even when nobody else is using the
// system). A round every 15 s, only while the page is visible (and at once when it shows again
// or when asked with refresh()).
import { api, onServedBy, statuses } from './api.js';
import { fmtNumber, t } from './i18n.js';
import { h } from './util.js';

export const REFRESH_MS = 15000;
const RECENT = 12;
const GONE_MS = 5 * 60 * 1000;

export class ClusterView {
  constructor({ list, summary, msg, recent, updated = null }) {
    Object.assign(this, { list, summary, msg, recent, updated });
    this.prev = new Map();        // instanceId -> {requests, at}
    this.nodeOfInstance = new Map(); // instanceId -> node id learned from X-Served-By
    this.seen = new Map();        // instanceId -> {s: last services entry, at}
    this.last = [];               // the last services answer, for a re-render in another language
    this.timer = null;
    this.running = null;          // the round under way (a promise)
    this.again = false;           // another round asked for while one was under way
    this.lastAt = 0;
    onServedBy((node, info) => this.answered(node, info));
  }

  /** Rounds every REFRESH_MS while the page is visible. */
  start() {
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible') {
        clearTimeout(this.timer);
        this.timer = null;
      } else if (Date.now() - this.lastAt >= REFRESH_MS) {
        this.refresh();
      } else {
        this.schedule(REFRESH_MS - (Date.now() - this.lastAt));
      }
    });
    return this.refresh();
  }

  schedule(ms = REFRESH_MS) {
    clearTimeout(this.timer);
    this.timer = document.visibilityState === 'visible' ? setTimeout(() => this.refresh(), ms) : null;
  }

  /**
   * A round now, then the next one REFRESH_MS later. Asked while a round is under way (which may
   * have read the state before the change one wants to see), another one follows it at once.
   */
  refresh() {
    clearTimeout(this.timer);
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.round().finally(() => {
      this.running = null;
      this.lastAt = Date.now();
      if (this.again) {
        this.again = false;
        this.refresh();
      } else {
        this.schedule();
      }
    });
    return this.running;
  }

  answered(node, { method, path }) {
    this.recent.prepend(h('li', { text: node, title: `${method} ${path}` }));
    while (this.recent.children.length > RECENT) this.recent.lastChild.remove();
  }

  async round() {
    try {
      // services, ping, services, ping, … — two pings per node (the balancer need not take the
      // nodes strictly in turn, and the gateway may retry a failed one elsewhere): so the
      // gateway's passive health check sees a dead node within a round even when nobody else
      // uses the system. Each ping is then (almost always) the only request between two
      // snapshots: the instance whose counter moved is the node its X-Served-By names.
      let before = (await statuses.services()).body || [];
      let after = before;
      for (let i = 0; i < Math.max(1, 2 * before.length); i++) {
        let pinged = null;
        try {
          pinged = (await api('GET', '/api/statuses?limit=1', { retries: 0, background: true })).servedBy;
        } catch {
          // A failed ping is what makes the gateway eject a dead node: the services answer shows it.
        }
        after = (await statuses.services()).body || [];
        if (pinged) this.learn(before, after, pinged);
        before = after;
      }
      this.last = after;
      this.render(after);
      this.msg.textContent = '';
      this.msg.dataset.state = 'ok';
      if (this.updated) {
        const now = new Date();
        this.updated.dateTime = now.toISOString();
        this.updated.textContent = now.toLocaleTimeString(document.documentElement.lang || undefined);
      }
    } catch (e) {
      this.msg.dataset.state = 'error';
      this.msg.textContent = e.network ? t('cluster.unreachable', { s: REFRESH_MS / 1000 })
        : t('cluster.failed', { why: e.message });
      for (const li of this.list.children) {
        li.dataset.state = 'unknown';
        li.querySelector('.badge').textContent = t('cluster.badge.unknown');
      }
      this.summary.textContent = t('cluster.gatewayUnreachable');
    }
  }

  /** Learns which node id sits behind an instance (needed when instances are HOST:PORT). */
  learn(before, after, pinged) {
    const old = new Map(before.map((s) => [s.instanceId, s.requests]));
    const moved = after.filter((s) => s.requests !== (old.get(s.instanceId) ?? s.requests));
    if (moved.length === 1 && moved[0].requests - old.get(moved[0].instanceId) === 1)
      this.nodeOfInstance.set(moved[0].instanceId, pinged);
    for (const s of after) if (s.instanceId === pinged) this.nodeOfInstance.set(s.instanceId, pinged);
  }

  /** The last answer again, in the page's language now. */
  rerender() { if (this.list.children.length) this.render(this.last, { again: true }); }

  render(services, { again = false } = {}) {
    const now = performance.now();
    // A node the registry has dropped (its lease expired) stays on the list, red and marked
    // "gone", for GONE_MS: otherwise a dead node would just vanish a few seconds after dying.
    const listed = new Set(services.map((s) => s.instanceId));
    if (!again) for (const s of services) this.seen.set(s.instanceId, { s, at: now });
    const gone = [];
    for (const [id, { s, at }] of this.seen) {
      if (listed.has(id)) continue;
      if (now - at > GONE_MS) this.seen.delete(id);
      else gone.push({ ...s, status: 'GONE', healthy: false, inFlight: 0 });
    }
    const all = [...services, ...gone];

    const up = all.filter((s) => isUp(s)).length;
    this.summary.textContent = t('cluster.summary', { up, count: all.length });
    this.summary.dataset.up = String(up);
    this.summary.dataset.total = String(all.length);

    const rates = again ? this.rates : new Map();
    const items = all.map((s) => {
      const prev = this.prev.get(s.instanceId);
      const rate = again ? rates.get(s.instanceId) ?? 0
        : prev ? ((s.requests - prev.requests) * 1000) / Math.max(1, now - prev.at) : 0;
      rates.set(s.instanceId, rate);
      const nodeId = this.nodeOfInstance.get(s.instanceId) || (s.instanceId.includes(':') ? null : s.instanceId);
      const state = isUp(s) ? 'up' : 'down';
      const badge = state === 'up' ? 'up' : s.status === 'GONE' ? 'gone' : !s.healthy ? 'down' : 'other';
      const badgeText = badge === 'other' ? s.status.toLowerCase().replace(/_/g, ' ') : t(`cluster.badge.${badge}`);
      return h('li', { class: 'node', 'data-state': state, 'data-instance': s.instanceId, 'data-node': nodeId || '' },
        h('h3', {}, h('span', { text: nodeId ? t('cluster.node', { id: nodeId }) : s.instanceId }),
          h('span', { class: 'badge', text: badgeText })),
        h('p', { class: 'url', text: nodeId && nodeId !== s.instanceId ? `${s.instanceId} · ${s.url}` : s.url }),
        h('dl', {},
          h('dt', { text: t('cluster.registry') }),
          h('dd', { text: s.status === 'GONE' ? t('cluster.notListed') : s.status }),
          h('dt', { text: t('cluster.health') }),
          h('dd', { text: t(s.healthy ? 'cluster.healthOk' : 'cluster.healthBad') }),
          h('dt', { text: t('cluster.requests') }), h('dd', { class: 'requests', text: fmtNumber(s.requests) }),
          h('dt', { text: t('cluster.rate') }),
          h('dd', { text: fmtNumber(rate, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) }),
          h('dt', { text: t('cluster.inFlight') }), h('dd', { text: fmtNumber(s.inFlight) })));
    });
    this.rates = rates;
    this.list.replaceChildren(...items);
    if (!again) this.prev = new Map(all.map((s) => [s.instanceId, { requests: s.requests, at: now }]));
  }
}

const isUp = (s) => s.healthy && s.status === 'UP';
