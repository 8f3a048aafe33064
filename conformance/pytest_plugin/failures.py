"""A failing clause test: its record for the report (shrunk case, error, reproduction), its section."""

from __future__ import annotations

import math
import os
import sys
import traceback

from hypothesis.errors import FlakyFailure

from ..capabilities import features
from ..compare import Mismatch
from ..diagnosis import reproduction
from ..runner import ImplementationError
from ..spec.clauses import CLAUSES

if sys.version_info < (3, 11):  # a builtin from 3.11 on; Hypothesis depends on the backport before
    from exceptiongroup import BaseExceptionGroup

SUITE_DIR = os.path.dirname(os.path.dirname(__file__))  # conformance/: this suite's own frames


def kind(exc) -> str:
    """ "fails" for what the implementation did (every AssertionError: a Mismatch, an
    ImplementationError; Hypothesis's flaky error when all its failures are such), else "error"."""
    if isinstance(exc, BaseExceptionGroup):
        return "fails" if all(kind(e) == "fails" for e in exc.exceptions) else "error"
    return "fails" if isinstance(exc, AssertionError) else "error"


def nondeterministic(exc) -> bool:
    """Hypothesis's flaky error over failures of the implementation: running the same example again
    did not fail the same way, so the implementation's result changed from one call to the next."""
    return isinstance(exc, FlakyFailure) and kind(exc) == "fails"


def message(exc) -> str:
    if not nondeterministic(exc):
        return str(exc)
    runs = [f"run {n}: {e}" for n, e in enumerate(exc.exceptions, 1)]
    if len(exc.exceptions) == 1:
        runs.append("run 2, the same example again: passed (within the tolerance this time)")
    return "\n\n".join(
        [
            "nondeterministic: the same example gave different results when it was run again, so the "
            "implementation's result changed from one call to the next (the same inputs must give the "
            "same result; see invariance.deterministic)",
            *runs,
        ]
    )


def finite(v):
    return None if v is None or not math.isfinite(v) else v


def record(impl, exc, progress, modes) -> dict:
    """What the report says of a failure; ``modes``: --rnn-kind, for the reproduction snippet."""
    case = progress.cases[0] if progress.cases else None
    return {
        "kind": kind(exc),
        "exception": type(exc).__name__,
        "message": message(exc),
        "max_error": finite(getattr(exc, "max_error", None)),
        "tolerance": getattr(exc, "tolerance", None),
        "case": None if case is None else repr(case),
        "features": None if case is None else features(case),
        "notes": list(getattr(exc, "__notes__", [])),
        "reproduction": None if case is None else reproduction(impl.name, modes, case),
        "first_failing_example": progress.first_failure,
    }


def implementation_frames(exc) -> str:
    """The traceback of what an implementation raised, without this suite's own frames."""
    cause = exc.__cause__
    if cause is None or cause.__traceback__ is None:
        return ""
    frames = [
        f
        for f in traceback.extract_tb(cause.__traceback__)
        if not f.filename.startswith(SUITE_DIR) and "threading" not in f.filename
    ]
    return "".join(traceback.format_list(frames))


def section(impl, clause_id: str, exc, failure: dict) -> str | None:
    """The failure as pytest shows it, for what the suite itself raises (a mismatch, or an error
    of the implementation); None: pytest's own traceback."""
    if not (isinstance(exc, (Mismatch, ImplementationError)) or nondeterministic(exc)):
        return None
    parts = [f"{impl.name} fails clause {clause_id}: {CLAUSES[clause_id].statement}", "", failure["message"]]
    frames = implementation_frames(exc)
    if frames:
        parts += ["", "the implementation raised here (innermost last):", frames.rstrip()]
    if failure["notes"]:
        parts += ["", *failure["notes"]]
    if failure["reproduction"]:
        parts += [
            "",
            "Reproduce it (the shrunk case, run against the oracle):",
            "",
            *("    " + line for line in failure["reproduction"].splitlines()),
        ]
    return "\n".join(parts)
