"""A failure found by one CI job is replayed first by the next, through a shared Redis example
database (--rnn-database=redis://...), on a real redis-server on loopback."""

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from .helpers import run_suite

ROOT = Path(__file__).resolve().parent.parent

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (.ci/run installs it)"
)

FAULT, CLAUSE_TEST, CLAUSE = "tests.faults:WrongLayerFed", "test_stacking_chain", "stacking.chain"


@pytest.fixture
def redis_url(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0", client
    server.terminate()
    server.wait()


def job(pytester, *args):
    """One CI job: a fresh process, as on a CI machine (profiles and databases are process-wide)."""
    pytester.makeconftest(REPLAY_ONLY)
    return pytester.runpytest_subprocess(
        "--pyargs", "conformance", f"--rnn-impl={FAULT}", "-k", CLAUSE_TEST, "-p", "no:randomly", *args
    )


# A job that generates nothing: it can only fail by replaying a stored example. It starts from
# Hypothesis's ci profile, which keeps no local database, so the shared one is the only source.
REPLAY_ONLY = """
from hypothesis import Phase, settings
settings.register_profile("replay-only", parent=settings.get_profile("ci"), phases=[Phase.reuse])
"""


def test_failure_found_by_one_job_is_replayed_by_the_next(pytester, redis_url, monkeypatch):
    url, client = redis_url
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    first = job(pytester, "--hypothesis-profile=ci", f"--rnn-database={url}")
    assert first.ret == 1, first.stdout.str()[-2000:]
    assert client.dbsize() > 0, "the failing example was not stored in Redis"

    control = job(pytester, "--hypothesis-profile=replay-only")
    assert control.ret == 0, "without the shared database a replay-only job should find nothing"

    second = job(pytester, "--hypothesis-profile=replay-only", f"--rnn-database={url}")
    assert second.ret == 1, "the second job did not replay the failure stored by the first"
    second.stdout.fnmatch_lines([f"*{CLAUSE}*fails*"])


def test_unreachable_database_is_a_usage_error(pytester):
    result, _ = run_suite(pytester, "torch", "--rnn-database=redis://127.0.0.1:1/0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --rnn-database: cannot reach the example database at redis://127.0.0.1:1/0*"]
    )
