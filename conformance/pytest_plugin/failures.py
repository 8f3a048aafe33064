"""A failing clause test: its record for the report (shrunk case, error, reproduction), its section."""

from __future__ import annotations

import math
import os
import re
import sys
import traceback

from hypothesis.errors import FlakyFailure

from .. import diagnosis, reproduce
from ..capabilities import features
from ..case import Case
from ..compare import Mismatch
from ..runner import ImplementationCrashed, ImplementationError, ImplementationTimedOut
from ..spec.clauses import CLAUSES

if sys.version_info < (3, 11):  # a builtin from 3.11 on; Hypothesis depends on the backport before
    from exceptiongroup import BaseExceptionGroup

SUITE_DIR = os.path.dirname(os.path.dirname(__file__))  # conformance/: this suite's own frames


#: Hypothesis's note with the example's @reproduce_failure decorator (its arguments: version, blob).
BLOB = re.compile(r"@reproduce_failure\((.*?)\)")

STOPPED = {ImplementationCrashed: "crashed", ImplementationTimedOut: "timed out"}


def kind(exc) -> str:
    """ "crashed" or "timed out" where the implementation's process died or a call hung, "fails" for
    anything else the implementation did (every AssertionError: a Mismatch, an ImplementationError;
    Hypothesis's flaky error when all its failures are such), else "error"."""
    if isinstance(exc, BaseExceptionGroup):
        kinds = {kind(e) for e in exc.exceptions}
        return next((k for k in ("error", *STOPPED.values()) if k in kinds), "fails")
    stopped = next((name for cls, name in STOPPED.items() if isinstance(exc, cls)), None)
    return stopped or ("fails" if isinstance(exc, AssertionError) else "error")


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


def distinct_failures(exc) -> list | None:
    """The failures of Hypothesis's report of several distinct ones (an exception group that is not
    its flaky error), when each is one the suite states; else None."""
    if not isinstance(exc, BaseExceptionGroup) or isinstance(exc, FlakyFailure):
        return None
    if all(isinstance(e, (Mismatch, ImplementationError)) or nondeterministic(e) for e in exc.exceptions):
        return list(exc.exceptions)
    return None


def finite(v):
    return None if v is None or not math.isfinite(v) else v


def record(impl, exc, progress, options, clause_id: str, number: int = 1) -> dict:
    """What the report says of a failure (``options``: the run's, for its reproduction script).
    Several distinct failures: the first one's record, with ``failures``, every one's."""
    several = distinct_failures(exc)
    if several:
        each = [record(impl, e, progress, options, clause_id, n) for n, e in enumerate(several, 1)]
        text = f"Hypothesis found {len(each)} distinct failures:\n\n" + "\n\n".join(
            f"{n}. {failure['message']}" for n, failure in enumerate(each, 1)
        )
        return {**each[0], "kind": kind(exc), "message": text, "failures": each}
    draws = getattr(exc, "rnn_draws", None) or progress.draws
    cases = [value for _, value in draws if isinstance(value, Case)]
    case = cases[0] if cases else None
    diagnosed = diagnosis.of(exc)  # first: it adds its note
    notes = list(getattr(exc, "__notes__", []))
    blob = next((m.group(1) for m in map(BLOB.search, notes) if m), None)
    return {
        "kind": kind(exc),
        "exception": type(exc).__name__,
        "message": message(exc),
        "max_error": finite(getattr(exc, "max_error", None)),
        "tolerance": getattr(exc, "tolerance", None),
        "case": None if case is None else repr(case),
        "features": None if case is None else features(case),
        "diagnosis": diagnosed,
        "notes": notes,
        **reproduction(impl, clause_id, draws, options, number),
        "reproduce_failure": blob,
        "first_failing_example": progress.first_failure,
    }


def reproduction(impl, clause_id: str, draws: list, options, number: int) -> dict:
    """The failure's reproduction script (None: nothing was drawn) and where it was written (None:
    it could not be)."""
    if not draws:
        return {"reproduction": None, "reproduction_path": None}
    text = reproduce.script(impl.name, clause_id, draws, options)
    try:
        path = str(reproduce.write(options.reproductions, impl.name, clause_id, text, number))
    except OSError:
        path = None
    return {"reproduction": text, "reproduction_path": path}


def rerun_note(impl, spec, progress) -> str:
    """Where a crash or a hang happened, and how to run it again."""
    case = f"\nthe case drawn when it happened: {progress.cases[-1]!r}" if progress.cases else ""
    return (
        f"It happened at example {progress.examples} of clause {spec.id}.{case}\nRerun the clause alone: "
        f"rnn-conformance {impl.name} -k {spec.test_name} (with the run's --hypothesis-seed, if it had one, "
        "for the same examples), or run the reproduction script below: it replays that example"
    )


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
    of the implementation; several distinct ones, each with its own case and reproduction); None:
    pytest's own traceback."""
    several = distinct_failures(exc)
    if several:
        heading = f"{impl.name} fails clause {clause_id}: {CLAUSES[clause_id].statement}"
        parts = [heading, "", f"Hypothesis found {len(several)} distinct failures, each with its own case:"]
        for n, (e, each) in enumerate(zip(several, failure["failures"]), 1):
            parts += ["", f"--- failure {n} of {len(several)} ---", "", *details(e, each)]
        return "\n".join(parts)
    if not (isinstance(exc, (Mismatch, ImplementationError)) or nondeterministic(exc)):
        return None
    verb = {"crashed": "crashed in", "timed out": "timed out in"}.get(failure["kind"], "fails")
    heading = f"{impl.name} {verb} clause {clause_id}: {CLAUSES[clause_id].statement}"
    return "\n".join([heading, "", *details(exc, failure)])


def details(exc, failure: dict) -> list[str]:
    """A failure's lines: its message, the implementation's frames, the notes, the reproduction."""
    parts = [failure["message"]]
    frames = implementation_frames(exc)
    if frames:
        parts += ["", "the implementation raised here (innermost last):", frames.rstrip()]
    if failure["notes"]:
        parts += ["", *failure["notes"]]
    if failure["reproduction"]:
        where = failure["reproduction_path"] or "this script"
        how = {"crashed": " (in a process of its own: it dies the same way while the bug is there)"}
        parts += [
            "",
            f"Reproduce it: python {where}{how.get(failure['kind'], '')}",
            "(the clause's own check, on this example: exit status 1 while it fails, 0 once it conforms)",
            "",
            *("    " + line for line in failure["reproduction"].splitlines()),
        ]
    return parts


def longrepr(item, text: str):
    """``text`` as a report's longrepr whose crash message is its first line: pytest's short summary
    (and a JUnit XML's failure message) show that line, where a plain string would be repeated whole
    in CI and under -vv."""
    from _pytest._code.code import ReprEntryNative, ReprExceptionInfo, ReprFileLocation, ReprTraceback

    heading = text.splitlines()[0] if text else ""
    return ReprExceptionInfo(
        reprtraceback=ReprTraceback([ReprEntryNative([text + "\n"])], None, "native"),
        reprcrash=ReprFileLocation(str(item.path), (item.location[1] or 0) + 1, heading),
    )
