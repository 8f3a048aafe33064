"""A crash or a hang still ends in a verdict; an interrupted run still writes what ran; a time budget
(issue 11, item 5). Each run is a real subprocess: pytest, or the rnn-conformance command."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from .test_report import ROOT

CRASH_CLAUSES = (
    "errors_zero_length or errors_input_rank or errors_input_width or errors_h0_shape or gru_update"
)
PARALLEL = {"serial": [], "xdist": ["-n", "2"]}


def command(how: str, impl: str, *args: str) -> list[str]:
    """The documented pytest command, or the rnn-conformance command (python -m conformance.cli)."""
    if how == "cli":
        return [sys.executable, "-m", "conformance.cli", impl, *args]
    pytest_args = ["--pyargs", "conformance", f"--rnn-impl={impl}", "-q", "-p", "no:cacheprovider"]
    return [sys.executable, "-m", "pytest", *pytest_args, *args]


def start(pytester, how: str, impl: str, *args: str, env=()) -> subprocess.Popen:
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(pytester.path)]), **dict(env)}
    return subprocess.Popen(
        command(how, impl, *args),
        cwd=pytester.path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 120) -> tuple[int, str]:
    out, _ = process.communicate(timeout=timeout)
    return process.returncode, out


def clauses(path) -> tuple[dict, dict]:
    data = json.loads(path.read_text())
    return data, next(iter(data["implementations"].values()))["clauses"]


def lines(out: str, *patterns: str) -> None:
    pytest.LineMatcher(out.splitlines()).fnmatch_lines(list(patterns))


@pytest.mark.parametrize("how, parallel", [("pytest", "serial"), ("pytest", "xdist"), ("cli", "serial")])
def test_a_crash_or_a_hang_ends_in_its_verdict_and_the_run_goes_on(pytester, tmp_path, how, parallel):
    path = tmp_path / "verdicts.json"
    began = time.monotonic()
    rc, out = finish(
        start(
            pytester,
            how,
            "tests.crashing:Crashes",
            "-k",
            CRASH_CLAUSES,
            "--rnn-timeout=1",
            "--hypothesis-profile=rnn-fast",
            f"--rnn-report={path}",
            *PARALLEL[parallel],
        )
    )
    assert rc == 1, out
    lines(
        out,
        "*RNN conformance verdicts: tests.crashing:Crashes*",
        "gru.update * conforms *",
        "errors.input_width * timed out *",
        "errors.h0_shape * timed out *",
        "errors.input_rank * crashed *",
        "errors.zero_length * crashed *",
        "tests.crashing:Crashes: 1 conforms, 2 crashed, 2 timed out",
    )
    data, verdicts = clauses(path)
    assert data["complete"] is True
    failed = ("errors.input_rank", "errors.zero_length", "errors.input_width", "errors.h0_shape")
    rank, zero, width, h0 = (verdicts[c]["failure"] for c in failed)
    assert "died of SIGSEGV" in rank["message"]
    assert "died of SIGABRT" in zero["message"]
    for hung in (width, h0):  # asleep, and in native code that holds the GIL: stopped alike
        assert "took longer than 1 s" in hung["message"]
        assert any(
            note.startswith("where the call was when it was stopped") and "crashing.py" in note
            for note in hung["notes"]
        ), hung["notes"]
    for failure in (rank, zero, h0):
        assert failure["kind"] in ("crashed", "timed out") and failure["case"].startswith("Case(")
        assert (
            "replay(IMPL, 'errors." in failure["reproduction"] and "('case', Case(" in failure["reproduction"]
        )
        assert any(
            "rnn-conformance tests.crashing:Crashes -k test_errors_" in note for note in failure["notes"]
        )
    assert verdicts["gru.update"]["verdict"] == "conforms" and verdicts["gru.update"]["examples"] >= 20
    assert time.monotonic() - began < 90


@pytest.mark.parametrize("parallel", sorted(PARALLEL))
def test_a_run_stopped_by_maxfail_writes_what_ran(pytester, tmp_path, parallel):
    path = tmp_path / "verdicts.json"
    rc, out = finish(
        start(
            pytester,
            "pytest",
            "tests.faults:GatesSwapped",
            "-k",
            "test_gru_update or test_state_h_n_is_last or test_state_h0_used",
            "-x",
            "-p",
            "no:randomly",
            f"--rnn-report={path}",
            *PARALLEL[parallel],
        )
    )
    assert rc in (1, 2), out
    lines(out, "gru.update * fails *", "incomplete: *stopping after 1 failures*")
    data, verdicts = clauses(path)
    assert data["complete"] is False and "stopping after 1 failures" in data["incomplete_reason"]
    assert verdicts["gru.update"]["verdict"] == "fails"
    if parallel == "serial":  # -n 2 runs two tests at once: the other may have finished
        assert {verdicts[c]["verdict"] for c in ("state.h_n_is_last_output", "state.h0_used")} == {"not run"}


@pytest.mark.parametrize(
    "parallel, stop", [("serial", signal.SIGTERM), ("serial", signal.SIGINT), ("xdist", signal.SIGTERM)]
)
def test_a_slow_run_says_so_and_an_interrupted_run_writes_what_ran(pytester, tmp_path, parallel, stop):
    """The slow implementation is stopped once the warning is out. Slow (15 to 30 s) by nature: the
    warning comes after the first clause, whose 25 examples each wait out the implementation's
    0.5 s (1 s under xdist) a call."""
    path = tmp_path / "verdicts.json"
    process = start(
        pytester,
        "pytest",
        "tests.crashing:Slow",
        "--hypothesis-profile=rnn-fast",
        f"--rnn-report={path}",
        *PARALLEL[parallel],
        # the estimate (25 examples of 34 more clauses at 0.5 s, shared by 2 workers under xdist) must
        # be above 5 minutes
        env={"SLOW": "1.0" if parallel == "xdist" else "0.5"},
    )
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "shares out a time limit" in line:
            break
    process.send_signal(stop)
    rc, out = finish(process, timeout=60)
    out = "".join(seen) + out
    lines(
        out,
        "rnn-conformance: tests.crashing:Slow took * s for * examples of * (* s each): at this rate its "
        "other * clause tests take about * min; --rnn-budget=SECONDS shares out a time limit across them",
        "*RNN conformance verdicts: tests.crashing:Slow*",
        "* not run *",
        "incomplete: *",
    )
    data, verdicts = clauses(path)
    assert data["complete"] is False
    reason = {signal.SIGTERM: "terminated (SIGTERM)", signal.SIGINT: "KeyboardInterrupt"}[stop]
    assert reason in data["incomplete_reason"] or parallel == "xdist"
    assert "not run" in {v["verdict"] for v in verdicts.values()}
    assert {"conforms", "not applicable"} & {v["verdict"] for v in verdicts.values()}


@pytest.mark.parametrize("parallel", sorted(PARALLEL))
def test_the_budget_cuts_clauses_and_every_clause_has_a_verdict(pytester, tmp_path, parallel):
    """Slow (about 15 s) by nature: the budget is what ends the run, and it must cut real clauses."""
    path = tmp_path / "verdicts.json"
    selected = "gru_update or gru_candidate or output_matches_oracle or h0_used or h_n_matches or batch_first"
    began = time.monotonic()
    rc, out = finish(
        start(
            pytester,
            "pytest",
            "tests.crashing:Slow",
            "-k",
            selected,
            "--rnn-budget=12",
            f"--rnn-report={path}",
            *PARALLEL[parallel],
            env={"SLOW": "0.05"},
        )
    )
    wall = time.monotonic() - began
    assert rc == 0, out
    lines(out, "gru.update * conforms * cut *", "cut: * clauses stopped drawing when their share of *=12 s*")
    data, verdicts = clauses(path)
    assert data["complete"] is True and data["settings"]["budget_s"] == 12
    assert len(verdicts) == 6 and {v["verdict"] for v in verdicts.values()} == {"conforms"}
    cut = [v for v in verdicts.values() if "budget_cut" in v]
    assert cut and all(0 < v["budget_cut"]["after_examples"] == v["examples"] < 100 for v in cut)
    # each xdist worker has the whole budget (they run at once); a share can be overrun by one example
    assert sum(v["seconds"] for v in verdicts.values()) < 12 * (2 if parallel == "xdist" else 1) + 6 * 2
    assert wall < 50


# --- where the clause tests run --------------------------------------------------------------------


@pytest.mark.parametrize("isolation", ["process", "thread"])
def test_clause_tests_run_in_a_child_and_torchs_threads_survive_the_fork(
    pytester, tmp_path, monkeypatch, isolation
):
    """The clause tests run in a child process (one for both, as nothing crashed), or here. This
    process runs torch's OpenMP pool before it forks (as the suite's own tests do): a child that used
    that pool would deadlock, so the child runs torch on one thread."""
    torch.ones(1 << 20).exp_().sum()  # this process's OpenMP threads are started
    pids = tmp_path / "pids"
    monkeypatch.setenv("PIDS", str(pids))
    result = pytester.runpytest_inprocess(
        "--pyargs",
        "conformance",
        "--rnn-impl=tests.crashing:Threaded",
        f"--rnn-isolation={isolation}",
        "--hypothesis-profile=rnn-fast",
        "--rnn-timeout=20",
        "-k",
        "gru_update or output_matches_oracle",
    )
    result.assert_outcomes(passed=2)
    called_in = set(pids.read_text().split())
    if isolation == "process":
        assert str(os.getpid()) not in called_in and len(called_in) == 1  # one child runs them in turn
    else:
        assert called_in == {str(os.getpid())}
