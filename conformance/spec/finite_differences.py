"""The oracle's gradients: directional derivatives of a scalar loss by central finite differences.

Independent of torch. The loss is ``L = sum(output * R) + sum(h_n * S)`` for fixed R, S, so
``dL/dθ`` is what backpropagation computes from ``grad_output = R`` and ``grad_h_n = S``; for a
direction V in one tensor θ, ``<dL/dθ, V> = d/dt L(θ + tV)`` at t = 0.

Error of the estimate (``directional_derivative``), with d(h) = (f(h) - f(-h)) / 2h:

* truncation: d(h) = L' + h² L'''/6 + O(h⁴). Richardson's (4 d(ε) - d(2ε)) / 3 removes the h²
  term, and |d(ε) - d(2ε)| = ε² |L'''| / 2 + ... is measured, not guessed: it bounds the
  remaining error however curved L is (saturation, chaotic weights, long sequences).
* rounding: if each evaluation of L is within ``noise`` of the exact value, the extrapolated
  value is within (4/2ε + 1/4ε)/3 * 2 noise = 1.5 noise / ε.
* kinks (ReLU): L is only piecewise smooth. A kink within ±ε of t = 0 with slope jump J biases
  every central difference by up to J/2, equally for ε and 2ε (so the first term cannot see it);
  the second difference |f(ε) - 2 f(0) + f(-ε)| / ε is J (1 - |δ|/ε) for a kink at δ, which
  covers it (the sum of both terms bounds the error of any single kink within ±2ε at least
  twice over; it is doubled, since the terms of several kinks can partly cancel). For
  smooth cells this term is ε |L''|, needlessly loose, so it is only added where asked.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from . import oracle
from .config import Config


def loss(config: Config, weights, x, h0, R, S) -> float:
    """L = sum(output * R) + sum(h_n * S), output and h_n in the configuration's layout."""
    output, h_n = oracle.forward(config, weights, x, h0)
    return float(np.sum(output * R) + np.sum(h_n * S))


class Derivative(NamedTuple):
    value: float  # the estimate of <dL/dθ, V>
    error: float  # an upper estimate of |value - <dL/dθ, V>|


def directional_derivative(f: Callable[[float], float], eps: float, *, f0: float, noise: float, kinks: bool) -> Derivative:
    """<dL/dθ, V> where ``f(t) = L(θ + tV)``; ``f0 = f(0)``; ``noise`` bounds the rounding of one
    evaluation of f; ``kinks``: f may be only piecewise smooth (ReLU)."""
    f1, b1, f2, b2 = f(eps), f(-eps), f(2 * eps), f(-2 * eps)
    d1, d2 = (f1 - b1) / (2 * eps), (f2 - b2) / (4 * eps)
    error = abs(d1 - d2) + 1.5 * noise / eps
    if kinks:
        error += 2 * abs(f1 - 2 * f0 + b1) / eps  # twice: several kinks' terms can partly cancel
    return Derivative((4 * d1 - d2) / 3, error)
