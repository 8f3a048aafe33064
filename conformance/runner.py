"""Running an implementation on a case: NumPy in, checked (output, h_n) out, failures in words."""

from __future__ import annotations

import threading
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


#: Seconds one call of an implementation (build and forward) may take; --rnn-timeout sets it,
#: None or 0 means no limit.
TIME_LIMIT: float | None = 60.0
_stuck: dict[str, threading.Thread] = {}


def call_with_time_limit(name: str, fn):
    """``fn()`` in a daemon thread, failing with ImplementationError if it runs past TIME_LIMIT.

    A stuck thread cannot be stopped: it is left running (as a daemon it does not keep the
    process from exiting), and while it runs further calls of the same implementation fail at
    once with the same reason, so a hanging implementation costs one time limit, not one each.
    """
    __tracebackhide__ = True
    if not TIME_LIMIT:
        return fn()
    too_long = f"{name} took longer than {TIME_LIMIT:g} s"
    stuck = _stuck.get(name)
    if stuck is not None and stuck.is_alive():
        raise ImplementationError(f"{too_long} (an earlier call has not returned yet)")
    box = {}

    def target():
        try:
            box["result"] = fn()
        except BaseException as e:  # handed to the caller's thread
            box["error"] = e

    thread = threading.Thread(target=target, name=f"rnn-conformance call of {name}", daemon=True)
    thread.start()
    thread.join(TIME_LIMIT)
    if thread.is_alive():
        _stuck[name] = thread
        raise ImplementationError(f"{too_long} (--rnn-timeout); the call is left running in a background thread and the run goes on")
    if "error" in box:
        raise box["error"]
    return box["result"]


def run(impl: Implementation, config: Config, weights, x, h0=None) -> Result:
    """Build ``impl`` for ``config`` with ``weights`` and call it on ``x`` (and ``h0``)."""
    __tracebackhide__ = True
    import torch

    tensors = {name: to_tensor(w, config) for name, w in weights.items()}

    def call():
        with torch.no_grad():
            return impl.build(config, tensors)(to_tensor(x, config), to_tensor(h0, config))

    try:
        result = call_with_time_limit(impl.name, call)
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
