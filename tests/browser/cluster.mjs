// Starts a real cluster for the browser tests: a private RabbitMQ (scripts/rabbitmq-private),
// N status-nodes and one status-gateway serving web/, all on free ports of 127.0.0.1.
// The nodes run with `--auth required` (their default): they share a cluster key generated into
// the work dir, and each creates the account `admin` from a generated password file at start
// (`cluster.adminPassword`; `cluster.adminToken()` signs in with it).
// Mirrors tests/system/harness.py: binaries from $STATUS_BUILD_DIR/bin (default build/bin),
// every wait bounded, everything stopped in stop() — and killed on process exit as a last resort.
//
// With STATUS_TLS=1 (tests/browser/run --tls) every hop is TLS: the certificates of
// scripts/tls-pki in $STATUS_TLS_DIR (one per process, a private CA), HTTPS for the gateway
// (plain HTTP on `redirectPort` answers 308 to it) and the nodes, the gateway to the nodes over
// https:// with --tls-ca, AMQPS to the broker's TLS listener. This process's own fetch() trusts
// that CA through NODE_EXTRA_CA_CERTS, which Node reads only at its start: hence the directory is
// made before, by `run`.
//
// Run directly (`node tests/browser/cluster.mjs`) it starts a cluster and keeps it up until
// Ctrl-C: handy for working on the page.
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.resolve(ROOT, process.env.STATUS_BUILD_DIR || 'build', 'bin');
const RABBIT = path.join(ROOT, 'scripts', 'rabbitmq-private');
const TLS_PKI = path.join(ROOT, 'scripts', 'tls-pki');
export const TLS = process.env.STATUS_TLS === '1';

/** Debian's Chromium (never a downloaded one) and the flags the page tests launch it with. */
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--no-first-run', '--disable-sync'];

/** Makes the page's Leaflet map reachable as window.testMap (caught as Leaflet loads). */
export async function keepLeafletMap(ctx) {
  await ctx.addInitScript(() => {
    let leaflet;
    Object.defineProperty(window, 'L', {
      configurable: true,
      get: () => leaflet,
      set: (v) => {
        leaflet = v;
        v?.Map?.addInitHook(function keep() { window.testMap = this; });
      },
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// A port free on 127.0.0.1 now, below the kernel's ephemeral range (15000 up to it), never the same
// one twice in a run: outgoing connections take their local ports from that range, in sequence,
// and one of them would take a port picked for a process that binds it seconds later (a broker).
const handedOut = new Set();
function ephemeralLow() {
  try {
    const [lo] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo > 16000) return lo;
  } catch { /* not Linux: the usual low end */ }
  return 32768;
}
function bindable(port) {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
export async function freePort() {
  const top = ephemeralLow() - 1;
  for (let i = 0; i < 500; i++) {
    const port = 15000 + Math.floor(Math.random() * (top - 15000 + 1));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port in 15000-${top}`);
}

/** Polls `fn` until it returns something truthy; throws after `timeoutMs`. */
export async function waitUntil(fn, { timeoutMs = 10000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${last})`);
}

// Every child and broker we start, so that an exit of any kind can still end them.
const live = new Set();
const brokers = new Set();
const workdirs = new Set();
function killEverything() {
  for (const p of live) {
    try { process.kill(-p.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
  live.clear();
  for (const dir of brokers) spawnSync(RABBIT, ['stop', dir], { stdio: 'ignore', timeout: 60000 });
  brokers.clear();
  if (!process.env.KEEP_WORKDIR) for (const dir of workdirs) fs.rmSync(dir, { recursive: true, force: true });
  workdirs.clear();
}
process.on('exit', killEverything);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`cluster: ${sig}: stopping everything`);
    killEverything();
    process.exit(1);
  });
}

class Proc {
  constructor(binary, args, workdir, name, env = {}) {
    this.binary = binary;
    this.args = args;
    this.env = { ...process.env, ...env };
    this.name = name;
    this.logPath = path.join(workdir, `${name}.log`);
    this.port = Number(args[args.indexOf('--port') + 1]);
    this.scheme = args.includes('--tls-cert') ? 'https' : 'http';
    this.child = null;
    this.exited = null;
  }

  get url() { return `${this.scheme}://127.0.0.1:${this.port}`; }

  async start() {
    const exe = path.join(BIN, this.binary);
    if (!fs.existsSync(exe)) throw new Error(`${exe} does not exist: build it first (make build)`);
    const log = fs.openSync(this.logPath, 'a');
    // detached: its own process group, so a kill reaches anything it spawns too.
    this.child = spawn(exe, this.args, { stdio: ['ignore', log, log], detached: true, env: this.env });
    fs.closeSync(log);
    live.add(this.child);
    this.exited = new Promise((r) => this.child.once('exit', (code, sig) => {
      live.delete(this.child);
      r(code ?? sig);
    }));
    await waitUntil(async () => {
      if (this.child.exitCode !== null || this.child.signalCode !== null)
        throw new Error(`${this.name} exited: ${this.logTail()}`);
      const r = await fetch(`${this.url}/health`, { signal: AbortSignal.timeout(2000) });
      return r.status === 200;
    }, { timeoutMs: 30000, what: `${this.name} healthy` }).catch((e) => {
      throw new Error(`${e.message}\n--- ${this.name} log:\n${this.logTail()}`);
    });
    return this;
  }

  running() { return this.child && this.child.exitCode === null && this.child.signalCode === null; }

  /** kill -9: no chance to clean up. */
  async kill() {
    if (!this.running()) return;
    this.child.kill('SIGKILL');
    await Promise.race([this.exited, sleep(10000)]);
  }

  /** SIGTERM, then SIGKILL of the whole group if it does not exit within `graceMs`. */
  async stop(graceMs = 10000) {
    if (!this.running()) return;
    this.child.kill('SIGTERM');
    const done = await Promise.race([this.exited.then(() => true), sleep(graceMs).then(() => false)]);
    if (!done) {
      try { process.kill(-this.child.pid, 'SIGKILL'); } catch { /* gone */ }
      await Promise.race([this.exited, sleep(5000)]);
    }
  }

  logTail(n = 30) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  }
}

/** Writes `content` to a new file readable by its owner only (0600). */
function writeSecret(file, content) {
  fs.writeFileSync(file, content, { mode: 0o600 });
  fs.chmodSync(file, 0o600);  // whatever the umask
  return file;
}

export class Cluster {
  /**
   * `auth`: 'required' (accounts, sessions, a cluster key) or 'off' (anyone writes anything).
   * `broker: false`: no RabbitMQ, for a single node that replicates with nobody.
   * `tls`: TLS on every hop (see the top of this file); STATUS_TLS=1 by default.
   */
  constructor({ nodes = 3, auth = 'required', broker = true, tls = TLS } = {}) {
    if (!broker && nodes !== 1) throw new Error('without a broker the cluster has one node');
    this.nodeCount = nodes;
    this.auth = auth;
    this.withBroker = broker;
    this.tls = tls;
    this.ca = null;            // with TLS: the private CA's certificate, what a client must trust
    this.redirectPort = null;  // with TLS: the gateway's plain HTTP port (308 to HTTPS)
    this.adminPassword = null;
    this.adminTokenCache = null;
    this.workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'status-browser-'));
    // The broker may run as the `rabbitmq` user: it must be able to reach its directory.
    fs.chmodSync(this.workdir, 0o755);
    workdirs.add(this.workdir);
    this.nodes = [];
    this.gateway = null;
    this.brokerDir = path.join(this.workdir, 'rabbitmq');
    this.brokerStarted = false;
  }

  get url() { return this.gateway.url; }

  async start() {
    for (const b of ['status-node', 'status-gateway']) {
      const exe = path.join(BIN, b);
      if (!fs.existsSync(exe)) throw new Error(`${exe} does not exist: build it first (make build)`);
    }
    const pki = this.tls ? this.makePki() : null;
    // Each server's certificate, key and the CA it checks the others against.
    const tlsArgs = (name) => (pki ? ['--tls-cert', path.join(pki, `${name}.crt`),
      '--tls-key', path.join(pki, `${name}.key`), '--tls-ca', this.ca] : []);
    const env = {};
    if (this.withBroker) {
      const brokerPort = await freePort();
      const brokerEnv = { ...process.env };
      if (pki) Object.assign(brokerEnv, { TLS_DIR: pki, TLS_PORT: String(await freePort()) });
      const r = spawnSync(RABBIT, ['start', this.brokerDir, String(brokerPort)],
        { stdio: 'inherit', timeout: 120000, env: brokerEnv });
      this.brokerStarted = true;  // stop() must run even after a failed start
      brokers.add(this.brokerDir);
      if (r.status !== 0) throw new Error(`rabbitmq-private start failed (${r.status ?? r.error})`);
      // The broker's own user and generated password (no guest): the URL is in a 0600 file and
      // goes to the nodes in their environment, never on a command line. With TLS: amqps://.
      const urlFile = path.join(this.brokerDir, pki ? 'amqps-url' : 'amqp-url');
      env.STATUS_AMQP_URL = fs.readFileSync(urlFile, 'utf8').trim();
    }

    // Secrets in 0600 files of the work dir; only their paths go on the command lines. Every
    // node gets the admin password file: each creates (or resets) `admin` at start, so the
    // account exists whichever node answers first.
    const authArgs = ['--auth', this.auth];
    if (this.auth === 'required') {
      const keyFile = writeSecret(path.join(this.workdir, 'cluster.key'), crypto.randomBytes(48));
      this.adminPassword = crypto.randomBytes(18).toString('base64url');
      const pwFile = writeSecret(path.join(this.workdir, 'admin.password'), `${this.adminPassword}\n`);
      authArgs.push('--cluster-key-file', keyFile, '--admin-password-file', pwFile);
    }
    for (let i = 1; i <= this.nodeCount; i++) {
      const port = await freePort();
      const id = `n${i}`;
      const nodeTls = tlsArgs(`node${i}`);
      if (pki && this.withBroker) nodeTls.push('--amqp-ca', this.ca);
      this.nodes.push(new Proc('status-node', ['--port', String(port), '--node-id', id,
        '--data-dir', path.join(this.workdir, `data-${id}`), '--threads', '2', ...authArgs, ...nodeTls],
        this.workdir, `node-${id}`, env));
    }
    // The first node alone, then the rest: later ones may bootstrap from it.
    await this.nodes[0].start();
    await Promise.all(this.nodes.slice(1).map((n) => n.start()));

    const gwPort = await freePort();
    // Every page and "another client" of the tests come from 127.0.0.1, i.e. share one client's
    // rate limit: set well above what they send (the default, 100/s, would throttle the test
    // run itself), but on, so the limiter stays in the path.
    const args = ['--port', String(gwPort), '--threads', '2', '--web-root', path.join(ROOT, 'web'),
      '--rate-limit', '2000', '--rate-burst', '4000', ...tlsArgs('gateway')];
    if (pki) {
      this.redirectPort = await freePort();
      args.push('--redirect-port', String(this.redirectPort));
    }
    for (const n of this.nodes) args.push('--upstream', pki ? n.url : `127.0.0.1:${n.port}`);
    this.gateway = new Proc('status-gateway', args, this.workdir, 'gateway');
    await this.gateway.start();
    return this;
  }

  /**
   * The certificates of scripts/tls-pki, one per process, in $STATUS_TLS_DIR (or the work dir);
   * returns that directory. This process must trust their CA already (NODE_EXTRA_CA_CERTS).
   */
  makePki() {
    const dir = process.env.STATUS_TLS_DIR || path.join(this.workdir, 'tls');
    const names = ['gateway', 'broker', ...Array.from({ length: this.nodeCount }, (_, i) => `node${i + 1}`)];
    const r = spawnSync(TLS_PKI, [dir, ...names], { stdio: 'inherit', timeout: 60000 });
    if (r.status !== 0) throw new Error(`scripts/tls-pki failed (${r.status ?? r.error})`);
    this.ca = path.join(dir, 'ca.crt');
    if (process.env.NODE_EXTRA_CA_CERTS !== this.ca) {
      throw new Error(`with TLS, start node with NODE_EXTRA_CA_CERTS=${this.ca} (tests/browser/run --tls does)`);
    }
    return dir;
  }

  /** Signs in through the gateway; returns {token, username, roles} (throws on anything but 201). */
  async signIn(username, password) {
    const res = await fetch(`${this.url}/api/sessions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ username, password }),
      signal: AbortSignal.timeout(10000),
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`sign-in of ${username}: ${res.status} ${text}`);
    return JSON.parse(text);
  }

  /**
   * Waits until every running node accepts `token` (GET /api/me on each node directly): a session
   * replicates like a status, asynchronously, so a node other than the one that signed in may
   * refuse it for a moment. Returns the milliseconds that took.
   */
  async waitForSession(token, { timeoutMs = 5000 } = {}) {
    const t0 = Date.now();
    for (const n of this.nodes.filter((x) => x.running())) {
      await waitUntil(async () => (await fetch(`${n.url}/api/me`, {
        headers: { Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2000),
      })).status === 200, { timeoutMs: Math.max(100, timeoutMs - (Date.now() - t0)), intervalMs: 20,
        what: `${n.name} accepting the session` });
    }
    return Date.now() - t0;
  }

  /** A bearer token of `admin` (null with --auth off), fetched once. */
  async adminToken() {
    if (this.auth !== 'required') return null;
    if (!this.adminTokenCache) {
      // The account is created by each node at start, before it reports healthy.
      const { token } = await this.signIn('admin', this.adminPassword);
      await this.waitForSession(token);
      this.adminTokenCache = token;
    }
    return this.adminTokenCache;
  }

  async stop() {
    const procs = [this.gateway, ...this.nodes].filter(Boolean);
    await Promise.all(procs.map((p) => p.stop()));
    if (this.brokerStarted) {
      spawnSync(RABBIT, ['stop', this.brokerDir], { stdio: 'inherit', timeout: 120000 });
      this.brokerStarted = false;
      brokers.delete(this.brokerDir);
    }
    if (!process.env.KEEP_WORKDIR) fs.rmSync(this.workdir, { recursive: true, force: true });
    workdirs.delete(this.workdir);
  }

  logs() {
    return [this.gateway, ...this.nodes].filter(Boolean)
      .map((p) => `--- ${p.name} (${p.logPath}):\n${p.logTail(15)}`).join('\n');
  }
}

// `node tests/browser/cluster.mjs [N]`: a cluster to develop the page against.
if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const cluster = new Cluster({ nodes: Number(process.argv[2] || 3) });
  try {
    await cluster.start();
  } catch (e) {
    console.error(e.message);
    await cluster.stop();
    process.exit(1);
  }
  console.log(`web client: ${cluster.url}/`);
  if (cluster.ca) console.log(`the CA to trust: ${cluster.ca}`);
  if (cluster.adminPassword) console.log(`admin password: in ${path.join(cluster.workdir, 'admin.password')}`);
  for (const n of cluster.nodes) console.log(`${n.name}: ${n.url}`);
  console.log(`workdir: ${cluster.workdir} — Ctrl-C stops everything`);
  // Ctrl-C / SIGTERM: the handlers above kill the processes and stop the broker.
  setInterval(() => {}, 1 << 30);
}
