"""Verdicts per clause from the clause tests' reports: the terminal tables and the JSON report."""

from __future__ import annotations

import json
import platform
from collections import defaultdict

from hypothesis import settings

from ..spec.clauses import CLAUSES
from .hints import hints
from .scope import Scope

OUT_OF_SCOPE = ("skipped-unavailable", "not applicable", "not claimed")  # Scope.verdict
#: strongest first: a clause checked by several tests takes the first verdict any of them has
VERDICTS = ("error", "fails", "conforms", *OUT_OF_SCOPE)
#: the order of the summary line
SUMMARY = ("conforms", "fails", "error", "not applicable", "not claimed", "skipped-unavailable")


def skip_reason(report) -> str:
    longrepr = report.longrepr
    text = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    return text.removeprefix("Skipped: ")


def record(report, props) -> dict:
    """One report's contribution to its clause's verdict; ``props``: its user_properties."""
    if report.skipped:  # out of scope (rnn_scope), or skipped by something else: "not claimed"
        verdict = Scope(props["rnn_scope"]).verdict if "rnn_scope" in props else "not claimed"
        reason = props.get("rnn_reason") or skip_reason(report)
        return {"verdict": verdict, "reason": reason, "nodeid": report.nodeid}
    examples = props.get("rnn_examples", 0)
    if report.failed:
        failure = props.get("rnn_failure") or {"kind": "error", "message": str(report.longrepr)[-2000:]}
        if report.when != "call":
            failure = {**failure, "kind": "error"}
        return {"verdict": failure["kind"], "failure": failure, "examples": examples, "nodeid": report.nodeid}
    if report.when == "call":
        return {"verdict": "conforms", "examples": examples, "nodeid": report.nodeid}
    return {}


def verdicts(records: dict) -> dict:
    """impl -> clause id -> {statement, verdict, examples, tests, failure?, reason?}, in catalogue order."""
    result = defaultdict(dict)
    order = list(CLAUSES)
    for (impl, clause_id), recs in sorted(records.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        recs = [r for r in recs if r]
        if recs:
            result[impl][clause_id] = verdict(clause_id, recs)
    return dict(result)


def verdict(clause_id: str, recs: list) -> dict:
    entry = {
        "statement": CLAUSES[clause_id].statement,
        "verdict": min((r["verdict"] for r in recs), key=VERDICTS.index),
        "examples": sum(r.get("examples", 0) for r in recs),
        "tests": sorted({r["nodeid"] for r in recs}),
    }
    failures = [r["failure"] for r in recs if "failure" in r]
    if failures:
        entry["failure"] = failures[0]
    reasons = [r["reason"] for r in recs if "reason" in r]
    if reasons and entry["verdict"] in OUT_OF_SCOPE:
        entry["reason"] = reasons[0]
    return entry


def summary(clauses: dict) -> str:
    counts = defaultdict(int)
    for entry in clauses.values():
        counts[entry["verdict"]] += 1
    return ", ".join(f"{counts[v]} {v}" for v in SUMMARY if counts[v])


def table(clauses: dict) -> list[str]:
    id_w = max(len("clause"), *(len(c) for c in clauses))
    v_w = max(len("verdict"), *(len(e["verdict"]) for e in clauses.values()))
    lines = [f"{'clause':<{id_w}}  {'verdict':<{v_w}}  {'examples':>8}  statement"]
    for clause_id, e in clauses.items():
        lines.append(f"{clause_id:<{id_w}}  {e['verdict']:<{v_w}}  {e['examples']:>8}  {e['statement']}")
    return lines


def write_tables(tr, session) -> None:
    """One table per implementation, in --rnn-impl order, each with its summary line."""
    results = verdicts(session.records)
    order = {impl.name: n for n, impl in enumerate(session.implementations())}  # as --rnn-impl gave them
    by_name = {impl.name: impl for impl in session.implementations()}
    for impl, clauses in sorted(results.items(), key=lambda kv: order.get(kv[0], len(order))):
        tr.write_sep("=", f"RNN conformance verdicts: {impl}")
        for line in table(clauses):
            tr.write_line(line)
        tr.write_line(f"{impl}: {summary(clauses)}")
        for hint in hints(by_name.get(impl), clauses):
            tr.write_line(hint["message"])
    if session.options.report and session.records:
        tr.write_line(f"rnn-conformance report written to {session.options.report}")


def versions() -> dict:
    import hypothesis
    import numpy
    import torch

    from .. import __version__

    return {
        "rnn-conformance": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "hypothesis": hypothesis.__version__,
        "numpy": numpy.__version__,
    }


def settings_in_force(config, options) -> dict:
    s = settings.default
    seed = config.getoption("hypothesis_seed", None)
    seed = int(seed) if isinstance(seed, str) and seed.isdigit() else seed  # the option is a string
    return {
        "profile": settings.get_current_profile_name(),
        "max_examples": s.max_examples,
        "derandomize": s.derandomize,
        "seed": seed,
        "timeout_s": options.time_limit,
        "not_claimed": sorted(options.not_claimed),
        "skips": options.skips,
    }


def write_report(config, session) -> None:
    """The JSON report (--rnn-report): versions, settings, and per implementation its clauses' verdicts."""
    results = verdicts(session.records)
    report = {
        "tool": "rnn-conformance",
        "versions": versions(),
        "settings": settings_in_force(config, session.options),
        "implementations": {
            impl.name: {
                "description": impl.description,
                "modes": sorted(impl.modes),
                "not_claimed": sorted(impl.not_claimed),
                "clauses": results.get(impl.name, {}),
                "hints": hints(impl, results.get(impl.name, {})),
            }
            for impl in session.implementations()
        },
    }
    with open(session.options.report, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
