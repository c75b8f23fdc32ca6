"""Local writes that cannot be committed (CONTRACT §9 "A write that cannot be committed locally
(disk full, I/O error) is answered 503 (or 507) problem+json at once; reads go on; changes from
other nodes are retried, never dropped; once the disk has room, the node converges without a
restart").

Real nodes on the session broker. Anti-entropy is off, so what reaches a node came through its
queue: a change the node failed to store must be retried by its consumer, not repaired later.
"""
import concurrent.futures as cf
import os
import subprocess
import time

import harness
from harness import request, wait_until

FLAGS = ["--publish-timeout", "1000", "--anti-entropy-interval-ms", "3600000"]


def status(url, user):
    return request("GET", f"{url}/api/statuses/{user}").status


def timed_put(url, user, text="x", timeout=10):
    t0 = time.monotonic()
    try:
        r = harness.put_status(url, user, text, timeout=timeout)
    except OSError as e:
        return None, time.monotonic() - t0, repr(e)
    return r.status, time.monotonic() - t0, r


def assert_is_503_problem(r):
    assert r.status == 503, r
    assert r.header("Content-Type", "").startswith("application/problem+json"), r.headers
    assert r.header("Retry-After"), f"503 without Retry-After: {r.headers}"


def test_failing_statement_fails_its_batch_cleanly_and_the_consumer_goes_on(tmp_path, procs, broker):
    """§9 (review F2): a statement that fails inside a writer batch (a trigger that RAISEs for
    user `boom`). PUT boom → 503 problem+json; other writes in the same batches get 2xx or 503,
    never 500, never a hang; the consumer does not stall: writes made on n2 afterwards reach n1
    within 2 s."""
    n1, n2 = harness.make_cluster(str(tmp_path), procs, "boom-", 2, amqp=broker.url, extra=FLAGS)
    db = os.path.join(str(tmp_path), "data-boom-1", "status.db")
    first = harness.node(str(tmp_path), "boom-1", amqp=broker.url, extra=FLAGS)  # no peers yet
    procs.append(first)
    first.start()  # creates its database and its queue
    assert first.stop() == 0
    subprocess.run(["sqlite3", db, "CREATE TRIGGER boom BEFORE INSERT ON statuses "
                    "WHEN NEW.username='boom' BEGIN SELECT RAISE(FAIL,'boom'); END;"],
                   check=True, timeout=10)
    harness.start_all([n1, n2])

    def on_n1(i):
        return timed_put(n1.url, "boom" if i % 4 == 0 else f"n1-{i}", f"write {i}")

    def on_n2(i):
        return timed_put(n2.url, f"n2-{i}", f"write {i}")

    with cf.ThreadPoolExecutor(24) as pool:
        f1 = [pool.submit(on_n1, i) for i in range(400)]
        f2 = [pool.submit(on_n2, i) for i in range(400)]
        r1 = [f.result() for f in f1]
        r2 = [f.result() for f in f2]
    hung = [x for x in r1 + r2 if x[0] is None or x[1] > 3.0]
    assert not hung, f"{len(hung)} writes hung or were not answered within 3 s: {hung[:3]}"
    boom = [x for i, x in enumerate(r1) if i % 4 == 0]
    assert all(s == 503 for s, _, _ in boom), {s for s, _, _ in boom}
    assert_is_503_problem(boom[0][2])
    others = [s for i, (s, _, _) in enumerate(r1) if i % 4]
    assert set(others) <= {200, 201, 503}, set(others)
    assert all(s in (200, 201) for s, _, _ in r2), {s for s, _, _ in r2}
    assert status(n1.url, "boom") == 404

    # The consumer on n1 still applies n2's changes, and promptly.
    for i in range(5):
        assert harness.put_status(n2.url, f"afterwards-{i}", "after the failures").status == 201
    wait_until(lambda: all(status(n1.url, f"afterwards-{i}") == 200 for i in range(5)), 2,
               what="writes made on n2 afterwards on n1 within 2 s")
    acked2 = {f"n2-{i}" for i in range(400)}
    assert acked2 <= set(harness.state_of(n1.url)), "n2's writes during the failures lost on n1"
    # A write answered 503 was not committed, so it takes effect nowhere (review F10, F12).
    refused = [f"n1-{i}" for i, (s, _, _) in enumerate(r1) if i % 4 and s == 503]
    for user in refused:
        assert status(n1.url, user) == 404 and status(n2.url, user) == 404, f"503'd {user} stored"


def test_disk_full_answers_503_keeps_reading_and_converges_when_space_returns(tmp_path, procs, broker):
    """§9 (review F2, F12): n1's --data-dir is a small tmpfs (24 MiB), filled up by a filler
    file. Its writes get 503 problem+json within 1 s (no hang, never 500), its reads keep
    working, and the 3,200 changes (1 KiB each) n2 makes meanwhile are not lost, although n1
    cannot store them: once the filler is deleted (n1 not restarted) n1 converges with n2 within
    15 s, through its queue alone."""
    mount = os.path.join(str(tmp_path), "small")
    with harness.tmpfs(mount, "24m"):
        n1, n2 = harness.make_cluster(str(tmp_path), procs, "full-", 2, amqp=broker.url, extra=FLAGS)
        n1.args[n1.args.index("--data-dir") + 1] = os.path.join(mount, "data")
        try:
            harness.start_all([n1, n2])
            for i in range(20):
                assert harness.put_status(n1.url, f"before-{i}", "while there is room").status == 201
            harness.wait_converged([n1.url, n2.url], 10, expect=20)

            filler = harness.fill_disk(mount)
            text = "f" * 1000
            # n2 writes at full speed while n1 keeps trying to write on its full disk.
            load = harness.WriteLoad([n2.url], threads=16, seconds=30.0, prefix="n2-", text=text,
                                     max_per_thread=200).start()
            answers = []
            while any(t.is_alive() for t in load.workers) or len(answers) < 20:
                answers.append(timed_put(n1.url, f"full-{len(answers)}", text))
                time.sleep(0.05)
            from_n2 = load.join()
            slow = [a for a in answers if a[0] is None or a[1] > 1.0]
            assert not slow, f"writes on a full disk not answered within 1 s: {slow[:3]}"
            codes = [a[0] for a in answers]
            assert set(codes) <= {200, 201, 503, 507}, set(codes)
            failed = [a[2] for a in answers if a[0] in (503, 507)]
            assert failed, "no write failed on a full disk (is the filler too small?)"
            assert failed[-1].header("Content-Type", "").startswith("application/problem+json")
            assert codes[-5:] == [failed[-1].status] * 5, f"later writes did not fail too: {codes}"
            assert all(s in (200, 201) for _, _, _, s, _ in from_n2), "n2's writes failed"
            # Many clients at once: big writer batches (MiBs of dirty pages) fail as a whole,
            # whichever statement hits the full disk, and each of their writes is answered.
            burst = harness.ConcurrentWriteLoad(n1.url, connections=384, seconds=2.0,
                                                prefix="burst-", text="\U0001F4C5" * 1000,
                                                timeout=5.0, max_per_connection=3).start().join()
            late = [b for b in burst if b[2] is None or b[2] > 1.5]
            assert not late, f"{len(late)} of {len(burst)} burst writes not answered in 1.5 s"
            burst_codes = {b[3] for b in burst}
            assert burst_codes <= {200, 201, 503, 507}, burst_codes
            # Reads go on.
            assert request("GET", f"{n1.url}/api/statuses/before-3").status == 200
            assert request("GET", f"{n1.url}/api/statuses?limit=5").status == 200

            os.remove(filler)
            harness.wait_converged([n1.url, n2.url], 15, expect=20 + len(from_n2) +
                                   sum(1 for c in codes if c in (200, 201)) +
                                   sum(1 for b in burst if b[3] in (200, 201)))
            assert n1.running(), "n1 exited"
        finally:
            n1.kill()
