"""status-node alone, black-box over HTTP: the status resource (contract section 2), its error
answers, durability across kill -9, the command line, shutdown and slow clients."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

import harness

LIST_ALL = "/api/statuses?limit=1000"
PROBLEM = "application/problem+json"


# ------------------------------------------------------------------------------------ helpers

def start(tmp_path, procs, node_id="n1", extra=()):
    n = harness.node(str(tmp_path), node_id, extra=extra)
    procs.append(n)
    return n.start()


def parse_raw(data):
    """A Reply from the raw bytes of one HTTP/1.1 answer (Content-Length framing)."""
    assert data, "no answer at all (connection closed without a response)"
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return harness.Reply(status, headers, body)


def assert_problem(r, status):
    assert r.status == status, r
    assert r.header("content-type") == PROBLEM, r.headers
    p = r.json()
    assert p["status"] == status and p["type"] == "about:blank" and p["title"], p
    assert isinstance(p.get("detail"), str) and p["detail"], p
    return p["detail"]


def listing(n):
    r = harness.request("GET", n.url + LIST_ALL)
    assert r.status == 200, r
    return r.header("x-total-count"), r.json()


def put(n, user, text, headers=None, **fields):
    return harness.request("PUT", f"{n.url}/api/statuses/{user}",
                           dict(statusText=text, **fields), headers=headers)


class Sse:
    """A raw /api/events client: decodes the chunked stream into (event, data) pairs."""

    def __init__(self, port, request_id=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        extra = f"X-Request-Id: {request_id}\r\n" if request_id else ""
        self.sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "event stream closed before its headers"
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = parse_raw(head + b"\r\n\r\n")
        self.text = ""

    def _decode(self):
        while True:
            line, sep, rest = self.buf.partition(b"\r\n")
            if not sep:
                return
            size = int(line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            self.text += rest[:size].decode()
            self.buf = rest[size + 2:]

    def events(self):
        out = []
        for frame in self.text.split("\n\n"):
            fields = dict(l.split(": ", 1) for l in frame.split("\n") if ": " in l and not l.startswith(":"))
            if "event" in fields:
                out.append((fields["event"], json.loads(fields["data"])))
        return out

    def wait_for(self, predicate, timeout=10):
        deadline = time.monotonic() + timeout
        while not predicate(self.events()):
            left = deadline - time.monotonic()
            assert left > 0, f"events so far: {self.events()}"
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            assert chunk, f"stream closed; events so far: {self.events()}"
            self.buf += chunk
            self._decode()
        return self.events()

    def close(self):
        self.sock.close()


# ------------------------------------------------------------------------------------ the table

def test_post_creates_201_with_location_then_200(tmp_path, procs):
    n = start(tmp_path, procs)
    r = harness.request("POST", n.url + "/api/statuses",
                        {"username": "alice", "statusText": "In a meeting until 3",
                         "time": "2026-11-25T11:15:00+01:00", "latitude": 48.2082, "longitude": 16.3738})
    assert r.status == 201, r
    assert r.header("location") == "/api/statuses/alice"
    assert r.header("content-type") == "application/json"
    s = r.json()
    assert s == {"username": "alice", "statusText": "In a meeting until 3", "time": "2026-11-25T10:15:00Z",
                 "availability": "available", "latitude": 48.2082, "longitude": 16.3738,
                 "version": s["version"]}
    assert r.header("etag") == f'"{s["version"]}"'
    r2 = harness.request("POST", n.url + "/api/statuses", {"username": "alice", "statustext": "free"})
    assert r2.status == 200, r2
    assert r2.header("location") is None
    assert r2.json()["statusText"] == "free" and "latitude" not in r2.json()
    assert r2.json()["version"] != s["version"]
    # The body is the stored status: what a GET returns.
    assert harness.request("GET", n.url + "/api/statuses/alice").json() == r2.json()


def test_time_defaults_to_server_time_and_is_returned_in_utc(tmp_path, procs):
    n = start(tmp_path, procs)
    before = time.time()
    s = put(n, "bob", "x").json()
    after = time.time()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", s["time"]), s
    from datetime import datetime
    t = datetime.fromisoformat(s["time"].replace("Z", "+00:00")).timestamp()
    assert before - 1 <= t <= after + 1
    assert put(n, "carol", "x", time="2026-11-25T10:15:00").json()["time"] == "2026-11-25T10:15:00Z"
    assert put(n, "dave", "x", time="2026-11-25T04:45:00.5-0530").json()["time"] == "2026-11-25T10:15:00.500Z"


def test_get_list_newest_first_with_paging(tmp_path, procs):
    n = start(tmp_path, procs)
    r = harness.request("GET", n.url + "/api/statuses")
    assert r.status == 200 and r.json() == [] and r.header("x-total-count") == "0"
    assert r.header("link") is None
    for i in range(7):  # written in an order unrelated to their times
        day = [3, 1, 7, 5, 2, 6, 4][i]
        assert put(n, f"u{day}", "x", time=f"2026-01-0{day}T00:00:00Z").status == 201
    r = harness.request("GET", n.url + "/api/statuses")
    assert [s["username"] for s in r.json()] == ["u7", "u6", "u5", "u4", "u3", "u2", "u1"]
    assert r.header("x-total-count") == "7" and r.header("link") is None
    p = harness.request("GET", n.url + "/api/statuses?limit=3")
    assert [s["username"] for s in p.json()] == ["u7", "u6", "u5"]
    assert p.header("x-total-count") == "7"
    m = re.fullmatch(r'<([^>]+)>; rel="next"', p.header("link"))
    assert m, p.header("link")
    # Following the links visits everything exactly once.
    seen = [s["username"] for s in p.json()]
    nxt, hops = m.group(1), 0
    while nxt and hops < 10:
        hops += 1
        q = harness.request("GET", n.url + nxt)
        assert q.status == 200 and q.header("x-total-count") == "7"
        seen += [s["username"] for s in q.json()]
        link = q.header("link")
        nxt = re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1) if link else None
    assert seen == ["u7", "u6", "u5", "u4", "u3", "u2", "u1"]
    q = harness.request("GET", n.url + "/api/statuses?limit=2&offset=6")
    assert [s["username"] for s in q.json()] == ["u1"] and q.header("link") is None
    assert harness.request("GET", n.url + "/api/statuses?offset=100").json() == []
    # default limit 100, max 1000
    for i in range(105):
        put(n, f"bulk{i}", "x")
    r = harness.request("GET", n.url + "/api/statuses")
    assert len(r.json()) == 100 and r.header("x-total-count") == "112" and r.header("link")
    assert len(harness.request("GET", n.url + "/api/statuses?limit=1000").json()) == 112


def test_get_one_etag_and_if_none_match(tmp_path, procs):
    n = start(tmp_path, procs)
    assert_problem(harness.request("GET", n.url + "/api/statuses/alice"), 404)
    w = put(n, "alice", "hi")
    g = harness.request("GET", n.url + "/api/statuses/alice")
    assert g.status == 200 and g.json()["statusText"] == "hi"
    etag = g.header("etag")
    assert etag == w.header("etag") == f'"{g.json()["version"]}"'
    nm = harness.request("GET", n.url + "/api/statuses/alice", headers={"If-None-Match": etag})
    assert nm.status == 304 and nm.body == b"" and nm.header("etag") == etag
    assert harness.request("GET", n.url + "/api/statuses/alice",
                           headers={"If-None-Match": '"stale", ' + etag}).status == 304
    assert harness.request("GET", n.url + "/api/statuses/alice",
                           headers={"If-None-Match": '"stale"'}).status == 200
    put(n, "alice", "changed")
    assert harness.request("GET", n.url + "/api/statuses/alice",
                           headers={"If-None-Match": etag}).status == 200


def test_put_created_replaced_mismatch_and_preconditions(tmp_path, procs):
    n = start(tmp_path, procs)
    r = put(n, "bob", "one")
    assert r.status == 201 and r.header("location") == "/api/statuses/bob"
    r = harness.request("PUT", n.url + "/api/statuses/bob", {"username": "bob", "statusText": "two"})
    assert r.status == 200
    etag = r.header("etag")
    assert_problem(harness.request("PUT", n.url + "/api/statuses/bob", {"username": "alice", "statusText": "x"}), 400)
    assert_problem(put(n, "bob", "x", headers={"If-Match": '"0000000000000001.zz"'}), 412)
    assert_problem(put(n, "bob", "x", headers={"If-None-Match": "*"}), 412)
    assert_problem(put(n, "nobody", "x", headers={"If-Match": "*"}), 412)
    assert harness.request("GET", n.url + "/api/statuses/bob").json()["statusText"] == "two"
    assert harness.request("GET", n.url + "/api/statuses/nobody").status == 404
    r = put(n, "bob", "three", headers={"If-Match": etag})
    assert r.status == 200 and r.json()["statusText"] == "three"
    assert_problem(put(n, "bob", "four", headers={"If-Match": etag}), 412)  # old tag
    assert put(n, "new", "x", headers={"If-None-Match": "*"}).status == 201


def test_delete_204_404_and_if_match(tmp_path, procs):
    n = start(tmp_path, procs)
    assert_problem(harness.request("DELETE", n.url + "/api/statuses/carol"), 404)
    etag = put(n, "carol", "x").header("etag")
    assert_problem(harness.request("DELETE", n.url + "/api/statuses/carol",
                                   headers={"If-Match": '"0000000000000001.zz"'}), 412)
    assert harness.request("GET", n.url + "/api/statuses/carol").status == 200
    d = harness.request("DELETE", n.url + "/api/statuses/carol", headers={"If-Match": etag})
    assert d.status == 204 and d.body == b""
    assert harness.request("GET", n.url + "/api/statuses/carol").status == 404
    assert harness.request("DELETE", n.url + "/api/statuses/carol").status == 404
    assert listing(n) == ("0", [])
    # Deleted then written again: a new status (201).
    assert put(n, "carol", "back").status == 201


def test_events_stream_upserts_and_deletes(tmp_path, procs):
    n = start(tmp_path, procs)
    sse = Sse(n.port, request_id="sse-1")
    try:
        assert sse.head.status == 200
        assert sse.head.header("content-type").startswith("text/event-stream")
        assert sse.head.header("x-served-by") == "n1" and sse.head.header("x-request-id") == "sse-1"
        created = put(n, "alice", "hello").json()
        replaced = harness.request("POST", n.url + "/api/statuses", {"username": "alice", "statusText": "bye"}).json()
        put(n, "alice", "rejected", headers={"If-Match": '"nope"'})  # no change: no event
        assert harness.request("DELETE", n.url + "/api/statuses/alice").status == 204
        evs = sse.wait_for(lambda e: any(k == "delete" for k, _ in e))
        assert evs[0] == ("upsert", created)
        assert evs[1] == ("upsert", replaced)
        kind, data = evs[2]
        assert kind == "delete" and data["username"] == "alice" and data["version"] > replaced["version"]
        assert len(evs) == 3
        # A second subscriber sees later changes too.
        other = Sse(n.port)
        try:
            put(n, "bob", "x")
            assert other.wait_for(lambda e: len(e) == 1)[0][1]["username"] == "bob"
            assert sse.wait_for(lambda e: len(e) == 4)[3][1]["username"] == "bob"
        finally:
            other.close()
    finally:
        sse.close()


def test_served_by_and_request_id_on_every_api_answer(tmp_path, procs):
    n = start(tmp_path, procs)
    etag = put(n, "alice", "x").header("etag")
    calls = [
        ("GET", "/api/statuses", None, {}, 200),
        ("POST", "/api/statuses", {"username": "bob", "statusText": "x"}, {}, 201),
        ("POST", "/api/statuses", {"username": "bob", "statusText": "y"}, {}, 200),
        ("GET", "/api/statuses/alice", None, {}, 200),
        ("GET", "/api/statuses/alice", None, {"If-None-Match": etag}, 304),
        ("GET", "/api/statuses/nobody", None, {}, 404),
        ("PUT", "/api/statuses/carol", {"statusText": "x"}, {}, 201),
        ("PUT", "/api/statuses/carol", {"statusText": "x"}, {"If-Match": '"x"'}, 412),
        ("PUT", "/api/statuses/carol", {"username": "x", "statusText": "x"}, {}, 400),
        ("POST", "/api/statuses", "text", {"Content-Type": "text/plain"}, 415),
        ("DELETE", "/api/statuses/carol", None, {}, 204),
        ("DELETE", "/api/statuses/carol", None, {}, 404),
        ("GET", "/api/nothing", None, {}, 404),
        ("PATCH", "/api/statuses", None, {}, 405),
    ]
    ids = set()
    for i, (method, path, body, headers, status) in enumerate(calls):
        r = harness.request(method, n.url + path, body, headers=dict(headers, **{"X-Request-Id": f"rid-{i}"}))
        assert r.status == status, (method, path, r)
        assert r.header("x-served-by") == "n1", (method, path, r.headers)
        assert r.header("x-request-id") == f"rid-{i}", (method, path, r.headers)
        r = harness.request(method, n.url + path, body, headers=headers)  # again, without an id
        assert r.header("x-served-by") == "n1"
        rid = r.header("x-request-id")
        assert rid and len(rid) >= 16, r.headers  # generated when the request has none
        ids.add(rid)
    assert len(ids) == len(calls)


def test_served_by_on_size_limit_answers(tmp_path, procs):
    n = start(tmp_path, procs)
    r = harness.request("POST", n.url + "/api/statuses", b"x" * (65 * 1024),
                        headers={"Content-Type": "application/json", "X-Request-Id": "big"})
    assert r.status == 413
    assert r.header("x-served-by") == "n1" and r.header("x-request-id") == "big"


def test_unknown_path_404_and_wrong_method_405_as_problem_json(tmp_path, procs):
    n = start(tmp_path, procs)
    for path in ["/api/nothing", "/api", "/api/statuses/a/b", "/nothing", "/"]:
        assert_problem(harness.request("GET", n.url + path), 404)
    for method, path, allow in [("DELETE", "/api/statuses", "GET, POST"),
                                ("PUT", "/api/statuses", "GET, POST"),
                                ("POST", "/api/statuses/alice", "GET, PUT, DELETE"),
                                ("PATCH", "/api/statuses/alice", "GET, PUT, DELETE"),
                                ("POST", "/api/events", "GET")]:
        r = harness.request(method, n.url + path)
        assert_problem(r, 405)
        assert r.header("allow") == allow


def test_internal_digest_and_bucket_pulls(tmp_path, procs):
    """The anti-entropy endpoints: a digest per bucket, and the statuses of one or several
    buckets in one pull; malformed bucket lists are 400 problem+json."""
    n = start(tmp_path, procs)
    users = [f"user{i}" for i in range(40)]
    for u in users:
        assert put(n, u, "x").status in (200, 201)
    assert harness.request("DELETE", f"{n.url}/api/statuses/user0").status == 204
    d = harness.request("GET", n.url + "/internal/digest?buckets=8")
    assert d.status == 200, d
    digest = d.json()
    assert len(digest) == 8 and all(isinstance(x, str) for x in digest)
    one = harness.request("GET", n.url + "/internal/digest?buckets=1").json()
    assert int(one[0]) == sum(int(x) for x in digest) % 2**64
    seen = set()
    for i in range(8):
        r = harness.request("GET", f"{n.url}/internal/bucket?n=8&i={i}")
        assert r.status == 200, r
        seen |= {s["u"] for s in r.json()}
    assert seen == set(users)  # the tombstone of user0 included
    several = harness.request("GET", n.url + "/internal/bucket?n=8&i=0,1,2,3,4,5,6,7")
    assert {s["u"] for s in several.json()} == set(users)
    deleted = [s for s in several.json() if s["u"] == "user0"]
    assert deleted and deleted[0].get("d") is True
    for q in ["n=8", "n=8&i=", "n=8&i=8", "n=8&i=-1", "n=8&i=1,", "n=8&i=1,,2", "n=8&i=x",
              "n=0&i=0", "n=5000&i=1", "i=1"]:
        assert_problem(harness.request("GET", f"{n.url}/internal/bucket?{q}"), 400)


def test_health_and_metrics(tmp_path, procs):
    n = start(tmp_path, procs)
    h = harness.request("GET", n.url + "/health")
    assert h.status == 200 and h.json()["status"] == "UP"
    put(n, "alice", "x")
    harness.request("GET", n.url + "/api/statuses/nobody")
    m = harness.request("GET", n.url + "/metrics")
    assert m.status == 200
    assert m.header("content-type").startswith("text/plain")
    text = m.body.decode()
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? '
                        r'[-+]?([0-9.]+([eE][-+]?[0-9]+)?|Inf|NaN)$')
    types = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            assert parts[1] in ("HELP", "TYPE"), line
            if parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "histogram", "summary", "untyped"), line
                types[parts[2]] = parts[3]
            continue
        assert sample.match(line), f"not a Prometheus sample: {line!r}"
    assert types, "no # TYPE lines"
    assert re.search(r'^http_requests_total\{.*method="PUT",status="201".*\} 1$', text, re.M), text[:2000]
    assert re.search(r"^status_statuses 1$", text, re.M)


# ------------------------------------------------------------------------------------ bad requests

@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """One node for the whole table, with a few statuses the bad requests must not change."""
    n = harness.node(str(tmp_path_factory.mktemp("bad")), "n1")
    n.start()
    try:
        for u in ["alice", "bob", "carol"]:
            assert put(n, u, f"{u}'s status", latitude=1.5, longitude=2.5).status == 201
        yield n
    finally:
        n.kill()


def raw_request(method, path, headers=(), body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def chunked(body, size=4096):
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


J = {"Content-Type": "application/json"}
BAD = [
    # (id, method, path, body, headers, status)
    ("malformed-json", "POST", "/api/statuses", b'{"username":"alice",', J, 400),
    ("trailing-garbage", "POST", "/api/statuses", b'{"username":"alice","statusText":"x"} x', J, 400),
    ("not-an-object", "POST", "/api/statuses", b'["alice","x"]', J, 400),
    ("json-string", "POST", "/api/statuses", b'"alice"', J, 400),
    ("empty-body", "POST", "/api/statuses", b"", J, 400),
    ("deep-nesting", "POST", "/api/statuses",
     b'{"username":"alice","statusText":"x","version":' + b"[" * 1000 + b"]" * 1000 + b"}", J, 400),
    ("missing-username", "POST", "/api/statuses", {"statusText": "x"}, {}, 400),
    ("missing-statusText", "POST", "/api/statuses", {"username": "alice"}, {}, 400),
    ("null-statusText", "PUT", "/api/statuses/alice", {"statusText": None}, {}, 400),
    ("empty-statusText", "PUT", "/api/statuses/alice", {"statusText": ""}, {}, 400),
    ("username-number", "POST", "/api/statuses", {"username": 7, "statusText": "x"}, {}, 400),
    ("statusText-number", "PUT", "/api/statuses/alice", {"statusText": 7}, {}, 400),
    ("statusText-object", "PUT", "/api/statuses/alice", {"statusText": {"a": 1}}, {}, 400),
    ("time-number", "PUT", "/api/statuses/alice", {"statusText": "x", "time": 1700000000}, {}, 400),
    ("time-garbage", "PUT", "/api/statuses/alice", {"statusText": "x", "time": "soon"}, {}, 400),
    ("time-feb-30", "PUT", "/api/statuses/alice", {"statusText": "x", "time": "2026-02-30T10:00:00Z"}, {}, 400),
    ("time-25h", "PUT", "/api/statuses/alice", {"statusText": "x", "time": "2026-11-25T25:00:00Z"}, {}, 400),
    ("latitude-string", "PUT", "/api/statuses/alice", {"statusText": "x", "latitude": "1", "longitude": 2}, {}, 400),
    ("unknown-field", "PUT", "/api/statuses/alice", {"statusText": "x", "mood": "happy"}, {}, 400),
    ("both-spellings", "PUT", "/api/statuses/alice", {"statusText": "x", "statustext": "y"}, {}, 400),
    ("username-65", "POST", "/api/statuses", {"username": "a" * 65, "statusText": "x"}, {}, 400),
    ("username-charset", "POST", "/api/statuses", {"username": "al ice", "statusText": "x"}, {}, 400),
    ("username-empty", "POST", "/api/statuses", {"username": "", "statusText": "x"}, {}, 400),
    ("path-username-65", "PUT", "/api/statuses/" + "a" * 65, {"statusText": "x"}, {}, 400),
    ("text-1001", "PUT", "/api/statuses/alice", {"statusText": "a" * 1001}, {}, 400),
    ("text-1001-multibyte", "PUT", "/api/statuses/alice", {"statusText": "€" * 1001}, {}, 400),
    ("invalid-utf8", "PUT", "/api/statuses/alice", b'{"statusText":"abc\xff\xfe"}', J, 400),
    ("overlong-utf8", "PUT", "/api/statuses/alice", b'{"statusText":"\xc0\xaf"}', J, 400),
    ("latitude-only", "PUT", "/api/statuses/alice", {"statusText": "x", "latitude": 10}, {}, 400),
    ("longitude-only", "PUT", "/api/statuses/alice", {"statusText": "x", "longitude": 10}, {}, 400),
    ("latitude-91", "PUT", "/api/statuses/alice", {"statusText": "x", "latitude": 91, "longitude": 0}, {}, 400),
    ("latitude-minus-90.1", "PUT", "/api/statuses/alice", {"statusText": "x", "latitude": -90.1, "longitude": 0}, {}, 400),
    ("longitude-181", "PUT", "/api/statuses/alice", {"statusText": "x", "latitude": 0, "longitude": 181}, {}, 400),
    ("longitude-minus-180.5", "PUT", "/api/statuses/alice", {"statusText": "x", "latitude": 0, "longitude": -180.5}, {}, 400),
    ("path-body-mismatch", "PUT", "/api/statuses/alice", {"username": "bob", "statusText": "x"}, {}, 400),
    ("path-body-case-mismatch", "PUT", "/api/statuses/alice", {"username": "Alice", "statusText": "x"}, {}, 400),
    ("text-plain", "PUT", "/api/statuses/alice", b'{"statusText":"x"}', {"Content-Type": "text/plain"}, 415),
    ("xml", "POST", "/api/statuses", b"<status/>", {"Content-Type": "application/xml"}, 415),
    ("bad-percent-encoding", "GET", "/api/statuses/al%zzice", None, {}, 400),
    ("truncated-percent-encoding", "DELETE", "/api/statuses/alice%2", None, {}, 400),
    ("percent-encoded-space", "DELETE", "/api/statuses/al%20ice", None, {}, 400),
    ("patch-method", "PATCH", "/api/statuses/alice", {"statusText": "x"}, {}, 405),
    ("post-on-item", "POST", "/api/statuses/alice", {"statusText": "x"}, {}, 405),
    ("delete-collection", "DELETE", "/api/statuses", None, {}, 405),
    ("limit-zero", "GET", "/api/statuses?limit=0", None, {}, 400),
    ("limit-1001", "GET", "/api/statuses?limit=1001", None, {}, 400),
    ("limit-text", "GET", "/api/statuses?limit=ten", None, {}, 400),
    ("offset-negative", "GET", "/api/statuses?offset=-1", None, {}, 400),
    ("offset-text", "GET", "/api/statuses?offset=1e3", None, {}, 400),
    ("bad-consistency", "PUT", "/api/statuses/alice", {"statusText": "x"}, {"X-Consistency": "quorum"}, 400),
    ("bad-consistency-delete", "DELETE", "/api/statuses/alice", None, {"X-Consistency": "some"}, 400),
    ("if-match-mismatch", "PUT", "/api/statuses/alice", {"statusText": "x"}, {"If-Match": '"0000000000000001.n1"'}, 412),
    ("if-none-match-star", "PUT", "/api/statuses/alice", {"statusText": "x"}, {"If-None-Match": "*"}, 412),
    ("delete-if-match", "DELETE", "/api/statuses/alice", None, {"If-Match": '"nope"'}, 412),
    ("delete-missing", "DELETE", "/api/statuses/nobody", None, {}, 404),
    ("unknown-path", "PUT", "/api/status/alice", {"statusText": "x"}, {}, 404),
]
RAW_BAD = [
    # (id, raw bytes, status) — requests http.client would not send, or limits of the server
    ("body-over-64k", raw_request("POST", "/api/statuses", [("Content-Type", "application/json")],
                                  b'{"username":"alice","statusText":"' + b"a" * (64 * 1024) + b'"}'), 413),
    ("chunked-body-over-64k",
     b"POST /api/statuses HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
     + chunked(b'{"username":"alice","statusText":"' + b"a" * (65 * 1024) + b'"}'), 413),
    ("header-over-8k", raw_request("GET", "/api/statuses", [("X-Filler", "f" * (9 * 1024))]), 431),
    ("many-headers-over-8k", raw_request("GET", "/api/statuses", [(f"X-H{i}", "v" * 90) for i in range(100)]),
     431),
    ("unsupported-method", raw_request("BREW", "/api/statuses/alice"), 405),
    ("garbage-request-line", b"HELLO\r\n\r\n", 400),
]


def check_unchanged(n, before, alice_etag):
    assert listing(n) == before
    g = harness.request("GET", n.url + "/api/statuses/alice")
    assert g.status == 200 and g.header("etag") == alice_etag


@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_request(seeded, case):
    _, method, path, body, headers, status = case
    before = listing(seeded)
    alice = harness.request("GET", seeded.url + "/api/statuses/alice").header("etag")
    r = harness.request(method, seeded.url + path, body, headers=dict(headers))
    assert_problem(r, status)
    assert r.header("x-served-by") == "n1"
    check_unchanged(seeded, before, alice)


@pytest.mark.parametrize("name,data,status", RAW_BAD)
def test_bad_raw_request(seeded, name, data, status):
    before = listing(seeded)
    alice = harness.request("GET", seeded.url + "/api/statuses/alice").header("etag")
    assert_problem(parse_raw(harness.raw(seeded.port, data)), status)
    check_unchanged(seeded, before, alice)


def test_bad_request_table_is_big_enough():
    assert len(BAD) + len(RAW_BAD) >= 25


def test_limits_accept_what_is_allowed(seeded):
    """The edges of the rules are accepted (so the table above tests the rules, not typos)."""
    ok = [{"statusText": "a" * 1000}, {"statusText": "€" * 1000}, {"statusText": "😀" * 1000},
          {"statusText": "x", "latitude": 90, "longitude": -180},
          {"statusText": "x", "latitude": -90, "longitude": 180},
          {"statusText": "x", "version": "whatever"}, {"statusText": "x", "time": None},
          {"statustext": "alias"}]
    for body in ok:
        r = harness.request("PUT", seeded.url + "/api/statuses/" + "z" * 64, body)
        assert r.status in (200, 201), (body, r)
    r = harness.request("PUT", seeded.url + "/api/statuses/Z.z_9-", {"username": "Z.z_9-", "statusText": "x"})
    assert r.status == 201
    assert harness.request("GET", seeded.url + "/api/statuses/z.z_9-").status == 404  # case-sensitive
    assert harness.request("GET", seeded.url + "/api/statuses?limit=1000&offset=0").status == 200
    assert harness.request("PUT", seeded.url + "/api/statuses/" + "z" * 64, {"statusText": "x"},
                           headers={"X-Consistency": "async"}).status == 200
    for u in ["z" * 64, "Z.z_9-"]:
        assert harness.request("DELETE", seeded.url + "/api/statuses/" + u).status == 204


# ------------------------------------------------------------------------------------ durability

def test_acknowledged_writes_survive_kill_9(tmp_path, procs):
    data = str(tmp_path / "data")
    port = harness.free_port()
    # No --node-id: the node makes one up and must keep it across restarts.
    n = harness.Proc("status-node", ["--port", str(port), "--data-dir", data, "--threads", "2", "--auth", "off"],
                     str(tmp_path), "node-durable")
    procs.append(n)
    n.start()
    node_id = harness.request("GET", n.url + "/api/statuses").header("x-served-by")
    assert node_id

    acked = {}  # username -> acknowledged status
    lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def writer(prefix, count):
        for i in range(count):
            if stop.is_set():
                return
            u = f"{prefix}-{i}"
            try:
                r = harness.request("PUT", f"{n.url}/api/statuses/{u}", {"statusText": f"text {u} ü"}, timeout=10)
            except OSError:
                return  # the node was killed mid-request: not acknowledged
            if r.status in (200, 201):
                with lock:
                    acked[u] = r.json()
            elif not stop.is_set():
                errors.append(r)

    # 1,000 writes from four concurrent clients, all answered.
    threads = [threading.Thread(target=writer, args=(f"w{t}", 250)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    assert len(acked) == 1000
    # A few overwrites and deletes, so the restart must bring back the latest state.
    for i in range(0, 50):
        acked[f"w0-{i}"] = put(n, f"w0-{i}", "second").json()
    for i in range(50, 60):
        assert harness.request("DELETE", f"{n.url}/api/statuses/w0-{i}").status == 204
        del acked[f"w0-{i}"]

    # Now kill -9 while writers are busy: whatever was acknowledged before the kill must survive.
    threads = [threading.Thread(target=writer, args=(f"k{t}", 5000)) for t in range(4)]
    for t in threads:
        t.start()
    harness.wait_until(lambda: len(acked) >= 990 + 200, timeout=60, what="writes during the kill phase")
    n.kill()
    stop.set()
    for t in threads:
        t.join(30)
    expected = dict(acked)

    n.start()
    assert harness.request("GET", n.url + "/api/statuses").header("x-served-by") == node_id
    stored = {}
    for offset in range(0, 100_000, 1000):  # page through everything
        page = harness.request("GET", f"{n.url}/api/statuses?limit=1000&offset={offset}").json()
        if not page:
            break
        stored.update({s["username"]: s for s in page})
    missing = [u for u in expected if u not in stored]
    assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {missing[:5]}"
    for u, s in expected.items():
        assert stored[u] == s, (u, stored[u], s)
    for i in range(50, 60):
        assert f"w0-{i}" not in stored  # deletes stayed deleted
    # Nothing unacknowledged except possibly the writes in flight at the kill (at most one per client).
    assert len(stored) - len(expected) <= 4


# ------------------------------------------------------------------------------------ command line

def run_node(args, timeout=20, env=None):
    return subprocess.run([os.path.join(harness.BIN, "status-node")] + args, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


def error_lines(stderr):
    """The lines of stderr that are not info-level log events."""
    return [l for l in stderr.splitlines()
            if l.strip() and not re.match(r"^\d{4}-\d\d-\d\dT\S+ (info|debug) ", l)]


def test_help_exits_0():
    r = run_node(["--help"])
    assert r.returncode == 0, r.stderr
    for flag in ["--port", "--data-dir", "--node-id", "--read-timeout-ms", "--threads", "STATUS_DATA_DIR"]:
        assert flag in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--bogus-flag", "1", "--data-dir", "/tmp/x"], "--bogus-flag"),
    (["--port", "0"], "--data-dir"),
    (["--port", "70000", "--data-dir", "{tmp}/d"], "--port"),
    (["--port", "abc", "--data-dir", "{tmp}/d"], "--port"),
    (["--port", "0", "--data-dir", "{tmp}/d", "--sync", "sometimes"], "--sync"),
    (["--port", "0", "--data-dir", "{tmp}/d", "--node-id", "bad id"], "--node-id"),
    (["--port", "0", "--data-dir", "{tmp}/file"], "{tmp}/file"),
    (["--port", "0", "--data-dir", "{tmp}/d", "stray"], "stray"),
])
def test_bad_configuration_fails_with_one_line(tmp_path, args, needle):
    (tmp_path / "file").write_text("not a directory")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = run_node(args)
    assert r.returncode != 0
    lines = error_lines(r.stderr)
    assert len(lines) == 1, r.stderr
    assert needle.replace("{tmp}", str(tmp_path)) in lines[0], r.stderr


def test_data_dir_from_environment(tmp_path, procs):
    port = harness.free_port()
    n = harness.Proc("status-node", ["--port", str(port)], str(tmp_path), "node-env",
                     env={"STATUS_DATA_DIR": str(tmp_path / "envdata"), "STATUS_NODE_ID": "envnode"})
    procs.append(n)
    n.start()
    assert harness.request("GET", n.url + "/api/statuses").header("x-served-by") == "envnode"
    assert (tmp_path / "envdata").is_dir()


def test_port_in_use_fails_with_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_node(["--port", str(port), "--node-id", "n1", "--data-dir", str(tmp_path / "d")])
    assert r.returncode != 0
    lines = error_lines(r.stderr)
    assert len(lines) == 1 and str(port) in lines[0] and "in use" in lines[0], r.stderr


def test_sigterm_exits_0(tmp_path, procs):
    n = start(tmp_path, procs)
    put(n, "alice", "x")
    sse = Sse(n.port)  # an open event stream must not hold the shutdown up
    try:
        t0 = time.monotonic()
        assert n.stop(timeout=15) == 0
        assert time.monotonic() - t0 < 10
    finally:
        sse.close()
    n.start()
    assert harness.request("GET", n.url + "/api/statuses/alice").status == 200


# ------------------------------------------------------------------------------------ slow clients

def test_slow_client_is_closed_and_does_not_block_others(tmp_path, procs):
    n = start(tmp_path, procs, extra=["--read-timeout-ms", "500"])
    put(n, "alice", "x")
    slow = []
    try:
        # More half-sent requests than I/O threads (2): none of them may hold a thread.
        for _ in range(8):
            s = socket.create_connection(("127.0.0.1", n.port), timeout=5)
            s.sendall(b"GET /api/statuses HTTP/1.1\r\nHost: x\r\nX-Half: ")
            slow.append(s)
        t0 = time.monotonic()
        for _ in range(5):
            r = harness.request("GET", n.url + "/api/statuses/alice", timeout=2)
            assert r.status == 200
        assert time.monotonic() - t0 < 0.5 * 5  # answered while the slow ones still wait
        # Each slow connection is closed by the server after the read timeout, not left open.
        for s in slow:
            s.settimeout(5)
            data = s.recv(65536)
            elapsed = time.monotonic() - t0
            assert data == b"" or data.startswith(b"HTTP/1.1 4"), data
            assert elapsed < 4, elapsed
        assert time.monotonic() - t0 >= 0.3
    finally:
        for s in slow:
            s.close()


def test_trickling_client_is_closed_after_read_timeout(tmp_path, procs):
    n = start(tmp_path, procs, extra=["--read-timeout-ms", "500"])
    s = socket.create_connection(("127.0.0.1", n.port), timeout=5)
    try:
        request = b"GET /api/statuses HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 200 + b"\r\n\r\n"
        t0 = time.monotonic()
        closed = False
        for i in range(len(request)):  # one byte every 50 ms: the whole request would take 12 s
            try:
                s.sendall(request[i:i + 1])
            except OSError:
                closed = True
                break
            s.settimeout(0.05)
            try:
                if s.recv(65536) == b"":
                    closed = True
                    break
            except socket.timeout:
                pass
            except OSError:
                closed = True
                break
            if time.monotonic() - t0 > 5:
                break
        assert closed, "a trickling client kept its connection past the read timeout"
        assert time.monotonic() - t0 < 3
    finally:
        s.close()
    assert harness.request("GET", n.url + "/health").status == 200
