"""PUT latency around a burst of expiries, for bench/queries.sh (not a benchmark of its own:
bench/run only runs bench/*.py and bench/*.sh).

Usage: expiry_burst.py URL USERS BURST RATE CONNECTIONS ROUNDS [SCANNERS]

Per round: BURST statuses written with the same expiresAt T (a whole second, 8 s ahead); an
open-loop writer PUTs existing users user000000… at RATE/s over CONNECTIONS kept-alive
connections from T-5 s to T+6 s — request k is due at start + k/RATE, sent then (or as soon as
its connection is free) and timed from its due time, so a stall counts in full (no coordinated
omission); SCANNERS clients (2) run back-to-back `?q=zzz` scans from T+2 s to T+6 s; a watcher polls
X-Total-Count until the burst is gone. One line per round on stdout:

  round  n p50 p99 max bad (before: T-5…T-1)  n p50 p99 max bad (during: T-0.5…T+1.5)
         n p50 p99 max bad (scans: T+2.5…T+6)  seconds-after-T-when-gone
"""
import asyncio
import json
import math
import sys
import time
import urllib.parse
from datetime import datetime, timezone

url, users, burst, rate, conns, rounds = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                          float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
scanners = int(sys.argv[7]) if len(sys.argv) > 7 else 2
u = urllib.parse.urlsplit(url)
HOST, PORT = u.hostname, u.port


async def connect():
    return await asyncio.open_connection(HOST, PORT)


async def call(conn, method, path, body=None):
    reader, writer = conn
    data = json.dumps(body).encode() if body is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Length: {len(data)}\r\n"
    if body is not None:
        head += "Content-Type: application/json\r\n"
    writer.write(head.encode() + b"\r\n" + data)
    raw = await reader.readuntil(b"\r\n\r\n")
    lines = raw.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    n = int(headers.get("content-length", "0"))
    payload = await reader.readexactly(n) if n else b""
    return status, headers, payload


def stamp(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def one_round(r):
    T = math.ceil(time.time()) + 8
    pool = [await connect() for _ in range(32)]

    async def writes(k):
        for i in range(k, burst, len(pool)):
            s, _, p = await call(pool[k], "PUT", f"/api/statuses/burst{r}-{i:05d}",
                                 {"statusText": "gone at T", "expiresAt": stamp(T)})
            assert s == 201, (s, p)
    await asyncio.gather(*(writes(k) for k in range(len(pool))))
    for _, w in pool:
        w.close()
    control = await connect()
    _, h, _ = await call(control, "GET", "/api/statuses?limit=1")
    total_before = int(h["x-total-count"])

    start, end = T - 5.0, T + 6.0
    results = []  # (due, latency, status)

    async def writer(c):
        conn = await connect()
        k = c
        while True:
            due = start + k / rate
            if due >= end:
                break
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            user = f"user{(k * 7919 + r) % users:06d}"
            s, _, _ = await call(conn, "PUT", f"/api/statuses/{user}", {"statusText": f"paced {r} {k}"})
            results.append((due, time.time() - due, s))
            k += conns
        conn[1].close()

    async def watch():
        await asyncio.sleep(max(0.0, T - 0.5 - time.time()))
        while time.time() < T + 10:
            _, h, _ = await call(control, "GET", "/api/statuses?limit=1")
            if int(h["x-total-count"]) <= total_before - burst:
                return time.time() - T
            await asyncio.sleep(0.02)
        return None

    async def scanner():
        await asyncio.sleep(max(0.0, T + 2.0 - time.time()))
        conn = await connect()
        while time.time() < T + 6.0:
            await call(conn, "GET", "/api/statuses?q=zzz")
        conn[1].close()

    await asyncio.sleep(max(0.0, start - time.time()))
    gone_after, *_ = await asyncio.gather(watch(), *(scanner() for _ in range(scanners)),
                                          *(writer(c) for c in range(conns)))
    control[1].close()

    def stats(lo, hi):
        sel = [(lat, s) for due, lat, s in results if lo <= due < hi]
        lat = sorted(x for x, _ in sel)
        if not lat:
            return "0 - - - 0"
        bad = sum(1 for _, s in sel if s not in (200, 201))

        def p(q):
            return lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
        return f"{len(lat)} {p(0.5):.2f} {p(0.99):.2f} {lat[-1] * 1000:.2f} {bad}"
    gone = f"{gone_after:.2f}" if gone_after is not None else "not-within-10s"
    print(f"{r + 1} {stats(T - 5, T - 1)} {stats(T - 0.5, T + 1.5)} {stats(T + 2.5, T + 6)} {gone}",
          flush=True)


async def main():
    for r in range(rounds):
        await one_round(r)


asyncio.run(main())
