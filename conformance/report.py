"""Verdicts per clause: the table at the end of a run, the JSON report, readable failure sections,
declared capabilities, the skips file and the time limit (pytest hooks, registered by plugin.py)."""

from __future__ import annotations

import json
import math
import os
import platform
import traceback
import warnings
from collections import defaultdict

import pytest

from . import capabilities, progress
from .compare import Mismatch
from .diagnosis import reproduction
from .runner import ImplementationError
from .spec.clauses import CLAUSES

SKIPS = pytest.StashKey[list]()

#: strongest first: a clause checked by several tests takes the first verdict any of them has
VERDICTS = ("error", "fails", "conforms", "skipped-unavailable", "not claimed")
NOT_CLAIMED = "not claimed:"


def pytest_addoption(parser):
    group = parser.getgroup("rnn-conformance")
    group.addoption("--rnn-report", metavar="PATH", default=None,
                    help="write the verdicts, settings and failures (shrunk case, error, message) as JSON to PATH")
    group.addoption("--rnn-not-claimed", metavar="CAP[,CAP]", default=None,
                    help=f"features the implementation does not claim ({', '.join(sorted(capabilities.CAPABILITIES))}): "
                    "they are not drawn, and clauses only about them are reported 'not claimed'")
    group.addoption("--rnn-skips", metavar="PATH", default=None,
                    help="file of test ids or clause ids (partial ids match), one per line, # comments: reported 'not claimed'")
    group.addoption("--rnn-timeout", metavar="SECONDS", type=float, default=60.0,
                    help="an implementation call running longer fails its clause (default 60; 0: no limit)")


def is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config):
    config.pluginmanager.register(Verdicts(config), "rnn-conformance-verdicts")
    config.stash[SKIPS] = read_skips(config.getoption("rnn_skips"))


def pytest_report_header(config):
    from .plugin import implementations, is_xdist_controller

    impls = [] if is_xdist_controller(config) else implementations(config)  # see plugin.pytest_collection
    lines = [f"  {impl.name} does not claim: {', '.join(sorted(impl.not_claimed))} (not drawn; clauses only about them: not claimed)"
             for impl in impls if impl.not_claimed]
    if config.getoption("rnn_timeout"):
        lines.append(f"  time limit per implementation call: {config.getoption('rnn_timeout'):g} s (--rnn-timeout)")
    return lines or None


def read_skips(path) -> list[tuple[int, str]]:
    """(line number, id) of each non-empty line of the skips file, comments removed."""
    if path is None:
        return []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise pytest.UsageError(f"--rnn-skips: cannot read {path}: {e.strerror}") from None
    return [(n, line.split("#", 1)[0].strip()) for n, line in enumerate(lines, 1) if line.split("#", 1)[0].strip()]


def skip_matches(entry: str, item, clause_id: str) -> bool:
    return clause_id.startswith(entry) or entry in item.nodeid


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect, so the skips file is checked against every test
def pytest_collection_modifyitems(config, items):
    skips, used = config.stash.get(SKIPS, []), set()
    for item in items:
        marker = item.get_closest_marker("rnn_clause")
        impl = item.callspec.params.get("impl") if marker and hasattr(item, "callspec") else None
        if impl is None:
            continue
        clause_id = marker.args[0]
        reason = capabilities.out_of_scope(impl, clause_id)
        if reason:
            item.add_marker(pytest.mark.skip(reason=f"{NOT_CLAIMED} {reason}"))
            continue
        for n, entry in skips:
            if skip_matches(entry, item, clause_id):
                used.add(n)
                item.add_marker(pytest.mark.skip(reason=f"{NOT_CLAIMED} listed in {config.getoption('rnn_skips')} (line {n}: {entry})"))
                break
    for n, entry in skips:
        if n not in used:
            warnings.warn(pytest.PytestWarning(f"--rnn-skips {config.getoption('rnn_skips')}, line {n}: {entry!r} matches no test id nor clause id"))


# --- on the process running the test (an xdist worker or the only process) -------------------------


def failure_kind(exc) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "fails" if all(failure_kind(e) == "fails" for e in exc.exceptions) else "error"
    return "fails" if isinstance(exc, AssertionError) else "error"


def finite(v):
    return None if v is None or not math.isfinite(v) else v


def implementation_frames(exc) -> str:
    """The traceback of what an implementation raised, without this suite's own frames."""
    cause = exc.__cause__
    if cause is None or cause.__traceback__ is None:
        return ""
    here = os.path.dirname(__file__)
    frames = [f for f in traceback.extract_tb(cause.__traceback__) if not f.filename.startswith(here) and "threading" not in f.filename]
    return "".join(traceback.format_list(frames))


def failure_section(item, exc, failure) -> str:
    clause_id, impl = dict(item.user_properties)["rnn_clause"], item.callspec.params["impl"]
    parts = [f"{impl.name} fails clause {clause_id}: {CLAUSES[clause_id].statement}", "", str(exc)]
    frames = implementation_frames(exc)
    if frames:
        parts += ["", "the implementation raised here (innermost last):", frames.rstrip()]
    notes = getattr(exc, "__notes__", [])
    if notes:
        parts += ["", *notes]
    if failure.get("reproduction"):
        parts += ["", "Reproduce it (the shrunk case, run against the oracle):", "", *("    " + line for line in failure["reproduction"].splitlines())]
    return "\n".join(parts)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    if call.when == "setup":
        progress.reset()
    report = yield
    props = dict(item.user_properties)
    if "rnn_clause" not in props or call.when != "call":
        return report
    extra = [("rnn_examples", progress.examples)]
    if report.failed and call.excinfo is not None:
        exc = call.excinfo.value
        failure = {"kind": failure_kind(exc), "exception": type(exc).__name__, "message": str(exc),
                   "max_error": finite(getattr(exc, "max_error", None)), "tolerance": getattr(exc, "tolerance", None),
                   "case": None, "notes": list(getattr(exc, "__notes__", [])), "reproduction": None,
                   "first_failing_example": progress.first_failure}
        if progress.cases:
            case = progress.cases[0]
            impl = item.callspec.params["impl"]
            modes = item.config.getoption("rnn_kind")
            from .plugin import parse_list

            failure["case"] = repr(case)
            failure["reproduction"] = reproduction(impl.name, parse_list(modes), case)
        if isinstance(exc, (Mismatch, ImplementationError)):
            report.longrepr = failure_section(item, exc, failure)
        extra.append(("rnn_failure", failure))
    report.user_properties = [*report.user_properties, *extra]  # a copy: the item's list is shared
    return report


# --- on the controller (or the only process) -------------------------------------------------------


def skip_reason(report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def record(report, props) -> dict:
    """One report's contribution to its clause's verdict."""
    if report.skipped:
        reason = skip_reason(report)
        verdict = "skipped-unavailable" if reason.startswith(f"{props['rnn_impl']} unavailable") else "not claimed"
        return {"verdict": verdict, "reason": reason, "nodeid": report.nodeid}
    if report.failed:
        failure = props.get("rnn_failure") or {"kind": "error", "message": str(report.longrepr)[-2000:]}
        if report.when != "call":
            failure = {**failure, "kind": "error"}
        return {"verdict": failure["kind"], "failure": failure, "examples": props.get("rnn_examples", 0), "nodeid": report.nodeid}
    if report.when == "call":
        return {"verdict": "conforms", "examples": props.get("rnn_examples", 0), "nodeid": report.nodeid}
    return {}


def verdicts(records: dict) -> dict:
    """impl -> clause id -> {statement, verdict, examples, tests, failure?, reason?}, in catalogue order."""
    result = defaultdict(dict)
    for (impl, clause_id), recs in sorted(records.items(), key=lambda kv: (kv[0][0], list(CLAUSES).index(kv[0][1]))):
        recs = [r for r in recs if r]
        if not recs:
            continue
        verdict = min((r["verdict"] for r in recs), key=VERDICTS.index)
        entry = {"statement": CLAUSES[clause_id].statement, "verdict": verdict,
                 "examples": sum(r.get("examples", 0) for r in recs),
                 "tests": sorted({r["nodeid"] for r in recs})}
        failures = [r["failure"] for r in recs if "failure" in r]
        if failures:
            entry["failure"] = failures[0]
        reasons = [r["reason"] for r in recs if "reason" in r]
        if reasons and verdict in ("not claimed", "skipped-unavailable"):
            entry["reason"] = reasons[0]
        result[impl][clause_id] = entry
    return dict(result)


def versions() -> dict:
    import hypothesis
    import numpy
    import torch

    from . import __version__

    return {"rnn-conformance": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "hypothesis": hypothesis.__version__, "numpy": numpy.__version__}


def settings_in_force(config) -> dict:
    import hypothesis

    s = hypothesis.settings.default
    seed = config.getoption("hypothesis_seed", None)
    seed = int(seed) if isinstance(seed, str) and seed.isdigit() else seed  # the option is a string
    return {"profile": hypothesis.settings._current_profile, "max_examples": s.max_examples, "derandomize": s.derandomize,
            "seed": seed, "timeout_s": config.getoption("rnn_timeout") or None,
            "not_claimed": sorted(capabilities.parse(config.getoption("rnn_not_claimed"))), "skips": config.getoption("rnn_skips")}


def summary(clauses: dict) -> str:
    counts = defaultdict(int)
    for entry in clauses.values():
        counts[entry["verdict"]] += 1
    return ", ".join(f"{counts[v]} {v}" for v in ("conforms", "fails", "error", "not claimed", "skipped-unavailable") if counts[v])


def table(clauses: dict) -> list[str]:
    id_w = max(len("clause"), *(len(c) for c in clauses))
    v_w = max(len("verdict"), *(len(e["verdict"]) for e in clauses.values()))
    lines = [f"{'clause':<{id_w}}  {'verdict':<{v_w}}  {'examples':>8}  statement"]
    for clause_id, e in clauses.items():
        lines.append(f"{clause_id:<{id_w}}  {e['verdict']:<{v_w}}  {e['examples']:>8}  {e['statement']}")
    return lines


class Verdicts:
    """Collects every clause test's report (from xdist workers too) and reports per clause."""

    def __init__(self, config):
        self.config = config
        self.records = defaultdict(list)

    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        if "rnn_clause" in props:
            self.records[(props["rnn_impl"], props["rnn_clause"])].append(record(report, props))

    def pytest_terminal_summary(self, terminalreporter):
        if is_worker(self.config):
            return
        from .plugin import implementations

        tr, results = terminalreporter, verdicts(self.records)
        order = [impl.name for impl in implementations(self.config)]  # as --rnn-impl gave them
        for impl, clauses in sorted(results.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)):
            tr.write_sep("=", f"RNN conformance verdicts: {impl}")
            for line in table(clauses):
                tr.write_line(line)
            tr.write_line(f"{impl}: {summary(clauses)}")
        path = self.config.getoption("rnn_report")
        if path and self.records:
            tr.write_line(f"rnn-conformance report written to {path}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session):
        path = self.config.getoption("rnn_report")
        if not path or is_worker(self.config):
            return
        from .plugin import implementations

        impls = {impl.name: impl for impl in implementations(self.config)}
        results = verdicts(self.records)
        report = {
            "tool": "rnn-conformance",
            "versions": versions(),
            "settings": settings_in_force(self.config),
            "implementations": {
                name: {"description": impl.description, "modes": sorted(impl.modes),
                       "not_claimed": sorted(impl.not_claimed), "clauses": results.get(name, {})}
                for name, impl in impls.items()
            },
        }
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
