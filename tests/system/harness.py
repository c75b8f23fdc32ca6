"""Black-box helpers for system tests: start the real binaries and a private RabbitMQ, talk HTTP.

Everything binds to 127.0.0.1 on free ports outside the kernel's ephemeral range (free_port);
every wait is bounded.
"""
import base64
import http.client
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(ROOT, os.environ.get("STATUS_BUILD_DIR", "build"), "bin")


def _ephemeral_range():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
        return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


_handed_out = set()


def free_port():
    """A port free on 127.0.0.1 now, below the kernel's ephemeral range (15000 up to it) and never
    the same one twice in a run. Not one the kernel hands out (bind to port 0): outgoing connections
    take their local ports from that range too, in sequence, and one of them takes a port picked
    for a process that binds it seconds later (a RabbitMQ broker takes that long to start)."""
    lo, hi = _ephemeral_range()
    span = (15000, lo - 1) if lo > 16000 else (hi + 1, 65535)
    for _ in range(500):
        port = random.randint(*span)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free port in {span[0]}-{span[1]}")


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # dict, lower-case names
        self.body = body        # bytes

    def json(self):
        return json.loads(self.body)

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        return f"Reply({self.status}, {self.body[:300]!r})"


# Whom https:// requests trust: set by trust() (a test's private CA), else the system store.
TLS_CONTEXT = None


def trust(ca_file):
    """https:// URLs of request() (and of everything built on it) verify against `ca_file`."""
    global TLS_CONTEXT
    TLS_CONTEXT = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None


def connection(url, timeout=10):
    u = urllib.parse.urlsplit(url)
    if u.scheme == "https":
        return http.client.HTTPSConnection(u.hostname, u.port, timeout=timeout,
                                           context=TLS_CONTEXT or ssl.create_default_context())
    return http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)


def request(method, url, body=None, headers=None, timeout=10):
    """One HTTP request on a new connection. `body` may be bytes, str or a JSON-able object.
    Credentials in the URL (http://user:password@host/…) are sent as HTTP Basic. https://
    verifies against trust()'s CA."""
    u = urllib.parse.urlsplit(url)
    conn = connection(url, timeout)
    hdrs = dict(headers or {})
    if u.username is not None:
        pair = f"{urllib.parse.unquote(u.username)}:{urllib.parse.unquote(u.password or '')}"
        hdrs.setdefault("Authorization", "Basic " + base64.b64encode(pair.encode()).decode())
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    target = u.path + ("?" + u.query if u.query else "")
    try:
        conn.request(method, target or "/", body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def raw(port, data, timeout=5):
    """Sends raw bytes, returns all bytes received until the server closes or the timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
        return out


def wait_until(predicate, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except (OSError, http.client.HTTPException) as e:
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


_FLAG_CACHE = {}


def _known_flags(binary, args):
    """`args` as given, unless STATUS_TEST_DROP_UNKNOWN_FLAGS=1: then flags the binary's --help
    does not list are left out (with their value). That mode exists only to run the tests against
    an older build and see which guarantees it breaks, instead of every test stopping at an
    "unknown option"; a normal run never drops anything."""
    if os.environ.get("STATUS_TEST_DROP_UNKNOWN_FLAGS") != "1":
        return list(args)
    if binary not in _FLAG_CACHE:
        import re
        out = subprocess.run([os.path.join(BIN, binary), "--help"], capture_output=True,
                             text=True, timeout=10).stdout
        _FLAG_CACHE[binary] = set(re.findall(r"--([a-z0-9-]+)", out))
    known, out, i = _FLAG_CACHE[binary], [], 0
    while i < len(args):
        a = args[i]
        takes_value = i + 1 < len(args) and not args[i + 1].startswith("--")
        if a.startswith("--") and a[2:] not in known:
            i += 2 if takes_value else 1
            continue
        out.append(a)
        i += 1
    return out


def proc_status(pid, field):
    """A numeric field of /proc/PID/status: "VmRSS" (kB), "Threads", ..."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"


def faketime_env(offset):
    """Environment that runs a process with its wall clock shifted by `offset` (libfaketime syntax:
    "+10" seconds, "+8d" days, "-1h"). Monotonic clocks stay real."""
    return {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": offset, "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "FAKETIME_DONT_RESET": "1"}


class Client:
    """A kept-alive HTTP/1.1 connection that reconnects after an error; one per thread."""

    def __init__(self, url, timeout=10):
        self.url, self.timeout = url, timeout
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        hdrs = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        if isinstance(body, str):
            body = body.encode()
        if self.conn is None:
            self.conn = connection(self.url, self.timeout)
        try:
            self.conn.request(method, path, body=body, headers=hdrs)
            r = self.conn.getresponse()
            data = r.read()
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        except BaseException:
            self.close()
            raise

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


@contextmanager
def black_hole(port):
    """Drops every TCP packet sent to 127.0.0.1:`port` (iptables on lo) until the block ends: an
    established connection sees no answer and no reset, a new one no SYN-ACK."""
    rule = ["INPUT", "-i", "lo", "-p", "tcp", "--dport", str(port), "-j", "DROP"]
    subprocess.run(["iptables", "-I"] + rule, check=True, timeout=20)
    try:
        yield
    finally:
        for _ in range(5):  # remove every copy, however often it was inserted
            if subprocess.run(["iptables", "-D"] + rule, capture_output=True, timeout=20).returncode:
                break


@contextmanager
def tmpfs(path, size):
    """A tmpfs of `size` (e.g. "3m") mounted on `path` for the block; unmounted afterwards."""
    os.makedirs(path, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", path], check=True,
                   timeout=20)
    try:
        yield path
    finally:
        if subprocess.run(["umount", path], capture_output=True, timeout=20).returncode:
            subprocess.run(["umount", "-l", path], capture_output=True, timeout=20)


def fill_disk(path, name="filler"):
    """Writes zeros into `path`/`name` until the file system is full; returns the file's path."""
    f = os.path.join(path, name)
    chunk = b"\0" * 65536
    with open(f, "wb", buffering=0) as out:
        try:
            while True:
                out.write(chunk)
        except OSError:
            pass
        try:
            while True:  # the last bytes, in small pieces
                out.write(b"\0" * 512)
        except OSError:
            pass
    return f


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 and never answers (a hung server)."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.conns, self.stopping = [], False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.stopping = True
        self.sock.close()
        for c in self.conns:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Proc:
    """One of our binaries, started with its flags; logs to a file in `workdir`."""

    def __init__(self, binary, args, workdir, name, env=None):
        self.binary, self.args, self.workdir, self.name = binary, list(args), workdir, name
        self.env = dict(os.environ, **(env or {}))
        self.p = None
        self.log_path = os.path.join(workdir, f"{name}.log")
        self.port = None
        if "--port" in self.args:
            self.port = int(self.args[self.args.index("--port") + 1])

    @property
    def url(self):
        if "--tls-cert" in self.args:
            return f"https://localhost:{self.port}"
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait=True, ready_status=(200,)):
        log = open(self.log_path, "ab")
        cmd = [os.path.join(BIN, self.binary)] + _known_flags(self.binary, self.args)
        self.p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                  start_new_session=True)
        log.close()
        if wait:
            self.wait_ready(ready_status)
        return self

    def wait_ready(self, statuses=(200,), timeout=20):
        def ok():
            if self.p.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.p.returncode}: {self.log_tail()}")
            return request("GET", self.url + "/health", timeout=2).status in statuses
        wait_until(ok, timeout, what=f"{self.name} healthy")

    def kill(self):
        """kill -9: no chance to clean up."""
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGKILL)
            self.p.wait(10)

    def stop(self, timeout=15):
        """SIGTERM and wait for a graceful exit; returns the exit code."""
        if not self.p or self.p.poll() is not None:
            return self.p.returncode if self.p else None
        self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait(5)
            raise AssertionError(f"{self.name} did not stop within {timeout}s: {self.log_tail()}")

    def running(self):
        return self.p is not None and self.p.poll() is None

    @property
    def pid(self):
        return self.p.pid

    def signal(self, sig):
        self.p.send_signal(sig)

    def proc_status(self, field):
        """A numeric field of /proc/PID/status, e.g. "VmRSS" (kB) or "Threads"."""
        return proc_status(self.pid, field)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_tail(self, n=30):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


class Broker:
    """A private RabbitMQ started through scripts/rabbitmq-private: a user of its own (`status`)
    with a generated password, kept across restarts; no `guest`."""

    def __init__(self, workdir=None, conf=(), tls_dir=None, cookie_file=None):
        self.conf = list(conf)  # extra rabbitmq.conf lines
        # With `cookie_file`: the Erlang cookie of a cluster (rabbitmq-private's COOKIE_FILE),
        # shared by the brokers that are to join() each other; without it, one of its own.
        self.cookie_file = cookie_file
        # With `tls_dir` (ca.crt, broker.crt, broker.key of scripts/tls-pki): a TLS listener too.
        self.tls_dir = tls_dir
        # The broker drops privileges to the `rabbitmq` user, which cannot enter pytest's private
        # (0700) temp dirs: give it a directory of its own directly under the system temp dir.
        import tempfile
        self.dir = tempfile.mkdtemp(prefix="status-rabbitmq-")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.dist_port = free_port()
        self.tls_port = free_port() if tls_dir else None
        self.script = os.path.join(ROOT, "scripts", "rabbitmq-private")

    @property
    def url(self):
        """amqp://status:PASSWORD@127.0.0.1:PORT/ (from the broker's 0600 file; pass it to a node
        in its environment, see node(), not on a command line)."""
        with open(os.path.join(self.dir, "amqp-url")) as f:
            return f.read().strip()

    @property
    def amqps_url(self):
        """amqps://status:PASSWORD@localhost:TLS_PORT/ (a broker with `tls_dir` only)."""
        with open(os.path.join(self.dir, "amqps-url")) as f:
            return f.read().strip()

    def start(self):
        env = dict(os.environ, DIST_PORT=str(self.dist_port), EXTRA_CONF="\n".join(self.conf))
        env.pop("TLS_DIR", None)  # a TLS listener only when asked for here
        env.pop("TLS_PORT", None)
        env.pop("COOKIE_FILE", None)
        if self.cookie_file:
            env["COOKIE_FILE"] = str(self.cookie_file)
        if self.tls_dir:
            env.update(TLS_DIR=str(self.tls_dir), TLS_PORT=str(self.tls_port))
        try:
            subprocess.run([self.script, "start", self.dir, str(self.port)], check=True,
                           timeout=120, env=env)
        except BaseException:
            self.stop()  # a half-started broker must not outlive the failure
            raise
        return self

    def stop(self):
        subprocess.run([self.script, "stop", self.dir], check=False, timeout=120)

    @property
    def node_name(self):
        return f"status-{self.port}@localhost"

    def join(self, other):
        """Makes this (running) broker a member of the cluster of `other` (same cookie_file)."""
        subprocess.run([self.script, "join", self.dir, other.dir], check=True, timeout=120)
        return self

    def remove(self):
        import shutil
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def ctl(self, *args, timeout=60):
        return subprocess.run([self.script, "ctl", self.dir, *args], check=True, timeout=timeout,
                              capture_output=True, text=True).stdout

    def restore_user(self):
        """Gives the broker its user back, same password (a `rabbitmqctl reset` drops users)."""
        subprocess.run([self.script, "user", self.dir], check=True, timeout=60)

    def beam_pid(self):
        """The pid of the broker's Erlang VM (beam.smp), a descendant of the launcher."""
        with open(os.path.join(self.dir, "launcher.pid")) as f:
            ancestors = {int(f.read().strip())}
        found = True
        while found:  # walk down from the launcher, generation by generation
            found = False
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) in ancestors:
                    continue
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        stat = f.read()
                except OSError:
                    continue
                comm = stat[stat.index("(") + 1:stat.rindex(")")]
                ppid = int(stat[stat.rindex(")") + 2:].split()[1])
                if ppid in ancestors:
                    if comm == "beam.smp":
                        return int(entry)
                    ancestors.add(int(entry))
                    found = True
        raise AssertionError(f"no beam.smp under the broker launcher of {self.dir}")

    @contextmanager
    def frozen(self):
        """SIGSTOP of the broker's VM for the block (its sockets stay open, nothing answers)."""
        pid = self.beam_pid()
        os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(pid, signal.SIGCONT)

    @contextmanager
    def disk_alarm(self):
        """A disk-free limit no disk meets: the broker raises its disk alarm and blocks publishers."""
        self.ctl("set_disk_free_limit", "10000GB")
        try:
            yield
        finally:
            self.ctl("set_disk_free_limit", "50MB")

    def healthy(self, timeout=15):
        try:
            self.ctl("list_queues", "name", timeout=timeout)
            return True
        except (subprocess.SubprocessError, OSError):
            return False


def assert_own_user(broker_dir, port):
    """A broker of scripts/rabbitmq-private has one user, `status` (no `guest`), whose generated
    password only broker_dir/amqp-url (mode 0600) holds: no command line shows it. Returns it."""
    path = os.path.join(broker_dir, "amqp-url")
    assert os.stat(path).st_mode & 0o777 == 0o600, oct(os.stat(path).st_mode)
    with open(path) as f:
        url = f.read().strip()
    m = re.fullmatch(rf"amqp://status:([0-9a-f]{{48}})@127\.0\.0\.1:{port}/", url)
    assert m, url
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                assert m.group(1).encode() not in f.read(), f"the password on the command line of {pid}"
        except OSError:
            continue
    users = subprocess.run([os.path.join(ROOT, "scripts", "rabbitmq-private"), "ctl", broker_dir,
                            "-s", "list_users"], capture_output=True, text=True, timeout=60,
                           check=True).stdout
    assert [line.split()[0] for line in users.splitlines() if line.strip()] == ["status"], users
    return m.group(1)


def node(workdir, node_id, amqp=None, registry=None, peers=(), extra=(), port=None, env=None,
         data=None, name=None):
    """`amqp`: a broker URL or a list of them, tried in turn. They hold the broker's password, so
    they go in the environment (STATUS_AMQP_URL, comma-separated), not on the command line.

    Nodes run with `--auth off` (the open mode) unless `extra` names `--auth`: the tests of
    replication, faults and the API are about those, and the identity tests (test_auth.py) turn
    authentication on themselves."""
    port = port or free_port()
    data = data or os.path.join(workdir, f"data-{node_id}")
    args = ["--port", str(port), "--node-id", node_id, "--data-dir", data, "--threads", "2"]
    if "--auth" not in extra:
        args += ["--auth", "off"]
    env = dict(env or {})
    if amqp:
        env["STATUS_AMQP_URL"] = amqp if isinstance(amqp, str) else ",".join(amqp)
    if registry:
        args += ["--registry-url", registry]
    for p in peers:
        args += ["--peer", p]
    return Proc("status-node", args + list(extra), workdir, name or f"node-{node_id}", env=env)


def registry(workdir, name="registry", peers=(), extra=(), port=None, users=None, env=None):
    """`users` ({user: password}): a credentials file (mode 0600) and --credentials-file."""
    port = port or free_port()
    args = ["--port", str(port)]
    for p in peers:
        args += ["--peer", p]
    if users is not None:
        path = os.path.join(workdir, f"{name}-credentials")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.writelines(f"{u}:{pw}\n" for u, pw in users.items())
        args += ["--credentials-file", path]
    return Proc("status-registry", args + list(extra), workdir, name, env=env)


def gateway(workdir, registry_url=None, upstreams=(), extra=(), port=None, name="gateway",
            env=None):
    port = port or free_port()
    args = ["--port", str(port), "--threads", "2"]
    if registry_url:
        args += ["--registry-url", registry_url]
    for u in upstreams:
        args += ["--upstream", u]
    return Proc("status-gateway", args + list(extra), workdir, name, env=env)


def start_nodes(workdir, procs, n, amqp=None, registry=None, prefix="g", extra=()):
    """`n` nodes started together (each appended to `procs`), the others as --peer when they
    replicate (`amqp`); returned once all are ready."""
    ports = [free_port() for _ in range(n)]
    nodes = []
    for i in range(n):
        peers = [f"http://127.0.0.1:{p}" for j, p in enumerate(ports) if j != i] if amqp else []
        proc = node(str(workdir), f"{prefix}{i + 1}", amqp=amqp, registry=registry, peers=peers,
                    port=ports[i], extra=list(extra))
        procs.append(proc)
        nodes.append(proc)
    for proc in nodes:
        proc.start(wait=False)
    for proc in nodes:
        proc.wait_ready()
    return nodes


# --- helpers shared by the fault tests --------------------------------------------------------

def put_status(url, user, text, headers=None, timeout=10, **fields):
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    return request("PUT", f"{url}/api/statuses/{user}", {"statusText": text, **fields}, hdrs,
                   timeout=timeout)


def state_of(url):
    """A node's whole state: {username: version}, paging through GET /api/statuses."""
    out, offset, total = {}, 0, None
    while total is None or offset < total:
        r = request("GET", f"{url}/api/statuses?limit=1000&offset={offset}")
        assert r.status == 200, r
        total = int(r.header("X-Total-Count"))
        page = r.json()
        out.update({s["username"]: s["version"] for s in page})
        offset += 1000
        if not page:
            break
    return out


def wait_converged(urls, timeout=15, expect=None):
    """Waits until every node in `urls` holds the same state (and, with `expect`, that many
    statuses); returns it. On a timeout, says how the states differ."""
    deadline = time.monotonic() + timeout
    states = None
    while True:
        try:
            states = [state_of(u) for u in urls]
            if all(s == states[0] for s in states) and (expect is None or len(states[0]) == expect):
                return states[0]
        except (OSError, http.client.HTTPException, AssertionError):
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if states is None:
        raise AssertionError(f"no state readable from {urls} within {timeout}s")
    union = set().union(*states)
    detail = [f"{u}: {len(s)} statuses, missing {len(union - set(s))} e.g. {sorted(union - set(s))[:3]}"
              for u, s in zip(urls, states)]
    raise AssertionError(f"states differ after {timeout}s (expected {expect}): " + "; ".join(detail))


def health(url, timeout=2):
    """(status code, JSON body or {}) of GET /health."""
    r = request("GET", url + "/health", timeout=timeout)
    try:
        return r.status, r.json()
    except ValueError:
        return r.status, {}


def metric(url, name):
    text = request("GET", url + "/metrics").body.decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


class WriteLoad:
    """`threads` writers PUT distinct users on `urls` (round robin) for `seconds` (and at most
    `max_per_thread` each), over kept-alive connections. Records, per write, when it was sent,
    how long the answer took (None: no answer within `timeout`) and the answer's status."""

    def __init__(self, urls, threads=8, seconds=6.0, prefix="w", text="x", timeout=8.0,
                 max_per_thread=100000, pause=0.0):
        self.urls, self.threads, self.seconds, self.prefix = list(urls), threads, seconds, prefix
        self.text, self.timeout, self.max_per_thread, self.pause = text, timeout, max_per_thread, pause
        self.results = []  # (user, sent monotonic, latency or None, status or None, version)
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.workers = []

    def _run(self, w):
        clients = [Client(u, timeout=self.timeout) for u in self.urls]
        body = json.dumps({"statusText": self.text}, ensure_ascii=False).encode()
        hdrs = {"Content-Type": "application/json"}
        deadline = time.monotonic() + self.seconds
        i = 0
        while not self.stop_event.is_set() and time.monotonic() < deadline and i < self.max_per_thread:
            k = (w + i) % len(clients)
            user = f"{self.prefix}{w}-{i}"
            t0 = time.monotonic()
            try:
                r = clients[k].request("PUT", f"/api/statuses/{user}", body, hdrs)
                latency, status = time.monotonic() - t0, r.status
                version = r.json().get("version") if r.status in (200, 201) else None
            except (OSError, http.client.HTTPException):
                latency, status, version = None, None, None
            with self.lock:
                self.results.append((user, t0, latency, status, version))
            i += 1
            if self.pause:
                time.sleep(self.pause)
        for c in clients:
            c.close()

    def start(self):
        self.workers = [threading.Thread(target=self._run, args=(w,), daemon=True)
                        for w in range(self.threads)]
        for t in self.workers:
            t.start()
        return self

    def join(self):
        for t in self.workers:
            t.join(self.seconds + self.timeout + 10)
        assert not any(t.is_alive() for t in self.workers), "a writer thread did not finish"
        return self.results

    def stop(self):
        self.stop_event.set()
        return self.join()

    def acked(self):
        return {u for u, _, _, s, _ in self.results if s in (200, 201)}


def make_cluster(workdir, procs, prefix, n, amqp=None, extra=(), env=None, registry=None,
                 with_peers=True):
    """`n` nodes `<prefix>1..n` that know each other as --peer (unless `with_peers` is false),
    not started. `env` maps a node index to extra environment (e.g. faketime_env)."""
    ports = [free_port() for _ in range(n)]
    nodes = []
    for i in range(n):
        peers = [f"http://127.0.0.1:{p}" for j, p in enumerate(ports) if j != i] if with_peers else []
        nd = node(workdir, f"{prefix}{i + 1}", amqp=amqp, registry=registry, peers=peers,
                  port=ports[i], extra=extra, env=(env or {}).get(i))
        procs.append(nd)
        nodes.append(nd)
    return nodes


def start_all(nodes, timeout=30):
    for nd in nodes:
        nd.start(wait=False)
    for nd in nodes:
        nd.wait_ready(timeout=timeout)
    return nodes


class ConcurrentWriteLoad:
    """Many clients at once: `connections` kept-alive connections (asyncio, one thread) each PUT
    distinct users on `url` back to back for `seconds` (at most `max_per_connection` each).
    A slow answer does not slow the others down, so the node sees a steady flow of new writes
    whatever it does (unlike a few blocking threads, which wait with it). Records, per write,
    (user, sent monotonic, latency or None, status or None, version)."""

    def __init__(self, url, connections=256, seconds=6.0, prefix="c", text="x", timeout=8.0,
                 max_per_connection=1000):
        u = urllib.parse.urlsplit(url)
        self.host, self.port = u.hostname, u.port
        self.connections, self.seconds, self.prefix, self.text = connections, seconds, prefix, text
        self.timeout, self.max_per_connection = timeout, max_per_connection
        self.results = []
        self.thread = None

    async def _one(self, c, deadline):
        import asyncio
        body = json.dumps({"statusText": self.text}, ensure_ascii=False).encode()
        reader = writer = None
        i = 0
        while time.monotonic() < deadline and i < self.max_per_connection:
            user = f"{self.prefix}{c}-{i}"
            i += 1
            t0 = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(
                        asyncio.open_connection(self.host, self.port), self.timeout)
                head = (f"PUT /api/statuses/{user} HTTP/1.1\r\nHost: {self.host}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
                writer.write(head.encode() + body)
                status, data = await asyncio.wait_for(self._read_answer(reader), self.timeout)
                latency = time.monotonic() - t0
                version = None
                if status in (200, 201):
                    version = json.loads(data).get("version")
                self.results.append((user, t0, latency, status, version))
            except (OSError, asyncio.TimeoutError, ValueError, asyncio.IncompleteReadError):
                self.results.append((user, t0, None, None, None))
                if writer is not None:
                    writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    @staticmethod
    async def _read_answer(reader):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        data = await reader.readexactly(length) if length else b""
        return status, data

    def _main(self):
        import asyncio

        async def run():
            deadline = time.monotonic() + self.seconds
            await asyncio.gather(*(self._one(c, deadline) for c in range(self.connections)))
        asyncio.run(run())

    def start(self):
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()
        return self

    def join(self):
        self.thread.join(self.seconds + self.timeout + 20)
        assert not self.thread.is_alive(), "the load did not finish"
        return self.results

    def acked(self):
        return {u for u, _, _, s, _ in self.results if s in (200, 201)}
