"""The gradient machinery: the finite-difference error estimate, the gradient protocol of adapters,
"not claimed: gradients", and the failure message naming the wrong tensor."""

import numpy as np
import pytest
import torch

from conformance.spec.finite_differences import directional_derivative
from implementations.manual import Manual

from .helpers import failed, run_suite

GRAD_CLAUSES = {"grad.input", "grad.h0", "grad.weights"}


def test_smooth_function_is_exact_and_the_error_estimate_is_small():
    f = np.sin
    got = directional_derivative(f, 1e-3, f0=f(0.0), noise=1e-16, kinks=False)
    assert abs(got.value - 1.0) <= got.error <= 1e-6


@pytest.mark.parametrize("kink", [0.0, 1e-7, 0.4e-6, 0.6e-6, 0.9e-6, 1.5e-6, -1.2e-6, 2.5e-6])
def test_error_estimate_covers_a_kink_near_the_point(kink):
    """f(t) = 3t + 2 relu(t - kink): the derivative at 0 is 3 (or 5 for kink < 0), and any central
    difference that straddles the kink is off by up to 1; the estimate must say so."""
    def f(t):
        return 3 * t + 2 * max(t - kink, 0.0)

    true = 5.0 if kink < 0 else 3.0
    got = directional_derivative(f, 1e-6, f0=f(0.0), noise=1e-16, kinks=True)
    assert abs(got.value - true) <= got.error


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
    result, verdicts = run_suite(pytester, "tests.test_gradients:forward_only", "-k", "grad_input", "--hypothesis-profile=catalogue")
    assert failed(verdicts) == {"grad.input"}
    result.stdout.fnmatch_lines(["*neither output nor h_n requires grad*not_claimed*"])


def test_failure_names_the_tensor_and_the_missing_gradient(pytester):
    result, verdicts = run_suite(pytester, "tests.faults:H0Detached", "-k", "grad_h0", "--hypothesis-profile=catalogue")
    assert failed(verdicts) == {"grad.h0"}
    result.stdout.fnmatch_lines(["*gradient of h_0: the directional derivative along * got 0, but should be *.grad was None after backward*"])
