"""The chaos run's own cluster: a private RabbitMQ, a registry, N nodes and a gateway.

Each node's data dir is on a small tmpfs of its own (so "disk full" can be made real by a filler
file) and each node runs under libfaketime with a per-node offset file (so its wall clock can be
jumped while it runs). Everything started here is stopped by `cleanup()`, which is idempotent
and never raises.
"""
import errno
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "system"))
import harness  # noqa: E402
from harness import request  # noqa: E402


def find_faketime():
    """libfaketime's multi-threaded preload library (Debian: libfaketime)."""
    for path in sorted(glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1")) + [
            "/usr/lib/faketime/libfaketimeMT.so.1"]:
        if os.path.exists(path):
            return path
    return None


def supported_flags(binary):
    out = subprocess.run([os.path.join(harness.BIN, binary), "--help"], capture_output=True,
                         text=True, timeout=10)
    return set(re.findall(r"^\s+(--[a-z0-9-]+)", out.stdout + out.stderr, re.M))


def mount_prefix():
    """How to run mount/umount: directly as root, through passwordless sudo, or not at all."""
    if os.geteuid() == 0:
        return []
    try:
        if subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=10).returncode == 0:
            return ["sudo", "-n"]
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False


def proc_state(pid):
    """The one-letter state from /proc/PID/stat (R, S, T, Z…), or None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


class ChaosNode:
    def __init__(self, cluster, node_id, port, peers):
        self.cluster, self.id, self.port = cluster, node_id, port
        w = cluster.workdir
        self.mount = os.path.join(w, f"disk-{node_id}")
        self.data = os.path.join(self.mount, "db")
        self.filler = os.path.join(self.mount, "filler")
        self.clock_file = os.path.join(w, f"clock-{node_id}")
        self.clock_offset = 0.0
        self.paused = False
        self.disk_full = False
        env = {}
        if cluster.faketime:
            # Only CLOCK_REALTIME moves (like an NTP step); timers on the monotonic clock don't.
            env = {"LD_PRELOAD": cluster.faketime, "FAKETIME_TIMESTAMP_FILE": self.clock_file,
                   "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
        self.proc = harness.node(w, node_id, amqp=cluster.broker.url, registry=cluster.eureka,
                                 peers=peers, port=port, data=self.data, env=env,
                                 extra=cluster.node_extra)

    @property
    def url(self):
        return self.proc.url

    @property
    def queue(self):
        return f"status.node.{self.id}"

    def set_clock(self, offset_s):
        """Every clock_gettime(CLOCK_REALTIME) of the node now reads real time + offset_s."""
        tmp = self.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{offset_s:+.3f}\n")
        os.replace(tmp, self.clock_file)
        self.clock_offset = offset_s

    def fill_disk(self):
        """Writes a filler file until the tmpfs is full; returns the bytes written."""
        written = 0
        limit = (self.cluster.tmpfs_mb + 2) << 20
        self.disk_full = True
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for size in (1 << 20, 4096, 512):  # then smaller pieces into what is left
                piece = b"\0" * size
                while written < limit:
                    try:
                        n = os.write(fd, piece)
                    except OSError as e:
                        if e.errno != errno.ENOSPC:
                            raise
                        break
                    written += n
                    if n < size:
                        break
        finally:
            os.close(fd)
        return written

    def free_disk(self):
        try:
            os.remove(self.filler)
        except FileNotFoundError:
            pass
        self.disk_full = False


class Cluster:
    def __init__(self, n_nodes=3, tmpfs_mb=16, log=print, keep=False, publish_timeout_ms=1000,
                 anti_entropy_ms=1000):
        self.log, self.keep, self.tmpfs_mb = log, keep, tmpfs_mb
        self.workdir = tempfile.mkdtemp(prefix="status-chaos-")
        self.faketime = find_faketime()
        self.started_pids = set()
        self.mounted = []
        self.sudo = mount_prefix()  # None: no tmpfs (data dirs on the work dir's disk)
        self.alarm_set = False
        self.broker = harness.Broker()
        self.registry = harness.registry(self.workdir, port=harness.free_port())
        self.eureka = self.registry.url + "/eureka"
        flags = supported_flags("status-node")
        extra = ["--lease-renewal-s", "1", "--lease-duration-s", "3",
                 "--anti-entropy-interval-ms", str(anti_entropy_ms)]
        if "--drain-grace-ms" in flags:
            extra += ["--drain-grace-ms", "100"]
        self.publish_timeout = "--publish-timeout" in flags
        if self.publish_timeout:
            extra += ["--publish-timeout", str(publish_timeout_ms)]
        self.node_extra = extra
        self.n_nodes = n_nodes
        self.nodes = []  # made by start(): a node's broker URL exists once the broker runs
        self.gateway = harness.gateway(
            self.workdir, registry_url=self.eureka, port=harness.free_port(),
            # The whole load comes from 127.0.0.1 (one client for the rate limit): off.
            extra=["--registry-interval-ms", "250", "--first-byte-timeout-ms", "2000",
                   "--response-timeout-ms", "4500", "--rate-limit", "0"])
        self.expected_down = set()  # names of processes the nemesis took down on purpose

    # -------------------------------------------------------------------------------- processes

    def start_proc(self, proc):
        """Starts one of our processes without waiting; remembers its pid for cleanup."""
        if proc.p is not None and proc.p.poll() is not None:
            self.forget_pid(proc.p.pid)
        proc.start(wait=False)
        self.started_pids.add(proc.p.pid)
        self.expected_down.discard(proc.name)
        return proc

    def kill_proc(self, proc, expected=True):
        """kill -9 (also works on a stopped process)."""
        if expected:
            self.expected_down.add(proc.name)
        if proc.p is None:
            return
        if proc.p.poll() is None:
            proc.p.send_signal(signal.SIGKILL)
            try:
                proc.p.wait(10)
            except subprocess.TimeoutExpired:
                self.log(f"warning: {proc.name} (pid {proc.p.pid}) did not die within 10 s")
                return
        self.forget_pid(proc.p.pid)

    def forget_pid(self, pid):
        # libfaketime leaves these behind when its process cannot exit cleanly; a later process
        # with the same pid would then fail to start.
        for path in (f"/dev/shm/faketime_shm_{pid}", f"/dev/shm/sem.faketime_sem_{pid}"):
            try:
                os.remove(path)
            except FileNotFoundError:
                pass
            except OSError as e:
                self.log(f"warning: cannot remove {path}: {e}")

    def all_procs(self):
        return [self.registry] + [n.proc for n in self.nodes] + [self.gateway]

    def beam_pids(self):
        """The broker's Erlang VM (beam.smp), found by the data directory in its environment
        (its command line does not name it)."""
        needle = f"RABBITMQ_MNESIA_BASE={os.path.join(self.broker.dir, 'mnesia')}".encode()
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    exe = f.read().split(b"\0")[0]
                if not exe.endswith(b"beam.smp"):
                    continue
                with open(f"/proc/{d}/environ", "rb") as f:
                    env = f.read().split(b"\0")
            except OSError:
                continue
            if needle in env:
                out.append(int(d))
        return out

    def broker_running(self):
        return bool(self.beam_pids())

    def ctl(self, *args):
        return self.broker.ctl(*args)

    # ------------------------------------------------------------------------------------ start

    def start(self, timeout=90):
        if not self.faketime:
            raise RuntimeError("libfaketime is missing (Debian package libfaketime; "
                               "scripts/install-deps installs it)")
        t0 = time.monotonic()
        self.log(f"chaos: work dir {self.workdir}, broker dir {self.broker.dir}")
        self.broker.start()
        steps = [f"broker {time.monotonic() - t0:.1f} s"]
        ports = [harness.free_port() for _ in range(self.n_nodes)]
        for i, port in enumerate(ports):
            peers = [f"http://127.0.0.1:{p}" for j, p in enumerate(ports) if j != i]
            self.nodes.append(ChaosNode(self, f"n{i + 1}", port, peers))
        self.start_proc(self.registry)
        self.registry.wait_ready(timeout=20)
        for n in self.nodes:
            os.makedirs(n.mount)
            if self.sudo is not None:
                subprocess.run(self.sudo + ["mount", "-t", "tmpfs", "-o",
                                            f"size={self.tmpfs_mb}m,mode=0777", "tmpfs", n.mount],
                               check=True, timeout=30)
                self.mounted.append(n.mount)
            n.set_clock(0.0)
        # All at once, like every system test's cluster: none of them has data yet.
        for n in self.nodes:
            self.start_proc(n.proc)
        for n in self.nodes:
            n.proc.wait_ready(timeout=max(5, timeout - (time.monotonic() - t0)))
        steps.append(f"all nodes {time.monotonic() - t0:.1f} s")
        self.start_proc(self.gateway)
        self.gateway.wait_ready(timeout=20)
        want = {n.id for n in self.nodes}
        harness.wait_until(lambda: self.gateway_sees() == want,
                           timeout=max(5, timeout - (time.monotonic() - t0)),
                           what="the gateway routing to every node")
        self.log(f"chaos: cluster up in {time.monotonic() - t0:.1f} s ({', '.join(steps)}); "
                 f"node flags: {' '.join(self.node_extra)}")

    def gateway_sees(self):
        r = request("GET", self.gateway.url + "/api/services", timeout=2)
        if r.status != 200:
            return set()
        return {s["instanceId"] for s in r.json() if s.get("healthy")}

    # ------------------------------------------------------------------------------------- heal

    def check_exits(self, now):
        """Processes that exited without the nemesis killing them: [(name, code, log tail)]."""
        out = []
        for p in self.all_procs():
            if p.p is not None and p.p.poll() is not None and p.name not in self.expected_down:
                out.append({"t": round(now, 2), "process": p.name, "exit_code": p.p.returncode,
                            "log_tail": p.log_tail(8)})
                self.expected_down.add(p.name)  # reported once; restarted by heal()
        return out

    def heal(self):
        """Undoes every fault: continues what is stopped, resets clocks, frees disks, clears the
        broker's alarm, starts what is not running. Returns the list of actions taken."""
        actions = []
        for pid in self.beam_pids():
            if proc_state(pid) == "T":
                signal_pid(pid, signal.SIGCONT)
                actions.append("broker continued")
        for n in self.nodes:
            if n.proc.running() and (n.paused or proc_state(n.proc.p.pid) == "T"):
                signal_pid(n.proc.p.pid, signal.SIGCONT)
                actions.append(f"{n.id} continued")
            n.paused = False
            if n.clock_offset != 0.0:
                n.set_clock(0.0)
                actions.append(f"{n.id} clock reset")
            if n.disk_full or os.path.exists(n.filler):
                n.free_disk()
                actions.append(f"{n.id} disk freed")
        if not self.broker_running():
            self.broker.start()
            actions.append("broker started")
        if self.alarm_set:
            try:
                self.ctl("set_disk_free_limit", "50MB")
                self.alarm_set = False
                actions.append("broker disk alarm cleared")
            except (subprocess.SubprocessError, OSError) as e:
                actions.append(f"broker disk alarm NOT cleared: {e}")
        for p in self.all_procs():
            if not p.running():
                self.start_proc(p)
                actions.append(f"{p.name} started")
        return actions

    # ---------------------------------------------------------------------------------- cleanup

    def cleanup(self):
        """Stops everything this cluster started and unmounts its disks. Never raises."""
        def attempt(what, fn):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 — cleanup goes on whatever happens
                self.log(f"chaos: cleanup: {what} failed: {e!r}")

        for pid in self.beam_pids():
            attempt("SIGCONT broker", lambda pid=pid: signal_pid(pid, signal.SIGCONT))
        for p in [self.gateway] + [n.proc for n in self.nodes] + [self.registry]:
            attempt(f"kill {p.name}", lambda p=p: self.kill_proc(p))
        attempt("stop broker", self.broker.remove)
        for m in list(self.mounted):
            def umount(m=m):
                r = subprocess.run(self.sudo + ["umount", m], capture_output=True, text=True,
                                   timeout=30)
                if r.returncode != 0:
                    subprocess.run(self.sudo + ["umount", "-l", m], check=True, timeout=30)
                self.mounted.remove(m)
            attempt(f"umount {m}", umount)
        for pid in list(self.started_pids):
            attempt(f"shm of {pid}", lambda pid=pid: self.forget_pid(pid))
        if not self.keep and not self.mounted:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.keep:
            self.log(f"chaos: logs kept in {self.workdir}")

    # ---------------------------------------------------------------------------------- observe

    def node_state(self, node, timeout=3):
        """{username: {"statusText","version"}} from the node's paged list; raises if not 200."""
        out = {}
        offset, total = 0, None
        for _ in range(1000):  # bounded: 1,000 pages of 1,000
            r = request("GET", f"{node.url}/api/statuses?limit=1000&offset={offset}",
                        timeout=timeout)
            if r.status != 200:
                raise RuntimeError(f"{node.id}: list answered {r.status}")
            page = r.json()
            total = int(r.header("X-Total-Count", "0"))
            for s in page:
                out[s["username"]] = {"statusText": s["statusText"], "version": s["version"]}
            offset += len(page)
            if offset >= total or not page:
                break
        return out

    def health(self, node, timeout=2):
        try:
            r = request("GET", node.url + "/health", timeout=timeout)
            try:
                body = r.json()
            except ValueError:
                body = r.body[:200].decode(errors="replace")
            return {"status": r.status, "body": body}
        except OSError as e:
            return {"status": None, "error": type(e).__name__}

    def metrics(self, node, names, timeout=2):
        try:
            text = request("GET", node.url + "/metrics", timeout=timeout).body.decode()
        except OSError:
            return None
        out = {}
        for line in text.splitlines():
            for name in names:
                if line.startswith(name + " ") or line.startswith(name + "{"):
                    try:
                        out[name] = out.get(name, 0) + float(line.split()[-1])
                    except ValueError:
                        pass
        return out


def dumps(obj):
    return json.dumps(obj, indent=2, sort_keys=True)
