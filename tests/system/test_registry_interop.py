"""The real eureka-js-client (npm, pinned in tests/interop/package-lock.json) against
status-registry: register, fetch, heartbeat, 404 → re-register, delta, deregister."""
import os
import shutil
import subprocess

import pytest

import harness

INTEROP = os.path.join(harness.ROOT, "tests", "interop")


def test_eureka_js_client_works_unchanged(tmp_path, procs):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node (Node.js) is not installed: the eureka-js-client interop test needs it")
    if not os.path.isdir(os.path.join(INTEROP, "node_modules", "eureka-js-client")):
        npm = shutil.which("npm")
        assert npm, "npm is needed to install tests/interop's eureka-js-client"
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=INTEROP, check=True, timeout=300,
                       capture_output=True)
    reg = harness.registry(str(tmp_path))
    procs.append(reg)
    reg.start()
    r = subprocess.run([node, "js_client.js"], cwd=INTEROP, capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, REGISTRY_PORT=str(reg.port)))
    assert r.returncode == 0, r.stdout + r.stderr + reg.log_tail()
    assert r.stdout.strip().splitlines()[-1] == "ok done", r.stdout
