"""``rnn-conformance merge``: the JSON reports of several jobs (shards, implementations) as one."""

from __future__ import annotations

import argparse
import json
import shutil
from collections import defaultdict

from ..spec.clauses import CLAUSES
from . import summaries
from .options import REPORT, SUMMARY
from .session import clause_of
from .verdicts import PASSING, VERDICTS, block, footnotes, title, write_json

#: the settings every merged report must share: they change which examples run or what is checked
MATTERS = (
    "profile",
    "max_examples",
    "derandomize",
    "seed",
    "timeout_s",
    "budget_s",
    "not_claimed",
    "skips",
    "declared_rtol",
    "kind",
    "dtypes",
)
MISSING = "in none of the merged reports, although the runs' shards expected it"
REFUSED = 4  # pytest's usage-error code


class MergeError(Exception):
    """Reports that cannot be merged; the message is the one-line reason."""


def load(path: str) -> dict:
    try:
        with open(path) as f:
            report = json.load(f)
    except (OSError, ValueError) as e:
        raise MergeError(f"{path}: not readable as JSON ({e})") from None
    if not isinstance(report, dict) or report.get("tool") != "rnn-conformance":
        raise MergeError(f"{path}: not an rnn-conformance report (--rnn-report)")
    return report


def check_compatible(reports: dict) -> None:
    """The reports (path -> report) come from one suite version and the same settings, and no clause
    test is in two of them."""
    (first_path, first), *others = reports.items()
    version = first["versions"]["rnn-conformance"]
    for path, report in others:
        if report["versions"]["rnn-conformance"] != version:
            raise MergeError(
                f"{path} is from rnn-conformance {report['versions']['rnn-conformance']}, {first_path} "
                f"from {version}: reports of different suite versions do not merge"
            )
        for key in MATTERS:
            mine, theirs = report["settings"].get(key), first["settings"].get(key)
            if mine != theirs:
                raise MergeError(f"{path} ran with {key}={mine!r}, {first_path} with {key}={theirs!r}")
    seen = {}
    for path, report in reports.items():
        for nodeid in tests(report):
            if nodeid in seen:
                raise MergeError(f"{nodeid} is in both {seen[nodeid]} and {path}: the same test twice")
            seen[nodeid] = path


def tests(report: dict) -> set:
    return {
        nodeid
        for impl in report["implementations"].values()
        for entry in impl["clauses"].values()
        for nodeid in entry["tests"]
    }


def expected(report: dict) -> set:
    """(implementation, clause id) pairs the report's run was part of: a shard's whole run, else
    the catalogue for each implementation (a full run reports out-of-scope clauses too)."""
    shard = report.get("shard")
    if shard:
        pairs = {clause_of(nodeid)[::-1] for nodeid in shard["total_items"]}
        return {(impl, clause_id) for impl, clause_id in pairs if clause_id}
    return {(impl, clause_id) for impl in report["implementations"] for clause_id in CLAUSES}


def combine(entries: list) -> dict:
    """One clause's entries from several reports (tests of one clause in different shards)."""
    if len(entries) == 1:
        return entries[0]
    strongest = min(entries, key=lambda e: VERDICTS.index(e["verdict"]))
    ratios = [e["worst_error_ratio"] for e in entries if e.get("worst_error_ratio") is not None]
    return {
        **strongest,
        "examples": sum(e.get("examples", 0) for e in entries),
        "seconds": round(sum(e.get("seconds", 0.0) for e in entries), 3),
        "tests": sorted({n for e in entries for n in e["tests"]}),
        "worst_error_ratio": max(ratios) if ratios and strongest["verdict"] in PASSING else None,
    }


def missing_entry(clause_id: str) -> dict:
    return {
        "statement": CLAUSES[clause_id].statement,
        "verdict": "missing",
        "examples": 0,
        "seconds": 0.0,
        "tests": [],
        "reason": MISSING,
        "worst_error_ratio": None,
    }


def implementations(reports: dict) -> dict:
    """impl -> its report entry with every report's clauses of it, and the expected ones none had."""
    entries, info, sources = defaultdict(list), {}, defaultdict(set)
    for path, report in reports.items():
        for name, impl in report["implementations"].items():
            info.setdefault(name, impl)
            sources[name].add(path)
            for clause_id, entry in impl["clauses"].items():
                entries[(name, clause_id)].append(entry)
    for name, clause_id in set().union(*map(expected, reports.values())):
        info.setdefault(name, {"description": None, "modes": [], "not_claimed": [], "clauses": {}})
        if not entries[(name, clause_id)]:
            entries[(name, clause_id)].append(missing_entry(clause_id))
    order = list(CLAUSES)
    merged = {}
    for name, impl in info.items():
        keys = sorted((c for n, c in entries if n == name), key=order.index)
        clauses = {clause_id: combine(entries[(name, clause_id)]) for clause_id in keys}
        hints = impl.get("hints", []) if len(sources[name]) == 1 else []  # a shard's hints saw only its part
        merged[name] = {**impl, "clauses": clauses, "hints": hints}
    return merged


def merge(reports: dict) -> dict:
    check_compatible(reports)
    first = next(iter(reports.values()))
    impls = implementations(reports)
    missing = {
        name: [c for c, e in impl["clauses"].items() if e["verdict"] == "missing"]
        for name, impl in impls.items()
    }
    reasons = [
        f"{path}: {r['incomplete_reason']}" for path, r in reports.items() if not r.get("complete", True)
    ]
    count = sum(map(len, missing.values()))
    if count:
        reasons.append(f"{count} clauses missing from every report{absent_shards(reports.values())}")
    return {
        "tool": "rnn-conformance",
        "complete": not reasons,
        "incomplete_reason": "; ".join(reasons) or None,
        "versions": first["versions"],
        "settings": first["settings"],
        "shard": None,
        "merged_from": [{"path": path, "shard": shard_of(r)} for path, r in reports.items()],
        "missing": {name: clauses for name, clauses in missing.items() if clauses},
        "implementations": impls,
    }


def absent_shards(reports) -> str:
    """ " (no report of shard 2/3)" where the shards given of a count leave some index out."""
    given = defaultdict(set)
    for report in reports:
        if report.get("shard"):
            given[report["shard"]["count"]].add(report["shard"]["index"])
    absent = [f"{k}/{n}" for n, indices in sorted(given.items()) for k in range(1, n + 1) if k not in indices]
    return f" (no report of shard {', '.join(absent)})" if absent else ""


def shard_of(report: dict) -> dict | None:
    shard = report.get("shard")
    return shard and {"index": shard["index"], "count": shard["count"], "items": shard["items"]}


def lines(merged: dict) -> list[str]:
    """The verdict tables of the merged report, as a run prints them."""
    width = shutil.get_terminal_size((80, 24)).columns
    settings, incomplete, out = merged["settings"], merged["incomplete_reason"], []
    for name, impl in merged["implementations"].items():
        clauses = impl["clauses"]
        notes = [hint["message"] for hint in impl["hints"]]
        notes += footnotes(clauses, settings["budget_s"], settings["declared_rtol"].items(), incomplete)
        if name in merged["missing"]:
            notes.append(f"missing: {', '.join(merged['missing'][name])} ({MISSING})")
        out += [f" {title(name)} ".center(width, "="), *block(name, clauses, notes)]
    out.append(f"merged {len(merged['merged_from'])} reports")
    return out


def failed(merged: dict) -> bool:
    return any(
        entry["verdict"] not in PASSING
        for impl in merged["implementations"].values()
        for entry in impl["clauses"].values()
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnn-conformance merge",
        description="Merge the JSON reports (--rnn-report) of several runs (shards, implementations): print "
        "one verdict table per implementation, write the merged report. Exit 1 if a clause does not "
        "conform or is missing from every report, 4 if the reports do not merge.",
    )
    parser.add_argument("reports", nargs="+", metavar="REPORT.json")
    parser.add_argument(REPORT, dest="report", metavar="OUT.json", help="write the merged JSON report")
    parser.add_argument(SUMMARY, dest="summary", metavar="PATH", help="append a markdown summary")
    return parser


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    try:
        merged = merge({path: load(path) for path in args.reports})
    except MergeError as e:
        print(f"rnn-conformance merge: {e}")
        return REFUSED
    print("\n".join(lines(merged)))
    if args.report:
        write_json(args.report, merged)
    if args.summary:
        summaries.write(args.summary, merged)
    return 1 if failed(merged) else 0
