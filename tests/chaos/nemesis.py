"""The nemesis: one fault at a time, chosen by a seeded random generator, each undone before the
next. Every fault is logged with its start and end (seconds since the run's start)."""
import random
import signal
import subprocess
import threading
import time

from cluster import signal_pid

KINDS = ("kill_node", "pause_node", "broker_restart", "broker_freeze", "broker_alarm",
         "delete_queue", "kill_registry", "fill_disk", "clock_jump")


def parse_kinds(spec):
    """"all", "none", "a,b" (only these) or "-a,-b" (all but these)."""
    spec = (spec or "all").strip()
    if spec == "all":
        return list(KINDS)
    if spec == "none":
        return []
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    names = [p.lstrip("-") for p in parts]
    unknown = [n for n in names if n not in KINDS]
    if unknown:
        raise ValueError(f"unknown fault kind(s) {', '.join(unknown)}; known: {', '.join(KINDS)}")
    if all(p.startswith("-") for p in parts):
        return [k for k in KINDS if k not in names]
    if any(p.startswith("-") for p in parts):
        raise ValueError("mix of included and excluded fault kinds")
    return [k for k in KINDS if k in names]


class Nemesis(threading.Thread):
    def __init__(self, cluster, seed, kinds, t0, log, gap=(0.5, 2.0)):
        super().__init__(name="nemesis", daemon=True)
        self.cluster, self.kinds, self.t0, self.log, self.gap = cluster, list(kinds), t0, log, gap
        self.rng = random.Random(f"nemesis-{seed}")
        self.stop_event = threading.Event()
        self.faults = []       # dicts: t, end, kind, target, detail, error
        self.exits = []        # unexpected process exits seen between faults
        self.error = None

    def now(self):
        return time.monotonic() - self.t0

    def sleep(self, seconds):
        """Waits, or returns early when the run ends (the fault is still undone)."""
        if self.stop_event.wait(max(0.0, seconds)):
            self.cut_short = True

    def stop(self):
        self.stop_event.set()

    def deck(self):
        """Every kind once per round, in a seeded order: short runs still see every fault."""
        while True:
            round_ = list(self.kinds)
            self.rng.shuffle(round_)
            yield from round_

    def run(self):
        if not self.kinds:
            return
        try:
            deck = self.deck()
            while not self.stop_event.is_set():
                # Drawn in a fixed order so that the schedule depends on the seed only.
                kind = next(deck)
                gap = self.rng.uniform(*self.gap)
                node = self.rng.choice(self.cluster.nodes)
                duration = self.rng.uniform(1.0, 4.0)
                offset = self.rng.choice((-1, 1)) * self.rng.uniform(2.0, 5.0)
                self.sleep(gap)
                self.watch()
                if self.stop_event.is_set():
                    break
                self.inject(kind, node, duration, offset)
        except Exception as e:  # noqa: BLE001 — reported, the run goes on to heal and check
            self.error = repr(e)
            self.log(f"nemesis: stopped by an error: {e!r}")

    def watch(self):
        """Restarts processes that died on their own (reported as unexpected exits)."""
        for ex in self.cluster.check_exits(self.now()):
            self.exits.append(ex)
            self.log(f"nemesis: +{ex['t']:.1f}s {ex['process']} EXITED on its own with code "
                     f"{ex['exit_code']}; restarting it")
            for p in self.cluster.all_procs():
                if p.name == ex["process"]:
                    self.cluster.start_proc(p)

    def inject(self, kind, node, duration, offset):
        f = {"t": round(self.now(), 2), "kind": kind, "target": None, "detail": "", "error": None}
        self.faults.append(f)
        self.cut_short = False
        try:
            getattr(self, kind)(f, node, duration, offset)
        except subprocess.CalledProcessError as e:
            text = " ".join((e.stderr or e.stdout or "").split())
            f["error"] = f"exit code {e.returncode}: {text[:300]}"
        except (subprocess.SubprocessError, OSError, RuntimeError, AssertionError) as e:
            f["error"] = repr(e)[:300]
        f["end"] = round(self.now(), 2)
        if self.cut_short:
            f["detail"] += " (cut short: end of the run)"
        line = (f"nemesis: +{f['t']:6.1f}s..{f['end']:6.1f}s {kind:<14} {f['target'] or '':<8} "
                f"{f['detail']}")
        self.log(line + (f"  ERROR {f['error']}" if f["error"] else ""))

    # ----------------------------------------------------------------------------------- faults

    def kill_node(self, f, node, duration, _):
        f["target"], f["detail"] = node.id, f"kill -9, restart after {duration:.1f} s"
        c = self.cluster
        c.kill_proc(node.proc)
        self.sleep(duration)
        c.start_proc(node.proc)

    def pause_node(self, f, node, duration, _):
        f["target"], f["detail"] = node.id, f"SIGSTOP for {duration:.1f} s"
        if not node.proc.running():
            f["detail"] += " (skipped: not running)"
            return
        pid = node.proc.p.pid
        node.paused = True
        signal_pid(pid, signal.SIGSTOP)
        try:
            self.sleep(duration)
        finally:
            signal_pid(pid, signal.SIGCONT)
            node.paused = False

    def broker_restart(self, f, node, duration, _):
        pause = duration / 2
        f["target"], f["detail"] = "broker", f"stop, {pause:.1f} s down, start"
        c = self.cluster
        t = time.monotonic()
        c.broker.stop()
        self.sleep(pause)
        c.broker.start()
        f["detail"] += f" ({time.monotonic() - t:.1f} s in all)"

    def broker_freeze(self, f, node, duration, _):
        f["target"], f["detail"] = "broker", f"SIGSTOP beam.smp for {duration:.1f} s"
        pids = self.cluster.beam_pids()
        if not pids:
            raise RuntimeError("no beam.smp of our broker found")
        for pid in pids:
            signal_pid(pid, signal.SIGSTOP)
        try:
            self.sleep(duration)
        finally:
            for pid in pids:
                signal_pid(pid, signal.SIGCONT)

    def broker_alarm(self, f, node, duration, _):
        f["target"], f["detail"] = "broker", f"disk alarm (free limit 10000GB) for {duration:.1f} s"
        c = self.cluster
        c.alarm_set = True
        c.ctl("set_disk_free_limit", "10000GB")
        try:
            self.sleep(duration)
        finally:
            c.ctl("set_disk_free_limit", "50MB")
            c.alarm_set = False

    def delete_queue(self, f, node, duration, _):
        f["target"], f["detail"] = node.id, f"rabbitmqctl delete_queue {node.queue}"
        try:
            self.cluster.ctl("delete_queue", node.queue)
        except subprocess.CalledProcessError as e:
            if "not found" not in (e.stderr or "").lower():
                raise
            f["detail"] += " (it was missing: the node had not declared it again)"

    def kill_registry(self, f, node, duration, _):
        f["target"], f["detail"] = "registry", f"kill -9, restart after {duration:.1f} s"
        c = self.cluster
        c.kill_proc(c.registry)
        self.sleep(duration)
        c.start_proc(c.registry)

    def fill_disk(self, f, node, duration, _):
        f["target"] = node.id
        try:
            n = node.fill_disk()
            f["detail"] = f"tmpfs full ({n >> 20} MiB filler) for {duration:.1f} s"
            self.sleep(duration)
        finally:
            node.free_disk()

    def clock_jump(self, f, node, duration, offset):
        hold = duration + 2.0
        f["target"], f["detail"] = node.id, f"wall clock {offset:+.1f} s for {hold:.1f} s"
        node.set_clock(offset)
        try:
            self.sleep(hold)
        finally:
            node.set_clock(0.0)
