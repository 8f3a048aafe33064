"""A failure found by one CI job is replayed first by the next, through a shared Redis example
database (--rnn-database=redis://...), on a real redis-server on loopback."""

import shutil
import socket
import subprocess
import time

import pytest
from hypothesis import Phase, settings

from .helpers import failed, run_suite

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed (.ci/run installs it)")

# A job that generates nothing: it can only fail by replaying a stored example. It starts from
# Hypothesis's ci profile, which keeps no local database, so the shared one is the only source.
settings.register_profile("replay-only", parent=settings.get_profile("ci"), phases=[Phase.reuse])
FAULT, CLAUSE_TEST, CLAUSE = "tests.faults:WrongLayerFed", "stack_equals_chain", "stacking.chain"


@pytest.fixture
def redis_url(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
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


def test_failure_found_by_one_job_is_replayed_by_the_next(pytester, redis_url):
    url, client = redis_url
    first, verdicts = run_suite(pytester, FAULT, "--hypothesis-profile=ci", f"--rnn-database={url}", "-k", CLAUSE_TEST)
    assert CLAUSE in failed(verdicts)
    assert client.dbsize() > 0, "the failing example was not stored in Redis"

    control, verdicts = run_suite(pytester, FAULT, "--hypothesis-profile=replay-only", "-k", CLAUSE_TEST)
    assert not failed(verdicts), "without the shared database a replay-only job should find nothing"

    second, verdicts = run_suite(pytester, FAULT, "--hypothesis-profile=replay-only", f"--rnn-database={url}", "-k", CLAUSE_TEST)
    assert CLAUSE in failed(verdicts), "the second job did not replay the failure stored by the first"


def test_unreachable_database_is_a_usage_error(pytester):
    result, _ = run_suite(pytester, "torch", "--rnn-database=redis://127.0.0.1:1/0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --rnn-database: cannot reach the example database at redis://127.0.0.1:1/0*"])
