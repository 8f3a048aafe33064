"""Gradients of an implementation against the oracle's finite differences, one tensor at a time.

For a case, ``Probe`` fixes the loss L = sum(output * R) + sum(h_n * S) (R, S random, from the
case's seed) and, for each tensor (x, h_0 or a parameter), a few directions V. The
implementation's gradient, projected on V, must equal the oracle's directional derivative
(spec/finite_differences.py) within compare.allowed_gradient_error.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from .case import round_to
from .compare import allowed_gradient_error, assert_derivative_close, magnitude
from .runner import Gradients, run_with_grad
from .spec import finite_differences, oracle

#: Finite-difference step, per unit of V; V's entries are N(0, 1) times the tensor's rms, so a
#: step moves each tensor by 1e-6 of its own size: truncation ~1e-12 |L'''|/6 before Richardson's
#: extrapolation, rounding 1.5e6 * noise, and ReLU kinks are crossed rarely (probability ~ EPS).
EPS = 1e-6

#: The float64 oracle's rounding per value, relative to compare.magnitude * sqrt(steps * layers),
#: as in compare.allowed_error but sized for the oracle rather than for any implementation (about
#: 45 eps): torch.nn in float64 stays within 7e-17 of it (tests/test_tolerances.py, 0.07% of 1e-13).
NOISE_RTOL = 1e-14


def rms(array) -> float:
    return float(np.sqrt(np.mean(np.square(array)))) if np.size(array) else 0.0


class Probe:
    """One case's loss (R, S), directions and oracle derivatives; ``run`` backpropagates the
    implementation, ``check`` compares one tensor's gradient."""

    def __init__(self, case):
        self.case = case
        self.config = case.config
        self.arrays = {"x": case.x, "h_0": case.h0, **case.weights}
        self.output, self.h_n = oracle.forward(case.config, case.weights, case.x, case.h0)
        rng = np.random.default_rng([case.seed, 1])
        dtype = case.config.dtype  # the implementation receives R and S in its dtype: the oracle uses the same values
        self.R = round_to(dtype, rng.standard_normal(self.output.shape))
        self.S = round_to(dtype, rng.standard_normal(self.h_n.shape))

    def loss(self, arrays) -> float:
        weights = {name: arrays[name] for name in self.case.weights}
        return finite_differences.loss(self.config, weights, arrays["x"], arrays["h_0"], self.R, self.S)

    @cached_property
    def f0(self) -> float:
        return self.loss(self.arrays)

    @cached_property
    def noise(self) -> float:
        """A bound on the rounding of one float64 evaluation of L: each value is within
        NOISE_RTOL * magnitude * sqrt(steps * layers), and the sum of independent errors weighted by
        random R and S grows like |R|_2 + |S|_2 (a random walk)."""
        per_value = NOISE_RTOL * self.magnitude * math.sqrt(self.case.seq_len * self.config.num_layers)
        return per_value * (np.linalg.norm(self.R) + np.linalg.norm(self.S))

    @cached_property
    def magnitude(self) -> float:
        return magnitude(self.case.weights, self.case.x, self.case.h0, self.output, self.h_n)

    def directions(self, name: str, count: int):
        """(label, V) pairs: every element for a tensor of at most ``count`` elements, else
        ``count`` random Gaussian directions, scaled to the tensor's rms."""
        theta = self.arrays[name]
        scale = rms(theta) or 1.0
        if theta.size <= count:
            for i in np.ndindex(theta.shape):
                V = np.zeros(theta.shape)
                V[i] = scale
                yield f"element {i}", V
            return
        rng = np.random.default_rng([self.case.seed, 2, sorted(self.arrays).index(name)])
        for k in range(count):
            yield f"random direction #{k}", rng.standard_normal(theta.shape) * scale

    def derivative(self, name: str, V) -> finite_differences.Derivative:
        def f(t):
            return self.loss({**self.arrays, name: self.arrays[name] + t * V})

        kinks = self.config.mode == "RNN_RELU"
        return finite_differences.directional_derivative(f, EPS, f0=self.f0, noise=self.noise, kinks=kinks)

    def run(self, impl) -> Gradients:
        c = self.case
        return run_with_grad(impl, c.config, c.weights, c.x, c.h0, self.R, self.S)

    def gradient(self, got: Gradients, name: str) -> np.ndarray:
        return got.x if name == "x" else got.h0 if name == "h_0" else got.weights[name]

    def compare(self, g, name: str, V):
        """(the implementation's <g, V>, the oracle's Derivative, the implementation's own allowance)."""
        want = self.derivative(name, V)
        # The gradient is a sum over steps and rows whose terms can cancel; its rounding is relative
        # to the terms, which backpropagation scales from R and S.
        terms = (np.linalg.norm(self.R) + np.linalg.norm(self.S)) * rms(V)
        scale = max(float(np.linalg.norm(g)) * rms(V), abs(want.value), terms)
        if not np.isfinite(scale):
            scale = max(abs(want.value), terms)  # a non-finite gradient must not widen its own tolerance
        return float(np.sum(g * V)), want, allowed_gradient_error(self.config, self.case.seq_len, self.magnitude, scale, 0.0)

    def check(self, got: Gradients, name: str, count: int):
        """Every direction of tensor ``name``: the implementation's projected gradient against the oracle."""
        __tracebackhide__ = True
        g = self.gradient(got, name)
        note = f" (its .grad was None after backward: {name} was not part of the graph, detached?)" if name in got.missing else ""
        for along, V in self.directions(name, count):
            value, want, allowance = self.compare(g, name, V)
            assert_derivative_close(value, want.value, want.error + allowance, what=name, along=along, note=note)
