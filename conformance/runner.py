"""Running an implementation on a case: NumPy in, checked (output, h_n) out, failures in words.

For LSTM the state goes in as (h_0, c_0) and comes out as (h_n, c_n), as torch passes it; with
``lengths`` the input goes in as a PackedSequence and the packed output comes back padded.
"""

from __future__ import annotations

import queue
import threading
from typing import NamedTuple

import numpy as np

from .compare import Mismatch
from .registry import Implementation
from .spec.config import Config
from .state import INITIAL_NAMES, map_state, parts


class ImplementationError(AssertionError):
    """The implementation raised, or returned something that is not (output, h_n)."""


class Result(NamedTuple):
    output: np.ndarray  # float64 copies, in the implementation's layout (padded if the input was packed); a cell: h'
    h_n: np.ndarray | tuple  # h_n, or (h_n, c_n) for LSTM; a cell: h' or (h', c')
    output_dtype: str
    h_n_dtype: str | tuple  # for LSTM (h_n's, c_n's)


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


class CallThread:
    """A daemon thread that runs the calls of one implementation, one at a time, for
    call_with_time_limit. One thread for all calls, not one per call: starting a thread costs
    up to a millisecond on a busy machine (measured: 0.8 ms with both cores loaded, against
    0.02 ms to hand a call to a waiting thread), which is a large part of a small case."""

    def __init__(self, name: str):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = False
        threading.Thread(target=self.serve, name=f"rnn-conformance calls of {name}", daemon=True).start()

    def serve(self):
        while True:
            fn, done = self.jobs.get()
            try:
                outcome = (True, fn())
            except BaseException as e:  # handed to the caller's thread
                outcome = (False, e)
            self.busy = False  # before the caller can see the outcome and call again
            done.put(outcome)

    def run(self, fn, timeout: float):
        """(returned, its result or the exception it raised), or None past the timeout."""
        done: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = True
        self.jobs.put((fn, done))
        try:
            return done.get(timeout=timeout)
        except queue.Empty:
            return None


_threads: dict[str, CallThread] = {}


def call_with_time_limit(impl: Implementation, fn):
    """``fn()`` in the implementation's call thread, failing with ImplementationError if it runs
    past ``impl.time_limit``.

    A stuck call cannot be stopped: it is left running (in a daemon thread, which does not keep
    the process from exiting), and while it runs further calls of the same implementation fail
    at once with the same reason, so a hanging implementation costs one time limit, not one each.
    """
    __tracebackhide__ = True
    name, limit = impl.name, impl.time_limit
    if not limit:
        return fn()
    too_long = f"{name} took longer than {limit:g} s"
    thread = _threads.get(name)
    if thread is not None and thread.busy:
        raise ImplementationError(f"{too_long} (an earlier call has not returned yet)")
    if thread is None:
        thread = _threads[name] = CallThread(name)
    outcome = thread.run(fn, limit)
    if outcome is None:
        raise ImplementationError(f"{too_long} (--rnn-timeout); the call is left running in a background thread and the run goes on")
    returned, value = outcome
    if not returned:
        raise value
    return value


def as_state(value, config: Config, what: str):
    """h_n as an array, or for LSTM (h_n, c_n) as a tuple of arrays; and its dtype (for LSTM the
    tuple of both parts' dtypes)."""
    if config.mode != "LSTM":
        return as_array(value, what)
    if not (isinstance(value, tuple) and len(value) == 2):
        raise ImplementationError(f"{what} is a {type(value).__name__}, but should be the tuple (h_n, c_n) of an LSTM")
    (h, h_dtype), (c, c_dtype) = as_array(value[0], what), as_array(value[1], what.replace("h_n", "c_n").replace("h'", "c'"))
    return (h, c), (h_dtype, c_dtype)


def pack(x, lengths, config: Config, enforce_sorted: bool):
    import torch

    return torch.nn.utils.rnn.pack_padded_sequence(x, torch.as_tensor(lengths), batch_first=config.batch_first, enforce_sorted=enforce_sorted)


def unpack(output, packed_input, total_length: int, config: Config):
    """The packed output, checked against the input's packing and padded like the input."""
    import torch
    from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

    if not isinstance(output, PackedSequence):
        raise ImplementationError(f"output is a {type(output).__name__}, but should be a PackedSequence (the input was packed)")
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        got, want = getattr(output, field), getattr(packed_input, field)
        if (got is None) != (want is None) or (want is not None and not torch.equal(got.cpu(), want)):
            raise Mismatch(f"output.{field} is {got}, but should be {want} (the input's: output and input share their packing)")
    padded, _ = pad_packed_sequence(output, batch_first=config.batch_first, total_length=total_length)
    return padded


def tensors(config: Config, weights, x, h0=None):
    """The torch tensors an implementation is given: (weights, x, h0), contiguous, in ``config.dtype``."""
    return {name: to_tensor(w, config) for name, w in weights.items()}, to_tensor(x, config), map_state(lambda s: to_tensor(s, config), h0)


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


def call(impl: Implementation, config: Config, weights, x, h0=None, *, total_length: int | None = None) -> Result:
    """Build ``impl`` with the weight tensors and call it on the tensors ``x`` (and ``h0``), as
    given. A packed ``x`` must give a packed output, padded back to ``total_length`` steps."""
    __tracebackhide__ = True
    import torch

    def invoke():
        with torch.no_grad():
            return impl.build(config, weights)(x, h0)

    try:
        result = call_with_time_limit(impl, invoke)
    except (Mismatch, ImplementationError):
        raise
    except Exception as e:
        raise ImplementationError(f"{impl.name} raised {type(e).__name__}: {e}") from e
    if config.cell:
        state, dtype = as_state(result, config, "h'")
        return Result(parts(state)[0], state, parts(dtype)[0], dtype)
    if not (isinstance(result, tuple) and len(result) == 2):
        raise ImplementationError(f"{impl.name} returned a {type(result).__name__}, but should return a tuple (output, h_n)")
    output = result[0] if total_length is None else unpack(result[0], x, total_length, config)
    output, output_dtype = as_array(output, "output")
    h_n, h_n_dtype = as_state(result[1], config, "h_n")
    return Result(output, h_n, output_dtype, h_n_dtype)


def run(impl: Implementation, config: Config, weights, x, h0=None, lengths=None, enforce_sorted=False, *, layout: str | None = None) -> Result:
    """Build ``impl`` for ``config`` with ``weights`` and call it on ``x`` (and ``h0``: an array, or
    (h_0, c_0) for LSTM). With ``lengths`` (one per row), ``x`` is packed first (rows sorted by
    decreasing length when ``enforce_sorted``) and the output must be a PackedSequence.
    ``layout`` (one of LAYOUTS) gives it non-contiguous x and h0."""
    __tracebackhide__ = True
    weights, x_t, h0_t = tensors(config, weights, x, h0)
    if layout is not None:
        x_t, h0_t = non_contiguous(x_t, layout), map_state(lambda s: non_contiguous(s, layout), h0_t)
    total_length = None
    if lengths is not None:
        total_length = x.shape[1 if config.batch_first else 0]
        x_t = pack(x_t, lengths, config, enforce_sorted)
    return call(impl, config, weights, x_t, h0_t, total_length=total_length)


def run_case(impl: Implementation, case, **changes) -> Result:
    """Run a case; ``changes`` replaces any of config/weights/x/h0, adds lengths/enforce_sorted, or
    sets ``layout``."""
    __tracebackhide__ = True
    args = dict(config=case.config, weights=case.weights, x=case.x, h0=case.h0)
    args.update(changes)
    return run(impl, **args)


# --- gradients (backpropagation through time) ---------------------------------------------------


class Gradients(NamedTuple):
    """float64 copies of the gradients of L = sum(output * grad_output) + sum(h_n * grad_h_n)
    (+ sum(c_n * grad_c_n) for LSTM)."""

    x: np.ndarray
    state: dict[str, np.ndarray]  # "h_0" (and "c_0" for LSTM); empty when no initial state was given
    weights: dict[str, np.ndarray]
    missing: frozenset  # tensors whose .grad was None after backward (reported as zeros)


def leaf(array, config: Config):
    return None if array is None else to_tensor(array, config).requires_grad_()


def grad_of(tensor, name: str, missing: set) -> np.ndarray:
    if tensor.grad is None:
        missing.add(name)
        return np.zeros(tuple(tensor.shape))
    return as_array(tensor.grad, f"the gradient of {name}")[0]


def differentiable_result(impl: Implementation, config: Config, result) -> list:
    """[output, h_n] (LSTM: [output, h_n, c_n]) as tensors, or ImplementationError."""
    import torch

    ok = isinstance(result, tuple) and len(result) == 2
    if ok and config.mode == "LSTM":
        ok = isinstance(result[1], tuple) and len(result[1]) == 2
    tensors = [result[0], *parts(result[1])] if ok else []
    if not (tensors and all(isinstance(t, torch.Tensor) for t in tensors)):
        want = "(output, (h_n, c_n))" if config.mode == "LSTM" else "(output, h_n)"
        raise ImplementationError(f"{impl.name} returned a {type(result).__name__}, but should return torch tensors {want} to be differentiated")
    return tensors


def run_with_grad(impl: Implementation, config: Config, weights, x, h0, grad_output, grad_h_n) -> Gradients:
    """Build ``impl`` with weights that require grad, call it on ``x`` (and ``h0``; for LSTM
    (h_0, c_0)), backpropagate ``grad_output`` and ``grad_h_n`` (for LSTM a pair, for h_n and
    c_n); the weights' gradients come from the built callable's ``parameters`` if it has them,
    else from the tensors given to build (see registry)."""
    __tracebackhide__ = True
    import torch

    tensors = {name: leaf(w, config) for name, w in weights.items()}
    x_t, h0_t = leaf(x, config), map_state(lambda s: leaf(s, config), h0)
    try:
        with torch.enable_grad():
            call = impl.build(config, tensors)
            results = differentiable_result(impl, config, call(x_t, h0_t))
            pairs = [(r, g) for r, g in zip(results, [grad_output, *parts(grad_h_n)]) if r.requires_grad]
            if not pairs:
                raise ImplementationError(
                    f"{impl.name}: neither output nor h_n requires grad, so nothing can be backpropagated "
                    f"(a forward-only implementation declares not_claimed = {{'gradients'}})")
            torch.autograd.backward([r for r, _ in pairs], [to_tensor(g, config).to(r.device) for r, g in pairs])
    except (Mismatch, ImplementationError):
        raise
    except Exception as e:
        raise ImplementationError(f"{impl.name} raised {type(e).__name__} in forward or backward: {e}") from e
    params = getattr(call, "parameters", tensors)
    unknown = sorted(set(weights) - set(params))
    if unknown:
        raise ImplementationError(f"{impl.name}: the built callable's `parameters` lack {', '.join(unknown)}, so their gradients cannot be read")
    missing = set()
    state = {} if h0_t is None else {name: grad_of(t, name, missing) for name, t in zip(INITIAL_NAMES, parts(h0_t))}
    return Gradients(
        x=grad_of(x_t, "x", missing),
        state=state,
        weights={name: grad_of(params[name], name, missing) for name in weights},
        missing=frozenset(missing),
    )
