"""The plugin as a user meets it: auto-loaded, options in --help, the report header, --rnn-kind."""

import re
from pathlib import Path

from conformance.spec.clauses import CLAUSES

from .helpers import run_suite


def test_options_are_in_help(pytester):
    result = pytester.runpytest_inprocess("--help")
    result.stdout.fnmatch_lines(["*RNN conformance suite*", "*--rnn-impl=NAME*", "*--rnn-kind=MODE*"])


def test_header_names_implementation_versions_and_settings(pytester):
    result, _ = run_suite(pytester, "torch.nn:GRU", "--collect-only")
    result.stdout.fnmatch_lines(
        [
            "rnn-conformance: torch *, hypothesis *, numpy *",
            "  implementation torch.nn:GRU: torch.nn.modules.rnn.GRU on cpu; modes GRU; dtypes checked "
            "float32, float64",
            "  hypothesis profile *: max_examples=*, derandomize=*; the clauses have no deadline *",
        ]
    )
    assert "deadline=" not in result.stdout.str()


def test_collect_only_shows_no_verdicts(pytester, tmp_path):
    """Nothing ran, so there is no table, no "incomplete" line and no report."""
    path = tmp_path / "report.json"
    result, _ = run_suite(pytester, "torch.nn:GRU", "--collect-only", f"--rnn-report={path}")
    out = result.stdout.str()
    assert result.ret == 0 and "test_gru_update[torch.nn:GRU]" in out
    assert "RNN conformance verdicts" not in out and "incomplete" not in out and not path.exists()


def test_header_lists_the_dtypes_left_after_declarations(pytester):
    result, _ = run_suite(pytester, "torch.nn:GRU", "--rnn-not-claimed=float64", "--collect-only")
    result.stdout.fnmatch_lines(
        ["  implementation torch.nn:GRU: torch.nn.modules.rnn.GRU on cpu; modes GRU; dtypes checked float32"]
    )


def test_lstm_and_cells_are_detected_as_drop_ins(pytester):
    result, _ = run_suite(
        pytester,
        "torch.nn:LSTM",
        "--rnn-impl=torch.nn:GRUCell",
        "--rnn-impl=torch.nn:RNNCell",
        "--collect-only",
    )
    result.stdout.fnmatch_lines(
        [
            "  implementation torch.nn:LSTM: torch.nn.modules.rnn.LSTM on cpu; modes LSTM; *",
            "  implementation torch.nn:GRUCell: torch.nn.modules.rnn.GRUCell on cpu; cell modes GRU; *",
            "  implementation torch.nn:RNNCell: torch.nn.modules.rnn.RNNCell on cpu; cell modes RNN_RELU, "
            "RNN_TANH; *",
        ]
    )


def test_cell_and_sequence_clauses_do_not_apply_to_each_other(pytester):
    result, verdicts = run_suite(
        pytester,
        "torch.nn:GRUCell",
        "--rnn-impl=torch.nn:GRU",
        "-k",
        "test_cell_matches_oracle or test_gru_update",
        "-rs",
    )
    assert verdicts["cell.matches_oracle"] == {"passed", "skipped"}
    assert verdicts["gru.update"] == {"passed", "skipped"}
    for line in (
        "*not applicable: torch.nn:GRUCell is a cell (one step); gru.update checks sequence modules*",
        "*not applicable: torch.nn:GRU is a sequence module; cell.matches_oracle checks cells*",
    ):
        result.stdout.fnmatch_lines([line])


def test_rnn_kind_narrows_what_is_claimed(pytester):
    result, verdicts = run_suite(pytester, "torch", "--rnn-kind=GRU", "-k", "elman or candidate", "-rs")
    assert verdicts["cell.elman"] == {"skipped"}
    assert verdicts["gru.candidate"] == {"passed"}
    result.stdout.fnmatch_lines(
        ["*not applicable: torch implements GRU; cell.elman covers RNN_RELU, RNN_TANH*"]
    )


def test_every_clause_has_a_test_and_a_readme_row():
    clause_dir = Path(__file__).parent.parent / "conformance" / "clauses"
    tested = set(
        re.findall(r'@clause\("([^"]+)"\)', "".join(p.read_text() for p in clause_dir.glob("test_*.py")))
    )
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert tested == set(CLAUSES)
    assert [c for c in CLAUSES if f"| `{c}` |" not in readme] == []


def test_rnn_dtypes_states_what_a_drop_in_class_claims(pytester):
    result, _ = run_suite(pytester, "torch.nn:GRU", "--rnn-dtypes=float64,bfloat16", "--collect-only")
    result.stdout.fnmatch_lines(["  implementation torch.nn:GRU: * dtypes checked bfloat16, float64"])
    result, _ = run_suite(pytester, "torch.nn:GRU", "--rnn-dtypes=float8")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*unknown dtype(s) float8*"])
