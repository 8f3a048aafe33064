"""The float64 NumPy reference: the equations of CONTRACT.md, one line each, independent of torch.

Shapes (time-major, batched; ``forward`` normalises other layouts first):
    x: (L, N, H_in)   h: (N, H_out)   c: (N, H)   output: (L, N, D*H_out)   h_n: (num_layers*D, N, H_out)
H_out = proj_size for an LSTM with projections, else H. Inside the time loop the state is a tuple:
(h,) for RNN and GRU, (h, c) for LSTM; ``forward`` returns it as torch does (h_n, or (h_n, c_n)).
Weights are a mapping from torch's canonical names (``weight_ih_l0``...) to float64 arrays.

Every operation is also defined on complex numbers (sigmoid through tanh, ReLU by NumPy's
real-part-first comparison), so that spec/complex_step.py can differentiate the oracle exactly: give
it one complex input and it computes in complex128.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from . import blas, layout
from .config import Config, layer_parameter_names


def sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow


def relu(x):
    return np.maximum(x, 0.0)


def exact(a) -> np.ndarray:
    """``a`` as float64 (complex128 if it is complex: see complex_step.py)."""
    a = np.asarray(a)
    return a.astype(np.result_type(a, np.float64), copy=False)


@dataclass(frozen=True)
class LayerWeights:
    """One layer and direction. Gate blocks are stacked along rows: RNN one block, GRU r | z | n,
    LSTM i | f | g | o. W_hr is the LSTM projection (None without proj_size)."""

    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray
    W_hr: np.ndarray | None = None
    G: int = 1  # the gate count

    @cached_property
    def gates(self) -> tuple:
        """(W_i*, W_h*, b_i*, b_h*) of each gate block, in order; sliced once, not at every step."""
        H = len(self.b_ih) // self.G
        rows = [slice(k * H, (k + 1) * H) for k in range(self.G)]
        return tuple((self.W_ih[r], self.W_hh[r], self.b_ih[r], self.b_hh[r]) for r in rows)


def layer_weights(
    config: Config, weights: Mapping[str, np.ndarray], layer: int, direction: int
) -> LayerWeights:
    names = layer_parameter_names(config, layer, direction)
    W_ih, W_hh = (exact(weights[names[r]]) for r in ("weight_ih", "weight_hh"))
    zeros = np.zeros(W_ih.shape[0])
    b_ih, b_hh = (exact(weights[names[r]]) if config.bias else zeros for r in ("bias_ih", "bias_hh"))
    W_hr = exact(weights[names["weight_hr"]]) if config.proj_size else None
    return LayerWeights(W_ih, W_hh, b_ih, b_hh, W_hr, config.gates)


# --- cells: one step, batched over rows -------------------------------------------------------


def elman_cell(act):
    def step(x, h, w: LayerWeights, dialect: Dialect = None):
        return act(x @ w.W_ih.T + w.b_ih + h @ w.W_hh.T + w.b_hh)

    return step


@dataclass(frozen=True)
class Dialect:
    """Known deviations from torch's equations, off by default: what dialects.py tries when an
    implementation disagrees with the oracle. Deviations that only read the weights differently (a
    gate order, a dropped bias) are weight transforms there, not switches here."""

    reset_before_matmul: bool = False  # GRU: n = tanh(x W_in^T + b_in + (r * h) W_hn^T + b_hn) (Cho et al.)
    z_weights_new: bool = False  # GRU: h' = z * n + (1 - z) * h
    forget_bias: float = 0.0  # LSTM: f = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf + forget_bias)
    reverse_reads_forwards: bool = False  # the reverse direction runs over the sequence unflipped
    reverse_h_n_at_last_step: bool = False  # the reverse direction's h_n is its output at the last step
    layer_input_is_x: bool = False  # every layer reads x, not the layer below's output


TORCH = Dialect()


def gru_gates(x, h, w: LayerWeights, dialect: Dialect = TORCH):
    """The GRU's r, z and candidate n."""
    (W_ir, W_hr, b_ir, b_hr), (W_iz, W_hz, b_iz, b_hz), (W_in, W_hn, b_in, b_hn) = w.gates
    r = sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = np.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))  # reset gate AFTER the matmul
    if dialect.reset_before_matmul:
        n = np.tanh(x @ W_in.T + b_in + (r * h) @ W_hn.T + b_hn)
    return r, z, n


def gru_cell(x, h, w: LayerWeights, dialect: Dialect = TORCH):
    r, z, n = gru_gates(x, h, w, dialect)
    if dialect.z_weights_new:
        return z * n + (1 - z) * h
    return (1 - z) * n + z * h  # z weights the OLD state


def lstm_cell(x, h, c, w: LayerWeights, dialect: Dialect = TORCH):
    (W_ii, W_hi, b_ii, b_hi), (W_if, W_hf, b_if, b_hf) = w.gates[:2]
    (W_ig, W_hg, b_ig, b_hg), (W_io, W_ho, b_io, b_ho) = w.gates[2:]
    i = sigmoid(x @ W_ii.T + b_ii + h @ W_hi.T + b_hi)
    f = sigmoid(x @ W_if.T + b_if + h @ W_hf.T + b_hf + dialect.forget_bias)  # forget_bias: 0 in torch
    g = np.tanh(x @ W_ig.T + b_ig + h @ W_hg.T + b_hg)
    o = sigmoid(x @ W_io.T + b_io + h @ W_ho.T + b_ho)
    c = f * c + i * g
    h = o * np.tanh(c)
    return (h if w.W_hr is None else h @ w.W_hr.T), c  # projection after the tanh, c unprojected


CELLS = {"RNN_TANH": elman_cell(np.tanh), "RNN_RELU": elman_cell(relu), "GRU": gru_cell, "LSTM": lstm_cell}


def state_step(mode: str, dialect: Dialect = TORCH):
    """The cell of ``mode`` as a step over the state tuple: (h,) -> (h',), or (h, c) -> (h', c')."""
    cell = CELLS[mode]
    if mode == "LSTM":
        return lambda x, state, w: cell(x, *state, w, dialect)
    return lambda x, state, w: (cell(x, *state, w, dialect),)


# --- the time loop, directions, layers ------------------------------------------------------------


def run_forward(step, x, state0, w: LayerWeights, lengths):
    """state_t = step(x_t, state_{t-1}) from state_0 (a tuple, h first); a row stops (keeps its
    state, outputs 0) past its own length. The output at each step is h."""
    state, outputs = state0, np.zeros(x.shape[:2] + state0[0].shape[1:], dtype=x.dtype)
    every_row = min(lengths, default=0)  # steps before any row stops: no row to hold
    for t in range(x.shape[0]):
        new = step(x[t], state, w)
        if t < every_row:
            state, outputs[t] = new, new[0]
            continue
        active = (t < lengths)[:, None]
        state = tuple(np.where(active, n, old) for n, old in zip(new, state))
        outputs[t] = np.where(active, state[0], 0.0)
    return outputs, state


def reverse_in_time(seq, lengths):
    """Reverse each row's first ``length`` steps in place of time; padding stays where it is."""
    L = seq.shape[0]
    t = np.arange(L)[:, None]
    source = np.where(t < lengths, lengths - 1 - t, t)
    return seq[source, np.arange(seq.shape[1])]


def run_reverse(step, x, state0, w, lengths):
    """The reverse direction: flip, run forward, flip back."""
    outputs, state = run_forward(step, reverse_in_time(x, lengths), state0, w, lengths)
    return reverse_in_time(outputs, lengths), state


def dropout_between_layers(config: Config, layer_output):
    """What the next layer reads. Dropout acts only in training mode, only between layers; the
    oracle can model dropout = 1 (the next layer reads zeros), not a random mask."""
    if not (config.training and config.dropout):
        return layer_output
    if config.dropout != 1:
        raise ValueError(
            f"the oracle cannot model dropout={config.dropout} in training mode (a random mask): only 0 or 1"
        )
    return np.zeros_like(layer_output)


def run_layers(config: Config, weights, x, state0: tuple, lengths, dialect: Dialect = TORCH):
    """Time-major, batched; state0 is (h_0,) or (h_0, c_0). Layer k+1 reads layer k's output
    (forward half first). Returns the output and the final state, each part stacked like h_n."""
    step, D = state_step(config.mode, dialect), config.directions
    runs = (run_forward, run_forward if dialect.reverse_reads_forwards else run_reverse)
    output, finals = x, []
    for layer in range(config.num_layers):
        below = x if dialect.layer_input_is_x else output
        layer_input = dropout_between_layers(config, below) if layer else x
        halves = []
        for direction, run in zip(range(D), runs):
            w = layer_weights(config, weights, layer, direction)
            out, state = run(step, layer_input, tuple(s[layer * D + direction] for s in state0), w, lengths)
            if direction and dialect.reverse_h_n_at_last_step:
                state = (out[lengths - 1, np.arange(out.shape[1])], *state[1:])
            halves.append(out)
            finals.append(state)
        output = np.concatenate(halves, axis=2)
    return output, tuple(np.stack(part) for part in zip(*finals))


def state_widths(config: Config) -> tuple[int, ...]:
    """The widths of the state's parts: (H_out,), or (H_out, H) for LSTM."""
    return (config.h_out, config.hidden_size) if config.mode == "LSTM" else (config.h_out,)


def initial_state(config: Config, hx, rows: tuple) -> tuple:
    """hx as torch takes it (None, h_0, or (h_0, c_0)) as a float64 state tuple; None means zeros."""
    if hx is None:
        return tuple(np.zeros(rows + (width,)) for width in state_widths(config))
    return tuple(exact(s) for s in (hx if isinstance(hx, tuple) else (hx,)))


def as_torch_state(config: Config, state: tuple):
    """The state tuple as torch returns it: h_n, or (h_n, c_n) for LSTM."""
    return state if config.mode == "LSTM" else state[0]


@blas.one_thread
def forward(
    config: Config, weights: Mapping[str, np.ndarray], x, h0=None, lengths=None, dialect: Dialect = TORCH
):
    """What ``torch.nn.<mode>(**config)(x, h0)`` must return, as float64 arrays: (output, h_n), or
    (output, (h_n, c_n)) for LSTM.

    x: (L, N, H_in), or (N, L, H_in) if batch_first, or (L, H_in) unbatched (batch_first ignored).
    h0: (num_layers*D, N, H_out) or (num_layers*D, H_out) unbatched; for LSTM the tuple (h_0, c_0),
    c_0 of width H; None means zeros.
    lengths: (N,) valid steps per row (variable-length input); None means all L.
    """
    x = exact(x)
    batched = x.ndim == 3
    x = layout.to_time_major(config, x)
    L, N, _ = x.shape
    state0 = initial_state(config, h0, (config.num_layers * config.directions, N))
    state0 = tuple(layout.state_batch_of_one(s) for s in state0)
    lengths = np.full(N, L) if lengths is None else np.asarray(lengths)
    dtype = np.result_type(x, *state0, *weights.values())  # complex128 if anything is complex
    output, state = run_layers(
        config, weights, x.astype(dtype), tuple(s.astype(dtype) for s in state0), lengths, dialect
    )
    if not batched:
        state = tuple(s[:, 0] for s in state)
    return layout.from_time_major(config, output, batched), as_torch_state(config, state)


@blas.one_thread
def cell_forward(config: Config, weights: Mapping[str, np.ndarray], x, hx=None, dialect: Dialect = TORCH):
    """What ``torch.nn.<mode>Cell(**config)(x, hx)`` must return: h', or (h', c') for LSTMCell.

    x: (N, H_in) or (H_in,) unbatched; hx: (N, H) or (H,), a tuple (h, c) for LSTM; None means zeros.
    """
    x = exact(x)
    batched = x.ndim == 2
    if not batched:
        x, hx = x[None], None if hx is None else tuple(s[None] for s in initial_state(config, hx, ()))
    state = initial_state(config, hx, x.shape[:1])
    state = state_step(config.mode, dialect)(x, state, layer_weights(config, weights, 0, 0))
    return as_torch_state(config, state if batched else tuple(s[0] for s in state))
