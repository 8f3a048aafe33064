"""A failing clause test: its record for the report (shrunk case, error, reproduction), its section."""

from __future__ import annotations

import math
import os
import sys
import traceback

from ..compare import Mismatch
from ..diagnosis import reproduction
from ..runner import ImplementationError
from ..spec.clauses import CLAUSES

if sys.version_info < (3, 11):  # a builtin from 3.11 on; Hypothesis depends on the backport before
    from exceptiongroup import BaseExceptionGroup

SUITE_DIR = os.path.dirname(os.path.dirname(__file__))  # conformance/: this suite's own frames


def kind(exc) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "fails" if all(kind(e) == "fails" for e in exc.exceptions) else "error"
    return "fails" if isinstance(exc, AssertionError) else "error"


def finite(v):
    return None if v is None or not math.isfinite(v) else v


def record(impl, exc, progress, modes) -> dict:
    """What the report says of a failure; ``modes``: --rnn-kind, for the reproduction snippet."""
    case = progress.cases[0] if progress.cases else None
    return {
        "kind": kind(exc),
        "exception": type(exc).__name__,
        "message": str(exc),
        "max_error": finite(getattr(exc, "max_error", None)),
        "tolerance": getattr(exc, "tolerance", None),
        "case": None if case is None else repr(case),
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
    if not isinstance(exc, (Mismatch, ImplementationError)):
        return None
    parts = [f"{impl.name} fails clause {clause_id}: {CLAUSES[clause_id].statement}", "", str(exc)]
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
