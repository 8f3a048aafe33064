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

Batch rows never interact, so the directions of x, h_0 and c_0 (batched input) share one run: the
batch is repeated once per direction, copy k is perturbed along V_k, and the part of L that copy k's
rows contribute is Im-linear in V_k alone. One run of k·N rows costs far less than k runs of N.
"""

from __future__ import annotations

import numpy as np

from ..state import INITIAL_NAMES, parts
from . import layout, oracle
from .config import Config

H = 1e-20
#: The tensors whose batch rows are independent of each other's.
ROW_WISE = ("x", *INITIAL_NAMES)


def forward(config: Config, arrays: dict):
    """The oracle's (output, h_n) for ``arrays``: x, h_0 (and c_0 for LSTM; None for the default
    zero state) and the weights by torch's names."""
    h0 = arrays["h_0"] if arrays.get("c_0") is None else (arrays["h_0"], arrays["c_0"])
    weights = {n: a for n, a in arrays.items() if n not in ROW_WISE}
    return oracle.forward(config, weights, arrays["x"], h0)


def rows_axis(config: Config, name: str) -> int:
    """The batch axis of x (and of the output) or, for any other name, of a state."""
    return layout.row_axis(config) if name == "x" else 1


def copy_sums(config: Config, output, h_n, R, S, copies: int) -> np.ndarray:
    """L of each of ``copies`` equal blocks of batch rows, R and S being one block's."""

    def per_copy(values, weights, axis):
        weighted = values * np.concatenate([weights] * copies, axis=axis)
        return np.moveaxis(weighted, axis, 0).reshape(copies, -1).sum(axis=1)

    terms = [(output, R, rows_axis(config, "x"))] + [(s, w, 1) for s, w in zip(parts(h_n), parts(S))]
    return sum(per_copy(values, weights, axis) for values, weights, axis in terms)


def loss(config: Config, arrays: dict, R, S):
    """L = sum(output * R) + sum(h_n * S), for LSTM S = (S_h, S_c) against (h_n, c_n)."""
    return copy_sums(config, *forward(config, arrays), R, S, 1)[0]


def directional_derivative(config: Config, arrays: dict, name: str, V, R, S) -> float:
    """<dL/dθ, V> for θ = arrays[name]."""
    return float(np.imag(loss(config, {**arrays, name: arrays[name] + 1j * H * V}, R, S))) / H


def repeated(config: Config, arrays: dict, copies: int) -> dict:
    """``arrays`` with the batch rows of x, h_0 and c_0 repeated ``copies`` times."""
    if copies == 1:
        return dict(arrays)
    return {
        n: np.concatenate([a] * copies, axis=rows_axis(config, n)) if n in ROW_WISE and a is not None else a
        for n, a in arrays.items()
    }


def directional_derivatives(config: Config, arrays: dict, name: str, directions: list, R, S):
    """(<dL/dθ, V> for each V in ``directions``, θ = arrays[name]; the oracle's (output, h_n) from
    the real part of the last run: the forward, its batch rows repeated if they were)."""
    shared = name in ROW_WISE and arrays["x"].ndim == 3  # unbatched input: no batch axis to repeat
    values = []
    for group in [directions] if shared else [[V] for V in directions]:
        k = len(group)
        perturbed = repeated(config, arrays, k)
        V = group[0] if k == 1 else np.concatenate(group, axis=rows_axis(config, name))
        perturbed[name] = perturbed[name] + 1j * H * V
        output, h_n = forward(config, perturbed)
        values += [float(v) / H for v in np.imag(copy_sums(config, output, h_n, R, S, k))]
    return values, (output.real, tuple(s.real for s in parts(h_n)))
