"""The conformance matrix: every registered implementation checked in a process of its own, one table."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, entry_points, version
from pathlib import Path

from .pytest_plugin.workers import usable_cpus
from .registry import ENTRY_POINT_GROUP
from .spec.clauses import CLAUSES

#: The packages whose versions a matrix is made with.
FRAMEWORKS = ("torch", "onnx", "onnxruntime", "onnxscript", "keras", "jax", "flax", "equinox", "hypothesis")
#: The default profile with a fixed seed and no time budget: the same examples on every machine, so
#: that a verdict changes only when an implementation, a framework or the suite does.
RUN_ARGS = ("--hypothesis-seed=0", "-p", "no:cacheprovider", "-q")
#: Compiling implementations (torch.compile: seconds per new shape) get a budget per implementation;
#: a clause it cuts ran fewer examples, so a change of its verdict is reported but not held against
#: the committed matrix.
BUDGET_S = 150
BUDGET_ARGS = (f"--rnn-budget={BUDGET_S}", "--rnn-timeout=600")
DEVIATIONS = ("fails", "crashed", "timed out", "error", "not run")
CELL = {
    "conforms": "✓",
    "conforms (declared rtol)": "✓ (rtol)",
    "not claimed": "not claimed",
    "not applicable": "n/a",
    "skipped-unavailable": "unavailable",
}
NOT_CHECKED = "not yet checked by hand"


def registered() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def framework_versions() -> dict:
    def installed(package):
        try:
            return version(package)
        except PackageNotFoundError:
            return None

    return {package: installed(package) for package in FRAMEWORKS}


def run_one(name: str, folder: Path, timeout: float, extra: tuple = (), threads: int | None = None) -> dict:
    """The JSON report of the suite on ``name``, run in a process of its own (with ``threads``
    OpenMP/BLAS threads unless OMP_NUM_THREADS is set); where the process left none (it was killed,
    or the suite could not start), a report with the reason and no clauses."""
    path = folder / "report.json"
    env = {**({"OMP_NUM_THREADS": str(threads)} if threads else {}), **os.environ}
    command = [sys.executable, "-m", "pytest", "--pyargs", "conformance", f"--rnn-impl={name}"]
    command += [*RUN_ARGS, f"--rnn-report={path}", *extra]
    began = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
        reason = f"exit status {done.returncode}: {(done.stderr or done.stdout).strip()[-500:]}"
    except subprocess.TimeoutExpired:
        reason = f"the run took longer than {timeout:g} s and was stopped"
    seconds = {"seconds": round(time.monotonic() - began)}
    if path.exists():
        report = json.loads(path.read_text())["implementations"].get(name)
        return {**(report or {"clauses": {}, "problem": reason}), **seconds}
    return {"clauses": {}, "problem": reason, **seconds}


def run_all(names: list[str], jobs: int, timeout: float, extra: tuple = (), cost: dict | None = None) -> dict:
    """Each implementation's report, in the order of ``names``; run the costliest first (``cost``:
    the expected seconds of each), so that a long run does not start last and run on alone. The
    cores are shared out as among pytest-xdist's workers (pytest_plugin/workers.py)."""
    order = sorted(names, key=lambda name: -(cost or {}).get(name, 0))
    threads = max(1, usable_cpus() // jobs)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(jobs) as pool:
        folders = [Path(tempfile.mkdtemp(dir=tmp)) for _ in order]
        reports = pool.map(lambda nf: run_one(*nf, timeout, extra, threads), zip(order, folders))
        done = dict(zip(order, reports))
        return {name: done[name] for name in names}


def expected_seconds(committed: dict) -> dict:
    """Each implementation's wall time in a committed matrix; in one made before the times were kept,
    an implementation the budget cut counts as the slowest."""
    return {
        name: impl.get("seconds") or BUDGET_S * any(e.get("cut") for e in impl["clauses"].values())
        for name, impl in committed.get("implementations", {}).items()
    }


def cell(entry: dict | None) -> str:
    verdict = (entry or {}).get("verdict", "not run")
    return CELL.get(verdict, f"**{verdict}**") + (" (cut)" if (entry or {}).get("cut") else "")


def deviations(matrix: dict):
    """(implementation, clause id, its entry) for every verdict that is not conformance or a scope."""
    for name, impl in matrix["implementations"].items():
        for clause_id, entry in impl["clauses"].items():
            if entry["verdict"] in DEVIATIONS:
                yield name, clause_id, entry


def summarize(reports: dict) -> dict:
    """What the matrix keeps of each report: per clause the verdict and, for a deviation, its case,
    diagnosis ids, first line of the message and reproduction."""

    def kept(entry):
        cut = {"cut": True} if entry.get("budget_cut") else {}
        if entry["verdict"] not in DEVIATIONS:
            return {"verdict": entry["verdict"], **cut}
        failure = entry.get("failure") or {}
        return {
            "verdict": entry["verdict"],
            **cut,
            "message": (failure.get("message") or "").partition("\n")[0],
            "case": failure.get("case"),
            "diagnosis": (failure.get("diagnosis") or {}).get("matches", []),
        }

    return {
        name: {
            "description": report.get("description"),
            "problem": report.get("problem"),
            "seconds": report.get("seconds"),
            "clauses": {clause_id: kept(entry) for clause_id, entry in report["clauses"].items()},
        }
        for name, report in reports.items()
    }


def markdown(matrix: dict, notes: dict) -> str:
    names = [n for n, impl in matrix["implementations"].items() if usable(impl)]
    versions = ", ".join(f"{p} {v}" for p, v in matrix["versions"].items() if v)
    lines = [
        "# Conformance matrix",
        "",
        f"Generated by `rnn-conformance matrix` ({' '.join(matrix['settings'])}; every implementation in a "
        f"process of its own). Versions: {versions}.",
        "",
        *summary(matrix, names),
        "",
        "| clause | " + " | ".join(f"`{n}`" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for clause_id in CLAUSES:
        row = [cell(matrix["implementations"][n]["clauses"].get(clause_id)) for n in names]
        lines.append(f"| `{clause_id}` | " + " | ".join(row) + " |")
    lines += ["", "## Deviations", ""]
    for name, clause_id, entry in deviations(matrix):
        note = notes.get(f"{name} {clause_id}", {})
        diagnosis = ", ".join(f"`{d}`" for d in entry.get("diagnosis", [])) or "none"
        lines += [
            f"**`{name}` · `{clause_id}`: {entry['verdict']}.** {entry.get('message', '')}",
            "",
            f"- shrunk case: `{entry.get('case')}`",
            f"- diagnosis: {diagnosis}",
            f"- upstream: {note.get('upstream') or note.get('account') or 'none known'}",
            f"- checked by hand: {note.get('checked', NOT_CHECKED)}",
            "",
        ]
    unusable = [
        f"`{n}` ({impl.get('problem') or 'unavailable here'})"
        for n, impl in matrix["implementations"].items()
        if not usable(impl)
    ]
    if unusable:
        lines += ["Not in the table: " + "; ".join(unusable) + ".", ""]
    return "\n".join(lines)


def summary(matrix: dict, names: list[str]) -> list[str]:
    """One row per implementation: its description and how many clauses got each verdict."""
    kinds = ("conforms", "fails", "crashed", "timed out", "not claimed", "not applicable")
    rows = ["| implementation | " + " | ".join(kinds) + " | what it runs |", "|---" * (len(kinds) + 2) + "|"]
    for name in names:
        impl = matrix["implementations"][name]
        verdicts = [entry["verdict"] for entry in impl["clauses"].values()]
        counts = " | ".join(str(verdicts.count(kind)) for kind in kinds)
        rows.append(f"| `{name}` | {counts} | {impl.get('description') or ''} |")
    return rows


def usable(impl: dict) -> bool:
    """Whether an implementation ran here (not every clause skipped as unavailable, not a failed run)."""
    verdicts = {entry["verdict"] for entry in impl["clauses"].values()}
    return bool(verdicts) and verdicts != {"skipped-unavailable"}


def changes(new: dict, committed: dict) -> tuple[list[str], list[str]]:
    """The cells whose verdict differs between two matrices, as lines: those held against the
    committed matrix, and those of clauses the budget cut in either (fewer examples: not held)."""
    out, cut = [], []
    for name in sorted(set(new["implementations"]) | set(committed["implementations"])):
        a = committed["implementations"].get(name, {}).get("clauses", {})
        b = new["implementations"].get(name, {}).get("clauses", {})
        for clause_id in sorted(set(a) | set(b)):
            was, now = (x.get(clause_id, {}).get("verdict", "absent") for x in (a, b))
            if was != now:
                held = not any(x.get(clause_id, {}).get("cut") for x in (a, b))
                (out if held else cut).append(f"{name} {clause_id}: committed {was}, now {now}")
    return out, cut


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="rnn-conformance matrix", description=__doc__)
    parser.add_argument("--rnn-impl", action="append", default=[], help="also check this implementation")
    parser.add_argument("--only", action="append", default=None, help="check only these (repeatable)")
    parser.add_argument("--out", default="docs/MATRIX.md", help="the markdown table (default docs/MATRIX.md)")
    parser.add_argument("--notes", default="docs/matrix-notes.json", help="hand-checked notes per deviation")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="implementations run at once")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per implementation")
    parser.add_argument("--profile", default="default", help="the Hypothesis profile (default: default)")
    parser.add_argument("pytest_args", nargs="*", help="more pytest options for every run, after --")
    parser.add_argument(
        "--render", action="store_true", help="run nothing: write the markdown from the JSON and the notes"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a verdict differs from the committed JSON, or a deviation has no note",
    )
    args = parser.parse_args(argv)
    names = args.only or sorted(set(registered()) | set(args.rnn_impl))
    out, notes_path = Path(args.out), Path(args.notes)
    notes = json.loads(notes_path.read_text()) if notes_path.exists() else {}
    if args.render:
        out.write_text(markdown(json.loads(out.with_suffix(".json").read_text()), notes))
        return 0
    extra = (f"--hypothesis-profile={args.profile}", *BUDGET_ARGS, *args.pytest_args)
    committed_path = out.with_suffix(".json")
    cost = expected_seconds(json.loads(committed_path.read_text())) if committed_path.exists() else {}
    reports = run_all(names, args.jobs, args.timeout, extra, cost)
    matrix = {
        "versions": framework_versions(),
        "settings": [*RUN_ARGS[:1], *extra],
        "implementations": summarize(reports),
    }
    if args.check:
        committed = json.loads(out.with_suffix(".json").read_text())
        if committed.get("settings") != matrix["settings"]:
            print(f"the committed matrix was made with {committed.get('settings')}, not {matrix['settings']}")
            return 1
        if args.only:  # the implementations checked here, against their committed columns
            committed["implementations"] = {n: committed["implementations"].get(n, {}) for n in args.only}
        changed, cut = changes(matrix, committed)
        for line in cut:
            print(f"{line} (cut by the budget: not held against the committed matrix)")
        unnoted = [
            f"{name} {clause_id}: {entry['verdict']}, {NOT_CHECKED} (no entry in {notes_path})"
            for name, clause_id, entry in deviations(matrix)
            if f"{name} {clause_id}" not in notes
        ]
        # A deviation that a cut cell newly shows is held no more than the change of its verdict: how
        # far a cut clause gets varies from run to run. It is named, to be checked by hand.
        newly_cut = {line.partition(":")[0] for line in cut}
        for line in unnoted:
            if line.partition(":")[0] in newly_cut:
                print(f"{line}; cut by the budget: not held, check it by hand and note it")
        problems = changed + [line for line in unnoted if line.partition(":")[0] not in newly_cut]
        print("\n".join(problems) or f"the committed matrix {out} holds")
        return 1 if problems else 0
    if args.only and out.with_suffix(".json").exists():  # the other columns stay as committed
        committed = json.loads(out.with_suffix(".json").read_text())["implementations"]
        matrix["implementations"] = {**committed, **matrix["implementations"]}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(matrix, notes))
    out.with_suffix(".json").write_text(json.dumps(matrix, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} and {out.with_suffix('.json')}")
    for name, clause_id, entry in deviations(matrix):
        print(f"{name} {clause_id}: {entry['verdict']}")
    return 0
