"""Each failure's reproduction script replays its clause's own check: run in a process of its own, it
exits 1 on the faulty implementation and 0 on a correct one, for every clause family (issue 12, item 4)."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import run_suite

REPO = Path(__file__).resolve().parent.parent

#: family -> (fault, the clause test that catches it, a correct implementation of the same kind)
FAMILIES = {
    "oracle comparison": ("tests.faults:ReverseNotReversed", "test_output_matches_oracle", "manual"),
    "packed": ("tests.faults:PackedHnSortedOrder", "test_packed_matches_oracle", "manual"),
    "LSTM": ("tests.faults:LstmGatesIFOG", "test_lstm_cell", "manual"),
    "cells": ("tests.faults:GRUCellResetBeforeMatmul", "test_cell_matches_oracle", "torch.nn:GRUCell"),
    "errors": ("tests.faults:H0ShapeNotChecked", "test_errors_h0_shape", "manual"),
    "gradients": ("tests.faults:H0Detached", "test_grad_h0", "manual"),
    "dropout": ("tests.faults:DropoutInEval", "test_dropout_eval_mode", "manual"),
    "invariances": ("tests.faults:AssumesContiguous", "test_invariance_non_contiguous", "manual"),
    "dtypes": ("tests.faults:HalfOutputFloat32", "test_dtype_output_matches_input", "manual"),
}


def run_script(path: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, path, *args], capture_output=True, text=True, env=env, timeout=300, cwd="/"
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_script_fails_on_the_fault_and_passes_once_fixed(pytester, tmp_path, family):
    fault, test_name, correct = FAMILIES[family]
    report = tmp_path / "report.json"
    run_suite(pytester, fault, "-k", test_name, "--hypothesis-profile=catalogue", f"--rnn-report={report}")
    ((clause_id, clause),) = json.loads(report.read_text())["implementations"][fault]["clauses"].items()
    failure = clause["failure"]
    path = failure["reproduction_path"]
    assert Path(path).read_text() == failure["reproduction"]

    still_failing = run_script(path)
    assert still_failing.returncode == 1, still_failing.stdout + still_failing.stderr
    assert f"{fault} fails clause {clause_id}" in still_failing.stdout
    assert failure["message"].splitlines()[0] in still_failing.stdout

    fixed = run_script(path, correct)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert f"{correct} conforms to clause" in fixed.stdout


def test_script_of_a_crash_dies_the_same_way(pytester, tmp_path):
    """A crash's draws come back from the dead process (the shared page): its script replays the
    example up to the call that kills the process again."""
    name, report = "tests.crashing:Crashes", tmp_path / "report.json"
    run_suite(pytester, name, "-k", "test_errors_zero_length", f"--rnn-report={report}")
    failure = json.loads(report.read_text())["implementations"][name]["clauses"]["errors.zero_length"][
        "failure"
    ]
    assert failure["kind"] == "crashed"
    died = run_script(failure["reproduction_path"])
    assert died.returncode == -signal.SIGABRT, died.stdout + died.stderr
    assert run_script(failure["reproduction_path"], "torch.nn:GRU").returncode == 0
