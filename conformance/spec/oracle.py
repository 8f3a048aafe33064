"""The float64 NumPy reference: the equations of CONTRACT.md, one line each, independent of torch.

Shapes (time-major, batched; ``forward`` normalises other layouts first):
    x: (L, N, H_in)   h: (N, H)   output: (L, N, D*H)   h_n: (num_layers*D, N, H)
Weights are a mapping from torch's canonical names (``weight_ih_l0``...) to float64 arrays.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

import numpy as np

from .config import Config, layer_parameter_names


def sigmoid(x):
    return np.exp(-np.logaddexp(0.0, -x))  # 1 / (1 + exp(-x)) without overflow


def relu(x):
    return np.maximum(x, 0.0)


class LayerWeights(NamedTuple):
    """One layer and direction. Gate blocks are stacked along rows: RNN one block, GRU r | z | n."""

    W_ih: np.ndarray
    W_hh: np.ndarray
    b_ih: np.ndarray
    b_hh: np.ndarray

    def gate(self, k: int, G: int):
        """Block k of G: (W_i*, W_h*, b_i*, b_h*)."""
        rows = slice(k * len(self.b_ih) // G, (k + 1) * len(self.b_ih) // G)
        return self.W_ih[rows], self.W_hh[rows], self.b_ih[rows], self.b_hh[rows]


def layer_weights(config: Config, weights: Mapping[str, np.ndarray], layer: int, direction: int) -> LayerWeights:
    names = layer_parameter_names(config, layer, direction)
    W_ih, W_hh = (np.asarray(weights[names[r]], dtype=np.float64) for r in ("weight_ih", "weight_hh"))
    zeros = np.zeros(W_ih.shape[0])
    b_ih, b_hh = (np.asarray(weights[names[r]], dtype=np.float64) if config.bias else zeros for r in ("bias_ih", "bias_hh"))
    return LayerWeights(W_ih, W_hh, b_ih, b_hh)


# --- cells: one step, batched over rows -------------------------------------------------------


def elman_cell(act):
    def step(x, h, w: LayerWeights):
        return act(x @ w.W_ih.T + w.b_ih + h @ w.W_hh.T + w.b_hh)

    return step


def gru_cell(x, h, w: LayerWeights):
    W_ir, W_hr, b_ir, b_hr = w.gate(0, 3)
    W_iz, W_hz, b_iz, b_hz = w.gate(1, 3)
    W_in, W_hn, b_in, b_hn = w.gate(2, 3)
    r = sigmoid(x @ W_ir.T + b_ir + h @ W_hr.T + b_hr)
    z = sigmoid(x @ W_iz.T + b_iz + h @ W_hz.T + b_hz)
    n = np.tanh(x @ W_in.T + b_in + r * (h @ W_hn.T + b_hn))  # reset gate AFTER the matmul
    return (1 - z) * n + z * h  # z weights the OLD state


CELLS = {"RNN_TANH": elman_cell(np.tanh), "RNN_RELU": elman_cell(relu), "GRU": gru_cell}


# --- the time loop, directions, layers ------------------------------------------------------------


def run_forward(cell, x, h0, w: LayerWeights, lengths):
    """h_t = cell(x_t, h_{t-1}) from h_0; a row stops (keeps h, outputs 0) past its own length."""
    h, outputs = h0, np.zeros(x.shape[:2] + h0.shape[1:])
    for t in range(x.shape[0]):
        active = (t < lengths)[:, None]
        h = np.where(active, cell(x[t], h, w), h)
        outputs[t] = np.where(active, h, 0.0)
    return outputs, h


def reverse_in_time(seq, lengths):
    """Reverse each row's first ``length`` steps in place of time; padding stays where it is."""
    L = seq.shape[0]
    t = np.arange(L)[:, None]
    source = np.where(t < lengths, lengths - 1 - t, t)
    return seq[source, np.arange(seq.shape[1])]


def run_reverse(cell, x, h0, w, lengths):
    """The reverse direction: flip, run forward, flip back."""
    outputs, h = run_forward(cell, reverse_in_time(x, lengths), h0, w, lengths)
    return reverse_in_time(outputs, lengths), h


def run_layers(config: Config, weights, x, h0, lengths):
    """Time-major, batched. Layer k+1 reads layer k's output (forward half first)."""
    cell, D = CELLS[config.mode], config.directions
    layer_input, h_n = x, []
    for layer in range(config.num_layers):
        halves = []
        for direction, run in zip(range(D), (run_forward, run_reverse)):
            w = layer_weights(config, weights, layer, direction)
            out, h = run(cell, layer_input, h0[layer * D + direction], w, lengths)
            halves.append(out)
            h_n.append(h)
        layer_input = np.concatenate(halves, axis=2)
    return layer_input, np.stack(h_n)


def forward(config: Config, weights: Mapping[str, np.ndarray], x, h0=None, lengths=None):
    """What ``torch.nn.<mode>(**config)(x, h0)`` must return, as float64 arrays (output, h_n).

    x: (L, N, H_in), or (N, L, H_in) if batch_first, or (L, H_in) unbatched (batch_first ignored).
    h0: (num_layers*D, N, H) or (num_layers*D, H) unbatched; None means zeros.
    lengths: (N,) valid steps per row (variable-length input); None means all L.
    """
    x = np.asarray(x, dtype=np.float64)
    batched = x.ndim == 3
    if not batched:
        x = x[:, None, :]
    elif config.batch_first:
        x = x.transpose(1, 0, 2)
    L, N, _ = x.shape
    if h0 is None:
        h0 = np.zeros((config.num_layers * config.directions, N, config.h_out))
    else:
        h0 = np.asarray(h0, dtype=np.float64)
        h0 = h0 if batched else h0[:, None, :]
    lengths = np.full(N, L) if lengths is None else np.asarray(lengths)
    output, h_n = run_layers(config, weights, x, h0, lengths)
    if not batched:
        return output[:, 0], h_n[:, 0]
    if config.batch_first:
        output = output.transpose(1, 0, 2)
    return output, h_n
