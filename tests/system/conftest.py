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
