"""Verdicts per clause from the clause tests' reports: the terminal tables and the JSON report."""

from __future__ import annotations

import json
import platform
from collections import defaultdict

from hypothesis import settings

from ..spec.clauses import CLAUSES
from .hints import hints
from .options import RTOL, declared
from .scope import Scope

OUT_OF_SCOPE = ("skipped-unavailable", "not applicable", "not claimed")  # Scope.verdict
#: a pass that needed the tolerance declared by --rnn-rtol: not full conformance
DECLARED = "conforms (declared rtol)"
#: strongest first: a clause checked by several tests takes the first verdict any of them has
VERDICTS = (
    "error",
    "crashed",
    "timed out",
    "fails",
    DECLARED,
    "conforms",
    "not run",
    "missing",
    *OUT_OF_SCOPE,
)
#: what counts as conformance (or is out of scope): any other verdict fails the run
PASSING = ("conforms", DECLARED, *OUT_OF_SCOPE)
#: the order of the summary line
SUMMARY = (
    "conforms",
    DECLARED,
    "fails",
    "crashed",
    "timed out",
    "error",
    "not run",
    "missing",
    "not applicable",
    "not claimed",
    "skipped-unavailable",
)


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
    ran = {"examples": props.get("rnn_examples", 0), "seconds": report.duration, "nodeid": report.nodeid}
    if "rnn_budget_cut" in props:
        ran["budget_cut"] = props["rnn_budget_cut"]
    if report.failed:
        failure = props.get("rnn_failure") or {"kind": "error", "message": str(report.longrepr)[-2000:]}
        if report.when != "call" and failure["kind"] != "crashed":
            failure = {**failure, "kind": "error"}
        return {"verdict": failure["kind"], "failure": failure, **ran}
    if report.when == "call":
        accuracy = props.get("rnn_accuracy")
        if accuracy is None:
            return {"verdict": "conforms", **ran}
        return {"verdict": DECLARED if accuracy["declared"] else "conforms", "accuracy": accuracy, **ran}
    return {}


def verdicts(records: dict, unrun: dict | None = None) -> dict:
    """impl -> clause id -> {statement, verdict, examples, seconds, tests, failure?, reason?,
    budget_cut?}, in catalogue order; ``unrun`` ((impl, clause id) -> a record, see
    Session.unrun) stands for a clause whose tests left no record."""
    records = {key: [r for r in recs if r] for key, recs in records.items()}
    for key, substitute in (unrun or {}).items():
        if not records.get(key):
            records[key] = [substitute]
    result = defaultdict(dict)
    order = list(CLAUSES)
    for (impl, clause_id), recs in sorted(records.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        if recs:
            result[impl][clause_id] = verdict(clause_id, recs)
    return dict(result)


def verdict(clause_id: str, recs: list) -> dict:
    entry = {
        "statement": CLAUSES[clause_id].statement,
        "verdict": min((r["verdict"] for r in recs), key=VERDICTS.index),
        "examples": sum(r.get("examples", 0) for r in recs),
        "seconds": round(sum(r.get("seconds", 0.0) for r in recs), 3),
        "tests": sorted({r["nodeid"] for r in recs}),
    }
    cuts = [r["budget_cut"] for r in recs if "budget_cut" in r]
    if cuts:
        entry["budget_cut"] = cuts[0]
    failures = [r["failure"] for r in recs if "failure" in r]
    if failures:
        entry["failure"] = failures[0]
    reasons = [r["reason"] for r in recs if "reason" in r]
    if reasons and entry["verdict"] in OUT_OF_SCOPE:
        entry["reason"] = reasons[0]
    passed = entry["verdict"] in ("conforms", DECLARED)
    entry.update(headroom([r["accuracy"] for r in recs if "accuracy" in r] if passed else []))
    return entry


def headroom(accuracies: list) -> dict:
    """A conforming clause's worst error over all its examples as a fraction of the allowance
    (None: it made no comparison against an allowance, or it did not conform), the error and
    allowance themselves, and the rtols it needed beyond the suite's own (--rnn-rtol)."""
    if not accuracies:
        return {"worst_error_ratio": None}
    worst = max(accuracies, key=lambda a: a["ratio"])
    entry = {
        "worst_error_ratio": float(f"{worst['ratio']:.4g}"),
        "worst_error": {key: worst[key] for key in ("error", "allowance", "dtype")},
    }
    needed = {dtype: rtol for a in accuracies for dtype, rtol in a["declared"].items()}
    if needed:
        entry["declared_rtol"] = dict(sorted(needed.items()))
        entry["worst_error_ratio_derived"] = float(f"{max(a['derived_ratio'] for a in accuracies):.4g}")
    return entry


def summary(clauses: dict) -> str:
    counts = defaultdict(int)
    for entry in clauses.values():
        counts[entry["verdict"]] += 1
    return ", ".join(f"{counts[v]} {v}" for v in SUMMARY if counts[v])


def examples(entry: dict) -> str:
    """The examples column: ``40 cut`` where the budget stopped the clause."""
    return f"{entry['examples']}{' cut' if 'budget_cut' in entry else ''}"


#: the heading of the column of the worst error as a fraction of the allowance
WORST = "worst/allowed"


def ratio(entry: dict) -> str:
    """The worst/allowed column: the worst error as a fraction of the allowance, "-" where none."""
    value = entry.get("worst_error_ratio")
    return "-" if value is None else f"{value:.2g}"


def table(clauses: dict) -> list[str]:
    id_w = max(len("clause"), *(len(c) for c in clauses))
    v_w = max(len("verdict"), *(len(e["verdict"]) for e in clauses.values()))
    lines = [f"{'clause':<{id_w}}  {'verdict':<{v_w}}  {'examples':>8}  {'seconds':>7}  {WORST}  statement"]
    for clause_id, e in clauses.items():
        lines.append(
            f"{clause_id:<{id_w}}  {e['verdict']:<{v_w}}  {examples(e):>8}  {e.get('seconds', 0):>7.1f}  "
            f"{ratio(e):>{len(WORST)}}  {e['statement']}"
        )
    return lines


def footnotes(clauses: dict, budget: float | None, rtols, incomplete: str | None) -> list[str]:
    """The lines under a table: where the budget cut clauses, which passed only under --rnn-rtol
    (``rtols``: its (dtype, rtol) pairs), and whether the run is incomplete."""
    lines = []
    cut = [c for c, e in clauses.items() if "budget_cut" in e]
    if cut:
        lines.append(
            f"cut: {len(cut)} clauses stopped drawing when their share of --rnn-budget="
            f"{budget:g} s was spent; they passed on the examples they ran"
        )
    loose = [e["worst_error_ratio_derived"] for e in clauses.values() if e["verdict"] == DECLARED]
    if loose:
        lines.append(
            f"{DECLARED}: {len(loose)} clauses pass only under {RTOL} "
            f"({declared(rtols)}): their worst error is up to {max(loose):.2g}x "
            "the suite's own allowance; not full conformance"
        )
    if incomplete:
        lines.append(f"incomplete: {incomplete}")
    return lines


def title(impl: str) -> str:
    return f"RNN conformance verdicts: {impl}"


def block(impl: str, clauses: dict, notes: list[str]) -> list[str]:
    """One implementation's table, its summary line and ``notes`` (hints, footnotes) under it."""
    return [*table(clauses), f"{impl}: {summary(clauses)}", *notes]


def write_tables(tr, session) -> None:
    """One table per implementation, in --rnn-impl order, each with its summary line."""
    results = verdicts(session.records, session.unrun())
    order = {impl.name: n for n, impl in enumerate(session.implementations())}  # as --rnn-impl gave them
    by_name = {impl.name: impl for impl in session.implementations()}
    options = session.options
    for impl, clauses in sorted(results.items(), key=lambda kv: order.get(kv[0], len(order))):
        tr.write_sep("=", title(impl))
        hint_lines = [hint["message"] for hint in hints(by_name.get(impl), clauses)]
        notes = footnotes(clauses, options.budget, options.declared_rtol, session.incomplete)
        for line in block(impl, clauses, [*hint_lines, *notes]):
            tr.write_line(line)
    if session.shard:
        tr.write_line(shard_line(session.shard))
    if options.report and session.records:
        tr.write_line(f"rnn-conformance report written to {options.report}")


def shard_line(shard: dict) -> str:
    return (
        f"shard {shard['index']}/{shard['count']}: {len(shard['items'])} of {len(shard['total_items'])} "
        f"clause tests (about {shard['expected_seconds']:g} s by the cost table); the others are in the "
        "other shards"
    )


def incompleteness(session, stop) -> str | None:
    """Why the run's verdicts are not all there (None: they are): it was interrupted or stopped
    (``stop``: pytest's -x/--maxfail reason), or clause tests it collected did not run."""
    reasons = [session.stopped or (stop if isinstance(stop, str) else None)]
    missing = sum(1 for r in session.unrun().values() if r["verdict"] == "not run")
    if missing:
        reasons.append(f"{missing} clauses not run")
    reasons = [r for r in reasons if r]
    return "; ".join(reasons) or None


def versions() -> dict:
    """As the report header gives them: torch's from its metadata, for the xdist controller does
    not import torch."""
    from importlib.metadata import version

    import hypothesis
    import numpy

    from .. import __version__

    return {
        "rnn-conformance": __version__,
        "python": platform.python_version(),
        "torch": version("torch"),
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
        "isolation": options.isolation,
        "budget_s": options.budget,
        "not_claimed": sorted(options.not_claimed),
        "skips": options.skips,
        "declared_rtol": dict(options.declared_rtol),
        "kind": options.modes,
        "dtypes": options.dtypes,
    }


def report(config, session) -> dict:
    """The JSON report (--rnn-report): versions, settings, the shard, and per implementation its
    clauses' verdicts."""
    results = verdicts(session.records, session.unrun())
    return {
        "tool": "rnn-conformance",
        "complete": session.incomplete is None,
        "incomplete_reason": session.incomplete,
        "versions": versions(),
        "settings": settings_in_force(config, session.options),
        "shard": session.shard,
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


def write_json(path: str, report: dict) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
