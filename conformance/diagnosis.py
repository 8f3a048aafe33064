"""Failure diagnosis beyond "got X, but should be Y": known dialects, and the GRU gate that diverges."""

from __future__ import annotations

import numpy as np

from . import dialects
from .spec import layout, oracle
from .spec.config import layer_parameter_names


def of(exc) -> dict | None:
    """The diagnosis of a failed oracle comparison (None for any other failure), computed once, on
    the failure reported (Hypothesis reruns failing examples while it shrinks them): on the
    exception as ``rnn_diagnosis``, its text added as a note. It never raises: if it cannot be
    made, it says why."""
    comparison = getattr(exc, "rnn_comparison", None)
    if comparison is None or hasattr(exc, "rnn_diagnosis"):
        return getattr(exc, "rnn_diagnosis", None)
    try:
        diagnosis = {**dialects.diagnose(comparison), "unavailable": None}
        lines = dialects.sentences(diagnosis["matches"])
        gates = gru_gates(comparison.case, comparison.oracle_weights, comparison.got[1], comparison.tol)
        lines = lines if gates is None else [gates, *lines]
    except Exception as e:
        diagnosis = {"matches": [], "tried": [], "unavailable": f"{type(e).__name__}: {e}"}
        lines = [f"diagnosis unavailable: {type(e).__name__}: {e}"]
    exc.rnn_diagnosis = diagnosis
    exc.add_note("\n".join(lines))
    exc.__notes__.insert(0, exc.__notes__.pop())  # next to the comparison, before Hypothesis's example
    return diagnosis


def first_step_inputs(case):
    """x at step 0 and h_0 of a one-layer, one-direction case, as (N, H_in) and (N, H)."""
    h0 = case.zeros_h0 if case.h0 is None else case.h0
    return layout.to_time_major(case.config, case.x)[0], layout.state_batch_of_one(h0)[0]


def gru_gates(case, weights, h_n, tol) -> str | None:
    """For a one-step GRU mismatch: the gate rows feeding the diverging unit. None where it cannot tell."""
    c = case.config
    if c.mode != "GRU" or c.cell or case.seq_len != 1 or c.num_layers != 1 or c.bidirectional:
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
    return (
        f"GRU gates: {len(bad)} of {got.size} units differ after one step; the first, row {row}, unit {j}, "
        "is computed from "
        f"rows {j} (r), {H + j} (z) and {2 * H + j} (n) of {names}; the oracle has there "
        f"r={r[row, j]:.6g}, z={z[row, j]:.6g}, n={n[row, j]:.6g}, h_prev={h[row, j]:.6g}, "
        f"h'={want[row, j]:.6g}"
    )
