// The cluster view: GET /api/services every 1.5 s, around one cheap API request per node
// through the gateway each round (it shows the balancer at work, and a dead node is noticed by
// the gateway's passive health check even when nobody else is using the system).
import { api, onServedBy, statuses } from './api.js';
import { h } from './util.js';

const POLL_MS = 1500;
const RECENT = 12;
const GONE_MS = 5 * 60 * 1000;

export class ClusterView {
  constructor({ list, summary, msg, recent, servedBy }) {
    Object.assign(this, { list, summary, msg, recent, servedByEl: servedBy });
    this.prev = new Map();        // instanceId -> {requests, at}
    this.nodeOfInstance = new Map(); // instanceId -> node id learned from X-Served-By
    this.seen = new Map();        // instanceId -> {s: last services entry, at}
    this.lastUserNode = null;
    this.pingNode = null;
    this.stopped = false;
    onServedBy((node, info) => this.answered(node, info));
  }

  start() { this.round(); }

  answered(node, { method, path, background }) {
    const li = h('li', { class: background ? 'bg' : '', text: node, title: `${method} ${path}` });
    this.recent.prepend(li);
    while (this.recent.children.length > RECENT) this.recent.lastChild.remove();
    if (background) return;
    this.lastUserNode = node;
    this.servedByEl.textContent = node;
    this.servedByEl.dataset.node = node;
    this.servedByEl.title = `${method} ${path}`;
    this.servedByEl.classList.remove('bump');
    void this.servedByEl.offsetWidth; // restart the animation
    this.servedByEl.classList.add('bump');
    this.markAnswered();
  }

  async round() {
    if (this.stopped) return;
    const started = performance.now();
    try {
      // services, ping, services, ping, … — one ping per node, so that each node is asked about
      // once a round (round-robin), and the gateway's passive health check sees a dead node
      // within a round even when nobody else uses the system. Each ping is then (almost always)
      // the only request between two snapshots: the instance whose counter moved is the node
      // its X-Served-By names.
      let before = (await statuses.services()).body || [];
      let after = before;
      for (let i = 0; i < Math.max(1, before.length); i++) {
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
      this.render(after);
      this.msg.textContent = '';
    } catch (e) {
      this.msg.textContent = e.network
        ? 'The gateway cannot be reached — retrying every 1.5 s.'
        : `Could not read the cluster state: ${e.message}`;
      for (const li of this.list.children) {
        li.dataset.state = 'unknown';
        li.querySelector('.badge').textContent = 'unknown';
      }
      this.summary.textContent = 'gateway unreachable';
    }
    const wait = Math.max(200, POLL_MS - (performance.now() - started));
    setTimeout(() => this.round(), wait);
  }

  /** Learns which node id sits behind an instance (needed when instances are HOST:PORT). */
  learn(before, after, pinged) {
    const old = new Map(before.map((s) => [s.instanceId, s.requests]));
    const moved = after.filter((s) => s.requests !== (old.get(s.instanceId) ?? s.requests));
    if (moved.length === 1 && moved[0].requests - old.get(moved[0].instanceId) === 1)
      this.nodeOfInstance.set(moved[0].instanceId, pinged);
    for (const s of after) if (s.instanceId === pinged) this.nodeOfInstance.set(s.instanceId, pinged);
  }

  render(services) {
    const now = performance.now();
    // A node the registry has dropped (its lease expired) stays on the list, red and marked
    // "gone", for GONE_MS: otherwise a dead node would just vanish a few seconds after dying.
    const listed = new Set(services.map((s) => s.instanceId));
    for (const s of services) this.seen.set(s.instanceId, { s, at: now });
    const gone = [];
    for (const [id, { s, at }] of this.seen) {
      if (listed.has(id)) continue;
      if (now - at > GONE_MS) this.seen.delete(id);
      else gone.push({ ...s, status: 'GONE', healthy: false, inFlight: 0 });
    }
    const all = [...services, ...gone];

    const up = all.filter((s) => isUp(s)).length;
    this.summary.textContent = `${up} of ${all.length} up`;
    this.summary.dataset.up = String(up);
    this.summary.dataset.total = String(all.length);

    const items = all.map((s) => {
      const prev = this.prev.get(s.instanceId);
      const rate = prev ? ((s.requests - prev.requests) * 1000) / Math.max(1, now - prev.at) : 0;
      const nodeId = this.nodeOfInstance.get(s.instanceId) || (s.instanceId.includes(':') ? null : s.instanceId);
      const state = isUp(s) ? 'up' : 'down';
      const badge = state === 'up' ? 'up' : s.status === 'GONE' ? 'gone' : !s.healthy ? 'down'
        : s.status.toLowerCase().replace(/_/g, ' ');
      return h('li', { class: 'node', 'data-state': state, 'data-instance': s.instanceId, 'data-node': nodeId || '' },
        h('h3', {}, h('span', { text: nodeId || s.instanceId }),
          h('span', { class: 'badge', text: badge, 'aria-label': `state: ${badge}` })),
        h('p', { class: 'url', text: nodeId && nodeId !== s.instanceId ? `${s.instanceId} · ${s.url}` : s.url }),
        h('dl', {},
          h('dt', { text: 'registry status' }),
          h('dd', { text: s.status === 'GONE' ? 'not listed any more' : s.status }),
          h('dt', { text: 'healthy' }), h('dd', { text: s.healthy ? 'yes' : 'no' }),
          h('dt', { text: 'requests served' }), h('dd', { class: 'requests', text: s.requests.toLocaleString() }),
          h('dt', { text: 'per second' }), h('dd', { text: rate.toFixed(1) }),
          h('dt', { text: 'in flight' }), h('dd', { text: String(s.inFlight) })));
    });
    this.list.replaceChildren(...items);
    this.prev = new Map(all.map((s) => [s.instanceId, { requests: s.requests, at: now }]));
    this.markAnswered();
  }

  markAnswered() {
    for (const li of this.list.children) {
      const yes = !!this.lastUserNode && li.dataset.node === this.lastUserNode;
      li.classList.toggle('answered', yes);
      if (yes) li.title = 'answered your last request';
      else li.removeAttribute('title');
    }
  }
}

const isUp = (s) => s.healthy && s.status === 'UP';
