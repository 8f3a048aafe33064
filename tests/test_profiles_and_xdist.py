"""Profiles work the Hypothesis way, and pytest -n 2 gives the same verdicts as a serial run."""

import re

from .helpers import run_suite


def test_fast_profile_runs_25_examples_per_clause(pytester):
    result, verdicts = run_suite(pytester, "torch.nn:GRU", "--hypothesis-profile=rnn-fast", "--hypothesis-show-statistics", "-k", "candidate or chain")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*hypothesis profile 'rnn-fast': max_examples=25*"])
    generated = re.findall(r"during generate phase[^\n]*\n[^\n]*\n\s*- (\d+) passing examples", result.stdout.str())
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
