"""The load: a few worker threads doing PUT / DELETE / GET / list through the gateway on kept-alive
connections, each request bounded by a timeout, the whole loop bounded in time and count.
Every write and every read is recorded."""
import collections
import http.client
import json
import random
import socket
import threading
import time

from checker import Op

# "create" writes a new user with a long text: the data grows, so a full disk bites (a steady
# set of users is rewritten in place, in pages SQLite already has).
MIX = (("put", 0.40), ("create", 0.08), ("delete", 0.10), ("get", 0.27), ("list", 0.15))


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []          # checker.Op for every PUT and DELETE
        self.reads = []        # (user, text, end) for every status a read returned
        self.counts = collections.defaultdict(collections.Counter)  # kind -> outcome label
        self.failures = []     # (kind, label, start) of every failed request

    def add(self, kind, label, start, op=None, reads=()):
        with self.lock:
            self.counts[kind][label] += 1
            if label != "ok":
                self.failures.append((kind, label, start))
            if op is not None:
                self.ops.append(op)
            self.reads.extend(reads)


def outcome_label(kind, status, error):
    """"ok", or what went wrong: the status code or the error's name."""
    if status is None:
        return error or "error"
    if 200 <= status < 300 or (status == 404 and kind in ("get", "delete")):
        return "ok"
    return str(status)


class Worker(threading.Thread):
    def __init__(self, wid, port, seed, users, t0, deadline, rate, rec, stop, timeout=5.0,
                 max_ops=100000):
        super().__init__(name=f"load-{wid}", daemon=True)
        self.wid, self.port, self.users, self.t0, self.deadline = wid, port, users, t0, deadline
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.rec, self.stop, self.timeout, self.max_ops = rec, stop, timeout, max_ops
        self.rng = random.Random(f"load-{seed}-{wid}")
        self.conn = None
        self.seq = 0

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, method, path, body=None):
        """(status or None, headers, body bytes, error name, start, end, wall_start, wall_end)."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        ws, s = time.time(), time.monotonic()
        status, hdrs, data, error = None, {}, b"", None
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            self.conn.request(method, path, body=body, headers=headers)
            r = self.conn.getresponse()
            data = r.read()
            status, hdrs = r.status, {k.lower(): v for k, v in r.getheaders()}
            if r.will_close:
                self.close()
        except (socket.timeout, TimeoutError):
            error = "timeout"
            self.close()
        except (OSError, http.client.HTTPException) as e:
            error = type(e).__name__
            self.close()
        return status, hdrs, data, error, s - self.t0, time.monotonic() - self.t0, ws, time.time()

    def pick(self):
        x = self.rng.random()
        for kind, p in MIX:
            if x < p:
                return kind
            x -= p
        return MIX[-1][0]

    def run(self):
        next_at = time.monotonic()
        try:
            for _ in range(self.max_ops):
                if self.stop.is_set() or time.monotonic() >= self.deadline:
                    break
                self.one(self.pick(), self.rng.choice(self.users))
                next_at += self.interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    self.stop.wait(delay)
                else:
                    next_at = time.monotonic()  # behind (a slow answer): no burst to catch up
        finally:
            self.close()

    def one(self, kind, user):
        if kind in ("put", "create"):
            self.seq += 1
            text = f"w{self.wid}-{self.seq} {user}"
            if kind == "create":
                user = f"new-{self.wid}-{self.seq}"
                text = f"w{self.wid}-{self.seq} {user} " + "x" * self.rng.randint(500, 900)
            body = json.dumps({"statusText": text}).encode()
            st, h, data, err, s, e, ws, we = self.call("PUT", f"/api/statuses/{user}", body)
            version = None
            if st is not None and 200 <= st < 300:
                try:
                    version = json.loads(data)["version"]
                except (ValueError, KeyError, TypeError):
                    version = (h.get("etag") or "").strip('"') or None
            op = Op("put", user, s, e, st, text=text, version=version, node=h.get("x-served-by"),
                    wall_start=ws, wall_end=we, error=err)
            self.rec.add(kind, outcome_label(kind, st, err), s, op)
        elif kind == "delete":
            st, h, data, err, s, e, ws, we = self.call("DELETE", f"/api/statuses/{user}")
            op = Op("delete", user, s, e, st, node=h.get("x-served-by"), wall_start=ws,
                    wall_end=we, error=err)
            self.rec.add(kind, outcome_label(kind, st, err), s, op)
        elif kind == "get":
            st, h, data, err, s, e, ws, we = self.call("GET", f"/api/statuses/{user}")
            reads = []
            if st == 200:
                try:
                    reads = [(user, json.loads(data)["statusText"], e)]
                except (ValueError, KeyError, TypeError):
                    st, err = None, "bad-body"
            self.rec.add(kind, outcome_label(kind, st, err), s, reads=reads)
        else:
            st, h, data, err, s, e, ws, we = self.call("GET", "/api/statuses?limit=1000")
            reads = []
            if st == 200:
                try:
                    reads = [(x["username"], x["statusText"], e) for x in json.loads(data)]
                except (ValueError, KeyError, TypeError):
                    st, err = None, "bad-body"
            self.rec.add(kind, outcome_label(kind, st, err), s, reads=reads)
