"""Security review (issue 12) findings of the gateway and the common HTTP server, black-box:
bounded metric labels (F5), bounded event streams (F6), connection caps and the EMFILE pause
(F11), the default rate limit (F14), limits on what nodes answer (F16), browser headers and the
Host check (F10, F19), pools of departed nodes and DNS (F17), no second execution of a
non-idempotent request (F22), /metrics for operators only (F24). See docs/security.md."""
import http.client
import json
import os
import re
import socket
import subprocess
import threading
import time

import pytest

import harness
from harness import request, wait_until

PROBLEM = "application/problem+json"
REPO_WEB = os.path.join(harness.ROOT, "web")


# ------------------------------------------------------------------------------------ helpers

def node(tmp_path, procs, node_id, extra=(), registry=None):
    n = harness.node(str(tmp_path), node_id, extra=extra, registry=registry)
    procs.append(n)
    return n.start()


def gateway(tmp_path, procs, upstreams=(), extra=(), registry_url=None, name="gateway"):
    g = harness.gateway(str(tmp_path), registry_url=registry_url,
                        upstreams=[u if isinstance(u, str) else f"127.0.0.1:{u.port}" for u in upstreams],
                        extra=extra, name=name)
    procs.append(g)
    return g.start()


def metric_value(url, line_prefix):
    """The value of the first /metrics line starting with `line_prefix` (0 if none)."""
    for line in request("GET", url + "/metrics").body.decode().splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def connect(port, source="127.0.0.1", rcvbuf=None, timeout=5):
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((source, 0))
    s.settimeout(timeout)
    s.connect(("127.0.0.1", port))
    return s


def read_head(s):
    """Reads an answer's head (and whatever came with it): (status, head text, rest)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            return None, buf.decode("latin-1"), b""
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    text = head.decode("latin-1")
    return int(text.split()[1]), text, rest


def open_events(port, source="127.0.0.1", headers="", rcvbuf=None):
    """GET /api/events on a connection of its own: (status, head, socket)."""
    s = connect(port, source, rcvbuf)
    s.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
    status, head, _ = read_head(s)
    return status, head, s


def header_of(head, name):
    for line in head.split("\r\n")[1:]:
        k, _, v = line.partition(":")
        if k.strip().lower() == name.lower():
            return v.strip()
    return None


def sockets_to(pid, port):
    """TCP sockets of process `pid` whose remote port is `port` (any state)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if int(cols[2].rsplit(":", 1)[1], 16) == port and cols[9] in inodes:
                    n += 1
    return n


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Upstream:
    """A fake node on 127.0.0.1: counts the requests it receives and answers each with
    `answer` (bytes), or never when `answer` is None (a node that hangs after reading)."""

    def __init__(self, answer=None):
        self.answer = answer
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.requests = []
        self.conns = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(10)
        buf = b""
        try:
            while True:
                chunk = c.recv(65536)
                if not chunk:
                    return
                buf += chunk
                while b"\r\n\r\n" in buf:
                    head, _, buf = buf.partition(b"\r\n\r\n")
                    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                    need = int(m.group(1)) if m else 0
                    while len(buf) < need:
                        buf += c.recv(65536)
                    buf = buf[need:]
                    method, target = head.split(b" ", 2)[:2]
                    if not target.startswith(b"/health"):  # the gateway's probes do not count
                        with self.lock:
                            self.requests.append(method.decode())
                    if self.answer is not None:
                        c.sendall(self.answer)
        except OSError:
            return

    def count(self):
        with self.lock:
            return len(self.requests)

    def close(self):
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


# ------------------------------------------------------------------------------------ F5

def made_up_methods(port, n, paths):
    """`n` requests with a new ~200-character method each, on one kept-alive connection."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for i in range(n):
            method = "X" + os.urandom(6).hex().upper() + "A" * 200
            c.request(method, paths[i % len(paths)] + os.urandom(4).hex())
            r = c.getresponse()
            r.read()
            assert r.status in (400, 401, 404, 405, 501), r.status
            if r.will_close:
                c.close()
    finally:
        c.close()


@pytest.mark.parametrize("server", ["gateway", "node", "registry"])
def test_made_up_methods_and_paths_leave_metrics_bounded(tmp_path, procs, server):
    """The review's reproduction grew /metrics from 8 KB to 434 KB with 300 such requests:
    each method and each /internal path was a series of its own."""
    if server == "registry":
        target = harness.registry(str(tmp_path))
        procs.append(target)
        target.start()
        paths = ["/eureka/apps/X", "/nowhere/", "/eureka/"]
    else:
        n = node(tmp_path, procs, "m1")
        target = n if server == "node" else gateway(tmp_path, procs, [n], ["--rate-limit", "0"])
        paths = ["/internal/", "/api/", "/x/"] if server == "node" else ["/api/", "/api/statuses/", "/static/"]
    made_up_methods(target.port, 10, paths)  # the first of each kind adds its (fixed) series
    before = len(request("GET", target.url + "/metrics").body)
    made_up_methods(target.port, 300, paths)
    metrics = request("GET", target.url + "/metrics").body.decode()
    assert len(metrics) < before + 4096, (before, len(metrics))
    assert 'method="OTHER"' in metrics
    assert "AAAA" not in metrics  # no method taken as it came
    routes = set(re.findall(r'route="([^"]*)"', metrics))
    assert len(routes) < 20, routes  # route templates only, never the paths sent


# ------------------------------------------------------------------------------------ F6

@pytest.mark.parametrize("via", ["gateway", "node"])
def test_slow_event_reader_is_dropped_not_buffered(tmp_path, procs, via):
    """A client that opens /api/events and does not read: the server drops it once 1 MiB waits
    for it, instead of buffering every event (the gateway pumped the node's stream into an
    unbounded queue per client)."""
    n = node(tmp_path, procs, "s1")
    target = n if via == "node" else gateway(tmp_path, procs, [n])
    status, _, slow = open_events(target.port, rcvbuf=4096)
    assert status == 200
    body = json.dumps({"statusText": "€" * 1000}).encode()  # ~3 KB per event
    stop = threading.Event()

    def write(w):
        c = harness.Client(n.url)
        i = 0
        while not stop.is_set() and i < 20000:
            try:
                c.request("PUT", f"/api/statuses/slow{w}-{i % 200}", body,
                          {"Content-Type": "application/json"})
            except (OSError, http.client.HTTPException):
                pass
            i += 1
        c.close()

    writers = [threading.Thread(target=write, args=(w,), daemon=True) for w in range(4)]
    for t in writers:
        t.start()
    try:
        wait_until(lambda: metric_value(target.url, 'http_streams_dropped_total{reason="slow_reader"}') >= 1,
                   timeout=60, interval=0.5, what="the slow reader dropped")
    finally:
        stop.set()
        for t in writers:
            t.join(30)
        slow.close()
    assert target.proc_status("VmRSS") < 256 * 1024, "kB"
    if via == "gateway":  # and it let go of the node's stream
        wait_until(lambda: metric_value(target.url, "gateway_streams_open") == 0, timeout=5,
                   what="upstream stream closed")
    # A reader that keeps up is served as before.
    status, _, ok = open_events(target.port)
    assert status == 200
    ok.close()


def test_event_streams_per_client_at_the_gateway(tmp_path, procs):
    n = node(tmp_path, procs, "c1")
    gw = gateway(tmp_path, procs, [n], ["--max-streams-per-client", "2"])
    held = [open_events(gw.port) for _ in range(2)]
    assert [h[0] for h in held] == [200, 200]
    status, head, third = open_events(gw.port)
    assert status == 429 and int(header_of(head, "Retry-After")) >= 1, head
    third.close()
    status, _, other = open_events(gw.port, source="127.0.0.2")  # another client
    assert status == 200
    other.close()
    held.pop()[2].close()  # a stream ends: its slot is free again
    wait_until(lambda: open_events(gw.port)[0] == 200, timeout=5, what="slot released")
    for h in held:
        h[2].close()


def test_event_streams_per_client_at_the_node(tmp_path, procs):
    """Direct clients by their address; behind the gateway (a trusted proxy, by default the
    loopback address) by the address the gateway names in X-Forwarded-For."""
    n = node(tmp_path, procs, "c2", extra=["--max-event-subscribers-per-client", "2"])
    held = [open_events(n.port, source="127.0.0.2") for _ in range(2)]
    assert [h[0] for h in held] == [200, 200]
    status, head, s = open_events(n.port, source="127.0.0.2")
    assert status == 429 and header_of(head, "Retry-After"), head
    s.close()
    assert open_events(n.port, source="127.0.0.3")[0] == 200
    xff = "X-Forwarded-For: 192.0.2.1\r\n"
    proxied = [open_events(n.port, headers=xff) for _ in range(2)]
    assert [p[0] for p in proxied] == [200, 200]
    assert open_events(n.port, headers=xff)[0] == 429
    assert open_events(n.port, headers="X-Forwarded-For: 192.0.2.2\r\n")[0] == 200
    # From an address that is not a trusted proxy, X-Forwarded-For is not believed.
    assert open_events(n.port, source="127.0.0.2", headers="X-Forwarded-For: 192.0.2.9\r\n")[0] == 429


def test_full_node_is_not_ejected_for_its_503(tmp_path, procs):
    """A node whose subscriber slots are all taken answers /api/events with 503. The gateway
    tries another node, but does not eject the full one: else whoever holds the streams would
    also take the nodes out of rotation for every other request."""
    a = node(tmp_path, procs, "e1", extra=["--max-event-subscribers", "1"])
    b = node(tmp_path, procs, "e2", extra=["--max-event-subscribers", "1"])
    gw = gateway(tmp_path, procs, [a, b], ["--threads", "1"])
    first, second = open_events(gw.port), open_events(gw.port)
    assert (first[0], second[0]) == (200, 200)
    assert {header_of(first[1], "X-Served-By"), header_of(second[1], "X-Served-By")} == {"e1", "e2"}
    status, head, third = open_events(gw.port)
    assert status == 503, head
    third.close()
    services = request("GET", gw.url + "/api/services").json()
    assert all(s["healthy"] for s in services), services
    c = harness.Client(gw.url)
    served = {c.request("GET", "/api/statuses?limit=1").header("x-served-by") for _ in range(10)}
    c.close()
    assert served == {"e1", "e2"}
    first[2].close()
    second[2].close()


# ------------------------------------------------------------------------------------ F11

def test_connections_per_client_are_capped(tmp_path, procs):
    n = node(tmp_path, procs, "k1")
    gw = gateway(tmp_path, procs, [n], ["--max-connections-per-client", "4"])
    held = []
    for _ in range(4):
        s = connect(gw.port)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_head(s)[0] == 200
        held.append(s)
    fifth = connect(gw.port)
    try:
        fifth.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert fifth.recv(4096) == b"", "the fifth connection of one client is closed at once"
    except ConnectionResetError:
        pass
    fifth.close()
    other = connect(gw.port, source="127.0.0.2")
    other.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert read_head(other)[0] == 200, "another client is served"
    other.close()
    for s in held:
        s.close()
    wait_until(lambda: metric_value(gw.url, 'http_connections_rejected_total{reason="per_client"}') >= 1,
               timeout=5, what="the refusal counted")


class LimitedProc(harness.Proc):
    """A Proc run under `prlimit --nofile=N:N`."""

    def __init__(self, nofile, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.nofile = nofile

    def start(self, wait=True, ready_status=(200,)):
        log = open(self.log_path, "ab")
        cmd = ["prlimit", f"--nofile={self.nofile}:{self.nofile}", "--",
               os.path.join(harness.BIN, self.binary)] + harness._known_flags(self.binary, self.args)
        self.p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env,
                                  start_new_session=True)
        log.close()
        if wait:
            self.wait_ready(ready_status)
        return self


def test_out_of_file_descriptors_pauses_instead_of_spinning(tmp_path, procs):
    """With every descriptor in use, accept() fails with EMFILE while connections wait in the
    backlog: retrying at once is a loop at 100 % CPU. The server pauses instead, keeps serving
    the connections it has, and accepts again once descriptors are free."""
    n = node(tmp_path, procs, "f1")
    port = harness.free_port()
    gw = LimitedProc(48, "status-gateway",
                     ["--port", str(port), "--threads", "1", "--upstream", f"127.0.0.1:{n.port}",
                      "--max-connections-per-client", "0", "--rate-limit", "0"],
                     str(tmp_path), "gateway-nofile")
    procs.append(gw)
    gw.start()
    # The web client's gzip and brotli are made beside the start: a file request waits for
    # them, so that their CPU is not counted below.
    assert harness.request("GET", f"http://127.0.0.1:{port}/").status == 200
    keep = connect(port)  # an established client, before the descriptors run out
    socks = []
    try:
        for i in range(80):
            socks.append(connect(port, source=f"127.0.0.{2 + i % 50}"))
        wait_until(lambda: "event=accept_failed" in gw.log_text(), timeout=5, what="EMFILE hit")
        t0, c0 = time.monotonic(), cpu_seconds(gw.pid)
        time.sleep(2)
        used = (cpu_seconds(gw.pid) - c0) / (time.monotonic() - t0)
        assert used < 0.25, f"the gateway used {used:.0%} of a core while out of descriptors"
        keep.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_head(keep)[0] == 200, "an existing connection is still served"
    finally:
        for s in socks:
            s.close()
        keep.close()
    wait_until(lambda: request("GET", gw.url + "/health", timeout=2).status == 200, timeout=10,
               what="accepting again")
    assert "event=accept_resumed" in gw.log_text()


# ------------------------------------------------------------------------------------ F14

def test_rate_limit_is_on_by_default(tmp_path, procs):
    n = node(tmp_path, procs, "r1")
    gw = gateway(tmp_path, procs, [n])  # no --rate-limit: the default, 100/s with a burst of 200
    c = harness.Client(gw.url)
    codes, r = [], None
    try:
        for _ in range(1500):
            r = c.request("GET", "/api/statuses?limit=1")
            codes.append(r.status)
            if r.status == 429:
                break
        assert codes[-1] == 429, f"no 429 after {len(codes)} requests"
        assert codes.count(200) >= 200, codes.count(200)
        assert int(r.header("retry-after")) >= 1, r.headers
        assert r.header("content-type") == PROBLEM
        # /health stays answered (load balancers' probes).
        assert c.request("GET", "/health").status == 200
    finally:
        c.close()


# ------------------------------------------------------------------------------------ F16

BIG_BODY = 9 * 1024 * 1024


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % BIG_BODY
    + b" " * BIG_BODY,
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(150))
    + b"\r\n[]",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n[]",
], ids=["body-9MiB", "150-fields", "20KiB-field"])
def test_node_answers_over_the_limits_are_502(tmp_path, procs, answer):
    up = Upstream(answer)
    try:
        gw = gateway(tmp_path, procs, [f"127.0.0.1:{up.port}"], ["--max-retries", "0"])
        r = request("GET", gw.url + "/api/statuses")
        assert r.status == 502 and r.header("content-type") == PROBLEM, r
        assert "exceeds" in r.json()["detail"], r.json()
        assert metric_value(gw.url, "gateway_upstream_oversized_total") == 1
    finally:
        up.close()


def test_node_answer_within_the_limits_passes(tmp_path, procs):
    body = b"[" + b" " * (4 * 1024 * 1024) + b"]"
    up = Upstream(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                  b"X-Frame-Options: ALLOWALL\r\n\r\n" % len(body) + body)
    try:
        gw = gateway(tmp_path, procs, [f"127.0.0.1:{up.port}"])
        r = request("GET", gw.url + "/api/statuses")
        assert r.status == 200 and len(r.body) == len(body)
        assert r.header("x-frame-options") == "DENY", "the node's own value never reaches the client"
    finally:
        up.close()


# ------------------------------------------------------------------------------------ F10, F19

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; "
       "img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def test_every_gateway_answer_has_the_browser_headers(tmp_path, procs):
    n = node(tmp_path, procs, "h1")
    gw = gateway(tmp_path, procs, [n], ["--web-root", REPO_WEB, "--rate-limit", "1", "--rate-burst", "12"])
    answers = {
        "proxied": request("GET", gw.url + "/api/statuses"),
        "proxied-404": request("GET", gw.url + "/api/statuses/nobody"),
        "services": request("GET", gw.url + "/api/services"),
        "health": request("GET", gw.url + "/health"),
        "metrics": request("GET", gw.url + "/metrics"),
        "index": request("GET", gw.url + "/"),
        "script": request("GET", gw.url + "/js/app.js"),
        "static-404": request("GET", gw.url + "/nope.html"),
        "static-405": request("POST", gw.url + "/index.html", b"", {"Content-Type": "application/json"}),
        "misdirected": request("GET", gw.url + "/", headers={"Host": "attacker.example"}),
    }
    out = harness.raw(gw.port, b"POST /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n"
                      b"Content-Length: 2\r\n\r\n{}")
    framing = out.split(b"\r\n\r\n")[0].decode()
    big = harness.raw(gw.port, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    oversized = big.split(b"\r\n\r\n")[0].decode()
    status, stream_head, s = open_events(gw.port)
    s.close()
    for _ in range(20):
        limited = request("GET", gw.url + "/api/statuses")
        if limited.status == 429:
            break
    answers["rate-limited"] = limited
    assert limited.status == 429
    for name, r in answers.items():
        assert r.header("x-content-type-options") == "nosniff", (name, r.headers)
        assert r.header("x-frame-options") == "DENY", (name, r.headers)
    for name, head in (("framing-400", framing), ("431", oversized), ("stream", stream_head)):
        assert "\r\nX-Content-Type-Options: nosniff" in head and "\r\nX-Frame-Options: DENY" in head, (name, head)
    assert answers["index"].header("content-security-policy") == CSP
    # The policy governs documents; a script or JSON answer carries none (a smaller reply).
    assert answers["script"].header("content-security-policy") is None
    assert answers["proxied"].header("content-security-policy") is None
    assert answers["misdirected"].status == 421


def test_web_client_has_no_inline_script_or_style():
    """What the Content-Security-Policy would block: inline <script>, <style>, style="" and
    on…="" handlers in the page."""
    html = open(os.path.join(REPO_WEB, "index.html"), encoding="utf-8").read()
    for tag in re.findall(r"<script\b[^>]*>", html, re.I):
        assert re.search(r"\bsrc=", tag), tag
    assert not re.search(r"<style\b", html, re.I)
    assert not re.search(r"\sstyle\s*=", html, re.I)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I)


def test_host_check_against_dns_rebinding(tmp_path, procs):
    n = node(tmp_path, procs, "d1")
    gw = gateway(tmp_path, procs, [n])
    port = gw.port
    for host in (f"127.0.0.1:{port}", "127.0.0.1", f"localhost:{port}", "LOCALHOST", f"[::1]:{port}"):
        r = request("GET", gw.url + "/api/statuses", headers={"Host": host})
        assert r.status == 200, (host, r)
    for host in ("attacker.example", f"attacker.example:{port}", "127.0.0.1.attacker.example"):
        r = request("GET", gw.url + "/api/statuses", headers={"Host": host})
        assert r.status == 421 and r.header("content-type") == PROBLEM, (host, r)
        assert r.header("x-request-id")
    # Probes of load balancers use any name for /health.
    assert request("GET", gw.url + "/health", headers={"Host": "10.1.2.3:8080"}).status == 200
    # Configured names; the loopback ones stay.
    named = gateway(tmp_path, procs, [n], ["--allowed-host", "status.example.org"], name="gw-named")
    assert request("GET", named.url + "/api/statuses", headers={"Host": "status.example.org"}).status == 200
    assert request("GET", named.url + "/api/statuses", headers={"Host": "other.example.org"}).status == 421
    assert request("GET", named.url + "/api/statuses").status == 200
    anyhost = gateway(tmp_path, procs, [n], ["--allowed-host", "*"], name="gw-any")
    assert request("GET", anyhost.url + "/api/statuses", headers={"Host": "whatever.example"}).status == 200


# ------------------------------------------------------------------------------------ F17

def test_pooled_connections_are_closed_when_idle(tmp_path, procs):
    n = node(tmp_path, procs, "p1")
    gw = gateway(tmp_path, procs, [n], ["--pool-idle-ms", "500", "--threads", "1"])
    c = harness.Client(gw.url)
    for _ in range(20):
        assert c.request("GET", "/api/statuses?limit=1").status == 200
    c.close()
    assert sockets_to(gw.pid, n.port) >= 1
    wait_until(lambda: sockets_to(gw.pid, n.port) == 0, timeout=5, what="idle pool closed")


def test_pooled_connections_to_a_departed_node_are_closed(tmp_path, procs):
    reg = harness.registry(str(tmp_path))
    procs.append(reg)
    reg.start()
    eureka = reg.url + "/eureka"
    a = node(tmp_path, procs, "a1", registry=eureka)
    b = node(tmp_path, procs, "a2", registry=eureka)
    gw = gateway(tmp_path, procs, registry_url=eureka, extra=["--threads", "1"])
    c = harness.Client(gw.url)
    wait_until(lambda: {c.request("GET", "/api/statuses?limit=1").header("x-served-by") for _ in range(4)}
               == {"a1", "a2"}, timeout=10, what="both nodes routed")
    assert sockets_to(gw.pid, a.port) >= 1
    assert a.stop() == 0  # deregisters; its sockets to the gateway close (CLOSE_WAIT there)
    wait_until(lambda: len(request("GET", gw.url + "/api/services").json()) == 1, timeout=10,
               what="a1 gone from the gateway's list")
    assert c.request("GET", "/api/statuses?limit=1").header("x-served-by") == "a2"
    c.close()
    wait_until(lambda: sockets_to(gw.pid, a.port) == 0, timeout=3, what="pool of a1 closed")


# ------------------------------------------------------------------------------------ F22

@pytest.mark.parametrize("method,headers,sends", [
    ("POST", {}, 1),
    ("PATCH", {}, 1),
    ("PUT", {"If-Match": '"1"'}, 1),
    ("DELETE", {"If-Match": '"1"'}, 1),
    ("PUT", {}, 2),
    ("GET", {}, 2),
])
def test_request_that_timed_out_is_resent_only_when_it_may_be(tmp_path, procs, method, headers, sends):
    """Two nodes that read requests and never answer: after the first-byte timeout a POST,
    PATCH or conditional write is not sent to the second node (the first may have applied it)."""
    ups = [Upstream(None), Upstream(None)]
    try:
        gw = gateway(tmp_path, procs, [f"127.0.0.1:{u.port}" for u in ups],
                     ["--first-byte-timeout-ms", "300", "--threads", "1"])
        body = {"username": "a", "statusText": "x"} if method in ("POST", "PUT", "PATCH") else None
        r = request(method, gw.url + "/api/statuses" + ("" if method == "POST" else "/a"), body,
                    headers=headers)
        assert r.status == 504 and r.header("content-type") == PROBLEM, r
        time.sleep(0.3)
        assert sum(u.count() for u in ups) == sends, [u.requests for u in ups]
    finally:
        for u in ups:
            u.close()


# ------------------------------------------------------------------------------------ F24

def test_metrics_only_for_the_operators_networks(tmp_path, procs):
    n = node(tmp_path, procs, "o1")
    default = gateway(tmp_path, procs, [n])
    assert request("GET", default.url + "/metrics").status == 200  # loopback is allowed
    narrow = gateway(tmp_path, procs, [n], ["--metrics-from", "10.0.0.0/8"], name="gw-narrow")
    r = request("GET", narrow.url + "/metrics")
    assert r.status == 403 and r.header("content-type") == PROBLEM, r
    assert b"127.0.0.1:" not in r.body
