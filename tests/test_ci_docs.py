"""The CI workflows in docs/ci parse, and run only the commands and options the suite documents."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from conformance.pytest_plugin import merge  # noqa: E402
from conformance.pytest_plugin.options import SHARD, parse_shard  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = {"github-actions.yml": "run", "gitlab-ci.yml": "script"}
#: ${{ matrix.shard }}, $SHARD, "${CI_NODE_INDEX}": a value in a command line
PLACEHOLDER = re.compile(r"\$\{\{[^}]*\}\}|\$\{?\w+\}?")


def commands(node, key: str):
    """Every command line under ``key`` (run: steps, script: lists), anywhere in the workflow."""
    if isinstance(node, dict):
        for k, value in node.items():
            if k == key:
                yield from (value if isinstance(value, list) else str(value).splitlines())
            else:
                yield from commands(value, key)
    elif isinstance(node, list):
        for value in node:
            yield from commands(value, key)


def suite_invocations(name: str) -> list[list[str]]:
    """The rnn-conformance and pytest command lines of a workflow, placeholders filled in, up to a pipe."""
    workflow = yaml.safe_load((ROOT / "docs" / "ci" / name).read_text())
    lines = [PLACEHOLDER.sub("1", line) for line in commands(workflow, WORKFLOWS[name])]
    words = [shlex.split(line.partition("|")[0]) for line in lines]
    return [w for w in words if w and w[0] in ("rnn-conformance", "pytest")]


@pytest.fixture(scope="module")
def pytest_options() -> set[str]:
    """The options ``pytest --help`` lists with this suite's plugin (and xdist, Hypothesis) loaded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider"],
        cwd=ROOT / "docs",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", result.stdout))


@pytest.mark.parametrize("name", WORKFLOWS)
def test_the_workflow_runs_documented_commands(name, pytest_options):
    invocations = suite_invocations(name)
    assert any(w[:2] == ["rnn-conformance", "merge"] for w in invocations)
    assert any(any(a.startswith(SHARD) for a in w) for w in invocations)
    assert any("--hypothesis-profile=rnn-thorough" in w for w in invocations)
    for words in invocations:
        if words[:2] == ["rnn-conformance", "merge"]:
            args = merge.parser().parse_args(words[2:])  # exits on an option merge does not take
            assert args.reports and args.report
            continue
        flags = [w.partition("=")[0] for w in words[1:] if w.startswith("-")]
        assert set(flags) <= pytest_options, (name, set(flags) - pytest_options)
        for value in (w.partition("=")[2] for w in words if w.startswith(SHARD + "=")):
            parse_shard(value)
