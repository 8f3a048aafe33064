"""Running the conformance suite inside the suite's own tests, the way a user runs it."""

from __future__ import annotations

import json
from collections import defaultdict

# pytester's in-process runs restore sys.modules afterwards; torch's C extension cannot be
# imported twice, so it must already be loaded before the first run.
import numpy as np
import torch


def run_suite(pytester, impl: str, *args: str):
    """``pytest --pyargs conformance --rnn-impl=IMPL`` in-process; returns (result, verdicts) where
    verdicts maps clause id -> set of outcomes ("passed", "failed", "skipped")."""
    result = pytester.runpytest_inprocess("--pyargs", "conformance", f"--rnn-impl={impl}", *args)
    verdicts = defaultdict(set)
    if result.ret == 4:  # usage error: nothing was collected
        return result, verdicts
    for report in result.reprec.getreports("pytest_runtest_logreport"):
        clause = dict(report.user_properties).get("rnn_clause")
        if clause and (report.when == "call" or report.outcome != "passed"):
            verdicts[clause].add(report.outcome)
    return result, verdicts


def only(clauses) -> list[str]:
    """pytest arguments that run just these clauses' tests (``-k``)."""
    from conformance.spec.clauses import CLAUSES

    return ["-k", " or ".join(sorted(CLAUSES[c].test_name for c in clauses))]


def failed(verdicts) -> set[str]:
    return {c for c, outcomes in verdicts.items() if "failed" in outcomes}


MODULES = {
    "RNN_TANH": lambda **kw: torch.nn.RNN(nonlinearity="tanh", **kw),
    "RNN_RELU": lambda **kw: torch.nn.RNN(nonlinearity="relu", **kw),
    "GRU": lambda **kw: torch.nn.GRU(**kw),
    "LSTM": lambda **kw: torch.nn.LSTM(**kw),
}


def flat(result) -> list:
    """output, h_n (and c_n) as tensors, whatever an adapter returned them as."""
    output, state = result
    tensors = (output, *(state if isinstance(state, tuple) else (state,)))
    return [torch.from_numpy(t) if isinstance(t, np.ndarray) else t for t in tensors]


def initial_state(mode: str, *shape):
    h0 = torch.randn(shape)
    return (h0, torch.randn(shape)) if mode == "LSTM" else h0


def verdicts(pytester, tmp_path, impl: str, *args: str) -> dict:
    """clause id -> verdict of a run of the suite on ``impl`` (rnn-fast, seed 0)."""
    path = tmp_path / "verdicts.json"
    run_suite(
        pytester, impl, "--hypothesis-profile=rnn-fast", "--hypothesis-seed=0", f"--rnn-report={path}", *args
    )
    clauses = json.loads(path.read_text())["implementations"][impl]["clauses"]
    return {clause: record["verdict"] for clause, record in clauses.items()}


def assert_verdicts(got: dict, **verdicts):
    """Each clause named in ``verdicts`` (verdict -> clauses) has that verdict; every other conforms."""
    want = {clause: verdict.replace("_", " ") for verdict, clauses in verdicts.items() for clause in clauses}
    assert {c: v for c, v in got.items() if v != "conforms"} == want
