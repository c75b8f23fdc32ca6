"""A broker that is frozen, blocked by an alarm, black-holed, reset or unreachable (CONTRACT §3
"a write answered 2xx … will reach every node", §9 "Broker blocked, frozen or unreachable").

Real nodes, a real RabbitMQ of this module alone (`private_broker`: these tests stop it, alarm it
and cut it off). Anti-entropy is off (`--anti-entropy-interval-ms 3600000`), so whatever reaches
another node came through the broker: the outbox, not a repair, has to deliver it.
"""
import signal
import subprocess
import time

import harness
from harness import wait_until

import pytest

PUBLISH_TIMEOUT_S = 1.0
MARGIN_S = 1.0
FLAGS = ["--publish-timeout", str(int(PUBLISH_TIMEOUT_S * 1000)),
         "--anti-entropy-interval-ms", "3600000"]
# 1,000 four-byte characters: ~4 KiB per change on the wire, so a few seconds of load fill the
# socket buffers between a node and a broker that stopped reading.
BIG_TEXT = "\U0001F4C5" * 1000

FAULTS = {
    "frozen": lambda b: b.frozen(),               # SIGSTOP of beam.smp
    "disk_alarm": lambda b: b.disk_alarm(),       # set_disk_free_limit 10000GB
    "black_hole": lambda b: harness.black_hole(b.port),  # iptables DROP to the AMQP port
}


def assert_answered_in_time(results, limit):
    late = [(u, lat, st) for u, _, lat, st, _ in results if lat is None or lat > limit]
    bad = [(u, st) for u, _, lat, st, _ in results if st not in (200, 201)]
    worst = max((lat for _, _, lat, _, _ in results if lat is not None), default=None)
    print(f"{len(results)} writes, worst latency {worst}")
    assert not late, (f"{len(late)} of {len(results)} writes not answered within {limit}s "
                      f"(worst answered: {worst}); first: {late[:5]}")
    assert not bad, f"{len(bad)} writes not 2xx: {bad[:5]}"


@pytest.mark.parametrize("fault", list(FAULTS))
def test_writes_are_answered_within_publish_timeout_whatever_the_broker_does(
        fault, tmp_path, procs, private_broker):
    """§9 (review F3): with the broker frozen, in a disk alarm or black-holed, while 256 clients
    write 4 KiB statuses for 6 s, every write is answered 2xx within --publish-timeout (1 s here)
    + 1 s margin of being sent, /health keeps answering, and after recovery every acknowledged
    write reaches every node (§3), carried by the broker alone."""
    nodes = harness.start_all(harness.make_cluster(str(tmp_path), procs, f"{fault[:6]}-", 2,
                                                   amqp=private_broker.url, extra=FLAGS))
    urls = [n.url for n in nodes]
    assert harness.put_status(urls[0], "warmup", "before the fault").status == 201
    harness.wait_converged(urls, 10, expect=1)

    with FAULTS[fault](private_broker):
        load = harness.ConcurrentWriteLoad(urls[0], connections=256, seconds=6.0,
                                           prefix=f"{fault}-", text=BIG_TEXT, timeout=8.0,
                                           max_per_connection=200).start()
        time.sleep(3.0)
        t0 = time.monotonic()
        harness.health(urls[0], timeout=3)
        assert time.monotonic() - t0 < 2.0, "/health not answered during the fault"
        results = load.join()
    assert len(results) > 100, f"only {len(results)} writes were made"
    assert_answered_in_time(results, PUBLISH_TIMEOUT_S + MARGIN_S)
    # Every acknowledged write (and the warm-up) reaches every node, through the broker.
    harness.wait_converged(urls, 45, expect=len(results) + 1)


def test_sigterm_while_broker_frozen_exits_promptly_and_keeps_the_writes(
        tmp_path, procs, private_broker):
    """§1/§9 (review F3): SIGTERM of a node whose broker is frozen exits 0 within 10 s; the writes
    it acknowledged meanwhile are kept and reach the other node once the broker is back."""
    n1, n2 = harness.start_all(harness.make_cluster(str(tmp_path), procs, "frzterm-", 2,
                                                    amqp=private_broker.url, extra=FLAGS))
    with private_broker.frozen():
        load = harness.ConcurrentWriteLoad(n1.url, connections=256, seconds=6.0, prefix="t-",
                                           text=BIG_TEXT, timeout=6.0,
                                           max_per_connection=200).start()
        time.sleep(5.0)
        t0 = time.monotonic()
        n1.signal(signal.SIGTERM)
        try:
            rc = n1.p.wait(10)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"SIGTERM with a frozen broker: still running after 10 s "
                                 f"({len(load.results)} writes so far)")
        took = time.monotonic() - t0
        assert rc == 0, f"exit code {rc}: {n1.log_tail()}"
        load.join()
        acked = load.acked()
        assert acked, "no write was acknowledged while the broker was frozen"
    n1.start()
    want = acked
    wait_until(lambda: want <= set(harness.state_of(n2.url)), 45, interval=0.5,
               what="every write acknowledged during the freeze on the other node")
    assert took < 10


def test_broker_reset_while_nodes_run_loses_nothing(tmp_path, procs, private_broker):
    """§3/§9 (review F5): `rabbitmqctl stop_app; reset; start_app` wipes every queue and binding
    while the nodes run and write. Every write is answered; the ones answered 2xx all reach
    every node: a publish the broker could not route (queues not yet re-declared) is not counted
    as delivered, and a node whose queue vanished resynchronises — answering 503 with
    Retry-After while it does (§3), which is the only other answer allowed."""
    nodes = harness.start_all(harness.make_cluster(str(tmp_path), procs, "reset-", 3,
                                                   amqp=private_broker.url, extra=FLAGS))
    urls = [n.url for n in nodes]
    load = harness.WriteLoad(urls, threads=3, seconds=60.0, prefix="r-", text="around a reset",
                             timeout=8.0, max_per_thread=3000, pause=0.01).start()
    time.sleep(1.0)
    private_broker.ctl("stop_app")
    private_broker.ctl("reset")
    private_broker.ctl("start_app")
    private_broker.restore_user()  # reset drops users too: the operator gives ours back
    time.sleep(4.0)  # writes right after the reset, while nodes reconnect
    results = load.stop()
    bad = [(u, s) for u, _, _, s, _ in results if s not in (200, 201, 503)]
    assert not bad, f"{len(bad)} of {len(results)} writes neither 2xx nor 503: {bad[:5]}"
    acked = {u for u, _, _, s, _ in results if s in (200, 201)}
    assert len(acked) > len(results) / 2, "most writes must be answered 2xx"
    final = harness.wait_converged(urls, 40)
    assert acked <= set(final), f"{len(acked - set(final))} acknowledged writes missing"


def test_memory_stays_bounded_while_the_broker_is_unreachable(tmp_path, procs):
    """§9 (review F9): while changes wait for an unreachable broker, the node keeps no copy of
    each in RAM: 100,000 writes (1 KiB each, over 1,000 users) grow VmRSS by < 64 MiB from
    after the first 1,000 writes to the end."""
    dead = f"amqp://guest:guest@127.0.0.1:{harness.free_port()}/"
    n = harness.node(str(tmp_path), "membound-1", amqp=dead, extra=FLAGS)
    procs.append(n)
    n.start()
    import json
    import threading
    text = "m" * 990
    total, threads, users = 100000, 4, 1000
    done = [0]
    errors = []
    lock = threading.Lock()
    stop = threading.Event()
    deadline = time.monotonic() + 150

    def writer(w):
        c = harness.Client(n.url, timeout=10)
        hdrs = {"Content-Type": "application/json"}
        i = w
        while not stop.is_set() and time.monotonic() < deadline:
            with lock:
                if done[0] >= total:
                    return
                done[0] += 1
            body = json.dumps({"statusText": f"{i:08d}{text}"}).encode()
            try:
                r = c.request("PUT", f"/api/statuses/mem{i % users}", body, hdrs)
                if r.status not in (200, 201):
                    errors.append(r.status)
            except OSError as e:
                errors.append(repr(e))
            i += threads
        c.close()

    ts = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(threads)]
    for t in ts:
        t.start()
    wait_until(lambda: done[0] >= 1000, 30, what="first 1,000 writes")
    base = n.proc_status("VmRSS")
    peak, grown = base, 0
    while any(t.is_alive() for t in ts):
        time.sleep(0.5)
        peak = max(peak, n.proc_status("VmRSS"))
        grown = (peak - base) / 1024
        if grown > 64:
            stop.set()  # failed already: no need to eat more memory
    for t in ts:
        t.join(15)
    assert not errors, f"{len(errors)} writes failed: {errors[:5]}"
    assert grown < 64, f"VmRSS grew {grown:.0f} MiB after {done[0]} writes (from {base} kB)"
    assert done[0] >= total, f"only {done[0]} of {total} writes within the time bound"
