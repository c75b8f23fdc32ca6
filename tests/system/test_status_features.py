"""Status features (CONTRACT §2 fields and §8, issue 13), black-box against three real nodes on a
real RabbitMQ (and a gateway): validation of emoji / availability / expiresAt / clearAfter,
expiry on every node within a second, the history (replace, delete, expire; at most 10; byte for
byte the same on every node after conflicting writes, a bootstrap and an anti-entropy repair;
removed with the account), the list filters with paging, and resumable event streams
(Last-Event-ID, ?lastEventId=, `event: reset`, heartbeats on request).

Most tests share one module cluster (three nodes, a gateway) and use usernames of their own; the
filter test and the account test start their own, the replay-window test a lone node. Every wait
is bounded; nothing sleeps longer than the rule it checks needs.
"""
import codecs
import concurrent.futures as cf
import http.client
import json
import random
import re
import threading
import time
import urllib.parse
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

import harness
from harness import request, wait_until

PROBLEM = "application/problem+json"
SYNC = {"X-Consistency": "all"}
# --event-replay-max of the module cluster: more than every event the tests before the resume
# test make (so a recent id can always be resumed), fewer than the flood after it (so the same id
# becomes ancient).
REPLAY_MAX = 1000
FLAGS = ["--publish-timeout", "1000", "--anti-entropy-interval-ms", "500",
         "--event-replay-max", str(REPLAY_MAX)]
RESUME_MARGIN_S = 10  # the node's resume margin for ids of other nodes (docs/api.md, Events)
STATUS_KEYS = {"username", "statusText", "time", "version", "availability"}
OPTIONAL_KEYS = {"emoji", "expiresAt", "latitude", "longitude"}
HISTORY_KEYS = {"statusText", "availability", "time", "version", "endedAt", "endedBy"}
MAX_CLEAR_AFTER = 31622400  # 366 days


# ------------------------------------------------------------------------------------ helpers

def ts(s):
    """Seconds since the epoch of an RFC 3339 string."""
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def rfc3339(t, offset_hours=0):
    if offset_hours == 0:
        return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    from datetime import timedelta
    tz = timezone(timedelta(hours=offset_hours))
    return datetime.fromtimestamp(t, tz).isoformat(timespec="milliseconds")


def sleep_until(t):
    time.sleep(max(0.0, t - time.time()))


def put(url, user, text="x", headers=None, **fields):
    body = {"statusText": text, **fields}
    return request("PUT", f"{url}/api/statuses/{user}", body,
                   {"Content-Type": "application/json", **(headers or {})})


def delete(url, user, headers=None):
    return request("DELETE", f"{url}/api/statuses/{user}", headers=headers)


def get(url, user):
    return request("GET", f"{url}/api/statuses/{user}")


def history(url, user):
    return request("GET", f"{url}/api/statuses/{user}/history")


def assert_problem(r, status=400):
    assert r.status == status, r
    assert r.header("content-type") == PROBLEM, r.headers
    p = r.json()
    assert p["status"] == status and p["type"] == "about:blank" and p.get("detail"), p
    return p["detail"]


def assert_status_shape(s):
    keys = set(s)
    assert STATUS_KEYS <= keys <= STATUS_KEYS | OPTIONAL_KEYS, s
    assert s["availability"] in ("available", "busy", "away", "dnd"), s


def assert_history_shape(h):
    assert isinstance(h, list) and len(h) <= 10, h
    for e in h:
        assert HISTORY_KEYS <= set(e) <= HISTORY_KEYS | {"emoji"}, e
        assert e["endedBy"] in ("replaced", "deleted", "expired"), e
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", e["endedAt"]), e
    ended = [ts(e["endedAt"]) for e in h]
    assert ended == sorted(ended, reverse=True), f"history not newest first: {h}"
    versions = [e["version"] for e in h]
    assert len(set(versions)) == len(versions), f"a version twice in one history: {h}"


def listed(url, query):
    """(usernames, X-Total-Count) of GET /api/statuses?query."""
    r = request("GET", f"{url}/api/statuses?{query}")
    assert r.status == 200, (query, r)
    return [s["username"] for s in r.json()], int(r.header("x-total-count"))


def snapshot(url, users):
    """What a node says of `users`: per user, (status code, body) of the status and of its
    history. Error bodies are left out (they may name the request)."""
    out = {}
    for u in users:
        s, h = get(url, u), history(url, u)
        out[u] = (s.status, s.body if s.status == 200 else None,
                  h.status, h.body if h.status == 200 else None)
    return out


def wait_identical(urls, users, timeout=15, what="identical statuses and histories"):
    """Waits until every node in `urls` answers byte for byte the same for `users` (status and
    history); returns that snapshot. On a timeout, names the first user that differs."""
    deadline = time.monotonic() + timeout
    snaps = None
    while True:
        try:
            snaps = [snapshot(u, users) for u in urls]
            if all(s == snaps[0] for s in snaps):
                return snaps[0]
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert snaps, f"no node answered within {timeout}s"
    for u in users:
        views = [s[u] for s in snaps]
        if any(v != views[0] for v in views):
            raise AssertionError(f"{what}: not reached in {timeout}s; {u}: " +
                                 " | ".join(f"{url}: {v!r}" for url, v in zip(urls, views)))
    raise AssertionError(f"{what}: not reached in {timeout}s")


def metric(url, name):
    text = request("GET", url + "/metrics").body.decode()
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))


class EventStream:
    """GET /api/events read by a thread of its own; every event is kept with the wall-clock time
    of its arrival: dicts {"id", "event", "data" (parsed JSON), "at"}."""

    def __init__(self, url, last_event_id=None, query="", timeout=30):
        u = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        self.conn.connect()
        self.sock = self.conn.sock  # kept: http.client lets go of it for a close-delimited answer
        hdrs = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            hdrs["Last-Event-ID"] = last_event_id
        self.conn.request("GET", "/api/events" + query, headers=hdrs)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.content_type = self.resp.getheader("Content-Type", "")
        self.list, self.lock, self.closed = [], threading.Lock(), False
        self.thread = threading.Thread(target=self._run, daemon=True)
        if self.status == 200:
            self.thread.start()

    def _run(self):
        decoder, buf = codecs.getincrementaldecoder("utf-8")(), ""
        try:
            while True:
                chunk = self.resp.read1(65536)
                if not chunk:
                    break
                now = time.time()
                buf += decoder.decode(chunk).replace("\r\n", "\n")
                while "\n\n" in buf:
                    frame, buf = buf.split("\n\n", 1)
                    ev = self._parse(frame)
                    if ev is not None:
                        ev["at"] = now
                        with self.lock:
                            self.list.append(ev)
        except (OSError, ValueError, http.client.HTTPException):
            pass
        finally:
            self.closed = True

    @staticmethod
    def _parse(frame):
        fields, data = {}, []
        for line in frame.split("\n"):
            if not line or line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                data.append(value)
            else:
                fields[name] = value
        if "event" not in fields and not data:
            return None
        return {"id": fields.get("id"), "event": fields.get("event", "message"),
                "data": json.loads("\n".join(data)) if data else None}

    def events(self):
        with self.lock:
            return list(self.list)

    def wait_for(self, predicate, timeout=10, what="events"):
        deadline = time.monotonic() + timeout
        while True:
            evs = self.events()
            if predicate(evs):
                return evs
            if time.monotonic() > deadline or (self.closed and not predicate(self.events())):
                raise AssertionError(f"{what}: not seen within {timeout}s (closed: {self.closed}); "
                                     f"{len(evs)} events: {[(e['event'], e['data']) for e in evs][-20:]}")
            time.sleep(0.02)

    def close(self):
        import socket
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.conn.close()
        if self.thread.is_alive():
            self.thread.join(5)


def has(evs, kind, user, version=None):
    return any(e["event"] == kind and e["data"].get("username") == user and
               (version is None or e["data"].get("version") == version) for e in evs)


# ------------------------------------------------------------------------------------ clusters

@pytest.fixture(scope="module")
def c3(tmp_path_factory, broker):
    """Three nodes (peers of each other, one broker) and a gateway, for the module."""
    work = str(tmp_path_factory.mktemp("features"))
    started = []
    nodes = harness.start_all(harness.make_cluster(work, started, "sf-", 3, amqp=broker.url,
                                                   extra=FLAGS))
    gw = harness.gateway(work, upstreams=[f"127.0.0.1:{n.port}" for n in nodes],
                         extra=["--rate-limit", "0"])
    started.append(gw)
    gw.start()
    yield SimpleNamespace(nodes=nodes, urls=[n.url for n in nodes], gw=gw, work=work,
                          procs=started, amqp=broker.url, started=time.monotonic())
    for p in started:
        if p.running():
            p.kill()


def sync_put(url, user, text="x", **fields):
    """A write every UP node has applied when it is answered (X-Consistency: all)."""
    r = put(url, user, text, headers=SYNC, **fields)
    assert r.status in (200, 201), r
    applied, _, expected = r.header("x-replicated", "").partition("/")
    assert applied and applied == expected, f"X-Replicated {r.header('x-replicated')!r}"
    return r


# ------------------------------------------------------------------------------------ validation

def invalid_bodies():
    """(id, fields) that must each be refused with 400; callables are evaluated at request time."""
    day = 86400
    return [
        ("emoji-empty", {"emoji": ""}),
        ("emoji-33-ascii", {"emoji": "a" * 33}),
        ("emoji-33-code-points", {"emoji": "😀" * 33}),
        ("emoji-bell", {"emoji": "\u0007"}),
        ("emoji-newline", {"emoji": "ab\ncd"}),
        ("emoji-del", {"emoji": "x\u007f"}),
        ("emoji-c1-control", {"emoji": "\u0085"}),
        ("emoji-number", {"emoji": 5}),
        ("emoji-array", {"emoji": ["📅"]}),
        ("availability-empty", {"availability": ""}),
        ("availability-capitalised", {"availability": "Busy"}),
        ("availability-upper", {"availability": "DND"}),
        ("availability-unknown", {"availability": "offline"}),
        ("availability-trailing-space", {"availability": "busy "}),
        ("availability-number", {"availability": 1}),
        ("availability-bool", {"availability": True}),
        ("expiresAt-past", {"expiresAt": lambda: rfc3339(time.time() - 3600)}),
        ("expiresAt-just-past", {"expiresAt": lambda: rfc3339(time.time() - 1)}),
        ("expiresAt-over-366-days", {"expiresAt": lambda: rfc3339(time.time() + 366 * day + 3600)}),
        ("expiresAt-words", {"expiresAt": "tomorrow"}),
        ("expiresAt-empty", {"expiresAt": ""}),
        ("expiresAt-month-13", {"expiresAt": "2027-13-01T00:00:00Z"}),
        ("expiresAt-date-only", {"expiresAt": "2027-01-01"}),
        ("expiresAt-no-offset", {"expiresAt": lambda: rfc3339(time.time() + day)[:-1]}),
        ("expiresAt-number", {"expiresAt": lambda: int(time.time()) + 3600}),
        ("clearAfter-zero", {"clearAfter": 0}),
        ("clearAfter-negative", {"clearAfter": -1}),
        ("clearAfter-over-366-days", {"clearAfter": MAX_CLEAR_AFTER + 1}),
        ("clearAfter-fraction", {"clearAfter": 1.5}),
        ("clearAfter-string", {"clearAfter": "60"}),
        ("clearAfter-bool", {"clearAfter": True}),
        ("clearAfter-and-expiresAt", {"clearAfter": 60, "expiresAt": lambda: rfc3339(time.time() + 120)}),
        ("unknown-field-clear_after", {"clear_after": 60}),
        ("unknown-field-expiresIn", {"expiresIn": 60}),
    ]


@pytest.mark.parametrize("case", invalid_bodies(), ids=[i for i, _ in invalid_bodies()])
def test_invalid_feature_field_is_400_and_stores_nothing(c3, case):
    n1 = c3.urls[0]
    name, fields = case
    body = {k: (v() if callable(v) else v) for k, v in fields.items()}
    user = "val-" + name
    assert_problem(put(n1, user, "refused", **body))
    assert_problem(request("POST", n1 + "/api/statuses", {"username": user, "statusText": "refused", **body}))
    assert get(n1, user).status == 404
    # The same rule on an existing status: refused, and the status stays as it was.
    ok = put(n1, user, "kept")
    assert ok.status == 201, ok
    assert_problem(put(n1, user, "refused", **body))
    assert get(n1, user).body == ok.body
    assert history(n1, user).json() == []


def test_invalid_utf8_and_lone_surrogate_emoji_are_400(c3):
    n1 = c3.urls[0]
    for raw_body in (b'{"statusText":"x","emoji":"\xff"}', b'{"statusText":"x","emoji":"\\ud800"}',
                     b'{"statusText":"x","emoji":"\xed\xa0\x80"}'):
        assert_problem(request("PUT", n1 + "/api/statuses/val-utf8", raw_body,
                               {"Content-Type": "application/json"}))
    assert get(n1, "val-utf8").status == 404


def test_accepted_edges_are_stored_returned_and_replicated(c3):
    n1, n2, n3 = c3.urls
    day = 86400
    cases = {  # user: input fields, checked against the answer
        "edge-emoji-1": {"emoji": "📅"},
        "edge-emoji-x": {"emoji": "x"},
        "edge-emoji-code": {"emoji": ":calendar:"},
        "edge-emoji-32-ascii": {"emoji": "a" * 32},
        "edge-emoji-32-cp": {"emoji": "😀" * 32},
        "edge-emoji-zwj": {"emoji": "👩\u200d💻"},
        "edge-emoji-flag": {"emoji": "🇦🇹"},
        "edge-av-available": {"availability": "available"},
        "edge-av-busy": {"availability": "busy"},
        "edge-av-away": {"availability": "away"},
        "edge-av-dnd": {"availability": "dnd"},
        "edge-exp-hour": {"expiresAt": rfc3339(time.time() + 3600)},
        "edge-exp-offset": {"expiresAt": rfc3339(time.time() + 3600, offset_hours=2)},
        "edge-exp-366d": {"expiresAt": rfc3339(time.time() + 366 * day - 60)},
        "edge-clear-max": {"clearAfter": MAX_CLEAR_AFTER},
        "edge-clear-2h": {"clearAfter": 7200},
        "edge-all": {"emoji": "🏖️", "availability": "away", "clearAfter": 3600,
                     "latitude": 48.2, "longitude": 16.3},
    }
    answers = {}
    for user, fields in cases.items():
        t0 = time.time()
        r = sync_put(n1, user, "edge", **fields)
        t1 = time.time()
        assert r.status == 201, (user, r)
        s = r.json()
        assert_status_shape(s)
        assert "clearAfter" not in s
        if "emoji" in fields:
            assert s["emoji"] == fields["emoji"], (user, s)
        else:
            assert "emoji" not in s, (user, s)
        assert s["availability"] == fields.get("availability", "available"), (user, s)
        if "expiresAt" in fields:
            assert s["expiresAt"].endswith("Z") and abs(ts(s["expiresAt"]) - ts(fields["expiresAt"])) < 0.002, \
                (user, s, fields)
        elif "clearAfter" in fields:
            assert t0 - 1 + fields["clearAfter"] <= ts(s["expiresAt"]) <= t1 + 1 + fields["clearAfter"], (user, s)
            assert abs(ts(s["expiresAt"]) - ts(s["time"]) - fields["clearAfter"]) < 0.01, (user, s)
        else:
            assert "expiresAt" not in s, (user, s)
        answers[user] = r.body
    # Defaults: no emoji, no expiresAt, availability "available".
    plain = sync_put(n1, "edge-plain", "plain").json()
    assert set(plain) == STATUS_KEYS and plain["availability"] == "available", plain
    # The alias statustext with the new fields; POST as well as PUT.
    r = request("POST", n1 + "/api/statuses", {"username": "edge-post", "statustext": "posted",
                                                 "emoji": "📮", "availability": "dnd", "clearAfter": 3600})
    assert r.status == 201 and r.header("location") == "/api/statuses/edge-post", r
    assert r.json()["emoji"] == "📮" and r.json()["availability"] == "dnd" and "expiresAt" in r.json()
    answers["edge-post"] = r.body
    # What every node stores is the answer, byte for byte (GET of n2 and n3, and the list).
    for url in (n1, n2, n3):
        for user, body in answers.items():
            wait_until(lambda: get(url, user).body == body, 5, what=f"{user} on {url}")
        users = "&".join(f"username={u}" for u in answers)
        page = request("GET", f"{url}/api/statuses?{users}&limit=1000").json()
        assert {s["username"]: json.dumps(s, ensure_ascii=False) for s in page} == \
            {u: json.dumps(json.loads(b), ensure_ascii=False) for u, b in answers.items()}
    # A replace without the new fields drops them (the new status is a new one).
    r = sync_put(n2, "edge-all", "replaced")
    assert r.status == 200 and set(r.json()) == STATUS_KEYS, r
    assert r.json()["availability"] == "available"


def test_upsert_event_carries_the_new_fields(c3):
    n1, n2, _ = c3.urls
    stream = EventStream(n2)
    try:
        s = put(n1, "ev-fields", "with fields", emoji="🎧", availability="busy", clearAfter=600).json()
        evs = stream.wait_for(lambda e: has(e, "upsert", "ev-fields"), 5, what="the upsert on n2")
        ev = [e for e in evs if e["event"] == "upsert" and e["data"]["username"] == "ev-fields"][0]
        assert ev["data"] == s and ev["id"], ev
    finally:
        stream.close()


# ------------------------------------------------------------------------------------ expiry

def test_expiry_on_every_node_within_one_second(c3):
    """§8: clearAfter 2 s (and an explicit expiresAt): 200 before, then on each of the three
    nodes within 1 s of expiresAt 404, not listed, not counted, and `event: expire` on each
    node's stream; the entry moves into the history (endedAt = expiresAt); a later write is new
    (201). A status replaced, or deleted, before its expiry does not expire."""
    urls = c3.urls
    streams = [EventStream(u) for u in urls]
    try:
        a = sync_put(urls[0], "exp-a", "gone in 2 s", emoji="⏳", availability="away", clearAfter=2).json()
        b = sync_put(urls[1], "exp-b", "gone at a given time",
                     expiresAt=rfc3339(time.time() + 2.3, offset_hours=-5)).json()
        c = sync_put(urls[2], "exp-c", "replaced before it expires", clearAfter=2).json()
        d = sync_put(urls[0], "exp-d", "deleted before it expires", clearAfter=2).json()
        c2 = sync_put(urls[1], "exp-c", "the replacement, no expiry").json()
        assert "expiresAt" not in c2
        assert delete(urls[2], "exp-d", headers=SYNC).status == 204
        assert abs(ts(a["expiresAt"]) - ts(a["time"]) - 2) < 0.01, a
        assert a["expiresAt"].endswith("Z") and b["expiresAt"].endswith("Z"), (a, b)
        expiring = {"exp-a": a, "exp-b": b}
        # Shortly before: present everywhere, listed and counted.
        sleep_until(ts(a["expiresAt"]) - 0.5)
        for url in urls:
            for user in expiring:
                assert get(url, user).status == 200, (url, user)
                assert listed(url, f"username={user}") == ([user], 1)
        # Each node watched by a thread of its own from 0.3 s before each expiresAt.
        gone, early, lock = {}, [], threading.Lock()

        def watch(url, user, exp):
            sleep_until(exp - 0.3)
            deadline = exp + 3.0
            while time.time() < deadline:
                t = time.time()
                if get(url, user).status == 404 and listed(url, f"username={user}") == ([], 0) \
                        and user not in listed(url, f"q={user}&limit=1000")[0]:
                    with lock:
                        if t < exp - 0.05:
                            early.append((url, user, t - exp))
                        gone[(url, user)] = t
                    return
                time.sleep(0.02)

        with cf.ThreadPoolExecutor(len(urls) * len(expiring)) as pool:
            futs = [pool.submit(watch, url, user, ts(s["expiresAt"]))
                    for url in urls for user, s in expiring.items()]
            for f in futs:
                f.result()
        assert not early, f"gone before expiresAt: {early}"
        for url in urls:
            for user, s in expiring.items():
                exp = ts(s["expiresAt"])
                assert (url, user) in gone, f"{user} still there on {url} 3 s after expiresAt"
                assert gone[(url, user)] - exp <= 1.0, \
                    f"{user} gone on {url} {gone[(url, user)] - exp:.2f} s after expiresAt"
        for url, stream in zip(urls, streams):
            for user, s in expiring.items():
                exp = ts(s["expiresAt"])
                evs = stream.wait_for(lambda e: has(e, "expire", user), max(0.1, exp + 1.0 - time.time()),
                                      what=f"event: expire of {user} on {url} within 1 s")
                ev = [e for e in evs if e["event"] == "expire" and e["data"]["username"] == user][0]
                assert ev["at"] - exp <= 1.0, f"expire of {user} on {url} {ev['at'] - exp:.2f} s late"
                assert set(ev["data"]) == {"username", "version"} and ev["data"]["version"] and ev["id"], ev
        # Replaced or deleted before: no expiry; the replacement stays.
        time.sleep(max(0.0, ts(c["expiresAt"]) + 0.3 - time.time()))
        for url, stream in zip(urls, streams):
            assert get(url, "exp-c").body == get(urls[0], "exp-c").body and get(url, "exp-c").status == 200
            assert not has(stream.events(), "expire", "exp-c"), url
            assert not has(stream.events(), "expire", "exp-d"), url
    finally:
        for s in streams:
            s.close()
    # History: the expired entry, endedAt = expiresAt, the same bytes on every node.
    snap = wait_identical(urls, ["exp-a", "exp-b", "exp-c", "exp-d"], 5)
    ha = json.loads(snap["exp-a"][3])
    assert ha == [{"statusText": "gone in 2 s", "emoji": "⏳", "availability": "away", "time": a["time"],
                   "version": a["version"], "endedAt": a["expiresAt"], "endedBy": "expired"}], ha
    hb = json.loads(snap["exp-b"][3])
    assert [(e["version"], e["endedBy"], e["endedAt"]) for e in hb] == [(b["version"], "expired", b["expiresAt"])]
    hc = json.loads(snap["exp-c"][3])
    assert [(e["version"], e["endedBy"]) for e in hc] == [(c["version"], "replaced")], hc
    hd = json.loads(snap["exp-d"][3])
    assert [(e["version"], e["endedBy"]) for e in hd] == [(d["version"], "deleted")], hd
    # Gone means gone for the other requests too: DELETE 404, If-Match of the old version 412.
    assert_problem(delete(urls[0], "exp-a"), 404)
    assert_problem(put(urls[0], "exp-a", "x", headers={"If-Match": f'"{a["version"]}"'}), 412)
    # A later write creates a new status: 201 (also with If-None-Match: *), on any node.
    r = put(urls[1], "exp-a", "back", headers={"If-None-Match": "*"})
    assert r.status == 201 and r.header("location") == "/api/statuses/exp-a", r
    r = request("POST", urls[2] + "/api/statuses", {"username": "exp-b", "statusText": "back"})
    assert r.status == 201, r
    wait_identical(urls, ["exp-a", "exp-b"], 5)
    assert len(history(urls[0], "exp-a").json()) == 1


# ------------------------------------------------------------------------------------ history

def test_history_of_replace_and_delete_newest_first_at_most_ten(c3):
    n1, n2, n3 = c3.urls
    user = "hist-bob"
    assert_problem(history(n1, user), 404)
    assert_problem(history(n1, "no.such-user"), 404)
    first = sync_put(n1, user, "first", emoji="☕", availability="busy", latitude=1.5, longitude=2.5).json()
    for url in c3.urls:
        r = history(url, user)
        assert r.status == 200 and r.json() == [] and r.header("content-type") == "application/json", r
    t0 = time.time()
    second = sync_put(n2, user, "second").json()
    t1 = time.time()
    snap = wait_identical(c3.urls, [user], 5)
    h = json.loads(snap[user][3])
    assert h == [{"statusText": "first", "emoji": "☕", "availability": "busy", "time": first["time"],
                  "version": first["version"], "endedAt": h[0]["endedAt"], "endedBy": "replaced"}], h
    assert t0 - 1 <= ts(h[0]["endedAt"]) <= t1 + 1 and ts(h[0]["endedAt"]) >= ts(first["time"]), h
    # A plain delete: the status goes, its history stays (with the deleted entry).
    t0 = time.time()
    assert delete(n3, user, headers=SYNC).status == 204
    t1 = time.time()
    for url in c3.urls:
        wait_until(lambda: get(url, user).status == 404, 5, what=f"{user} deleted on {url}")
    snap = wait_identical(c3.urls, [user], 5)
    h = json.loads(snap[user][3])
    assert [(e["statusText"], e["version"], e["endedBy"]) for e in h] == \
        [("second", second["version"], "deleted"), ("first", first["version"], "replaced")], h
    assert "emoji" not in h[0] and h[0]["availability"] == "available" and h[0]["time"] == second["time"]
    assert t0 - 1 <= ts(h[0]["endedAt"]) <= t1 + 1, h
    assert_history_shape(h)
    # Written again (201), then replaced 12 more times on alternating nodes: 10 entries remain,
    # the newest first, each with the version it had.
    r = sync_put(n1, user, "again")
    assert r.status == 201, r
    model = [(e["version"], e["endedBy"]) for e in h]
    current = r.json()
    for i in range(12):
        nxt = sync_put(c3.urls[i % 3], user, f"replace {i}", **({"emoji": "🔁"} if i % 2 else {})).json()
        model.insert(0, (current["version"], "replaced"))
        current = nxt
    snap = wait_identical(c3.urls, [user], 5)
    h = json.loads(snap[user][3])
    assert_history_shape(h)
    assert len(h) == 10, h
    assert [(e["version"], e["endedBy"]) for e in h] == model[:10]
    assert [e["statusText"] for e in h] == [f"replace {i}" for i in range(10, 0, -1)]
    assert json.loads(snap[user][1]) == current
    # Through the gateway too; a bad name is 400.
    assert request("GET", f"{c3.gw.url}/api/statuses/{user}/history").body == snap[user][3]
    assert_problem(request("GET", n1 + "/api/statuses/bad%20name/history"), 400)
    assert request("POST", n1 + f"/api/statuses/{user}/history", {"statusText": "x"}).status == 405


CC_USERS = [f"cc{i}" for i in range(6)]


def test_history_identical_on_all_nodes_after_concurrent_conflicting_writes(c3):
    """12 threads (4 per node) write, replace, expire (clearAfter 1) and delete the same 6 users
    at once on the three nodes; once converged every node answers the same bytes for every
    status and history, and each history keeps the rules (≤ 10, newest first, no version twice).
    Then a fresh fourth node bootstraps from the three: the same bytes at once."""
    urls = c3.urls
    latest_expiry, lock = [0.0], threading.Lock()
    codes, written = [], {}  # written: version → the stored status a PUT answered

    def writer(w):
        rng = random.Random(w)
        client = harness.Client(urls[w % 3])
        try:
            for i in range(30):
                user = rng.choice(CC_USERS)
                roll = rng.random()
                if roll < 0.15:
                    r = client.request("DELETE", f"/api/statuses/{user}")
                else:
                    body = {"statusText": f"w{w} #{i}", "availability": rng.choice(["available", "busy", "away", "dnd"])}
                    if rng.random() < 0.5:
                        body["emoji"] = rng.choice(["📅", "🍕", ":x:", "🚲"])
                    if roll > 0.9:
                        body["clearAfter"] = 1
                    r = client.request("PUT", f"/api/statuses/{user}", body)
                    if r.status in (200, 201):
                        with lock:
                            written[r.json()["version"]] = r.json()
                            if "expiresAt" in r.json():
                                latest_expiry[0] = max(latest_expiry[0], ts(r.json()["expiresAt"]))
                with lock:
                    codes.append(r.status)
        finally:
            client.close()

    with cf.ThreadPoolExecutor(12) as pool:
        list(pool.map(writer, range(12)))
    assert set(codes) <= {200, 201, 204, 404}, set(codes)
    sleep_until(latest_expiry[0] + 1.2)  # every expiry has happened everywhere
    snap = wait_identical(urls, CC_USERS, 20, what="convergence after conflicting writes")
    entries = 0
    for u in CC_USERS:
        s_code, s_body, h_code, h_body = snap[u]
        assert h_code == 200, (u, snap[u])
        h = json.loads(h_body)
        assert_history_shape(h)
        entries += len(h)
        for e in h:  # every entry is a status some PUT stored, as it was stored
            w = written.get(e["version"])
            assert w is not None and w["username"] == u, (u, e)
            assert {k: e.get(k) for k in ("statusText", "emoji", "availability", "time")} == \
                {k: w.get(k) for k in ("statusText", "emoji", "availability", "time")}, (e, w)
            if e["endedBy"] == "expired":
                assert e["endedAt"] == w["expiresAt"], (e, w)
        if s_code == 200:
            assert_status_shape(json.loads(s_body))
            assert json.loads(s_body)["version"] not in [e["version"] for e in h]
    assert entries >= 30, f"only {entries} history entries after 360 writes to 6 users"
    # A fresh node bootstraps from the three: it answers the same bytes as soon as it is UP; a
    # status that expires after its bootstrap expires there too, with the same history.
    pending = sync_put(urls[1], "cc-pending", "expires after the bootstrap", clearAfter=3).json()
    snap["cc-pending"] = snapshot(urls[0], ["cc-pending"])["cc-pending"]
    fourth = harness.node(c3.work, "sf-4", amqp=c3.amqp, peers=urls, extra=FLAGS)
    c3.procs.append(fourth)
    fourth.start(wait=False)
    fourth.wait_ready(timeout=30)
    try:
        at_once = snapshot(fourth.url, CC_USERS + ["cc-pending"])
        if at_once != snap:
            later = wait_identical(urls + [fourth.url], CC_USERS + ["cc-pending"], 10)
            differing = [u for u in later if at_once[u] != later[u]]
            raise AssertionError(f"the bootstrapped node answered other histories/statuses before "
                                 f"converging: {differing[:3]}: {at_once[differing[0]]!r} vs {later[differing[0]]!r}")
        exp = snapshot(urls[0], ["exp-a", "hist-bob"])
        assert snapshot(fourth.url, ["exp-a", "hist-bob"]) == exp
        sleep_until(ts(pending["expiresAt"]) + 1.0)
        after = wait_identical(urls + [fourth.url], ["cc-pending"], 3)
        assert after["cc-pending"][0] == 404, after
        assert json.loads(after["cc-pending"][3])[0]["endedBy"] == "expired"
    finally:
        fourth.stop()
    # The three stop counting the fourth as UP (X-Consistency: all waits for it until then).
    wait_until(lambda: put(urls[0], "cc-probe", "x", headers=SYNC).header("x-replicated") == "3/3", 15,
               interval=0.2, what="the stopped fourth node no longer expected by X-Consistency: all")


def test_history_after_a_delete_lasts_as_long_as_the_tombstone(tmp_path, procs):
    """A lone node with --tombstone-ttl 4 (--queue-expiry 2): after a DELETE the history stays
    (200) while the tombstone lives, then the user is forgotten (404); a user written again
    meanwhile keeps hers."""
    n = harness.node(str(tmp_path), "sf-ttl", extra=["--tombstone-ttl", "4", "--queue-expiry", "2"])
    procs.append(n)
    n.start()
    for u in ("ttl-gone", "ttl-back"):
        assert put(n.url, u, "one").status == 201
        assert put(n.url, u, "two").status == 200
        assert delete(n.url, u).status == 204
    assert put(n.url, "ttl-back", "three").status == 201
    h = history(n.url, "ttl-gone")
    assert h.status == 200 and [e["endedBy"] for e in h.json()] == ["deleted", "replaced"], h
    wait_until(lambda: history(n.url, "ttl-gone").status == 404, 15, interval=0.2,
               what="the history forgotten with the tombstone")
    assert [e["statusText"] for e in history(n.url, "ttl-back").json()] == ["two", "one"]


def test_deleting_the_account_removes_the_history(tmp_path, procs, broker):
    from test_auth import AuthCluster, bearer, signup, token_for
    c = AuthCluster(tmp_path, procs, broker, n=3, prefix="sfacct")
    urls, gw = [n.url for n in c.nodes], c.gw.url
    assert signup(gw, "hank").status == 201
    t = token_for(gw, "hank")
    auth = {**bearer(t), **SYNC}
    for i, url in enumerate(urls):
        r = put(url, "hank", f"hank {i}", headers=auth, emoji="🛠")
        assert r.status in (200, 201), r
    snap = wait_identical(urls, ["hank"], 5)
    assert [e["statusText"] for e in json.loads(snap["hank"][3])] == ["hank 1", "hank 0"]
    assert request("DELETE", gw + "/api/accounts/hank", headers=bearer(t)).status == 204
    for url in urls:
        wait_until(lambda: get(url, "hank").status == 404 and history(url, "hank").status == 404, 5,
                   what=f"hank's status and history gone on {url}")
    # A new account of the same name starts without the old history.
    assert signup(gw, "hank").status == 201
    t = token_for(gw, "hank")
    assert put(urls[2], "hank", "new hank", headers={**bearer(t), **SYNC}).status == 201
    snap = wait_identical(urls, ["hank"], 5)
    assert snap["hank"][2:] == (200, b"[]"), snap


# ------------------------------------------------------------------------------------ filters

def fold(s):
    """The node's case folding, as far as the data set needs it: ASCII and Latin-1 letters."""
    return "".join(chr(ord(ch) + 32) if "A" <= ch <= "Z" or ("\u00c0" <= ch <= "\u00de" and ch != "\u00d7")
                   else ch for ch in s)


def filter_dataset():
    """60 statuses with known texts, availabilities, coordinates (some without) and distinct
    times; returns [(username, fields)]."""
    texts = ["Team meeting", "lunch break", "MEETING with a client", "On a train", "100% focused",
             "a_b testing", "Café au lait", "coding", "Meet me at 3", "out sick"]
    avs = ["available", "busy", "away", "dnd"]
    rows = []
    base = datetime(2026, 6, 1, tzinfo=timezone.utc).timestamp()
    for i in range(56):
        f = {"statusText": f"{texts[i % len(texts)]} #{i}", "availability": avs[(i * 3 + i // 4) % 4],
             "time": rfc3339(base + 60 * ((i * 29) % 56))}
        if i % 7 != 6:
            f["latitude"] = round(-80 + (i * 37) % 160 + 0.25, 4)
            f["longitude"] = round(-170 + (i * 53) % 340 + 0.5, 4)
        if i % 3 == 0:
            f["emoji"] = "🔍"
        rows.append((f"flt{'AbCd'[i % 4]}{i:02d}", f))
    extra = base + 3600
    rows += [
        ("meetbot", {"statusText": "nothing to see", "availability": "busy", "time": rfc3339(extra + 1)}),
        ("x_y", {"statusText": "underscore in the name", "availability": "away", "time": rfc3339(extra + 2),
                 "latitude": 20.0, "longitude": 10.0}),
        ("corner-ne", {"statusText": "north east", "availability": "dnd", "time": rfc3339(extra + 3),
                       "latitude": 90.0, "longitude": 180.0}),
        ("corner-sw", {"statusText": "south west", "availability": "available", "time": rfc3339(extra + 4),
                       "latitude": -90.0, "longitude": -180.0}),
    ]
    return rows


def matches(user, f, usernames=None, q=None, availability=None, bbox=None):
    if usernames is not None and user not in usernames:
        return False
    if q is not None and fold(q) not in fold(user) and fold(q) not in fold(f["statusText"]):
        return False
    if availability is not None and f["availability"] not in availability:
        return False
    if bbox is not None:
        if "latitude" not in f:
            return False
        lo1, la1, lo2, la2 = bbox
        if not (lo1 <= f["longitude"] <= lo2 and la1 <= f["latitude"] <= la2):
            return False
    return True


def query_of(usernames=None, q=None, availability=None, bbox=None):
    parts = [("username", u) for u in usernames or []]
    if q is not None:
        parts.append(("q", q))
    parts += [("availability", a) for a in availability or []]
    if bbox is not None:
        parts.append(("bbox", ",".join(repr(float(x)) if isinstance(x, float) else str(x) for x in bbox)))
    return urllib.parse.urlencode(parts, quote_via=urllib.parse.quote)


def test_filters_and_their_combinations_with_paging(tmp_path, procs, broker):
    nodes = harness.start_all(harness.make_cluster(str(tmp_path), procs, "sff-", 3, amqp=broker.url,
                                                   extra=FLAGS))
    urls = [n.url for n in nodes]
    rows = filter_dataset()
    with cf.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda r: put(urls[hash(r[0]) % 3], r[0], **r[1]).status, rows))
    assert set(codes) == {201}, codes
    harness.wait_converged(urls, 10, expect=len(rows))
    order = sorted(rows, key=lambda r: (-ts(r[1]["time"]), r[0]))  # newest first, ties by name
    cases = [
        dict(usernames=["fltA00", "fltb01", "fltb05", "nobody", "x_y"]),
        dict(usernames=[r[0] for r in rows[:100]]),
        dict(q="meet"), dict(q="MEET"), dict(q="%"), dict(q="_"), dict(q="café"), dict(q="CAFÉ"), dict(q="#1"),
        dict(q="a client"), dict(q="fltc"), dict(q="zzz-nothing"),
        dict(availability=["busy"]), dict(availability=["dnd"]), dict(availability=["busy", "dnd"]),
        dict(availability=["available", "busy", "away", "dnd"]),
        dict(bbox=(-180, -90, 180, 90)), dict(bbox=(0, 0, 90, 45)), dict(bbox=(10, 20, 10, 20)),
        dict(bbox=(-10.5, -45.25, 60.0, 30.75)), dict(bbox=(-180, -90, -100, 0)),
        dict(q="meet", availability=["busy", "away"]),
        dict(bbox=(-180, -90, 180, 90), availability=["away"]),
        dict(usernames=["fltA00", "fltb01", "fltC02", "fltd03", "fltA04", "meetbot"], q="meet"),
        dict(usernames=[r[0] for r in rows if r[0].startswith("flt")][:40], q="e",
             availability=["available", "dnd"], bbox=(-120, -60, 120, 60)),
    ]
    for case in cases:
        want = [u for u, f in order if matches(u, f, **case)]
        q = query_of(**case)
        for url in urls:
            got, total = listed(url, f"{q}&limit=1000")
            assert (got, total) == (want, len(want)), (case, url)
        # Paging: limit 3 pages, followed through Link rel="next", keep the filters.
        url = urls[len(q) % 3]
        r = request("GET", f"{url}/api/statuses?{q}&limit=3")
        seen, hops = [], 0
        while True:
            assert r.status == 200 and int(r.header("x-total-count")) == len(want), (case, r)
            seen += [s["username"] for s in r.json()]
            link = r.header("link")
            if not link:
                break
            m = re.fullmatch(r'<([^>]+)>; rel="next"', link)
            assert m and m.group(1).startswith("/api/statuses?"), link
            hops += 1
            assert hops <= 40
            r = request("GET", url + m.group(1))
        assert seen == want, (case, seen, want)
        assert hops == max(0, (len(want) - 1) // 3), (case, hops)
        # limit + offset.
        got, total = listed(url, f"{q}&limit=2&offset=1")
        assert (got, total) == (want[1:3], len(want)), case
        got, total = listed(url, f"{q}&offset={len(want) + 5}")
        assert (got, total) == ([], len(want)), case


MALFORMED_FILTERS = [
    "availability=offline", "availability=", "availability=Busy", "availability=busy&availability=free",
    "bbox=", "bbox=1,2,3", "bbox=1,2,3,4,5", "bbox=a,b,c,d", "bbox=1,,3,4", "bbox=1,2,3,",
    "bbox=181,0,182,1", "bbox=-181,0,0,1", "bbox=0,-91,1,0", "bbox=0,0,1,90.5", "bbox=10,0,5,5",
    "bbox=0,10,5,5", "bbox=NaN,0,1,1", "bbox=0,0,inf,1", "bbox=0x1,0,1,1",
    "q=meet&bbox=1,2,3", "limit=0&q=x", "q=%FF", "q=" + "x" * 1001, "username=bad%20name",
]


@pytest.mark.parametrize("query", MALFORMED_FILTERS, ids=[q[:40] for q in MALFORMED_FILTERS])
def test_malformed_filter_is_400(c3, query):
    assert_problem(request("GET", f"{c3.urls[0]}/api/statuses?{query}"))


def test_more_than_100_usernames_is_400_and_100_is_fine(c3):
    url = c3.urls[1]
    hundred = "&".join(f"username=many{i}" for i in range(100))
    assert listed(url, hundred) == ([], 0)
    assert_problem(request("GET", f"{url}/api/statuses?{hundred}&username=many100"))


# ------------------------------------------------------------------------------------ events

def test_resume_with_last_event_id_on_another_node_and_through_the_gateway(c3):
    """Read some events on n1, disconnect, make 50 changes (on all three nodes: creates,
    replaces, deletes, one expiry), then reconnect to n2 with Last-Event-ID, to the gateway with
    Last-Event-ID and to n3 with ?lastEventId=: each gets every missed change (duplicates
    allowed), then live ones. Then the same id, more than --event-replay-max changes later, is
    ancient: `event: reset`; a garbage id too."""
    n1, n2, n3 = c3.urls
    # A node resumes another node's id from a margin (10 s) before that event's time; a node
    # younger than that answers `event: reset` (it cannot know what it applied before it ran).
    # In a whole run this is long past; run alone, the test waits for it.
    time.sleep(max(0.0, c3.started + RESUME_MARGIN_S + 0.5 - time.monotonic()))
    first = EventStream(n1)
    try:
        for i in range(5):
            sync_put(n1, f"rs-before{i}", "before")
        evs = first.wait_for(lambda e: all(has(e, "upsert", f"rs-before{i}") for i in range(5)), 5)
        assert all(e["id"] for e in evs), evs
        last_id = evs[-1]["id"]
    finally:
        first.close()
    # 50 changes the client misses, each applied by every node before the next.
    missed = []  # (kind, user, version or None)
    gone = sync_put(n2, "rs-expiring", "expires in the gap", clearAfter=1).json()
    missed.append(("upsert", "rs-expiring", gone["version"]))
    for i in range(46):
        url, user = c3.urls[i % 3], f"rs-gap{i % 20}"
        if i >= 40 and i % 2 == 0:
            assert delete(url, f"rs-gap{i - 30}", headers=SYNC).status == 204
            missed.append(("delete", f"rs-gap{i - 30}", None))
            continue
        s = sync_put(url, user, f"gap {i}", emoji="📨").json()
        missed.append(("upsert", user, s["version"]))
    assert delete(n3, "rs-before0", headers=SYNC).status == 204
    missed.append(("delete", "rs-before0", None))
    s = sync_put(n1, "rs-before1", "replaced in the gap").json()
    missed.append(("upsert", "rs-before1", s["version"]))
    for url in c3.urls:
        wait_until(lambda: get(url, "rs-expiring").status == 404, ts(gone["expiresAt"]) + 1.5 - time.time(),
                   what="the expiry in the gap")
    missed.append(("expire", "rs-expiring", None))
    assert len(missed) == 50

    def assert_resumed(stream, where):
        def all_missed(evs):
            return all(has(evs, kind, user, version) for kind, user, version in missed)
        evs = stream.wait_for(all_missed, 10, what=f"every missed change on {where}")
        assert not any(e["event"] == "reset" for e in evs), f"{where} sent a reset for a recent id"
        assert all(e["id"] for e in evs), evs
        return evs

    resumed = [(EventStream(n2, last_event_id=last_id), "n2 (Last-Event-ID)"),
               (EventStream(c3.gw.url, last_event_id=last_id), "the gateway (Last-Event-ID)"),
               (EventStream(n3, query="?lastEventId=" + urllib.parse.quote(last_id, safe="")), "n3 (?lastEventId=)")]
    try:
        for stream, where in resumed:
            assert stream.status == 200 and stream.content_type.startswith("text/event-stream"), where
        replayed = {where: assert_resumed(stream, where) for stream, where in resumed}
        # Then live events, after the replay.
        live = [sync_put(c3.urls[i], f"rs-live{i}", "live").json()["version"] for i in range(3)]
        for stream, where in resumed:
            evs = stream.wait_for(lambda e: all(has(e, "upsert", f"rs-live{i}", live[i]) for i in range(3)), 5,
                                  what=f"live events on {where}")
            first_live = min(k for k, e in enumerate(evs) if e["event"] == "upsert" and
                             e["data"]["username"].startswith("rs-live"))
            assert all(has(evs[:first_live], kind, user, version) for kind, user, version in missed), \
                f"{where}: a missed change arrived after live ones"
    finally:
        for stream, _ in resumed:
            stream.close()
    # More changes than --event-replay-max: the id is ancient now.
    with cf.ThreadPoolExecutor(8) as pool:
        rs = list(pool.map(lambda i: put(c3.urls[i % 2], f"rs-flood{i % 50}", f"flood {i}").status,
                           range(REPLAY_MAX + 100)))
    assert set(rs) <= {200, 201}
    harness.wait_converged(c3.urls, 15)  # every node has applied the flood
    streams = [(EventStream(n2, last_event_id=last_id), "ancient id on n2"),
               (EventStream(c3.gw.url, last_event_id=last_id), "ancient id through the gateway"),
               (EventStream(n3, query="?lastEventId=" + urllib.parse.quote(last_id, safe="")), "ancient ?lastEventId= on n3"),
               (EventStream(n1, last_event_id="garbage-id-!!"), "garbage id on n1"),
               (EventStream(c3.gw.url, last_event_id="x"), "garbage id through the gateway"),
               (EventStream(n2, query="?lastEventId=not-an-id"), "garbage ?lastEventId= on n2")]
    try:
        for stream, where in streams:
            assert stream.status == 200, where
            evs = stream.wait_for(lambda e: len(e) >= 1, 5, what=f"a first event on {where}")
            assert evs[0]["event"] == "reset" and evs[0]["data"] == {} and evs[0]["id"], (where, evs[:3])
        v = sync_put(n3, "rs-after-reset", "live after reset").json()["version"]
        for stream, where in streams:
            evs = stream.wait_for(lambda e: has(e, "upsert", "rs-after-reset", v), 5, what=f"live after {where}")
            assert [e["event"] for e in evs[1:]] == ["upsert"] and evs[1]["data"]["version"] == v, (where, evs)
    finally:
        for stream, _ in streams:
            stream.close()


def test_plain_connect_gets_live_events_only(c3):
    n1, n2, _ = c3.urls
    sync_put(n1, "plain-old", "before the connect")
    stream = EventStream(n2)
    try:
        v = sync_put(n1, "plain-new", "after the connect").json()["version"]
        evs = stream.wait_for(lambda e: has(e, "upsert", "plain-new", v), 5)
        assert [e["event"] for e in evs] == ["upsert"] and all(e["id"] for e in evs), evs
    finally:
        stream.close()


def heartbeats(evs):
    return [e for e in evs if e["event"] == "heartbeat"]


def test_heartbeat_on_request_every_interval_while_idle_without_an_id(c3):
    """?heartbeat=1 on a node and through the gateway: `event: heartbeat`, data {}, no id, about
    every second while nothing happens (and a second after the last event, not sooner); a plain
    stream on the same node gets none. Resuming with Last-Event-ID beside ?heartbeat=1 replays
    exactly as without it. Values other than 1-60 whole seconds: 400 problem+json."""
    n1 = c3.urls[0]
    for bad in ["0", "61", "-1", "1.5", "abc", "", "+1", " 1", "1s", "100000000000000000000"]:
        where = f"/api/events?heartbeat={urllib.parse.quote(bad, safe='')}"
        assert "heartbeat" in assert_problem(request("GET", n1 + where)), bad
        assert_problem(request("GET", c3.gw.url + where))
    edge = EventStream(n1, query="?heartbeat=60")
    assert edge.status == 200 and edge.content_type.startswith("text/event-stream")
    edge.close()

    plain, beat, through = EventStream(n1), EventStream(n1, query="?heartbeat=1"), \
        EventStream(c3.gw.url, query="?heartbeat=1")
    opened = time.time()
    try:
        for stream in (plain, beat, through):
            assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
        for stream, where in ((beat, "a node"), (through, "the gateway")):
            evs = stream.wait_for(lambda e: len(heartbeats(e)) >= 3, 6, what=f"3 heartbeats from {where}")
            hb = heartbeats(evs)
            assert all(e["id"] is None and e["data"] == {} for e in hb), hb
            # Each a second (give or take the node's 250-ms tick and scheduling) after the last.
            ats = [opened] + [e["at"] for e in hb[:3]]
            gaps = [b - a for a, b in zip(ats, ats[1:])]
            assert all(0.7 <= g <= 1.8 for g in gaps[1:]) and gaps[0] <= 1.8, (where, gaps)
        # An event restarts the interval: the next heartbeat comes a second after it.
        v = sync_put(n1, "hb-a", "a status").json()["version"]
        def at_a(e):
            return next((k for k, x in enumerate(e) if has([x], "upsert", "hb-a", v)), None)
        evs = beat.wait_for(lambda e: at_a(e) is not None and heartbeats(e[at_a(e):]), 3,
                            what="a heartbeat after the event")
        k = at_a(evs)
        last_id = evs[k]["id"]
        assert last_id, evs[k]
        after = next(x for x in evs[k:] if x["event"] == "heartbeat")
        assert 0.7 <= after["at"] - evs[k]["at"] <= 1.8, (after["at"] - evs[k]["at"])
        assert all(x["id"] for x in evs if x["event"] != "heartbeat"), evs
        plain.wait_for(lambda e: has(e, "upsert", "hb-a", v), 5)
        assert heartbeats(plain.events()) == [], plain.events()
        assert {x["event"] for x in plain.events()} == {"upsert"}, plain.events()
    finally:
        for stream in (plain, beat, through):
            stream.close()
    # Resuming from the event's id with heartbeats on: exactly what came after it, then heartbeats.
    v_b = sync_put(n1, "hb-b", "missed").json()["version"]
    resumed = EventStream(n1, last_event_id=last_id, query="?heartbeat=1")
    try:
        evs = resumed.wait_for(lambda e: len(heartbeats(e)) >= 1, 3, what="a heartbeat after the replay")
        first = [x for x in evs if x["event"] != "heartbeat"]
        assert first and first[0]["event"] == "upsert" and first[0]["data"]["username"] == "hb-b", evs
        assert first[0]["data"]["version"] == v_b and first[0]["id"], evs
        assert not any(x["event"] == "reset" or has([x], "upsert", "hb-a") for x in evs), evs
        assert evs.index(first[0]) < evs.index(heartbeats(evs)[0])
    finally:
        resumed.close()


def test_a_list_answers_event_id_starts_a_stream_that_misses_nothing(c3):
    """Every list answer (a node's and the gateway's) carries X-Event-Id, the stream's position
    taken before the read: a stream started from it (Last-Event-ID or ?lastEventId=) gets every
    change after the list — on the node that answered the list and on another — none from
    before it, no reset; nothing at all when nothing changed. The gateway exposes it to other
    origins. The web client starts its stream this way and loads the list only once."""
    n1, n2 = c3.urls[0], c3.urls[1]
    v_before = sync_put(n1, "pos-before", "before the list").json()["version"]
    lists = {where: request("GET", base + "/api/statuses?limit=5") for where, base in
             (("n1", n1), ("gateway", c3.gw.url))}
    for where, r in lists.items():
        assert r.status == 200 and r.headers.get("x-event-id"), (where, r.headers)
    pos = lists["n1"].headers["x-event-id"]
    quiet = EventStream(n1, last_event_id=pos, query="?heartbeat=1")
    try:  # nothing changed since: no replay, no reset, only heartbeats
        evs = quiet.wait_for(lambda e: len(heartbeats(e)) >= 1, 3, what="a heartbeat")
        assert all(x["event"] == "heartbeat" for x in evs), evs
    finally:
        quiet.close()
    v_after = sync_put(n1, "pos-after", "after the list").json()["version"]
    for where, stream in (("n1", EventStream(n1, last_event_id=pos)),
                          ("n2", EventStream(n2, query="?lastEventId=" + urllib.parse.quote(pos))),
                          ("gateway", EventStream(c3.gw.url, last_event_id=lists["gateway"].headers["x-event-id"]))):
        try:
            evs = stream.wait_for(lambda e: has(e, "upsert", "pos-after", v_after), 5, what=f"the change after, {where}")
            assert not any(x["event"] == "reset" for x in evs), (where, evs)
            if where == "n1":  # the same node: exactly what came after the position
                assert not has(evs, "upsert", "pos-before", v_before), evs
        finally:
            stream.close()
    exposed = request("GET", c3.gw.url + "/api/statuses?limit=1",
                      headers={"Origin": c3.gw.url}).headers.get("access-control-expose-headers", "")
    assert "X-Event-Id" in exposed, exposed


def test_id_older_than_the_replay_window_gets_reset(tmp_path, procs):
    """--event-replay-window-s 1 on a lone node: within the window an id resumes; once the change
    after it is more than the window old, the node can no longer tell what was missed (also when
    nothing happened since): `event: reset`, then live events."""
    n = harness.node(str(tmp_path), "sf-window", extra=["--event-replay-window-s", "1"])
    procs.append(n)
    n.start()
    stream = EventStream(n.url)
    try:
        put(n.url, "win-a", "a")
        old_id = stream.wait_for(lambda e: has(e, "upsert", "win-a"), 5)[-1]["id"]
    finally:
        stream.close()
    v_b = put(n.url, "win-b", "missed, soon out of the window").json()["version"]
    fresh = EventStream(n.url, last_event_id=old_id)  # within the window: resumes
    try:
        fresh.wait_for(lambda e: has(e, "upsert", "win-b", v_b), 5, what="a resume within the window")
        assert fresh.events()[0]["event"] != "reset"
    finally:
        fresh.close()
    time.sleep(2.0)  # nothing happens meanwhile: the id is judged by the window alone
    late = EventStream(n.url, last_event_id=old_id)
    try:
        evs = late.wait_for(lambda e: len(e) >= 1, 5)
        assert evs[0]["event"] == "reset" and evs[0]["data"] == {}, evs
        v = put(n.url, "win-d", "live").json()["version"]
        evs = late.wait_for(lambda e: has(e, "upsert", "win-d", v), 5)
        assert [e["event"] for e in evs] == ["reset", "upsert"], evs
    finally:
        late.close()


# ------------------------------------------------------------------------------------ repair

def test_history_identical_after_an_anti_entropy_repair(c3, broker):
    """n3 stops; meanwhile its peers replace, delete, create and let expire; n3's queue is purged
    (it misses every message), then n3 starts again: anti-entropy (every 500 ms) brings it the
    same statuses and histories, byte for byte. One status expires while n3 is down.

    Last in the file on purpose: a node restarted less than its resume margin (10 s) before a
    client's last event answers that client's resume with `event: reset` (it cannot know what it
    applied before its start), so the resume tests above must not follow this restart closely."""
    n1, n2, n3 = c3.nodes
    users = ["ae-rep", "ae-del", "ae-exp", "ae-new"]
    sync_put(n1.url, "ae-rep", "v1", emoji="1️⃣")
    sync_put(n1.url, "ae-del", "v1")
    exp = sync_put(n2.url, "ae-exp", "expires while n3 is down", clearAfter=3).json()
    wait_identical(c3.urls, users, 5)
    assert n3.stop() == 0
    assert put(n1.url, "ae-rep", "v2", availability="dnd").status == 200
    assert put(n2.url, "ae-rep", "v3").status == 200
    assert delete(n2.url, "ae-del").status == 204
    assert put(n1.url, "ae-new", "n1").status == 201
    assert put(n2.url, "ae-new", "n2", emoji="🆕").status == 200
    sleep_until(ts(exp["expiresAt"]) + 1.0)
    assert get(n1.url, "ae-exp").status == 404
    broker.ctl("purge_queue", "status.node.sf-3")
    n3.start()
    snap = wait_identical(c3.urls, users, 20, what="anti-entropy repair of n3")
    assert metric(n3.url, "status_anti_entropy_repaired_total") > 0, "n3 was not repaired by anti-entropy"
    h = {u: json.loads(snap[u][3]) for u in users}
    assert [e["statusText"] for e in h["ae-rep"]] == ["v2", "v1"] and h["ae-rep"][0]["availability"] == "dnd"
    assert [(e["statusText"], e["endedBy"]) for e in h["ae-del"]] == [("v1", "deleted")]
    assert h["ae-exp"] == [{"statusText": "expires while n3 is down", "availability": "available",
                            "time": exp["time"], "version": exp["version"], "endedAt": exp["expiresAt"],
                            "endedBy": "expired"}]
    assert [e["statusText"] for e in h["ae-new"]] == ["n1"]
    assert snap["ae-del"][0] == 404 and snap["ae-exp"][0] == 404
