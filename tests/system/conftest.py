import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


@pytest.fixture
def procs():
    """Collects started processes and kills whatever is left at the end of a test."""
    started = []
    yield started
    for p in started:
        if p.running():
            p.kill()


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """One private RabbitMQ for the whole session (tests use their own node ids and queues)."""
    b = harness.Broker()
    b.start()
    yield b
    b.remove()


@pytest.fixture(scope="module")
def _module_broker():
    holder = {"broker": None}
    yield holder
    if holder["broker"] is not None:
        holder["broker"].remove()


@pytest.fixture
def private_broker(_module_broker):
    """A RabbitMQ of this test module alone, for tests that freeze, alarm, black-hole or reset it
    (the session broker is shared). Started on first use; after each test it must answer again
    (thawed, alarm cleared, rule removed), or it is replaced by a new one.

    Its receive buffers are small and fixed (no autotuning up to 32 MiB on loopback): a broker
    that stops reading then pushes back on its publishers after a few MiB, as a busy broker
    across a real network does, instead of after minutes of load."""
    if _module_broker["broker"] is None:
        _module_broker["broker"] = harness.Broker(conf=["tcp_listen_options.recbuf = 32768"]).start()
    b = _module_broker["broker"]
    yield b
    if not b.healthy():
        b.remove()
        _module_broker["broker"] = None
