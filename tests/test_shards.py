"""--rnn-shard=K/N and rnn-conformance merge: three shards, each its own process, merge to the single run."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conformance.pytest_plugin import merge
from conformance.pytest_plugin.options import Shard, parse_shard
from conformance.pytest_plugin.session import clause_of
from conformance.pytest_plugin.shards import assign

ROOT = Path(__file__).resolve().parents[1]
IMPLS = ("torch.nn:GRU", "tests.faults:BiasHhDropped")
FAST = ("--hypothesis-profile=rnn-fast", "--hypothesis-seed=0", "-p", "no:cacheprovider", "-q")


def suite(out: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m pytest --pyargs conformance`` on both implementations, its report in out/name.json."""
    impls = [f"--rnn-impl={impl}" for impl in IMPLS]
    command = [sys.executable, "-m", "pytest", "--pyargs", "conformance", *impls, *FAST, *args]
    command += [f"--rnn-report={out / name}.json", f"--rnn-reproductions={out / 'reproductions'}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("CI", None)  # Hypothesis's ci profile would replace rnn-fast
    return subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=600)


def cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "conformance.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def verdict_map(report: dict) -> dict:
    return {
        (impl, clause_id): entry["verdict"]
        for impl, data in report["implementations"].items()
        for clause_id, entry in data["clauses"].items()
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The unsharded run and the three shards, four processes at once; shard 1 writes a JUnit XML.
    Slow (about 40 s): four real runs of the suite on two implementations."""
    out = tmp_path_factory.mktemp("shards")
    jobs = {"single": ()} | {f"shard{k}": (f"--rnn-shard={k}/3",) for k in (1, 2, 3)}
    jobs["shard1"] += (f"--junitxml={out / 'shard1.xml'}", f"--rnn-summary={out / 'shard1.md'}")
    with ThreadPoolExecutor(len(jobs)) as pool:
        done = dict(zip(jobs, pool.map(lambda job: suite(out, job, *jobs[job]), jobs)))
    for name, result in done.items():
        assert result.returncode == 1, (name, result.stdout[-3000:], result.stderr[-3000:])  # the fault fails
    return out, done


def shard_paths(out: Path, *ks: int) -> list[str]:
    return [str(out / f"shard{k}.json") for k in ks]


def test_the_shards_are_disjoint_and_their_union_is_the_run(runs):
    out, _ = runs
    shards = [json.loads(Path(p).read_text())["shard"] for p in shard_paths(out, 1, 2, 3)]
    items = [set(s["items"]) for s in shards]
    total = set(shards[0]["total_items"])
    assert len(total) == 2 * 41 and all(s["total_items"] == shards[0]["total_items"] for s in shards)
    assert sum(map(len, items)) == len(total) and set().union(*items) == total
    assert [s["index"] for s in shards] == [1, 2, 3] and {s["count"] for s in shards} == {3}


def test_the_merged_shards_give_the_single_runs_verdicts(runs, tmp_path):
    out, done = runs
    result = cli("merge", *shard_paths(out, 1, 2, 3), f"--rnn-report={tmp_path / 'merged.json'}")
    assert result.returncode == 1, result.stdout  # the fault fails
    merged = json.loads((tmp_path / "merged.json").read_text())
    single = json.loads((out / "single.json").read_text())
    assert verdict_map(merged) == verdict_map(single)
    assert merged["complete"] and not merged["missing"]
    for impl in IMPLS:
        assert f" RNN conformance verdicts: {impl} " in result.stdout
        assert summary_lines(result, impl) == summary_lines(done["single"], impl) != []
    # every failure keeps its record: message, case, reproduction
    failure = merged["implementations"]["tests.faults:BiasHhDropped"]["clauses"]["gru.update"]["failure"]
    assert failure["case"].startswith("Case(") and Path(failure["reproduction_path"]).exists()


def summary_lines(result, impl: str) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(f"{impl}: ")]


def test_a_dropped_shard_is_reported_missing(runs, tmp_path):
    out, _ = runs
    summary, report = tmp_path / "summary.md", tmp_path / "merged.json"
    result = cli("merge", *shard_paths(out, 1, 3), f"--rnn-summary={summary}", f"--rnn-report={report}")
    assert result.returncode == 1
    shard2 = json.loads((out / "shard2.json").read_text())["shard"]["items"]
    gru_tests = [n for n in shard2 if n.endswith("[torch.nn:GRU]")]
    assert gru_tests, "shard 2 holds GRU tests"
    assert "no report of shard 2/3" in result.stdout
    missing = json.loads(report.read_text())["missing"]
    assert set(missing["torch.nn:GRU"]) == {clause_of(nodeid)[0] for nodeid in gru_tests}
    assert "| `torch.nn:GRU` |" in summary.read_text() and "** missing:" in summary.read_text()


def test_mismatched_settings_are_refused(runs, tmp_path):
    out, _ = runs
    report = json.loads((out / "shard2.json").read_text())
    for key, value in [("max_examples", 100), ("seed", 1), ("not_claimed", ["bidirectional"])]:
        changed = copy.deepcopy(report)
        changed["settings"][key] = value
        path = tmp_path / f"{key}.json"
        path.write_text(json.dumps(changed))
        result = cli("merge", *shard_paths(out, 1, 3), str(path))
        assert result.returncode == merge.REFUSED and len(result.stdout.strip().splitlines()) == 1
        assert key in result.stdout, result.stdout
    (tmp_path / "copy.json").write_text((out / "shard1.json").read_text())
    twice = cli("merge", *shard_paths(out, 1), str(tmp_path / "copy.json"))
    assert twice.returncode == merge.REFUSED and "the same test twice" in twice.stdout


def test_junit_has_a_case_per_clause_and_implementation_with_one_line_messages(runs):
    out, _ = runs
    shard = json.loads((out / "shard1.json").read_text())["shard"]
    cases = ET.parse(out / "shard1.xml").getroot().iter("testcase")
    names = {f"{c.get('name')}" for c in cases}
    assert names == {nodeid.rpartition("::")[2] for nodeid in shard["items"]}
    for failure in ET.parse(out / "shard1.xml").getroot().iter("failure"):
        assert "\n" not in failure.get("message") and failure.get("message")
    summary = (out / "shard1.md").read_text()
    assert "Shard 1/3" in summary and "| `tests.faults:BiasHhDropped` |" in summary


def test_xdist_workers_and_controller_agree_on_the_shard(tmp_path):
    args = ("--rnn-shard=2/3", "-k", "gru_ or errors_input")
    serial, parallel = suite(tmp_path, "serial", *args), suite(tmp_path, "parallel", *args, "-n", "2")
    assert serial.returncode == parallel.returncode, parallel.stdout[-3000:]
    reports = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("serial", "parallel")]
    assert reports[0]["shard"] == reports[1]["shard"] and reports[0]["shard"]["items"]
    assert verdict_map(reports[0]) == verdict_map(reports[1])
    assert set(reports[1]["shard"]["items"]) == {t for e in verdict_map_tests(reports[1]) for t in e}


def verdict_map_tests(report: dict) -> list:
    impls = report["implementations"].values()
    return [entry["tests"] for data in impls for entry in data["clauses"].values()]


def test_assignment_is_balanced_stable_and_independent_of_order():
    units = {f"t{n}": float(n % 7) for n in range(30)}
    shards = assign(units, 4)
    assert shards == assign(dict(reversed(units.items())), 4)
    assert sorted(sum(shards, [])) == sorted(units)
    loads = [sum(units[n] for n in s) for s in shards]
    assert max(loads) - min(loads) <= max(units.values())


@pytest.mark.parametrize("value", ["0/3", "4/3", "x", "1/0", "1/"])
def test_bad_shards_are_usage_errors(value):
    with pytest.raises(pytest.UsageError, match="--rnn-shard"):
        parse_shard(value)
    assert parse_shard("2/3") == Shard(2, 3)
