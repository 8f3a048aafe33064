"""Failure diagnosis beyond "got X, but should be Y": which GRU gate, and a reproduction snippet."""

from __future__ import annotations

import numpy as np

from .compare import state_axes
from .spec.oracle import sigmoid  # through tanh: no overflow warning at large gate inputs


def gru_step(x, h, W_ih, W_hh, b_ih, b_hh, *, swap_rz=False, reset_before=False, z_inverted=False):
    """One GRU step, torch's equations unless a variant (a known way to get them wrong) is asked for."""
    if swap_rz:
        W_ih, W_hh, b_ih, b_hh = (np.concatenate([b[1], b[0], b[2]]) for b in (np.split(a, 3) for a in (W_ih, W_hh, b_ih, b_hh)))
    x_r, x_z, x_n = np.split(x @ W_ih.T + b_ih, 3, axis=-1)
    W_hr, W_hz, W_hn = np.split(W_hh, 3)
    b_hr, b_hz, b_hn = np.split(b_hh, 3)
    r = sigmoid(x_r + h @ W_hr.T + b_hr)
    z = sigmoid(x_z + h @ W_hz.T + b_hz)
    n = np.tanh(x_n + (r * h) @ W_hn.T + b_hn) if reset_before else np.tanh(x_n + r * (h @ W_hn.T + b_hn))
    new = z * n + (1 - z) * h if z_inverted else (1 - z) * n + z * h
    return new, (r, z, n)


VARIANTS = {
    "gate blocks r and z swapped (read as z | r | n, the Keras/ONNX order): look at the r and z blocks": dict(swap_rz=True),
    "the reset gate applied before the matmul (n = tanh(x W_in^T + b_in + (r * h) W_hn^T + b_hn)): look at the n block": dict(reset_before=True),
    "z weighting the new state (h' = z * n + (1 - z) * h): look at the z block": dict(z_inverted=True),
    "bias_hh left out: look at the biases": dict(no_bias_hh=True),
}


def first_step_inputs(case):
    """x at step 0 and h_0 of a one-layer, one-direction case, as (N, H_in) and (N, H)."""
    c, x = case.config, case.x
    if case.batch is None:
        x = x[:, None]
    elif c.batch_first:
        x = x.transpose(1, 0, 2)
    h0 = case.zeros_h0 if case.h0 is None else case.h0
    return x[0], (h0[:, None] if case.batch is None else h0)[0]


def gru_gates(case, weights, h_n, tol) -> str | None:
    """For a one-step GRU mismatch: the gate rows feeding the diverging unit, and which known
    variant of the equations (if exactly such a one) the result equals. None where it cannot tell."""
    c = case.config
    if c.mode != "GRU" or case.seq_len != 1 or c.num_layers != 1 or c.bidirectional:
        return None
    x, h = first_step_inputs(case)
    H = c.hidden_size
    W_ih, W_hh = weights["weight_ih_l0"], weights["weight_hh_l0"]
    b_ih, b_hh = (weights["bias_ih_l0"], weights["bias_hh_l0"]) if c.bias else (np.zeros(3 * H), np.zeros(3 * H))
    try:
        got = state_axes(c, h_n)[0, 0]
    except ValueError:
        return None
    want, (r, z, n) = gru_step(x, h, W_ih, W_hh, b_ih, b_hh)
    if got.shape != want.shape:
        return None
    bad = np.argwhere(~(np.abs(got - want) <= tol))
    if not len(bad):
        return None
    row, j = (int(i) for i in bad[0])
    names = "weight_ih_l0 / weight_hh_l0" + (" and bias_ih_l0 / bias_hh_l0" if c.bias else "")
    lines = [
        f"GRU gates: {len(bad)} of {got.size} units differ after one step; the first, row {row}, unit {j}, is computed from "
        f"rows {j} (r), {H + j} (z) and {2 * H + j} (n) of {names}; the oracle has there "
        f"r={r[row, j]:.6g}, z={z[row, j]:.6g}, n={n[row, j]:.6g}, h_prev={h[row, j]:.6g}, h'={want[row, j]:.6g}",
    ]
    explained = []
    for what, variant in VARIANTS.items():
        variant = dict(variant)
        drop = variant.pop("no_bias_hh", False)
        if drop and not c.bias:
            continue
        other, _ = gru_step(x, h, W_ih, W_hh, b_ih, np.zeros_like(b_hh) if drop else b_hh, **variant)
        if np.all(np.abs(got - other) <= tol):
            explained.append(what)
    if explained:
        lines.append(f"  the result equals, within the allowed error, a GRU step with {' or '.join(explained)}")
    return "\n".join(lines)


def reproduction(impl_name: str, modes, case) -> str:
    """A standalone snippet that reruns the shrunk case against the oracle."""
    resolve = f"resolve({impl_name!r})" if modes is None else f"resolve({impl_name!r}, {tuple(sorted(modes))!r})"
    return "\n".join([
        "import numpy as np",
        "from conformance import Case, Config",
        "from conformance.registry import resolve",
        "from conformance.runner import run_case",
        "from conformance.spec import oracle",
        "",
        f"impl = {resolve}",
        f"case = {case!r}",
        "got = run_case(impl, case)",
        "want_output, want_h_n = oracle.forward(case.config, case.weights, case.x, case.h0)",
        'for name, g, w in [("output", got.output, want_output), ("h_n", got.h_n, want_h_n)]:',
        '    print(name, g.shape, "max abs error", np.abs(g - w).max() if g.shape == w.shape else "(shapes differ)")',
    ])
