#!/usr/bin/env python3
"""A bounded write load from the client host: run inside its namespace (`ip netns exec`).

    load.py --gateway URL1 --gateway URL2 --seconds S --max N --threads T --prefix P --out FILE

Each thread PUTs distinct keys (P<thread>x<i>) through the first gateway; a request that fails
there (no connection, a timeout, a 5xx, a 429) is sent once more, the same PUT, to the second
gateway. Every acknowledged write (2xx) is recorded with the version the node answered, every
request that failed on both gateways with both errors. It stops after S seconds or N requests,
or when the file STOP (beside FILE) appears, and writes a JSON result to FILE:
  {"requests", "acked": [[key, version]], "failed_both": [[key, err1, err2]], "retried",
   "retried_ok", "longest_ms", "longest_key", "p99_ms", "seconds", "per_gateway": {url: n}}
Only the standard library: the client host needs nothing but python3.
"""
import argparse
import http.client
import json
import os
import threading
import time
import urllib.parse


def put(url, key, text, timeout):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
    try:
        body = json.dumps({"statusText": text}).encode()
        conn.request("PUT", f"/api/statuses/{key}", body=body,
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        data = r.read()
        if 200 <= r.status < 300:
            try:
                return True, json.loads(data).get("version")
            except ValueError:
                return True, None
        return False, f"HTTP {r.status}: {data[:200].decode(errors='replace')}"
    except (OSError, http.client.HTTPException) as e:
        return False, f"{type(e).__name__}: {e}"
    finally:
        conn.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", action="append", required=True)
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--max", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--prefix", default="h")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--pause", type=float, default=0.0, help="seconds between a thread's requests")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    first, second = a.gateway[0], a.gateway[-1]
    stop_file = os.path.join(os.path.dirname(os.path.abspath(a.out)), "STOP")
    lock = threading.Lock()
    res = {"requests": 0, "acked": [], "failed_both": [], "retried": 0, "retried_ok": 0,
           "longest_ms": 0.0, "longest_key": None, "per_gateway": {first: 0, second: 0},
           "first_errors": {}}
    lat = []
    t0 = time.monotonic()
    deadline = t0 + a.seconds

    def worker(t):
        i = 0
        while time.monotonic() < deadline and not os.path.exists(stop_file):
            with lock:
                if res["requests"] >= a.max:
                    return
                res["requests"] += 1
            key = f"{a.prefix}{t}x{i}"
            i += 1
            start = time.monotonic()
            ok, v = put(first, key, f"w{i}", a.timeout)
            used = first
            err1 = None
            if not ok:
                err1 = v
                with lock:
                    res["retried"] += 1
                    kind = err1.split(":")[0]
                    res["first_errors"][kind] = res["first_errors"].get(kind, 0) + 1
                ok, v = put(second, key, f"w{i}", a.timeout)
                used = second
            ms = (time.monotonic() - start) * 1000
            with lock:
                lat.append(ms)
                if ms > res["longest_ms"]:
                    res["longest_ms"], res["longest_key"] = round(ms, 1), key
                if ok:
                    res["acked"].append([key, v])
                    res["per_gateway"][used] += 1
                    if err1 is not None:
                        res["retried_ok"] += 1
                else:
                    res["failed_both"].append([key, err1, v])
            if a.pause:
                time.sleep(a.pause)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(a.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lat.sort()
    res["seconds"] = round(time.monotonic() - t0, 1)
    res["p99_ms"] = round(lat[int(len(lat) * 0.99)] if lat else 0.0, 1)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f)
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
