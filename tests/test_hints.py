"""A naive run says what to declare: a feature that every failing clause's shrunk case keeps."""

import json

import pytest

from conformance.pytest_plugin.hints import hints
from conformance.registry import Implementation

from .helpers import failed, run_suite


class Adapter:
    modes = ("GRU",)

    def build(self, config, weights):
        raise NotImplementedError


def impl(*modes, not_claimed=()) -> Implementation:
    return Implementation("x", Adapter(), modes=frozenset(modes), not_claimed=frozenset(not_claimed))


def failing(mode, *uses, verdict="fails", exception="Mismatch"):
    features = {"mode": mode, "uses": sorted(uses)}
    return {"verdict": verdict, "failure": {"features": features, "exception": exception}}


def options(implementation, clauses) -> list[str]:
    return [hint["option"] for hint in hints(implementation, clauses)]


@pytest.mark.parametrize(
    "implementation, clauses, want",
    [
        (
            impl("GRU"),
            {
                "output.matches_oracle": failing("GRU", "bidirectional", "float64"),
                "shape.output": failing("GRU", "bidirectional", "float64", "bias_false", verdict="error"),
                "gru.update": {"verdict": "conforms"},
            },
            ["--rnn-not-claimed=bidirectional"],
        ),
        (  # what was declared already stays in the option
            impl("LSTM", not_claimed={"multi_layer"}),
            {
                "output.matches_oracle": failing("LSTM", "projection"),
                "shape.output": failing("LSTM", "projection"),
            },
            ["--rnn-not-claimed=multi_layer,projection"],
        ),
        (  # tanh is what an Elman case shrinks to: relu kept is relu needed
            impl("RNN_TANH", "RNN_RELU"),
            {
                "output.matches_oracle": failing("RNN_RELU"),
                "state.h0_used": failing("RNN_RELU", "initial_state"),
            },
            ["--rnn-kind=RNN_TANH"],
        ),
        (  # every failing clause is about packed input
            impl("GRU"),
            {"packed.matches_oracle": failing("GRU"), "packed.each_row_alone": failing("GRU", "float32")},
            ["--rnn-not-claimed=packed"],
        ),
        (  # float64 and the first mode are where every case shrinks to: no evidence
            impl("GRU", "LSTM"),
            {"output.matches_oracle": failing("GRU", "float64"), "shape.output": failing("GRU", "float64")},
            [],
        ),
        (  # a clause of one cell kind keeps it whatever the cause
            impl("GRU", "LSTM"),
            {"lstm.cell": failing("LSTM", "initial_state"), "lstm.projection": failing("LSTM", "projection")},
            [],
        ),
        (  # the bad h_0 was not refused, but the valid one was taken: initial_state is supported
            impl("GRU"),
            {
                "errors.h0_shape": failing("GRU", "initial_state", exception="NotRefused"),
                "errors.dtype_mismatch": failing("GRU", "initial_state", exception="NotRefused"),
            },
            [],
        ),
        (  # ... and so it is where another clause fails on cases with an h_0
            impl("GRU"),
            {
                "errors.h0_shape": failing("GRU", "initial_state", exception="NotRefused"),
                "state.h0_used": failing("GRU", "initial_state"),
            },
            [],
        ),
        (impl("GRU"), {"output.matches_oracle": failing("GRU", "bidirectional")}, []),  # one clause
        (  # a failure without a case (not the clause's body) says nothing
            impl("GRU"),
            {"output.matches_oracle": failing("GRU", "bidirectional"), "shape.output": {"verdict": "error"}},
            [],
        ),
    ],
)
def test_a_feature_every_failing_clause_kept_is_hinted(implementation, clauses, want):
    assert options(implementation, clauses) == want


def test_hint_message_names_the_setting_and_the_option():
    clauses = {"output.matches_oracle": failing("RNN_RELU"), "shape.output": failing("RNN_RELU")}
    (hint,) = hints(impl("RNN_TANH", "RNN_RELU"), clauses)
    assert hint["message"] == (
        "hint: all 2 failing clauses (output.matches_oracle, shape.output) failed on cases with "
        "nonlinearity='relu' (RNN_RELU); if x does not support it, declare it: --rnn-kind=RNN_TANH"
    )


CLAUSES = "output_matches_oracle or shape_output or h_n_matches_oracle or gru_update"


def test_a_naive_run_hints_and_the_declared_run_has_no_failures(pytester, tmp_path):
    name, path = "tests.refusing:GRUWithoutBidirectional", tmp_path / "naive.json"
    result, verdicts = run_suite(pytester, name, "-k", CLAUSES, f"--rnn-report={path}")
    assert failed(verdicts) == {"output.matches_oracle", "shape.output", "state.h_n_matches_oracle"}
    result.stdout.fnmatch_lines(
        [
            f"{name}: 1 conforms, 3 fails",
            "hint: all 3 failing clauses (*) failed on cases with bidirectional=True; if "
            f"{name} does not support it, declare it: --rnn-not-claimed=bidirectional",
        ]
    )
    (hint,) = json.loads(path.read_text())["implementations"][name]["hints"]
    assert hint["option"] == "--rnn-not-claimed=bidirectional"

    path = tmp_path / "declared.json"
    result, verdicts = run_suite(
        pytester, name, "-k", CLAUSES, "--rnn-not-claimed=bidirectional", f"--rnn-report={path}"
    )
    assert result.ret == pytest.ExitCode.OK and failed(verdicts) == set()
    assert json.loads(path.read_text())["implementations"][name]["hints"] == []
    assert "hint:" not in result.stdout.str()
