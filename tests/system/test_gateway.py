"""status-gateway (issue 5) in front of real status-nodes: balancing, failover under load,
discovery through the registry, streaming, request hygiene and static files. Black-box."""
import collections
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

import harness
from harness import request, start_nodes, wait_until

PROBLEM = "application/problem+json"


# ------------------------------------------------------------------------------------ helpers

def start_gateway(tmp_path, procs, nodes=(), registry_url=None, extra=()):
    """The tests here send thousands of requests from one address (127.0.0.1): the rate limit
    (on by default) is off unless the test is about it and sets it."""
    extra = list(extra)
    if "--rate-limit" not in extra:
        extra += ["--rate-limit", "0"]
    gw = harness.gateway(str(tmp_path), registry_url=registry_url,
                         upstreams=[f"127.0.0.1:{n.port}" for n in nodes], extra=extra)
    procs.append(gw)
    return gw.start()


class Client:
    """One kept-alive HTTP/1.1 connection (reconnects when the server closes it)."""

    def __init__(self, port, timeout=10):
        self.port, self.timeout, self.conn = port, timeout, None

    def request(self, method, path, body=None, headers=None):
        hdrs = dict(headers or {})
        if body is not None:
            body = body if isinstance(body, bytes) else __import__("json").dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                data = r.read()
                reply = harness.Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
                if r.will_close:
                    self.close()
                return reply
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The gateway closed an idle kept-alive connection between two requests: a
                # client-side race that any HTTP client retries on a new connection. Only once.
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


class Load:
    """Concurrent reads and writes through the gateway, bounded in time. Each worker owns its
    users and writes them in sequence, so the last acknowledged text of a user is its latest."""

    OK = {200, 201, 204, 404}

    def __init__(self, port, workers=6, seconds=20.0, users_per_worker=20):
        self.port, self.workers, self.seconds, self.users = port, workers, seconds, users_per_worker
        self.acked = {}  # username -> last acknowledged statusText
        self.failures = []
        self.count = collections.Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(w,), daemon=True)
                        for w in range(workers)]

    def run(self, w):
        c = Client(self.port)
        deadline = time.monotonic() + self.seconds
        k = 0
        while not self.stop.is_set() and time.monotonic() < deadline and k < 100000:
            user = f"w{w}u{k % self.users}"
            try:
                if k % 2 == 0:
                    text = f"v{k}"
                    r = c.request("PUT", f"/api/statuses/{user}", {"statusText": text})
                    if r.status in (200, 201):
                        with self.lock:
                            self.acked[user] = text
                elif k % 4 == 1:
                    r = c.request("GET", f"/api/statuses/{user}")
                else:
                    r = c.request("GET", "/api/statuses?limit=20")
                with self.lock:
                    self.count[r.status] += 1
                    if r.status not in self.OK:
                        self.failures.append((user, r.status, r.body[:200]))
            except Exception as e:  # noqa: BLE001 — any client-side error is a failed request
                with self.lock:
                    self.failures.append((user, "exception", repr(e)))
                c.close()
            k += 1
        c.close()

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def wait(self):
        for t in self.threads:
            t.join(self.seconds + 30)

    def __exit__(self, *exc):
        self.stop.set()
        self.wait()

    def total(self):
        return sum(self.count.values())


def served_by_counts(port, n, path="/api/statuses?limit=1"):
    c = Client(port)
    counts = collections.Counter()
    for _ in range(n):
        r = c.request("GET", path)
        assert r.status == 200, r
        counts[r.header("x-served-by")] += 1
    c.close()
    return counts


def assert_no_acked_write_lost(gw_port, acked):
    c = Client(gw_port)

    # Replication is asynchronous: give the survivors a few seconds to converge.
    deadline = time.monotonic() + 15
    while True:
        missing = {}
        for user, text in acked.items():
            r = c.request("GET", f"/api/statuses/{user}")
            got = r.json().get("statusText") if r.status == 200 else r.status
            if got != text:
                missing[user] = (text, got)
        if not missing:
            break
        assert time.monotonic() < deadline, f"acknowledged writes lost: {list(missing.items())[:10]}"
        time.sleep(0.3)
    c.close()


def raw_responses(data):
    """Status codes of every HTTP answer in `data` (responses are Content-Length framed)."""
    codes = []
    while data.startswith(b"HTTP/1.1 "):
        head, _, rest = data.partition(b"\r\n\r\n")
        codes.append(int(head.split()[1]))
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        data = rest[length:]
    return codes


def eureka_status(reg, node_id):
    r = request("GET", reg.url + "/eureka/apps/STATUS-NODE", headers={"Accept": "application/json"},
                timeout=2)
    if r.status != 200:
        return None
    for i in r.json()["application"]["instance"]:
        if i["instanceId"] == node_id:
            return i["status"]
    return None


# ------------------------------------------------------------------------------------ balancing

def test_even_spread_over_three_nodes(tmp_path, procs):
    nodes = start_nodes(tmp_path, procs, 3)
    gw = start_gateway(tmp_path, procs, nodes)
    counts = served_by_counts(gw.port, 3000)
    assert set(counts) == {"g1", "g2", "g3"}, counts
    for node_id, n in counts.items():
        assert abs(n / 3000 - 1 / 3) <= 0.03, counts


def test_p2c_spreads_too(tmp_path, procs):
    nodes = start_nodes(tmp_path, procs, 3)
    gw = start_gateway(tmp_path, procs, nodes, extra=["--lb-policy", "p2c"])
    counts = served_by_counts(gw.port, 900)
    assert set(counts) == {"g1", "g2", "g3"}, counts
    assert min(counts.values()) > 150, counts


def test_json_pages_go_gzipped_to_clients_that_take_gzip(tmp_path, procs):
    """The API's JSON pages, compressed by the gateway for a browser (Accept-Encoding: gzip):
    the same JSON, Vary names Accept-Encoding; a status with its ETag, a small answer and a
    client without gzip get the node's bytes as they are."""
    import gzip
    nodes = start_nodes(tmp_path, procs, 1)
    gw = start_gateway(tmp_path, procs, nodes)
    base = f"http://127.0.0.1:{gw.port}"
    for i in range(30):
        r = harness.request("PUT", f"{base}/api/statuses/zip{i:02d}",
                            {"statusText": f"compressible status number {i}"})
        assert r.status in (200, 201), r
    plain = harness.request("GET", base + "/api/statuses?limit=100")
    assert plain.status == 200 and plain.header("content-encoding") is None, plain
    zipped = harness.request("GET", base + "/api/statuses?limit=100",
                             headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.status == 200 and zipped.header("content-encoding") == "gzip", zipped.headers
    assert "Accept-Encoding" in zipped.header("vary"), zipped.headers
    assert int(zipped.header("content-length")) == len(zipped.body) < len(plain.body) / 3
    assert json.loads(gzip.decompress(zipped.body)) == json.loads(plain.body)
    # Not compressed: a status (it has an ETag), a small page, a client refusing gzip.
    one = harness.request("GET", base + "/api/statuses/zip01", headers={"Accept-Encoding": "gzip"})
    assert one.status == 200 and one.header("etag") and one.header("content-encoding") is None
    small = harness.request("GET", base + "/api/statuses?limit=1", headers={"Accept-Encoding": "gzip"})
    assert small.status == 200 and small.header("content-encoding") is None, small.headers
    refused = harness.request("GET", base + "/api/statuses?limit=100",
                              headers={"Accept-Encoding": "gzip;q=0, identity"})
    assert refused.header("content-encoding") is None and refused.body == plain.body


# ------------------------------------------------------------------------------------ failover

def test_kill9_of_a_node_under_load_fails_no_request_and_loses_no_write(tmp_path, procs, broker):
    nodes = start_nodes(tmp_path, procs, 3, amqp=broker.url, prefix="k")
    gw = start_gateway(tmp_path, procs, nodes)
    with Load(gw.port, workers=6, seconds=20) as load:
        time.sleep(6)
        nodes[1].kill()
        load.wait()
    assert not load.failures, (load.failures[:10], load.count)
    assert load.total() > 500, load.count
    assert_no_acked_write_lost(gw.port, load.acked)
    # The dead node is ejected and reported as such.
    services = {s["instanceId"]: s for s in request("GET", gw.url + "/api/services").json()}
    assert services[f"127.0.0.1:{nodes[1].port}"]["healthy"] is False, services


def test_graceful_stop_of_a_node_under_load_fails_no_request(tmp_path, procs, broker):
    nodes = start_nodes(tmp_path, procs, 3, amqp=broker.url, prefix="s")
    gw = start_gateway(tmp_path, procs, nodes)
    with Load(gw.port, workers=6, seconds=10) as load:
        time.sleep(3)
        assert nodes[2].stop() == 0
        load.wait()
    assert not load.failures, (load.failures[:10], load.count)
    assert load.total() > 300, load.count
    assert_no_acked_write_lost(gw.port, load.acked)


def test_all_nodes_down_is_a_problem_not_a_hang(tmp_path, procs):
    (node,) = start_nodes(tmp_path, procs, 1)
    gw = start_gateway(tmp_path, procs, [node], extra=["--connect-timeout-ms", "300"])
    node.kill()
    t0 = time.monotonic()
    r = request("GET", gw.url + "/api/statuses")
    assert time.monotonic() - t0 < 3
    assert r.status == 502 and r.header("content-type") == PROBLEM, r
    assert r.header("x-request-id")


def test_slow_node_times_out_with_504(tmp_path, procs):
    # A "node" that accepts and never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    try:
        gw = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{silent.getsockname()[1]}"],
                             extra=["--first-byte-timeout-ms", "300", "--max-retries", "0"])
        procs.append(gw)
        gw.start()
        t0 = time.monotonic()
        r = request("GET", gw.url + "/api/statuses")
        assert r.status == 504 and r.header("content-type") == PROBLEM, r
        assert time.monotonic() - t0 < 2
    finally:
        silent.close()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 025 Odd\r\nContent-Length: 2\r\n\r\n[]",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n[]",
], ids=["status-025", "interim-100"])
def test_node_answer_with_invalid_status_is_502_not_passed_on(tmp_path, procs, answer):
    """A three-digit status outside 100-599 parses, but is not HTTP: answering the client with
    it would hand on a malformed status line (found by the fuzzer, tests/fuzz). An interim 1xx
    (our nodes never send one) would leave the real answer on a pooled connection."""
    odd = socket.socket()
    odd.bind(("127.0.0.1", 0))
    odd.listen(16)
    stop = threading.Event()

    def serve():
        odd.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = odd.accept()
            except OSError:
                continue
            with c:
                c.settimeout(2)
                try:
                    c.recv(65536)
                    c.sendall(answer)
                except OSError:
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        gw = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{odd.getsockname()[1]}"],
                             extra=["--max-retries", "0"])
        procs.append(gw)
        gw.start()
        r = request("GET", gw.url + "/api/statuses")
        assert r.status == 502 and r.header("content-type") == PROBLEM, r
        assert "not valid HTTP" in r.json()["detail"], r.json()
    finally:
        stop.set()
        t.join(2)
        odd.close()


# ------------------------------------------------------------------------------------ discovery

def test_node_started_later_gets_traffic_within_2s_of_up(tmp_path, procs):
    reg = harness.registry(str(tmp_path))
    procs.append(reg)
    reg.start()
    eureka = reg.url + "/eureka"
    start_nodes(tmp_path, procs, 1, registry=eureka, prefix="d")
    gw = start_gateway(tmp_path, procs, registry_url=eureka)
    wait_until(lambda: served_by_counts(gw.port, 1)["d1"] == 1, timeout=5, what="d1 routed")
    late = harness.node(str(tmp_path), "d2", registry=eureka)
    procs.append(late)
    late.start(wait=False)
    wait_until(lambda: eureka_status(reg, "d2") == "UP", timeout=20, interval=0.02, what="d2 UP")
    up_at = time.monotonic()
    c = Client(gw.port)
    seen = None
    while time.monotonic() - up_at < 5:
        r = c.request("GET", "/api/statuses?limit=1")
        assert r.status == 200, r
        if r.header("x-served-by") == "d2":
            seen = time.monotonic() - up_at
            break
        time.sleep(0.01)
    assert seen is not None and seen <= 2.0, seen


def test_out_of_service_and_registry_outage(tmp_path, procs):
    reg = harness.registry(str(tmp_path))
    procs.append(reg)
    reg.start()
    eureka = reg.url + "/eureka"
    # Renewals every 3 s: a restarted registry stays empty for up to 3 s (below).
    nodes = start_nodes(tmp_path, procs, 2, registry=eureka, prefix="r",
                        extra=["--lease-renewal-s", "3", "--lease-duration-s", "9"])
    gw = start_gateway(tmp_path, procs, registry_url=eureka)
    wait_until(lambda: set(served_by_counts(gw.port, 10)) == {"r1", "r2"}, timeout=5,
               what="both nodes routed")
    # OUT_OF_SERVICE: no new requests for r2 from the next poll on.
    r = request("PUT", f"{eureka}/apps/STATUS-NODE/r2/status?value=OUT_OF_SERVICE")
    assert r.status == 200, r
    time.sleep(1.0)
    assert set(served_by_counts(gw.port, 30)) == {"r1"}
    r = request("DELETE", f"{eureka}/apps/STATUS-NODE/r2/status")
    assert r.status == 200, r
    wait_until(lambda: set(served_by_counts(gw.port, 10)) == {"r1", "r2"}, timeout=3,
               what="r2 back in service")
    # The registry goes away: the gateway keeps routing on what it knew.
    assert reg.stop() == 0
    time.sleep(2.0)
    counts = served_by_counts(gw.port, 100)
    assert counts == {"r1": 50, "r2": 50}, counts
    assert len(request("GET", gw.url + "/api/services").json()) == 2
    # It comes back empty (a restart loses its lease table) until the nodes renew and find
    # themselves unknown: the gateway keeps the nodes it knew meanwhile, so no request fails.
    reg.start()
    end = time.monotonic() + 3.5
    while time.monotonic() < end:
        served_by_counts(gw.port, 20)
        time.sleep(0.02)
    wait_until(lambda: len(request("GET", f"{eureka}/apps/STATUS-NODE").json()
                           ["application"]["instance"]) == 2, timeout=5, what="nodes registered again")


# ------------------------------------------------------------------------------------ protocol

def test_events_stream_through_the_gateway(tmp_path, procs):
    from test_node_api import Sse
    nodes = start_nodes(tmp_path, procs, 1)
    gw = start_gateway(tmp_path, procs, nodes)
    sse = Sse(gw.port, request_id="sse-1")
    try:
        assert sse.head.status == 200
        assert sse.head.header("content-type").startswith("text/event-stream")
        assert sse.head.header("x-request-id") == "sse-1"
        assert sse.head.header("x-served-by") == "g1"
        for i in range(3):
            r = request("PUT", gw.url + f"/api/statuses/sse{i}", {"statusText": f"t{i}"})
            assert r.status == 201, r
        events = sse.wait_for(lambda ev: len([e for e in ev if e[0] == "upsert"]) >= 3, timeout=5)
        assert [e[1]["username"] for e in events if e[0] == "upsert"][:3] == ["sse0", "sse1", "sse2"]
        # Still open: a later change arrives too.
        time.sleep(1.5)
        request("DELETE", gw.url + "/api/statuses/sse0")
        sse.wait_for(lambda ev: any(e[0] == "delete" for e in ev), timeout=5)
    finally:
        sse.close()
    # The client is gone: the gateway lets go of the upstream stream.
    wait_until(lambda: "gateway_streams_open 0" in request("GET", gw.url + "/metrics").body.decode(),
               timeout=5, what="stream closed upstream")


SMUGGLING = [
    ("cl-and-te", b"POST /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("te-and-cl", b"POST /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                  b"Content-Length: 4\r\n\r\n0\r\n\r\nGET /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("conflicting-cl", b"POST /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
                       b"Content-Length: 40\r\n\r\nabcGET /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("te-not-chunked", b"POST /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: gzip\r\n"
                       b"Content-Length: 5\r\n\r\nhelloGET /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("te-chunked-not-last", b"POST /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked, gzip\r\n"
                            b"\r\n0\r\n\r\nGET /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
    ("obfuscated-te", b"POST /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: xchunked\r\n"
                      b"Content-Length: 4\r\n\r\n0\r\n\r\nGET /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
]


@pytest.fixture(scope="module")
def lone(tmp_path_factory):
    """One node behind one gateway with a web root, shared by the read-only protocol tests."""
    tmp = tmp_path_factory.mktemp("gwlone")
    web = tmp / "web"
    (web / "css").mkdir(parents=True)
    (web / "index.html").write_text("<!doctype html><title>Status</title>")
    (web / "app.js").write_text("console.log(1)")
    (web / "css" / "site.css").write_text("body{}")
    (web / "logo.svg").write_text("<svg/>")
    (web / "manifest.json").write_text("{}")
    (tmp / "secret.txt").write_text("TOPSECRET")
    started = []
    try:
        nodes = start_nodes(tmp, started, 1, prefix="l")
        gw = start_gateway(tmp, started, nodes, extra=["--web-root", str(web)])
        yield gw
    finally:
        for p in started:
            p.kill()


@pytest.mark.parametrize("name,data", SMUGGLING, ids=[c[0] for c in SMUGGLING])
def test_smuggling_attempts_are_400_and_close(lone, name, data):
    out = harness.raw(lone.port, data)
    codes = raw_responses(out)
    # One 400 answer, then the connection is closed: the smuggled GET is never answered.
    assert codes == [400], (codes, out[:400])


def test_oversized_requests(lone):
    big_header = b"GET /api/statuses HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
    assert raw_responses(harness.raw(lone.port, big_header)) == [431]
    body = b"{" + b" " * (65 * 1024) + b"}"
    big_body = (b"PUT /api/statuses/a HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)) + body
    assert raw_responses(harness.raw(lone.port, big_body)) == [413]


def test_request_id_kept_or_generated(lone):
    r = request("GET", lone.url + "/api/statuses", headers={"X-Request-Id": "client-id-42"})
    assert r.status == 200 and r.header("x-request-id") == "client-id-42", r.headers
    assert r.header("x-served-by") == "l1"
    r = request("GET", lone.url + "/api/statuses")
    rid = r.header("x-request-id")
    assert rid and len(rid) == 32 and int(rid, 16) >= 0, r.headers
    assert request("GET", lone.url + "/api/statuses").header("x-request-id") != rid


def test_hop_by_hop_headers_do_not_reach_the_client(lone):
    r = request("GET", lone.url + "/api/statuses", headers={"Connection": "keep-alive, X-Foo",
                                                           "X-Foo": "1", "TE": "trailers"})
    assert r.status == 200
    assert "keep-alive" not in r.headers and "transfer-encoding" not in r.headers


def test_services_shape(lone):
    request("GET", lone.url + "/api/statuses")
    services = request("GET", lone.url + "/api/services").json()
    assert isinstance(services, list) and len(services) == 1
    s = services[0]
    assert set(s) == {"instanceId", "url", "status", "healthy", "inFlight", "requests"}, s
    assert s["url"].startswith("http://127.0.0.1:") and s["status"] == "UP"
    assert s["healthy"] is True and s["inFlight"] == 0 and s["requests"] >= 1


@pytest.mark.parametrize("path,ctype", [
    ("/", "text/html"), ("/index.html", "text/html"), ("/app.js", "text/javascript"),
    ("/css/site.css", "text/css"), ("/logo.svg", "image/svg+xml"),
    ("/manifest.json", "application/json")])
def test_static_files_with_content_types(lone, path, ctype):
    r = request("GET", lone.url + path)
    assert r.status == 200, r
    assert r.header("content-type").startswith(ctype), r.headers


@pytest.mark.parametrize("target", [b"/../secret.txt", b"/%2e%2e/secret.txt", b"/css/../../secret.txt",
                                    b"/%2e%2e%2fsecret.txt", b"/..%5csecret.txt", b"//etc/passwd",
                                    b"/nope.html"])
def test_static_no_traversal_and_404_problem(lone, target):
    out = harness.raw(lone.port, b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 404"), out[:200]
    assert b"TOPSECRET" not in out and b"root:" not in out
    assert PROBLEM.encode() in out


def test_only_api_is_forwarded(lone):
    # The node's own /health and /metrics are not reachable through the gateway.
    h = request("GET", lone.url + "/health")
    assert h.status == 200 and h.json()["status"] == "UP" and h.header("x-served-by") is None
    m = request("GET", lone.url + "/metrics").body.decode()
    assert "gateway_retries_total" in m


# ------------------------------------------------------------------------------------ process

def test_bad_configuration_is_one_line_and_nonzero(tmp_path):
    binary = os.path.join(harness.BIN, "status-gateway")
    for args in (["--registry-url", "not a url"], ["--upstream", "nohostport"], [],
                 ["--upstream", "127.0.0.1:1", "--lb-policy", "random"]):
        p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=10)
        assert p.returncode != 0, args
        assert len(p.stderr.strip().splitlines()) == 1, (args, p.stderr)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        p = subprocess.run([binary, "--upstream", "127.0.0.1:1", "--port", str(s.getsockname()[1])],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode != 0 and "cannot listen" in p.stderr, p.stderr


def test_rate_limit_429_with_retry_after(tmp_path, procs):
    nodes = start_nodes(tmp_path, procs, 1, prefix="rl")
    gw = start_gateway(tmp_path, procs, nodes, extra=["--rate-limit", "2", "--rate-burst", "3"])
    c = Client(gw.port)
    codes = [c.request("GET", "/api/statuses").status for _ in range(6)]
    assert codes[:3] == [200, 200, 200] and 429 in codes, codes
    r = c.request("GET", "/api/statuses")
    assert r.status == 429 and int(r.header("retry-after")) >= 1, r


def test_sigterm_drains_and_exits_0(tmp_path, procs):
    nodes = start_nodes(tmp_path, procs, 1, prefix="t")
    gw = start_gateway(tmp_path, procs, nodes)
    with Load(gw.port, workers=3, seconds=2) as load:
        time.sleep(1)
        load.wait()
    assert gw.stop() == 0
    assert not load.failures, load.failures[:5]


def test_node_answering_503_is_retried_elsewhere(tmp_path, procs):
    """A node that is bootstrapping or draining answers 503 without acting: try another one."""
    import http.server

    class Busy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            body = b'{"status":"STARTING"}'
            self.send_response(503)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Retry-After", "1")
            self.end_headers()
            self.wfile.write(body)

        do_PUT = do_GET

        def log_message(self, *args):
            pass

    busy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Busy)
    threading.Thread(target=busy.serve_forever, daemon=True).start()
    try:
        (node,) = start_nodes(tmp_path, procs, 1, prefix="b")
        gw = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{busy.server_address[1]}",
                                                       f"127.0.0.1:{node.port}"],
                             extra=["--rate-limit", "0"])
        procs.append(gw)
        gw.start()
        counts = served_by_counts(gw.port, 20)
        assert counts == {"b1": 20}, counts
        services = {s["instanceId"]: s for s in request("GET", gw.url + "/api/services").json()}
        assert services[f"127.0.0.1:{busy.server_address[1]}"]["healthy"] is False, services
    finally:
        busy.shutdown()
