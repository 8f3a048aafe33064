"""Gradients of an implementation against the oracle's complex-step derivatives, one tensor at a time.

For a case, ``Probe`` fixes the loss L = sum(output * R) + sum(h_n * S) (+ sum(c_n * T) for
LSTM; R, S, T random, from the case's seed) and, for each tensor (x, h_0, c_0 or a parameter), a
few directions V. The implementation's gradient, projected on V, must equal the oracle's
directional derivative (spec/complex_step.py) within compare.allowed_gradient_error.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from .case import round_to
from .compare import allowed_gradient_error, assert_derivative_close, magnitude
from .runner import Gradients, run_with_grad
from .spec import complex_step
from .spec.layout import output_dims, shape_of, state_dims
from .spec.oracle import state_widths
from .state import INITIAL_NAMES, parts


def rms(array) -> float:
    return float(np.sqrt(np.mean(np.square(array)))) if np.size(array) else 0.0


def initial_state_arrays(case) -> dict:
    """{"h_0": ...} (and "c_0" for LSTM), None for a default (zero) state that is not probed."""
    names = INITIAL_NAMES[: 2 if case.config.mode == "LSTM" else 1]
    values = parts(case.h0) if case.h0 is not None else (None,) * len(names)
    return dict(zip(names, values))


class Probe:
    """One case's loss (R, S), directions and oracle derivatives; ``run`` backpropagates the
    implementation, ``check`` compares one tensor's gradient."""

    def __init__(self, case):
        self.case = case
        self.config = c = case.config
        self.arrays = {"x": case.x, **initial_state_arrays(case), **case.weights}
        self.forward = None  # the oracle's (output, h_n), from the first derivatives' run
        rng = np.random.default_rng([case.seed, 1])

        def drawn(dims):  # in the implementation's dtype, which receives R and S: the oracle uses the same
            return round_to(c.dtype, rng.standard_normal(shape_of(dims)))

        self.R = drawn(output_dims(c, case.x.shape))
        S = tuple(drawn(state_dims(c, case.x.shape, part)) for part in range(len(state_widths(c))))
        self.S = S if c.mode == "LSTM" else S[0]

    @cached_property
    def magnitude(self) -> float:
        if self.forward is None:
            self.forward = complex_step.forward(self.config, self.arrays)
        return magnitude(self.case.weights, self.case.x, self.case.h0, *self.forward)

    @property
    def probed(self) -> list[str]:
        """The tensors whose gradients can be checked: x, the initial state if given, every parameter."""
        return [name for name, array in self.arrays.items() if array is not None]

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

    def derivatives(self, name: str, directions: list) -> list[float]:
        values, forward = complex_step.directional_derivatives(
            self.config, self.arrays, name, directions, self.R, self.S
        )
        if self.forward is None:
            self.forward = forward
        return values

    def derivative(self, name: str, V) -> float:
        return self.derivatives(name, [V])[0]

    def run(self, impl) -> Gradients:
        c = self.case
        return run_with_grad(impl, c.config, c.weights, c.x, c.h0, self.R, self.S)

    def gradient(self, got: Gradients, name: str) -> np.ndarray:
        return got.x if name == "x" else got.state[name] if name in INITIAL_NAMES else got.weights[name]

    def compare(self, g, name: str, V, want: float | None = None):
        """(the implementation's <g, V>, the oracle's (``want``, if known), the allowed error)."""
        want = self.derivative(name, V) if want is None else want
        # The gradient is a sum over steps and rows whose terms can cancel; its rounding is relative
        # to the terms, which backpropagation scales from R and S.
        terms = (np.linalg.norm(self.R) + sum(np.linalg.norm(s) for s in parts(self.S))) * rms(V)
        scale = max(float(np.linalg.norm(g)) * rms(V), abs(want), terms)
        if not np.isfinite(scale):
            scale = max(abs(want), terms)  # a non-finite gradient must not widen its own tolerance
        return (
            float(np.sum(g * V)),
            want,
            allowed_gradient_error(self.config, self.case.seq_len, self.magnitude, scale),
        )

    def check(self, got: Gradients, name: str, count: int):
        """Every direction of tensor ``name``: the implementation's projected gradient against the oracle."""
        __tracebackhide__ = True
        g = self.gradient(got, name)
        note = (
            f" (its .grad was None after backward: {name} was not part of the graph, detached?)"
            if name in got.missing
            else ""
        )
        labels, directions = zip(*self.directions(name, count))
        for along, V, want in zip(labels, directions, self.derivatives(name, list(directions))):
            value, want, allowance = self.compare(g, name, V, want)
            assert_derivative_close(
                value, want, allowance, what=name, along=along, note=note, dtype=self.config.dtype
            )
