"""Where time and batch rows sit in a sequence and a state (CONTRACT.md, "Layouts and shapes").

A sequence (input or output) is (L, N, F) time-major, (N, L, F) with ``batch_first``, or (L, F)
unbatched, whatever ``batch_first`` says. A state (h_0, h_n, c_0, c_n) is (num_layers*D, N, W),
or (num_layers*D, W) unbatched, and never depends on ``batch_first``. Unbatched is a batch of
one. Every function takes NumPy arrays and leaves its argument unchanged.
"""

from __future__ import annotations

import numpy as np

from .config import Config


def time_axis(config: Config, batched: bool = True) -> int:
    """The axis of time steps in a sequence."""
    return 1 if config.batch_first and batched else 0


def row_axis(config: Config) -> int:
    """The axis of batch rows in a batched sequence."""
    return 0 if config.batch_first else 1


def to_time_major(config: Config, seq: np.ndarray) -> np.ndarray:
    """A sequence in the configuration's layout as (L, N, F); unbatched (L, F) as (L, 1, F)."""
    if seq.ndim == 2:
        return seq[:, None]
    return np.swapaxes(seq, 0, 1) if config.batch_first else seq


def from_time_major(config: Config, seq: np.ndarray, batched: bool = True) -> np.ndarray:
    """The inverse of ``to_time_major``: (L, N, F) back to the configuration's layout."""
    if not batched:
        return seq[:, 0]
    return np.swapaxes(seq, 0, 1) if config.batch_first else seq


def state_batch_of_one(state: np.ndarray) -> np.ndarray:
    """A state (layers*D, W) of unbatched input as (layers*D, 1, W); a batched one as it is."""
    return state[:, None] if state.ndim == 2 else state


def along(seq: np.ndarray, axis: int, index) -> tuple:
    """The key that selects ``index`` (a slice or a list) along ``axis``: ``seq[along(...)]``."""
    key = [slice(None)] * seq.ndim
    key[axis] = index
    return tuple(key)


def steps(config: Config, seq: np.ndarray, index) -> np.ndarray:
    """The time steps ``index`` (a slice or a list) of a sequence, in its own layout."""
    return seq[along(seq, time_axis(config, seq.ndim == 3), index)]


def rows(config: Config, seq: np.ndarray, index) -> np.ndarray:
    """The batch rows ``index`` (a slice or a list) of a batched sequence, in its own layout."""
    return seq[along(seq, row_axis(config), index)]


def state_rows(state: np.ndarray, index) -> np.ndarray:
    """The batch rows ``index`` of a batched state."""
    return state[:, index]


def output_axes(config: Config, output: np.ndarray) -> np.ndarray:
    """An output in the configuration's layout as (step, row, direction, unit)."""
    L, N, _ = (output := to_time_major(config, output)).shape
    return output.reshape(L, N, config.directions, config.h_out)


def state_axes(config: Config, state: np.ndarray) -> np.ndarray:
    """A state (h_n, c_n, ...) as (layer, direction, row, unit)."""
    state = state_batch_of_one(state)
    return state.reshape(config.num_layers, config.directions, state.shape[1], state.shape[2])


# --- the shapes a configuration implies (checked before anything is reshaped) ----------------------


def leading_dims(config: Config, x_shape: tuple) -> tuple:
    """The named sizes of an input's axes but the last: (L, N), (N, L) with batch_first, or (L,)
    unbatched; a cell's (N,), or () unbatched."""
    lead = tuple(x_shape[:-1])
    if config.cell:
        names = ("N",)
    elif len(lead) == 1:
        names = ("L",)
    else:
        names = ("N", "L") if config.batch_first else ("L", "N")
    return tuple(zip(names, lead))


def output_dims(config: Config, x_shape: tuple) -> tuple:
    """((name, size), ...) of the output for an input of shape ``x_shape`` (padded, if packed)."""
    return (*leading_dims(config, x_shape), ("D*H_out", config.directions * config.h_out))


def state_dims(config: Config, x_shape: tuple, part: int = 0) -> tuple:
    """((name, size), ...) of part ``part`` (0: h, 1: c) of a final state, for an input of shape
    ``x_shape``: (num_layers*D, N, width), without N unbatched; a cell's (N, H), or (H,)."""
    width = ("H_out", config.h_out) if part == 0 else ("H", config.hidden_size)
    if config.cell:
        return (*leading_dims(config, x_shape), ("H", config.hidden_size))
    rows = [dim for dim in leading_dims(config, x_shape) if dim[0] == "N"]
    return (("num_layers*D", config.num_layers * config.directions), *rows, width)


def shape_of(dims: tuple) -> tuple:
    return tuple(size for _, size in dims)


def describe_dims(dims: tuple) -> str:
    return "(" + ", ".join(f"{name}={size}" for name, size in dims) + ")"
