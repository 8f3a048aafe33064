"""Running the conformance suite inside the suite's own tests, the way a user runs it."""

from __future__ import annotations

from collections import defaultdict

# pytester's in-process runs restore sys.modules afterwards; torch's C extension cannot be
# imported twice, so it must already be loaded before the first run.
import torch  # noqa: F401


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


def failed(verdicts) -> set[str]:
    return {c for c, outcomes in verdicts.items() if "failed" in outcomes}
