"""rnn-conformance matrix: one column per implementation, each run in a process of its own; --check
holds the committed matrix to the verdicts and every deviation to a hand-checked note (issue 13)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FAULT = "tests.faults:BiasHhDropped"


def matrix(tmp_path, *args) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "conformance.cli", "matrix", "--only", "manual", "--only", FAULT]
    command += ["--out", str(tmp_path / "MATRIX.md"), "--notes", str(tmp_path / "notes.json")]
    command += ["--profile=rnn-fast", *args, "--", "-k", "gru_update or errors_zero_length"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)


def test_matrix_is_written_and_checked(tmp_path):
    written = matrix(tmp_path)
    assert written.returncode == 0, written.stderr
    table = (tmp_path / "MATRIX.md").read_text()
    assert f"| clause | `manual` | `{FAULT}` |" in table
    assert "| `gru.update` | ✓ | **fails** |" in table
    assert "| `errors.zero_length` | ✓ | ✓ |" in table
    assert f"**`{FAULT}` · `gru.update`: fails.**" in table and "not yet checked by hand" in table
    committed = json.loads((tmp_path / "MATRIX.json").read_text())
    assert committed["implementations"][FAULT]["clauses"]["gru.update"]["verdict"] == "fails"

    unexplained = matrix(tmp_path, "--check")
    assert unexplained.returncode == 1
    assert f"{FAULT} gru.update: fails, not yet checked by hand" in unexplained.stdout

    note = {f"{FAULT} gru.update": {"checked": "yes", "account": "bias_hh left out"}}
    (tmp_path / "notes.json").write_text(json.dumps(note))
    holds = matrix(tmp_path, "--check")
    assert holds.returncode == 0, holds.stdout

    committed["implementations"][FAULT]["clauses"]["gru.update"]["verdict"] = "conforms"
    (tmp_path / "MATRIX.json").write_text(json.dumps(committed))
    changed = matrix(tmp_path, "--check")
    assert changed.returncode == 1 and f"{FAULT} gru.update: committed conforms, now fails" in changed.stdout

    # A cut cell's verdict may change from run to run: its change is reported, not held, and so is
    # the missing note of a deviation it newly shows.
    committed["implementations"][FAULT]["clauses"]["gru.update"]["cut"] = True
    (tmp_path / "MATRIX.json").write_text(json.dumps(committed))
    (tmp_path / "notes.json").write_text("{}")
    cut = matrix(tmp_path, "--check")
    assert cut.returncode == 0, cut.stdout
    assert f"{FAULT} gru.update: fails, not yet checked by hand" in cut.stdout
    assert "cut by the budget: not held, check it by hand" in cut.stdout
