"""Running an implementation on a case: NumPy in, checked (output, h_n) out, failures in words."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .compare import Mismatch
from .registry import Implementation
from .spec.config import Config


class ImplementationError(AssertionError):
    """The implementation raised, or returned something that is not (output, h_n)."""


class Result(NamedTuple):
    output: np.ndarray  # float64 copies, in the implementation's layout
    h_n: np.ndarray
    output_dtype: str
    h_n_dtype: str


def to_tensor(array, config: Config):
    import torch

    return None if array is None else torch.as_tensor(np.ascontiguousarray(array)).to(getattr(torch, config.dtype))


def as_array(value, what: str) -> tuple[np.ndarray, str]:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64).numpy(), str(value.dtype).removeprefix("torch.")
    if isinstance(value, np.ndarray):
        return value.astype(np.float64), str(value.dtype)
    raise ImplementationError(f"{what} is a {type(value).__name__}, but should be a torch.Tensor (or a NumPy array)")


def tensors(config: Config, weights, x, h0=None):
    """The torch tensors an implementation is given: (weights, x, h0), contiguous, in ``config.dtype``."""
    return {name: to_tensor(w, config) for name, w in weights.items()}, to_tensor(x, config), to_tensor(h0, config)


def non_contiguous(t, how: str):
    """The same values as ``t`` in non-contiguous storage (bug 9): ``"strided"``, every other
    element of a tensor twice as wide; ``"transposed"``, stored with its first two axes swapped."""
    import torch

    if t is None or t.dim() < 2:
        return t
    if how == "strided":
        wide = torch.full((*t.shape[:-1], 2 * t.shape[-1]), float("nan"), dtype=t.dtype)
        wide[..., ::2] = t
        return wide[..., ::2]
    if how == "transposed":
        return t.transpose(0, 1).contiguous().transpose(0, 1)
    raise ValueError(f"unknown layout {how!r}")


LAYOUTS = ("strided", "transposed")


def call(impl: Implementation, config: Config, weights, x, h0=None) -> Result:
    """Build ``impl`` with the weight tensors and call it on the tensors ``x`` (and ``h0``), as given."""
    __tracebackhide__ = True
    import torch

    try:
        with torch.no_grad():
            result = impl.build(config, weights)(x, h0)
    except (Mismatch, ImplementationError):
        raise
    except Exception as e:
        raise ImplementationError(f"{impl.name} raised {type(e).__name__}: {e}") from e
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ImplementationError(f"{impl.name} returned a {type(result).__name__}, but should return a tuple (output, h_n)")
    output, output_dtype = as_array(result[0], "output")
    h_n, h_n_dtype = as_array(result[1], "h_n")
    return Result(output, h_n, output_dtype, h_n_dtype)


def run(impl: Implementation, config: Config, weights, x, h0=None, *, layout: str | None = None) -> Result:
    """Build ``impl`` for ``config`` with ``weights`` and call it on ``x`` (and ``h0``); ``layout``
    (one of LAYOUTS) gives it non-contiguous x and h0."""
    __tracebackhide__ = True
    weights, x, h0 = tensors(config, weights, x, h0)
    if layout is not None:
        x, h0 = non_contiguous(x, layout), non_contiguous(h0, layout)
    return call(impl, config, weights, x, h0)


def run_case(impl: Implementation, case, **changes) -> Result:
    """Run a case; ``changes`` replaces any of config/weights/x/h0, or sets ``layout``."""
    __tracebackhide__ = True
    args = dict(config=case.config, weights=case.weights, x=case.x, h0=case.h0)
    args.update(changes)
    return run(impl, **args)
