"""h_0 and h_n: defaults, per-layer/direction use, and h_n against the output (CONTRACT.md,
"Layers" and "h_n and the last output")."""

import numpy as np

from ..compare import assert_close, assert_output_close, assert_shape, assert_state_close
from ..runner import run_case
from ..spec.layout import output_axes, state_axes
from ..state import first
from ._helpers import assert_matches_oracle, clause, compared_with_oracle, draw_case, expected, tolerance


@clause("state.h_n_matches_oracle")
def test_state_h_n_matches_oracle(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl), parts=("h_n",))


@clause("state.h0_used")
def test_state_h0_used(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, with_h0=True))


@clause("state.default_h0_is_zeros")
def test_state_default_h0_is_zeros(impl, data):
    case = draw_case(data, impl, with_h0=False)
    default = run_case(impl, case)
    zeros = run_case(impl, case, h0=case.zeros_h0)
    tol = tolerance(case, default.output, default.h_n)
    assert_output_close(
        case.config,
        default.output,
        zeros.output,
        tol,
        what="output without h_0",
        against="the output with h_0 = zeros",
    )
    assert_state_close(
        case.config, default.h_n, zeros.h_n, tol, what="h_n without h_0", against="h_n with h_0 = zeros"
    )


@clause("state.h_n_is_last_output")
def test_state_h_n_is_last_output(impl, data):
    case = draw_case(data, impl)
    got, want = run_case(impl, case), expected(case)
    assert_shape(got.output, want[0].shape, what="output")
    assert_shape(first(got.h_n), first(want[1]).shape, what="h_n")
    output, h_n = output_axes(case.config, got.output), state_axes(case.config, first(got.h_n))
    tol = tolerance(case, *want)
    top = h_n[-1]  # (direction, row, unit)
    last = np.stack(
        [output[-1, :, 0], output[0, :, 1]] if case.config.directions == 2 else [output[-1, :, 0]]
    )
    assert_close(
        top,
        last,
        tol,
        what="h_n of the top layer",
        axes=("direction", "row", "unit"),
        against="the output at the last step (forward) / step 0 (reverse)",
        dtype=case.config.dtype,
    )


@clause("state.c_n_matches_oracle")
def test_state_c_n_matches_oracle(impl, data):
    case = draw_case(data, impl)
    got, (want_output, (want_h_n, want_c_n)) = run_case(impl, case), expected(case)
    tol = tolerance(case, want_output, want_h_n, want_c_n)
    with compared_with_oracle(case, got, tol, ("c_n",)):
        assert_state_close(case.config, got.h_n[1], want_c_n, tol, what="c_n")
