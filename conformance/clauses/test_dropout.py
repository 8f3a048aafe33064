"""Dropout acts between layers only, in training mode only, never after the last layer
(CONTRACT.md, "Layers"; bug 8). Checked by properties that hold whatever the random stream."""

from hypothesis import strategies as st

from ..capabilities import within
from ..compare import assert_output_close, assert_state_close
from ..runner import run_case
from ..strategies import sampled_from
from ._helpers import assert_matches_oracle, clause, compared_with_oracle, draw_case, expected, tolerance

DROPOUT = sampled_from((0.25, 0.5, 1.0))


@clause("dropout.eval_mode")
def test_dropout_eval_mode(impl, data):
    # One layer still checks the other half of bug 8: nothing dropped from the output in eval mode.
    layers = within(impl, "multi_layer", st.integers(2, 3))
    assert_matches_oracle(impl, draw_case(data, impl, num_layers=layers, dropout=DROPOUT, training=False))


@clause("dropout.single_layer")
def test_dropout_single_layer(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, num_layers=1, dropout=DROPOUT, training=True))


@clause("dropout.between_layers")
def test_dropout_between_layers(impl, data):
    with_h0 = within(impl, "initial_state", True)
    case = draw_case(data, impl, num_layers=st.integers(2, 3), dropout=1.0, training=True, with_h0=with_h0)
    got, (want_output, want_h_n) = run_case(impl, case), expected(case)  # the oracle: upper layers read zeros
    tol = tolerance(case, want_output, want_h_n)
    against = "the oracle with every layer above the first reading zeros (dropout = 1 in training mode)"
    with compared_with_oracle(case, got, tol, ("output", "h_n")):
        assert_output_close(
            case.config,
            got.output,
            want_output,
            tol,
            what="output (the top layer's, which is never dropped)",
            against=against,
        )
        assert_state_close(case.config, got.h_n, want_h_n, tol, against=against)
