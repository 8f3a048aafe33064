"""The oracle's gradients: directional derivatives of a scalar loss by complex-step differentiation.

Independent of torch. The loss is ``L = sum(output * R) + sum(h_n * S)``, plus ``sum(c_n * T)``
for LSTM, for fixed R, S, T: so ``dL/dθ`` is what backpropagation computes from
``grad_output = R`` and ``grad_h_n = S`` (``grad_c_n = T``). For a direction V in one tensor θ,

    <dL/dθ, V> = Im L(θ + i·h·V) / h

up to h² |L'''| / 6: the oracle runs once in complex128 (it is written so that every operation
extends to complex numbers, oracle.py). With h = 1e-20 the truncation is far below float64's
resolution, and unlike a finite difference nothing is subtracted, so the derivative is as
accurate as the oracle's own float64 arithmetic: each operation carries its derivative in the
imaginary part, rounded once, as forward-mode differentiation does. ReLU: NumPy compares complex
numbers by their real part first, so max(z, 0) has slope 1 or 0 on either side of the kink, as
torch's has (the kink itself, a pre-activation exactly 0, has measure zero).
"""

from __future__ import annotations

import numpy as np

from ..state import INITIAL_NAMES
from . import oracle
from .config import Config

H = 1e-20


def loss(config: Config, arrays: dict, R, S):
    """L = sum(output * R) + sum(h_n * S), for LSTM S = (S_h, S_c) against (h_n, c_n). ``arrays``
    holds x, h_0 (and c_0 for LSTM; None for the default zero state) and the weights by torch's names."""
    h0 = arrays["h_0"] if arrays.get("c_0") is None else (arrays["h_0"], arrays["c_0"])
    weights = {n: a for n, a in arrays.items() if n not in ("x", *INITIAL_NAMES)}
    output, h_n = oracle.forward(config, weights, arrays["x"], h0)
    states = zip(h_n, S) if isinstance(h_n, tuple) else [(h_n, S)]
    return np.sum(output * R) + sum(np.sum(s * w) for s, w in states)


def directional_derivative(config: Config, arrays: dict, name: str, V, R, S) -> float:
    """<dL/dθ, V> for θ = arrays[name]."""
    return float(np.imag(loss(config, {**arrays, name: arrays[name] + 1j * H * V}, R, S))) / H
