"""Verdict tables of the reference implementations and of every fault in tests/faults.py, as JSON,
and the differences between two such files (a script, not a test: a refactor must leave them alone).

    python benchmarks/verdict_tables.py --out before.json           # every implementation, two at a time
    python benchmarks/verdict_tables.py --diff before.json after.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench import pytest_command  # noqa: E402  (the checkout's, after sys.path)
from tests.faults import CATALOGUE  # noqa: E402
from tests.test_catalogue import REFERENCES  # noqa: E402


def verdict_table(impl: str, profile: str, seed: int, extra: list[str]) -> dict[str, str]:
    """clause id -> verdict of one ``pytest --pyargs conformance --rnn-impl=impl`` run."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")
        args = (
            f"--hypothesis-profile={profile}",
            f"--hypothesis-seed={seed}",
            f"--rnn-report={report}",
            *extra,
        )
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.run(pytest_command(impl, *args), cwd=ROOT, capture_output=True, text=True, env=env)
        if not report.exists():
            return {"(no report)": f"rc={proc.returncode}: {(proc.stderr + proc.stdout).strip()[-300:]}"}
        clauses = json.loads(report.read_text())["implementations"][impl]["clauses"]
    return {clause: entry["verdict"] for clause, entry in clauses.items()}


def collect(profile: str, seed: int, extra: list[str]) -> dict:
    impls = REFERENCES + sorted(CATALOGUE)
    with ThreadPoolExecutor(2) as pool:
        tables = list(pool.map(lambda impl: verdict_table(impl, profile, seed, extra), impls))
    return dict(zip(impls, tables))


def diff(before: dict, after: dict, renamed: dict[str, str]) -> list[str]:
    """The verdicts that differ, but for those ``renamed`` (before -> after) says to expect."""
    lines = []
    for impl in sorted(set(before) | set(after)):
        a, b = before.get(impl, {}), after.get(impl, {})
        for clause in sorted(set(a) | set(b)):
            was, now = a.get(clause, "(absent)"), b.get(clause, "(absent)")
            if now not in (was, renamed.get(was)):
                lines.append(f"{impl}  {clause}: {was} -> {now}")
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", help="write the tables here")
    parser.add_argument("--diff", nargs=2, metavar=("BEFORE", "AFTER"))
    parser.add_argument(
        "--renamed",
        action="append",
        default=[],
        metavar="OLD=NEW",
        help="a verdict renamed between BEFORE and AFTER, e.g. 'not claimed=not applicable'",
    )
    parser.add_argument(
        "--profile", default="catalogue", help="default: catalogue (the default profile without shrinking)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pytest-arg", action="append", default=[], help="passed on to every pytest run")
    args = parser.parse_args()
    if args.diff:
        before, after = (json.loads(Path(p).read_text()) for p in args.diff)
        changes = diff(before, after, dict(r.split("=", 1) for r in args.renamed))
        print(
            "\n".join(changes)
            or f"identical: {len(before)} implementations, {sum(map(len, before.values()))} verdicts"
        )
        sys.exit(1 if changes else 0)
    start = time.perf_counter()
    tables = collect(args.profile, args.seed, args.pytest_arg)
    Path(args.out).write_text(json.dumps(tables, indent=1, sort_keys=True) + "\n")
    print(
        f"{len(tables)} implementations, {sum(map(len, tables.values()))} verdicts in "
        f"{time.perf_counter() - start:.0f} s -> {args.out}"
    )
