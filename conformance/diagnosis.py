"""Failure diagnosis beyond "got X, but should be Y": which GRU gate, which known variant."""

from __future__ import annotations

import numpy as np

from .spec import layout, oracle
from .spec.config import layer_parameter_names


def gate_order_rz_swapped(weights: dict, config) -> dict:
    """torch's r | z | n blocks read as z | r | n (the Keras/ONNX order)."""

    def swap(a):
        r, z, n = np.split(a, 3)
        return np.concatenate([z, r, n])

    return {name: swap(a) if ("_ih" in name or "_hh" in name) else a for name, a in weights.items()}


def bias_hh_dropped(weights: dict, config) -> dict:
    return {name: np.zeros_like(a) if name.startswith("bias_hh") else a for name, a in weights.items()}


def unchanged(weights: dict, config) -> dict:
    return weights


#: A known way to get torch's GRU wrong: (what to say, weight transform, oracle dialect, needs bias)
VARIANTS = [
    (
        "gate blocks r and z swapped (read as z | r | n, the Keras/ONNX order): look at the r and z blocks",
        gate_order_rz_swapped,
        oracle.TORCH,
        False,
    ),
    (
        "the reset gate applied before the matmul (n = tanh(x W_in^T + b_in + (r * h) W_hn^T + b_hn)): look "
        "at the n block",
        unchanged,
        oracle.Dialect(reset_before_matmul=True),
        False,
    ),
    (
        "z weighting the new state (h' = z * n + (1 - z) * h): look at the z block",
        unchanged,
        oracle.Dialect(z_weights_new=True),
        False,
    ),
    ("bias_hh left out: look at the biases", bias_hh_dropped, oracle.TORCH, True),
]


def first_step_inputs(case):
    """x at step 0 and h_0 of a one-layer, one-direction case, as (N, H_in) and (N, H)."""
    h0 = case.zeros_h0 if case.h0 is None else case.h0
    return layout.to_time_major(case.config, case.x)[0], layout.state_batch_of_one(h0)[0]


def gru_gates(case, weights, h_n, tol) -> str | None:
    """For a one-step GRU mismatch: the gate rows feeding the diverging unit, and which known
    variant of the equations (if exactly such a one) the result equals. None where it cannot tell."""
    c = case.config
    if c.mode != "GRU" or case.seq_len != 1 or c.num_layers != 1 or c.bidirectional:
        return None
    x, h = first_step_inputs(case)
    try:
        got = layout.state_axes(c, h_n)[0, 0]
    except ValueError:
        return None
    step = oracle.layer_weights(c, weights, 0, 0)
    want, (r, z, n) = oracle.gru_cell(x, h, step), oracle.gru_gates(x, h, step)
    if got.shape != want.shape:
        return None
    bad = np.argwhere(~(np.abs(got - want) <= tol))
    if not len(bad):
        return None
    row, j = (int(i) for i in bad[0])
    H, names = c.hidden_size, layer_parameter_names(c, 0, 0)
    names = f"{names['weight_ih']} / {names['weight_hh']}" + (
        f" and {names['bias_ih']} / {names['bias_hh']}" if c.bias else ""
    )
    lines = [
        f"GRU gates: {len(bad)} of {got.size} units differ after one step; the first, row {row}, unit {j}, "
        "is computed from "
        f"rows {j} (r), {H + j} (z) and {2 * H + j} (n) of {names}; the oracle has there "
        f"r={r[row, j]:.6g}, z={z[row, j]:.6g}, n={n[row, j]:.6g}, h_prev={h[row, j]:.6g}, "
        f"h'={want[row, j]:.6g}",
    ]
    explained = [
        what
        for what, transform, dialect, needs_bias in VARIANTS
        if (c.bias or not needs_bias)
        and np.all(
            np.abs(got - oracle.gru_cell(x, h, oracle.layer_weights(c, transform(weights, c), 0, 0), dialect))
            <= tol
        )
    ]
    if explained:
        lines.append(
            f"  the result equals, within the allowed error, a GRU step with {' or '.join(explained)}"
        )
    return "\n".join(lines)
