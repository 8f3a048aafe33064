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


def run(impl: Implementation, config: Config, weights, x, h0=None) -> Result:
    """Build ``impl`` for ``config`` with ``weights`` and call it on ``x`` (and ``h0``)."""
    __tracebackhide__ = True
    import torch

    tensors = {name: to_tensor(w, config) for name, w in weights.items()}
    try:
        with torch.no_grad():
            result = impl.build(config, tensors)(to_tensor(x, config), to_tensor(h0, config))
    except (Mismatch, ImplementationError):
        raise
    except Exception as e:
        raise ImplementationError(f"{impl.name} raised {type(e).__name__}: {e}") from e
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ImplementationError(f"{impl.name} returned a {type(result).__name__}, but should return a tuple (output, h_n)")
    output, output_dtype = as_array(result[0], "output")
    h_n, h_n_dtype = as_array(result[1], "h_n")
    return Result(output, h_n, output_dtype, h_n_dtype)


def run_case(impl: Implementation, case, **changes) -> Result:
    """Run a case; ``changes`` replaces any of config/weights/x/h0."""
    __tracebackhide__ = True
    args = dict(config=case.config, weights=case.weights, x=case.x, h0=case.h0)
    args.update(changes)
    return run(impl, **args)


# --- gradients (backpropagation through time) ---------------------------------------------------


class Gradients(NamedTuple):
    """float64 copies of the gradients of L = sum(output * grad_output) + sum(h_n * grad_h_n)."""

    x: np.ndarray
    h0: np.ndarray | None  # None when h0 was not given
    weights: dict[str, np.ndarray]
    missing: frozenset  # tensors whose .grad was None after backward (reported as zeros)


def leaf(array, config: Config):
    return None if array is None else to_tensor(array, config).requires_grad_()


def grad_of(tensor, name: str, missing: set) -> np.ndarray:
    if tensor.grad is None:
        missing.add(name)
        return np.zeros(tuple(tensor.shape))
    return as_array(tensor.grad, f"the gradient of {name}")[0]


def run_with_grad(impl: Implementation, config: Config, weights, x, h0, grad_output, grad_h_n) -> Gradients:
    """Build ``impl`` with weights that require grad, call it on ``x`` (and ``h0``), backpropagate
    ``grad_output`` and ``grad_h_n``; the weights' gradients come from the built callable's
    ``parameters`` if it has them, else from the tensors given to build (see registry)."""
    __tracebackhide__ = True
    import torch

    tensors = {name: leaf(w, config) for name, w in weights.items()}
    x_t, h0_t = leaf(x, config), leaf(h0, config)
    try:
        with torch.enable_grad():
            call = impl.build(config, tensors)
            result = call(x_t, h0_t)
            if not (isinstance(result, tuple) and len(result) == 2 and all(isinstance(r, torch.Tensor) for r in result)):
                raise ImplementationError(f"{impl.name} returned a {type(result).__name__}, but should return torch tensors (output, h_n) to be differentiated")
            outputs = [r for r in result if r.requires_grad]
            if not outputs:
                raise ImplementationError(
                    f"{impl.name}: neither output nor h_n requires grad, so nothing can be backpropagated "
                    f"(a forward-only implementation declares not_claimed = {{'gradients'}})")
            seeds = [to_tensor(g, config).to(r.device) for g, r in zip((grad_output, grad_h_n), result) if r.requires_grad]
            torch.autograd.backward(outputs, seeds)
    except (Mismatch, ImplementationError):
        raise
    except Exception as e:
        raise ImplementationError(f"{impl.name} raised {type(e).__name__} in forward or backward: {e}") from e
    params = getattr(call, "parameters", tensors)
    unknown = sorted(set(weights) - set(params))
    if unknown:
        raise ImplementationError(f"{impl.name}: the built callable's `parameters` lack {', '.join(unknown)}, so their gradients cannot be read")
    missing = set()
    return Gradients(
        x=grad_of(x_t, "x", missing),
        h0=None if h0_t is None else grad_of(h0_t, "h_0", missing),
        weights={name: grad_of(params[name], name, missing) for name in weights},
        missing=frozenset(missing),
    )
