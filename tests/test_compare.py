"""The failure messages: named axes, "got X, but should be Y", earliest divergence, NaN."""

import numpy as np
import pytest

from conformance.compare import Mismatch, assert_output_close, assert_state_close
from conformance.spec.config import Config

BIDIR = Config("GRU", input_size=2, hidden_size=3, num_layers=2, bidirectional=True)


def message(fn, *args) -> str:
    with pytest.raises(Mismatch) as info:
        fn(*args)
    return str(info.value)


def test_output_mismatch_names_step_row_direction_unit():
    want = np.zeros((4, 2, 6))
    got = want.copy()
    got[1, 1, 4] = 0.5  # step 1, row 1, reverse direction (units 3..5), unit 1
    text = message(assert_output_close, BIDIR, got, want, 1e-6)
    assert "output differs from the oracle: 1 of 48 values (2.1%)" in text
    assert "step 1, row 1, reverse direction, unit 1: got 0.5, but should be 0" in text


def test_earliest_divergence_follows_each_direction_in_processing_order():
    want = np.zeros((4, 1, 6))
    got = want.copy()
    got[3, 0, 3] = 0.01  # reverse direction, step 3: the first step the reverse pass computes
    got[2, 0, 3] = 0.9  # larger, but later in the reverse pass
    text = message(assert_output_close, BIDIR, got, want, 1e-6)
    assert "largest error 0.9 at step 2, row 0, reverse direction, unit 0" in text
    assert "earliest divergence" in text and "step 3, row 0, reverse direction, unit 0: got 0.01" in text


def test_batch_first_output_is_decoded_in_time_major_terms():
    config = BIDIR.replace(batch_first=True)
    want = np.zeros((2, 4, 6))  # (N, L, D*H)
    got = want.copy()
    got[1, 3, 0] = 1.0
    assert "step 3, row 1, forward direction, unit 0" in message(assert_output_close, config, got, want, 1e-6)


def test_state_mismatch_names_layer_and_direction():
    want = np.zeros((4, 2, 3))
    got = want.copy()
    got[3, 0, 2] = -1.0  # layer 1, reverse
    text = message(assert_state_close, BIDIR, got, want, 1e-6)
    assert (
        "h_n differs from the oracle" in text
        and "layer 1, reverse direction, row 0, unit 2: got -1, but should be 0" in text
    )


def test_nan_is_reported_as_such():
    want = np.zeros((3, 1, 6))
    got = want.copy()
    got[2, 0, 1] = np.nan
    text = message(assert_output_close, BIDIR, got, want, 1e-6)
    assert "got NaN, but should be 0" in text
    assert (
        "1 non-finite values; first NaN at step 2, row 0, forward direction, unit 1 where the oracle is "
        "finite (0)" in text
    )


def test_wrong_shape_is_reported_before_values():
    text = message(assert_state_close, BIDIR, np.zeros((2, 4, 3)), np.zeros((4, 2, 3)), 1e-6)
    assert text.startswith("h_n has shape (2, 4, 3), but should be (4, 2, 3)")


def test_values_within_tolerance_pass():
    want = np.ones((2, 1, 6))
    assert_output_close(BIDIR, want + 1e-7, want, 1e-6)


def test_equal_infinities_are_equal_but_inf_against_finite_is_not():
    want = np.full((1, 1, 6), np.inf)
    assert_output_close(BIDIR, want.copy(), want, 1e-6)
    got = want.copy()
    want[0, 0, 0] = 1e30
    assert "got inf, but should be 1e+30" in message(assert_output_close, BIDIR, got, want, 1e-6)


def test_values_are_printed_until_they_differ_with_the_difference_in_eps():
    """A float64 claim computed in float32: six digits would print the same number twice."""
    want = np.full((1, 1, 6), 0.8952041952156121)
    got = want.astype(np.float32).astype(np.float64)
    text = message(assert_output_close, BIDIR, got, want, 1e-13)
    line = next(line for line in text.splitlines() if "largest error" in line)
    assert "got 0.8952042, but should be 0.8952042" not in line
    assert "got 0.89520419, but should be 0.8952042 (difference 8.7761e-09, allowed 1e-13; " in line
    assert "float64 eps of the value, 0.082 float32 eps: about what a float32 computation would give" in line


def test_a_difference_far_from_float32_rounding_is_not_called_float32():
    want = np.full((1, 1, 6), 0.5)
    text = message(assert_output_close, BIDIR, want + 0.25, want, 1e-13)
    assert "got 0.75, but should be 0.5 (difference 0.25, allowed 1e-13; " in text
    assert "float32 eps" not in text
