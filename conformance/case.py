"""A case: everything one example needs, as a small reproducible recipe (config, sizes, seed, scales).

The arrays are a pure function of the recipe, so ``repr(case)`` is both what Hypothesis prints
for a falsifying example and what a reproduction snippet needs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .spec import layout
from .spec.config import Config, parameter_shapes


def round_to(dtype: str, values: np.ndarray) -> np.ndarray:
    """Values exactly representable in ``dtype``, held in float64, so the oracle and the
    implementation start from the same numbers and input rounding is not counted as error."""
    if dtype == "bfloat16":  # NumPy has no bfloat16
        import torch

        return torch.as_tensor(values).to(torch.bfloat16).to(torch.float64).numpy()
    return values.astype(dtype).astype(np.float64)


def read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class Case:
    config: Config
    seq_len: int
    batch: int | None  # None: unbatched input (L, H_in)
    seed: int
    weight_gain: float = 1.0  # weights ~ U(-k, k) * gain, k = 1/sqrt(hidden_size) as torch initialises
    input_scale: float = 1.0  # x ~ N(0, 1) * input_scale
    with_h0: bool = False  # False: h_0 is left to its default (zeros)

    def replace(self, **changes) -> Case:
        return dataclasses.replace(self, **changes)

    @cached_property
    def _rng_values(self):
        c, rng = self.config, np.random.default_rng(self.seed)
        k = self.weight_gain / np.sqrt(c.hidden_size)
        weights = {name: rng.uniform(-k, k, shape) for name, shape in parameter_shapes(c).items()}
        rows = () if self.batch is None else (self.batch,)
        x_shape = (self.seq_len, *rows, c.input_size)
        if self.batch is not None and layout.time_axis(c) == 1:
            x_shape = (self.batch, self.seq_len, c.input_size)
        state_rows = (
            rows if c.cell else (c.num_layers * c.directions, *rows)
        )  # a cell: one step, no layer axis
        x = rng.standard_normal(x_shape[1:] if c.cell else x_shape) * self.input_scale
        h0 = rng.standard_normal((*state_rows, c.h_out))
        c0 = (
            rng.standard_normal((*state_rows, c.hidden_size)) if c.mode == "LSTM" else None
        )  # drawn last: RNN/GRU cases unchanged
        return weights, x, h0, c0

    # The arrays below are made once per case and read-only: a clause that needs other values
    # changes a copy, and an implementation gets tensors of its own (runner.to_tensor copies).

    @cached_property
    def weights(self) -> dict[str, np.ndarray]:
        return {n: read_only(round_to(self.config.dtype, w)) for n, w in self._rng_values[0].items()}

    @cached_property
    def x(self) -> np.ndarray:
        """In the configuration's layout: (L, N, H_in), (N, L, H_in) if batch_first, (L, H_in) unbatched;
        for a cell one step, (N, H_in) or (H_in,)."""
        return read_only(round_to(self.config.dtype, self._rng_values[1]))

    def _state(self, fn):
        """h_0 or, for LSTM, (h_0, c_0), each transformed by ``fn``."""
        h0, c0 = self._rng_values[2:]
        return (fn(h0), fn(c0)) if c0 is not None else fn(h0)

    @cached_property
    def h0(self):
        """None (the default), or h_0 as torch takes it: (D*num_layers, N, H_out), or the tuple
        (h_0, c_0) for LSTM."""
        return self._state(lambda s: read_only(round_to(self.config.dtype, s))) if self.with_h0 else None

    @property
    def zeros_h0(self):
        return self._state(np.zeros_like)
