"""Profiles work the Hypothesis way, and pytest -n 2 gives the same verdicts as a serial run."""

import json
import os
import re

import pytest

from conformance.pytest_plugin.workers import usable_cpus

from .helpers import run_suite


def test_fast_profile_runs_25_examples_per_clause(pytester):
    result, verdicts = run_suite(
        pytester,
        "torch.nn:GRU",
        "--hypothesis-profile=rnn-fast",
        "--hypothesis-show-statistics",
        "-k",
        "candidate or chain",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*hypothesis profile 'rnn-fast': max_examples=25*"])
    # "- 25 passing examples, ..." one line further down (older Hypothesis) or at once
    # ("- 25 passing, 0 failing, and 2 invalid test cases", newer)
    generated = re.findall(
        r"during generate phase[^\n]*\n(?:[^\n]*\n)??\s*- (\d+) passing", result.stdout.str()
    )
    # 25 at most (the default profile would run 100); an example replayed from the database or
    # rejected by assume() can take the place of a generated one.
    assert len(generated) == 2 and all(20 <= int(n) <= 25 for n in generated), generated


def test_thorough_profile_is_registered(pytester):
    result, _ = run_suite(pytester, "torch.nn:GRU", "--hypothesis-profile=rnn-thorough", "--collect-only")
    result.stdout.fnmatch_lines(["*hypothesis profile 'rnn-thorough': max_examples=1000*"])


def test_xdist_gives_the_same_verdicts_as_a_serial_run(pytester):
    # Hypothesis's ci profile is derandomized, so both runs draw the same examples.
    args = ("--hypothesis-profile=ci", "-k", "carries_state or chain or h0_used or batch_first")
    serial_result, serial = run_suite(pytester, "tests.faults:WrongLayerFed", *args)
    parallel_result, parallel = run_suite(pytester, "tests.faults:WrongLayerFed", *args, "-n", "2")
    assert "stacking.chain" in {c for c, o in serial.items() if "failed" in o}
    assert dict(serial) == dict(parallel)
    assert serial_result.ret == parallel_result.ret == 1


def test_xdist_carries_every_report_of_a_comparing_clause(pytester):
    """A worker's reports cross to the controller through execnet, which serializes plain Python
    values only: a NumPy scalar among a report's properties (a gradient comparison's worst error) once
    killed the worker at its first gradient clause, and every clause test after it went unrun."""
    result, verdicts = run_suite(
        pytester,
        "torch.nn:GRU",
        "--hypothesis-profile=rnn-fast",
        "-k",
        "gru_update or grad_input",
        "-n",
        "2",
    )
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert {c: o for c, o in verdicts.items() if c in ("gru.update", "grad.input")} == {
        "gru.update": {"passed"},
        "grad.input": {"passed"},
    }


WORKER_THREADS = """
import os, pathlib, torch

def test_threads():
    # the environment the worker started with (Linux): set before NumPy's OpenBLAS loaded
    environ = pathlib.Path("/proc/self/environ").read_text().split("\\0")
    started_with = dict(v.split("=", 1) for v in environ if "=" in v)
    assert started_with.get("OMP_NUM_THREADS") == "{want}"
    assert torch.get_num_threads() == {want}
"""


@pytest.mark.parametrize("workers, user_setting", [(2, None), (1, "1")])
def test_xdist_workers_share_the_cores(pytester, monkeypatch, workers, user_setting):
    """Each worker gets cpu_count // workers threads (torch and OpenBLAS read OMP_NUM_THREADS when
    they load), unless the user set OMP_NUM_THREADS; the controller's environment is left as it was."""
    if not os.path.exists("/proc/self/environ"):
        pytest.skip("reads a worker's initial environment from /proc (Linux)")
    if user_setting is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", user_setting)
    want = user_setting or str(max(1, usable_cpus() // workers))
    pytester.makepyfile(test_threads=WORKER_THREADS.format(want=want))
    result = pytester.runpytest_inprocess("-n", str(workers), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert os.environ.get("OMP_NUM_THREADS") == user_setting


RECORD_CONTROLLER = """
import json, sys

def pytest_unconfigure(config):
    if not hasattr(config, "workerinput"):
        with open("controller.json", "w") as f:
            json.dump({"torch": "torch" in sys.modules}, f)
"""


def test_the_xdist_controller_never_imports_torch_yet_reports_the_implementations(pytester):
    """The workers resolve the implementations and send the controller what its report says of
    them: a controller importing torch (a second of CPU) held back the workers starting on the same
    cores. A subprocess, since this test's own process has torch loaded."""
    pytester.makepyfile(record_controller=RECORD_CONTROLLER)
    report = pytester.path / "report.json"
    result = pytester.runpytest_subprocess(
        "-p",
        "record_controller",
        "--pyargs",
        "conformance",
        "--rnn-impl=torch.nn:GRU",
        "--hypothesis-profile=rnn-fast",
        "-k",
        "gru_update",
        "-n",
        "2",
        f"--rnn-report={report}",
    )
    assert result.ret == 0, result.stdout.str()[-3000:]
    assert json.loads((pytester.path / "controller.json").read_text()) == {"torch": False}
    impl = json.loads(report.read_text())["implementations"]["torch.nn:GRU"]
    assert (impl["description"], impl["modes"]) == ("torch.nn.modules.rnn.GRU on cpu", ["GRU"])
    assert impl["clauses"]["gru.update"]["verdict"] == "conforms"
    result.stdout.fnmatch_lines(["*RNN conformance verdicts: torch.nn:GRU*", "*gru.update*conforms*"])
