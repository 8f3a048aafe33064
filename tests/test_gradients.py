"""The gradient machinery: the oracle's complex-step derivatives, the gradient protocol of
adapters, "not claimed: gradients", and the failure message naming the wrong tensor."""

from contextlib import contextmanager
from unittest import mock

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.case import Case
from conformance.gradients import Probe
from conformance.spec import complex_step, oracle
from conformance.spec.config import MODES, Config
from conformance.strategies import cases, configs
from implementations.manual import Manual

from .helpers import failed, run_suite

GRAD_CLAUSES = {"grad.input", "grad.h0", "grad.weights"}


def test_sigmoid_through_tanh_is_the_logistic_function():
    x = np.linspace(-40, 40, 100001)
    assert np.max(np.abs(oracle.sigmoid(x) - 1 / (1 + np.exp(-x)))) <= 2.3e-16


@contextmanager
def recorded_relu_inputs():
    """Collects the input of every ReLU the oracle evaluates (RNN_RELU; nothing for other modes)."""
    seen = []

    def recording_relu(p):
        seen.append(p)
        return oracle.relu(p)

    with mock.patch.dict(oracle.CELLS, {"RNN_RELU": oracle.elman_cell(recording_relu)}):
        yield seen


def derivative_and_kink(probe, name: str, V, step: float) -> tuple[float, bool]:
    """The complex-step derivative along V, and whether some ReLU input p changes sign for
    θ + t·V, |t| <= step (to first order, with a margin of 2): the same complex run gives p (real
    part) and dp/dt (imaginary part / H). Across a kink the central difference averages the slopes
    on either side, while the derivative (the complex step's, and torch's) is the slope at t = 0."""
    with recorded_relu_inputs() as seen:
        exact = probe.derivative(name, V)
    p = np.concatenate([a.ravel() for a in seen]) if seen else np.zeros(0)
    return exact, bool(np.any(np.abs(p.real) <= 2 * step * np.abs(p.imag / complex_step.H)))


def small_cases(**fields):
    """float64 cases of every mode, up to 6 steps and 3 rows."""
    return cases(configs(MODES, ("float64",)), seq_len=st.integers(1, 6), batch=st.integers(1, 3), **fields)


@settings(max_examples=60, deadline=None, database=None)
@given(case=small_cases(with_h0=st.just(True)))
def test_complex_step_agrees_with_finite_differences(case):
    """Independent check of the complex-step machinery, every mode and tensor (LSTM's c_0 and
    W_hr included): a central difference of the real oracle, whose error (~1e-9 here) is far
    above the complex step's but far below any fault (at torch's initial scale: large inputs and
    gains make the central difference's truncation error large, not the complex step's). A
    direction along which a ReLU kink lies within the step is skipped: the central difference is
    not the derivative there."""
    probe = Probe(case.replace(input_scale=1.0, weight_gain=1.0))
    step = 1e-5
    for name in probe.probed:
        ((_, V),) = probe.directions(name, 1)
        exact, kink = derivative_and_kink(probe, name, V, step)
        if kink:
            continue

        def loss(t):
            arrays = {**probe.arrays, name: probe.arrays[name] + t * V}
            return complex_step.loss(probe.config, arrays, probe.R, probe.S).real

        central = (loss(step) - loss(-step)) / (2 * step)
        assert abs(exact - central) <= 1e-6 * max(1.0, abs(central)), (
            f"{name}: complex step {exact!r}, central difference {central!r}"
        )


@settings(max_examples=60, deadline=None, database=None)
@given(case=small_cases(unbatched=st.booleans()))
def test_directions_taken_in_one_run_equal_those_taken_one_at_a_time(case):
    """x's, h_0's and c_0's directions share one complex run, each along its own copy of the batch
    rows: every derivative must be what a run of its own gives, whichever tensor and layout."""
    probe = Probe(case)
    for name in probe.probed:
        directions = [V for _, V in probe.directions(name, 3)]
        together = probe.derivatives(name, directions)
        alone = [
            complex_step.directional_derivative(probe.config, probe.arrays, name, V, probe.R, probe.S)
            for V in directions
        ]
        np.testing.assert_allclose(together, alone, rtol=1e-12, atol=1e-12, err_msg=name)


def test_the_kink_check_finds_the_kink_that_broke_the_central_difference():
    """The example that made the central difference disagree (CI, seed 1502): a ReLU input of
    layer 0 crosses zero within 1e-5 along the drawn direction of weight_hh_l0."""
    config = Config(mode="RNN_RELU", input_size=1, hidden_size=5, num_layers=3)
    probe = Probe(
        Case(config=config, seq_len=4, batch=3, seed=1502, weight_gain=1.0, input_scale=1.0, with_h0=True)
    )
    ((_, V),) = probe.directions("weight_hh_l0", 1)
    assert derivative_and_kink(probe, "weight_hh_l0", V, 1e-5)[1]
    assert not derivative_and_kink(probe, "weight_hh_l0", V, 1e-9)[1]


class ForwardOnly(Manual):
    """A forward-only implementation (as a NumPy or inference-only kernel is)."""

    def build(self, config, weights):
        call = super().build(config, weights)

        def no_grad_call(x, h0):
            with torch.no_grad():
                return call(x, h0)

        return no_grad_call


class DeclaredForwardOnly(ForwardOnly):
    not_claimed = {"gradients"}


forward_only = ForwardOnly()
declared_forward_only = DeclaredForwardOnly()


def test_not_claimed_gradients_are_skipped_with_the_reason(pytester):
    result, verdicts = run_suite(pytester, "tests.test_gradients:declared_forward_only", "-k", "grad", "-rs")
    assert {c: verdicts[c] for c in GRAD_CLAUSES} == {c: {"skipped"} for c in GRAD_CLAUSES}
    result.stdout.fnmatch_lines(["*not claimed: * does not claim gradients, which grad.input is about*"])


def test_undeclared_forward_only_fails_saying_how_to_declare_it(pytester):
    result, verdicts = run_suite(
        pytester, "tests.test_gradients:forward_only", "-k", "grad_input", "--hypothesis-profile=catalogue"
    )
    assert failed(verdicts) == {"grad.input"}
    result.stdout.fnmatch_lines(["*neither output nor h_n requires grad*not_claimed*"])


def test_failure_names_the_tensor_and_the_missing_gradient(pytester):
    result, verdicts = run_suite(
        pytester, "tests.faults:H0Detached", "-k", "grad_h0", "--hypothesis-profile=catalogue"
    )
    assert failed(verdicts) == {"grad.h0"}
    result.stdout.fnmatch_lines(
        [
            "*gradient of h_0: the directional derivative along * got 0, but should be *.grad was None after "
            "backward*"
        ]
    )
