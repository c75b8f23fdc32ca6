"""deploy/grafana/status-server.json queries only what the binaries export: every metric name of
every panel's PromQL, and every label it filters or groups by, is in the /metrics of a running
registry, node (with a broker) or gateway; its jobs are those of deploy/prometheus/prometheus.yml."""
import json
import os
import re

import harness
from harness import wait_until

DASHBOARD = os.path.join(harness.ROOT, "deploy", "grafana", "status-server.json")
PROMETHEUS = os.path.join(harness.ROOT, "deploy", "prometheus", "prometheus.yml")
FUNCTIONS = {"sum", "max", "min", "count", "avg", "rate", "irate", "increase",
             "histogram_quantile", "by", "without", "on", "ignoring", "and", "or", "unless"}
ADDED_BY_PROMETHEUS = {"job", "instance"}


def expressions():
    with open(DASHBOARD) as f:
        dash = json.load(f)
    out = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert len(out) >= 10, "the dashboard has its panels"
    return out


def referenced(expr):
    """(metric names, label names) a PromQL expression uses."""
    labels = set()
    for matchers in re.findall(r"\{([^}]*)\}", expr):
        labels |= set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!=|!~|=)", matchers))
    for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
        labels |= {g.strip() for g in group.split(",") if g.strip()}
    bare = re.sub(r"\{[^}]*\}", "", expr)
    bare = re.sub(r"\b(?:by|without)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)
    names = {n for n in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare)
             if n not in FUNCTIONS and not re.fullmatch(r"\d+", n)}
    return names, labels


def exported(url):
    """{metric name: label names seen} from a /metrics answer (declared TYPEs count too)."""
    r = harness.request("GET", url + "/metrics")
    assert r.status == 200, r
    out = {}
    for line in r.body.decode().splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            out.setdefault(name, set())
            if kind == "histogram":
                for suffix in ("_bucket", "_sum", "_count"):
                    out.setdefault(name + suffix, set())
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?", line)
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", m.group(3) or ""))
        out.setdefault(m.group(1), set()).update(labels)
    return out


def test_every_metric_the_dashboard_queries_is_exported(tmp_path, procs, broker):
    w = str(tmp_path)
    reg = harness.registry(w)
    procs.append(reg)
    reg.start()
    nodes = harness.start_nodes(tmp_path, procs, 2, amqp=broker.url, prefix="m",
                                registry=reg.url + "/eureka")
    gw = harness.gateway(w, registry_url=reg.url + "/eureka")
    procs.append(gw)
    gw.start()
    wait_until(lambda: len(harness.request("GET", gw.url + "/api/services").json()) == 2, 15,
               what="the gateway sees both nodes")
    for i in range(5):
        assert harness.put_status(gw.url, f"u{i}", "dashboard").status in (200, 201)
    harness.wait_converged([n.url for n in nodes], expect=5)
    # The lag gauge appears with the first applied change; the clock offset with the first probe.
    wait_until(lambda: all("status_replication_lag_ms" in exported(n.url) and
                           "status_clock_offset_ms" in exported(n.url) for n in nodes), 10,
               what="the replication gauges")
    metrics = {}
    for url in [reg.url, gw.url, *[n.url for n in nodes]]:
        for name, labels in exported(url).items():
            metrics.setdefault(name, set()).update(labels)

    missing = []
    for expr in expressions():
        names, labels = referenced(expr)
        assert names, expr
        for n in names:
            if n not in metrics:
                missing.append(f"{n} (in {expr})")
                continue
            for label in labels - ADDED_BY_PROMETHEUS - {"le"}:
                if not any(label in metrics.get(m, ()) for m in names):
                    missing.append(f"label {label} of {n} (in {expr})")
    assert not missing, "\n".join(missing)

    # The jobs the panels select are the scrape configuration's.
    with open(PROMETHEUS) as f:
        jobs = set(re.findall(r"job_name:\s*([\w-]+)", f.read()))
    assert jobs == {"status-node", "status-gateway", "status-registry"}, jobs
    for expr in expressions():
        for job in re.findall(r'job="([^"]+)"', expr):
            assert job in jobs, expr
