"""Hosts on one machine: each a Linux network namespace with its own address on a bridge.

    net = Net()                      # bridge sb<run>, subnet 10.213.<y>.0/24, the bridge .1
    a = net.host("node1")            # namespace sh<run>-node1, veth on the bridge, 10.213.<y>.2
    p = a.popen(["status-node", ...], log="node1.log")
    net.cut(a, b.addr)               # a drops all traffic to and from b (iptables inside a)
    net.heal(a)
    net.teardown()                   # namespaces (and every process in them), veths, bridge

Needs root and `ip` (iproute2), `iptables` for cut(). `run` is this process's pid modulo 1000:
every name a run makes (namespaces `sh<run>-*`, bridge `sb<run>`, veths `sv<run>x<i>`) carries it,
and /run/status-hosts/<run>/pid names the process that owns them, so a later run removes what a
killed one left (stale_cleanup), never the names of a run that is still alive.

Between hosts there is no loopback: each namespace has its own `lo` (up, for a process's own
use, e.g. RabbitMQ's epmd) and reaches the others only over the bridge. The root namespace holds
the bridge's address (.1): the test itself observes the hosts from there.
"""
import atexit
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import threading
import time

STATE = "/run/status-hosts"
NS_PREFIX = "sh"
BRIDGE_PREFIX = "sb"


def available():
    """None when hosts can be made here, else why not (for pytest.skip)."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth pairs, a bridge)"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"needs `{tool}`"
    return None


def sh(*args, check=True, timeout=30):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def _term_to_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _namespaces():
    out = sh("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _kill_ns_processes(ns):
    """kill -9 every process in namespace `ns` (a broker's epmd too), bounded wait."""
    for _ in range(20):
        pids = [int(p) for p in sh("ip", "netns", "pids", ns, check=False).stdout.split()]
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


def remove_run(run):
    """Removes everything run `run` made: its namespaces (after killing what runs in them), its
    bridge (its veths go with their namespaces), its state directory."""
    for ns in _namespaces():
        if ns.startswith(f"{NS_PREFIX}{run}-"):
            _kill_ns_processes(ns)
            sh("ip", "netns", "del", ns, check=False)
    links = sh("ip", "-o", "link", "show", check=False).stdout
    for m in re.finditer(rf"^\d+: (sv{run}x\d+)[@:]", links, re.M):
        sh("ip", "link", "del", m.group(1), check=False)
    sh("ip", "link", "del", f"{BRIDGE_PREFIX}{run}", check=False)
    shutil.rmtree(os.path.join(STATE, str(run)), ignore_errors=True)


def stale_cleanup():
    """Removes the leftovers of runs whose owning process is gone (a kill -9'd pytest)."""
    runs = set()
    for ns in _namespaces():
        m = re.match(rf"^{NS_PREFIX}(\d+)-", ns)
        if m:
            runs.add(int(m.group(1)))
    for m in re.finditer(rf"^\d+: {BRIDGE_PREFIX}(\d+):",
                         sh("ip", "-o", "link", "show", check=False).stdout, re.M):
        runs.add(int(m.group(1)))
    if os.path.isdir(STATE):
        runs.update(int(d) for d in os.listdir(STATE) if d.isdigit())
    for run in runs:
        try:
            with open(os.path.join(STATE, str(run), "pid")) as f:
                owner = int(f.read().strip())
        except (OSError, ValueError):
            owner = None
        if owner is None or owner == os.getpid() or not _alive(owner):
            remove_run(run)


def _pick_subnet(run):
    """10.213.<y>.0/24 that no route of this machine overlaps (y from the run, then onwards)."""
    routes = sh("ip", "-4", "route", "show", "table", "all", check=False).stdout
    taken = []
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "blackhole", "prohibit"):
            word = line.split()[1]
        try:
            taken.append(ipaddress.ip_network(word if word != "default" else "0.0.0.0/32",
                                              strict=False))
        except ValueError:
            pass
    for i in range(250):
        y = (run + i) % 250 + 1
        net = ipaddress.ip_network(f"10.213.{y}.0/24")
        if not any(net.overlaps(t) for t in taken if t.prefixlen > 0):
            return net
    raise RuntimeError("no free 10.213.y.0/24 subnet")


class Host:
    """One namespace: `name`, `ns`, `addr` (its address on the bridge), `veth` (the root side)."""

    def __init__(self, net, name, ns, addr, veth):
        self.net, self.name, self.ns, self.addr, self.veth = net, name, ns, addr, veth

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.ns] + list(argv)

    def run(self, argv, check=True, timeout=60, env=None, **kw):
        """Runs `argv` inside this namespace to its end (subprocess.run's result)."""
        r = subprocess.run(self.cmd(argv), capture_output=True, text=True, timeout=timeout,
                           env=env, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"[{self.name}] {' '.join(argv)}: exit {r.returncode}: "
                               f"{r.stderr.strip()[-2000:]}")
        return r

    def popen(self, argv, log, env=None):
        """Starts `argv` inside this namespace, stdout and stderr to the file `log`. `ip netns
        exec` execs the command itself: the Popen's pid is the process's (kill -9 reaches it)."""
        with open(log, "ab") as f:
            return subprocess.Popen(self.cmd(argv), stdout=f, stderr=subprocess.STDOUT, env=env,
                                    start_new_session=True)

    def link(self, up):
        """The host's own interface up or down: off the whole bridge (or back on it)."""
        self.run(["ip", "link", "set", "eth0", "up" if up else "down"])

    def __repr__(self):
        return f"Host({self.name}, {self.addr})"


class Net:
    def __init__(self, workdir=None):
        why = available()
        if why:
            raise RuntimeError(why)
        stale_cleanup()
        self.run = os.getpid() % 1000
        remove_run(self.run)  # a dead run of the same number
        # The run's own directory (mode 0755: a broker's data dir, for its `rabbitmq` user, goes
        # here), removed with the rest of the run.
        self.dir = os.path.join(STATE, str(self.run))
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(STATE, 0o755)
        os.chmod(self.dir, 0o755)
        with open(os.path.join(self.dir, "pid"), "w") as f:
            f.write(str(os.getpid()))
        self.bridge = f"{BRIDGE_PREFIX}{self.run}"
        # Ctrl-C reaches pytest as KeyboardInterrupt (its fixtures' teardown runs); a SIGTERM is
        # made one too, and whatever still stands at exit goes (atexit). A kill -9 leaves it to
        # the next run's stale_cleanup.
        self._old_term = None
        if threading.current_thread() is threading.main_thread():
            self._old_term = signal.signal(signal.SIGTERM, _term_to_interrupt)
        atexit.register(self.teardown)
        self.hosts = {}
        self._cuts = {}
        self.subnet = _pick_subnet(self.run)
        self.prefixlen = self.subnet.prefixlen
        addrs = self.subnet.hosts()
        self.gateway_addr = str(next(addrs))
        self._addrs = addrs
        try:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            sh("ip", "addr", "add", f"{self.gateway_addr}/{self.prefixlen}", "dev", self.bridge)
            sh("ip", "link", "set", self.bridge, "up")
        except BaseException:
            self.teardown()
            raise

    def host(self, name):
        """A new namespace `sh<run>-<name>` with the next address of the subnet."""
        ns = f"{NS_PREFIX}{self.run}-{name}"
        veth = f"sv{self.run}x{len(self.hosts)}"
        addr = str(next(self._addrs))
        tmp = f"sp{self.run}x{len(self.hosts)}"
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", veth, "type", "veth", "peer", "name", tmp)
        sh("ip", "link", "set", tmp, "netns", ns)
        sh("ip", "link", "set", veth, "master", self.bridge)
        sh("ip", "link", "set", veth, "up")
        x = ["ip", "netns", "exec", ns]
        sh(*x, "ip", "link", "set", "lo", "up")
        sh(*x, "ip", "link", "set", tmp, "name", "eth0")
        sh(*x, "ip", "addr", "add", f"{addr}/{self.prefixlen}", "dev", "eth0")
        sh(*x, "ip", "link", "set", "eth0", "up")
        sh(*x, "ip", "route", "add", "default", "via", self.gateway_addr)
        h = Host(self, name, ns, addr, veth)
        self.hosts[name] = h
        return h

    def cut(self, host, *addrs):
        """`host` drops every packet to or from each address in `addrs` (a partition between
        them; DROP, not REJECT: the other side sees silence, as across a real network)."""
        for a in addrs:
            host.run(["iptables", "-w", "-I", "INPUT", "-s", a, "-j", "DROP"])
            host.run(["iptables", "-w", "-I", "OUTPUT", "-d", a, "-j", "DROP"])
            self._cuts.setdefault(host.name, set()).add(a)

    def heal(self, host):
        """Removes every cut of `host`."""
        for a in sorted(self._cuts.pop(host.name, ())):
            host.run(["iptables", "-w", "-D", "INPUT", "-s", a, "-j", "DROP"], check=False)
            host.run(["iptables", "-w", "-D", "OUTPUT", "-d", a, "-j", "DROP"], check=False)

    def teardown(self):
        """Everything of this run goes: processes in the namespaces, namespaces, veths, bridge.
        Safe to call twice."""
        remove_run(self.run)
        self.hosts.clear()
        if self._old_term is not None:
            signal.signal(signal.SIGTERM, self._old_term)
            self._old_term = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.teardown()
