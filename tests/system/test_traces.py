"""One trace from the gateway to every replica: W3C traceparent from the client (or started by
the gateway), passed to the node, carried in the replicated message; spans exported over
OTLP/HTTP (JSON) to a collector stand-in, and the trace id in every process's log lines."""
import http.server
import json
import threading

import pytest

import harness
from harness import wait_until


class Collector:
    """An OTLP/HTTP receiver: keeps every span POSTed to /v1/traces, with its service name."""

    def __init__(self):
        self.spans = []
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = self.path == "/v1/traces" and \
                    self.headers["Content-Type"] == "application/json"
                if ok:
                    doc = json.loads(body)
                    for rs in doc["resourceSpans"]:
                        attrs = {a["key"]: a["value"]["stringValue"]
                                 for a in rs["resource"]["attributes"]}
                        for ss in rs["scopeSpans"]:
                            for s in ss["spans"]:
                                s["service"] = attrs["service.name"]
                                with collector.lock:
                                    collector.spans.append(s)
                self.send_response(200 if ok else 400)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_trace(self, trace_id):
        with self.lock:
            return [s for s in self.spans if s["traceId"] == trace_id]

    def close(self):
        self.server.shutdown()


@pytest.fixture
def collector():
    c = Collector()
    yield c
    c.close()


@pytest.fixture
def cluster(tmp_path, procs, broker, collector):
    otlp = ["--otlp-endpoint", collector.url]
    nodes = harness.start_nodes(tmp_path, procs, 3, amqp=broker.url, prefix="t", extra=otlp)
    gw = harness.gateway(str(tmp_path), upstreams=[f"127.0.0.1:{n.port}" for n in nodes],
                         extra=otlp + ["--trace-sample-ratio", "1"])
    procs.append(gw)
    gw.start()
    return gw, nodes


def chain(collector, trace_id, replicas):
    """The spans of one write, once all have arrived: gateway → node → publish → apply × n."""
    def complete():
        spans = collector.of_trace(trace_id)
        names = [(s["service"], s["name"]) for s in spans]
        done = sum(n == "apply" for _, n in names) == replicas and \
            sum(svc == "status-gateway" for svc, _ in names) == 1 and \
            sum(n == "publish" for _, n in names) == 1 and len(spans) == replicas + 3
        return spans if done else None
    spans = wait_until(complete, 10, what=f"the spans of trace {trace_id}")
    by_id = {s["spanId"]: s for s in spans}
    gateway = [s for s in spans if s["service"] == "status-gateway"]
    assert len(gateway) == 1, spans
    node = [s for s in spans if s.get("parentSpanId") == gateway[0]["spanId"]]
    assert len(node) == 1 and node[0]["service"] == "status-node", spans
    assert node[0]["name"] == "PUT /api/statuses/{username}" and node[0]["kind"] == 2
    publish = [s for s in spans if s["name"] == "publish"]
    assert len(publish) == 1 and publish[0]["parentSpanId"] == node[0]["spanId"], spans
    applies = [s for s in spans if s["name"] == "apply"]
    assert all(a["parentSpanId"] == publish[0]["spanId"] for a in applies), spans
    origin = {a["value"]["stringValue"] for p in publish for a in p["attributes"]
              if a["key"] == "status.node"}
    applied_on = {a["value"]["stringValue"] for s in applies for a in s["attributes"]
                  if a["key"] == "status.node"}
    assert len(applied_on) == replicas and not (applied_on & origin), (origin, applied_on)
    for s in spans:
        assert int(s["endTimeUnixNano"]) >= int(s["startTimeUnixNano"]) > 0, s
    return gateway[0], by_id


def test_a_write_is_one_trace_from_the_gateway_to_every_replica(cluster, collector):
    gw, nodes = cluster
    # The client's trace is continued: its id, the gateway's span a child of the client's.
    client_trace, client_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = harness.put_status(gw.url, "alice", "traced",
                           headers={"traceparent": f"00-{client_trace}-{client_span}-01"})
    assert r.status in (200, 201), r
    root, _ = chain(collector, client_trace, replicas=2)
    assert root["parentSpanId"] == client_span
    assert root["name"] == "PUT /api/statuses/{username}" and root["kind"] == 2
    # The trace id is in the log lines of the gateway, the answering node and both replicas.
    def logged_everywhere():
        return all(client_trace in p.log_text() for p in [gw, *nodes])
    wait_until(logged_everywhere, 5, what="the trace id in every process's log")

    # Without a traceparent the gateway starts one (sampled: ratio 1 here).
    r = harness.put_status(gw.url, "bob", "traced too")
    assert r.status in (200, 201), r
    def root_of_bob():
        return [s for s in collector.spans if s["service"] == "status-gateway"
                and "parentSpanId" not in s and s["name"].startswith("PUT ")]
    started = wait_until(root_of_bob, 5, what="the gateway's root span of the second write")
    assert started[0]["traceId"] != client_trace
    chain(collector, started[0]["traceId"], replicas=2)


def test_an_unsampled_caller_is_followed_and_bad_traceparents_start_afresh(cluster, collector):
    gw, nodes = cluster
    quiet = "0af7651916cd43dd8448eb211c80319c"
    r = harness.put_status(gw.url, "carol", "not sampled",
                           headers={"traceparent": f"00-{quiet}-b7ad6b7169203331-00"})
    assert r.status in (200, 201), r
    harness.wait_converged([n.url for n in nodes], expect=None)
    for bad in ["00-" + "0" * 32 + "-b7ad6b7169203331-01",   # all-zero trace id
                "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # upper case
                "ff-" + quiet + "-b7ad6b7169203331-01",      # version ff
                "00-" + quiet + "-b7ad6b7169203331-01-extra",  # version 00 with more
                "x" * 5000]:
        r = harness.request("GET", gw.url + "/api/statuses", headers={"traceparent": bad})
        assert r.status == 200, (bad, r)
    wait_until(lambda: len([s for s in collector.spans if s["name"] == "GET /api/statuses"
                            and s["service"] == "status-node"]) >= 5, 10,
               what="the node spans of the five reads")
    assert collector.of_trace(quiet) == []
    assert all(quiet not in p.log_text() for p in [gw, *nodes])
    # Every read got a fresh trace at the gateway (the bad headers were not continued).
    def roots():
        got = [s for s in collector.spans if s["service"] == "status-gateway"
               and s["name"] == "GET /api/statuses"]
        return got if len(got) >= 5 else None
    assert all("parentSpanId" not in s for s in wait_until(roots, 5, what="the gateway spans"))
