"""Tensors in, Result or Gradients out: every call of an implementation, with its returned values checked."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from . import calls
from .registry import Call, Implementation
from .spec.config import Config
from .spec.layout import time_axis
from .state import INITIAL_NAMES, map_state, parts

#: What a PackedSequence's packing consists of; a packed call's output must share the input's.
PACKING_FIELDS = ("batch_sizes", "sorted_indices", "unsorted_indices")
LAYOUTS = ("strided", "transposed")


class ImplementationError(AssertionError):
    """The implementation raised, hung, or returned something that is not (output, h_n)."""


class Packing(NamedTuple):
    """A packed call's packings, ``{field: tensor or None}`` for each of PACKING_FIELDS."""

    output: dict
    input: dict


class Result(NamedTuple):
    # float64 copies, in the implementation's layout (padded if the input was packed; None if the
    # packed output's batch_sizes differ from the input's); a cell: h'
    output: np.ndarray | None
    h_n: np.ndarray | tuple  # h_n, or (h_n, c_n) for LSTM; a cell: h' or (h', c')
    output_dtype: str | None
    h_n_dtype: str | tuple  # for LSTM (h_n's, c_n's)
    packing: Packing | None = None  # a packed call's: the clauses compare output's with input's


# --- calling ------------------------------------------------------------------------------------


def settled(impl: Implementation, fn) -> calls.Returned | calls.Raised:
    """What ``fn()``, a call of ``impl``, returned or raised; ImplementationError if it hung. What
    is not an Exception (KeyboardInterrupt, pytest's skip) goes on up as it is."""
    __tracebackhide__ = True
    outcome = calls.outcome(impl, fn)
    if isinstance(outcome, calls.Hung):
        raise ImplementationError(outcome.why)
    if isinstance(outcome, calls.Raised) and not isinstance(outcome.error, Exception):
        raise outcome.error
    return outcome


def checked(impl: Implementation, fn, during: str = ""):
    """``fn()``'s value; ImplementationError if it raised (``during`` says when) or hung."""
    __tracebackhide__ = True
    outcome = settled(impl, fn)
    if isinstance(outcome, calls.Returned):
        return outcome.value
    error = outcome.error
    if isinstance(error, ImplementationError):
        raise error
    raise ImplementationError(f"{impl.name} raised {type(error).__name__}{during}: {error}") from error


def raised(impl: Implementation, fn) -> Exception | None:
    """What ``fn()`` raised, None if it returned; ImplementationError if it hung."""
    __tracebackhide__ = True
    outcome = settled(impl, fn)
    return outcome.error if isinstance(outcome, calls.Raised) else None


def without_grad(fn):
    """``fn`` made to run without recording a graph (grad mode is per thread: set it in the call)."""

    def run():
        import torch

        with torch.no_grad():
            return fn()

    return run


# --- tensors in -----------------------------------------------------------------------------------


def to_tensor(value, config: Config):
    """An array as a contiguous tensor in ``config.dtype``; a tensor as it is (the errors clauses
    give some in another dtype); None as None."""
    import torch

    if value is None or isinstance(value, torch.Tensor):
        return value
    return torch.as_tensor(np.ascontiguousarray(value)).to(getattr(torch, config.dtype))


def tensors(config: Config, weights, x, h0=None):
    """The torch tensors an implementation is given: (weights, x, h0), contiguous, in ``config.dtype``."""
    convert = functools.partial(to_tensor, config=config)
    return {name: convert(w) for name, w in weights.items()}, convert(x), map_state(convert, h0)


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


def pack(x, lengths, config: Config, enforce_sorted: bool):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    return pack_padded_sequence(
        x, torch.as_tensor(lengths), batch_first=config.batch_first, enforce_sorted=enforce_sorted
    )


# --- values out -----------------------------------------------------------------------------------


def as_array(value, what: str) -> tuple[np.ndarray, str]:
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().cpu().to(torch.float64).numpy(), str(value.dtype).removeprefix("torch.")
    if isinstance(value, np.ndarray):
        return value.astype(np.float64), str(value.dtype)
    raise ImplementationError(
        f"{what} is a {type(value).__name__}, but should be a torch.Tensor (or a NumPy array)"
    )


def as_state(value, config: Config, what: str):
    """h_n as an array, or for LSTM (h_n, c_n) as a tuple of arrays; and its dtype (for LSTM the
    tuple of both parts' dtypes)."""
    if config.mode != "LSTM":
        return as_array(value, what)
    if not (isinstance(value, tuple) and len(value) == 2):
        raise ImplementationError(
            f"{what} is a {type(value).__name__}, but should be the tuple (h_n, c_n) of an LSTM"
        )
    (h, h_dtype), (c, c_dtype) = as_array(value[0], what), as_array(value[1], c_name(what))
    return (h, c), (h_dtype, c_dtype)


def c_name(what: str) -> str:
    """The name of the c part where ``what`` names the h part."""
    return what.replace("h_n", "c_n").replace("h'", "c'")


def packing_of(packed) -> dict:
    return {field: getattr(packed, field) for field in PACKING_FIELDS}


def unpack(output, packed_input, total_length: int, config: Config):
    """(The packed output padded like the input, both packings). The output is None if its
    batch_sizes differ from the input's: it may not even pad, and the clauses report the packing."""
    import torch
    from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

    if not isinstance(output, PackedSequence):
        raise ImplementationError(
            f"output is a {type(output).__name__}, but should be a PackedSequence (the input was packed)"
        )
    packing = Packing(packing_of(output), packing_of(packed_input))
    if not torch.equal(output.batch_sizes.cpu(), packed_input.batch_sizes):
        return None, packing
    padded, _ = pad_packed_sequence(output, batch_first=config.batch_first, total_length=total_length)
    return padded, packing


def as_result(impl: Implementation, config: Config, returned, x, total_length: int | None) -> Result:
    """What a forward call returned, checked and copied; a packed output padded to ``total_length``."""
    __tracebackhide__ = True
    if config.cell:
        state, dtype = as_state(returned, config, "h'")
        return Result(parts(state)[0], state, parts(dtype)[0], dtype)
    if not (isinstance(returned, tuple) and len(returned) == 2):
        raise ImplementationError(
            f"{impl.name} returned a {type(returned).__name__}, but should return a tuple (output, h_n)"
        )
    output, packing = returned[0], None
    if total_length is not None:
        output, packing = unpack(output, x, total_length, config)
    output, output_dtype = (None, None) if output is None else as_array(output, "output")
    h_n, h_n_dtype = as_state(returned[1], config, "h_n")
    return Result(output, h_n, output_dtype, h_n_dtype, packing)


# --- forward ------------------------------------------------------------------------------------


def call(
    impl: Implementation, config: Config, weights, x, h0=None, *, total_length: int | None = None
) -> Result:
    """Build ``impl`` with the weight tensors and call it on the tensors ``x`` (and ``h0``), as
    given. A packed ``x`` must give a packed output, padded back to ``total_length`` steps."""
    __tracebackhide__ = True
    returned = checked(impl, without_grad(lambda: impl.build(config, weights)(x, h0)))
    return as_result(impl, config, returned, x, total_length)


def run(
    impl: Implementation,
    config: Config,
    weights,
    x,
    h0=None,
    lengths=None,
    enforce_sorted=False,
    *,
    layout: str | None = None,
) -> Result:
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
        total_length = x.shape[time_axis(config)]
        x_t = pack(x_t, lengths, config, enforce_sorted)
    return call(impl, config, weights, x_t, h0_t, total_length=total_length)


def run_case(impl: Implementation, case, **changes) -> Result:
    """Run a case; ``changes`` replaces any of config/weights/x/h0, adds lengths/enforce_sorted, or
    sets ``layout``."""
    __tracebackhide__ = True
    args = dict(config=case.config, weights=case.weights, x=case.x, h0=case.h0)
    args.update(changes)
    return run(impl, **args)


# --- calls expected to raise ----------------------------------------------------------------------


def refusal(impl: Implementation, config: Config, weights, x, h0=None) -> Exception | None:
    """What ``impl`` built for ``config`` raised when called on ``x`` (and ``h0``): arrays, or tensors
    given as they are; None if it returned. ImplementationError if building raised or a call hung."""
    __tracebackhide__ = True
    weights, x, h0 = tensors(config, weights, x, h0)
    built = checked(impl, without_grad(lambda: impl.build(config, weights)))
    return raised(impl, without_grad(lambda: built(x, h0)))


def construction_refusal(impl: Implementation, config: Config, **extra) -> Exception | None:
    """What ``impl.construct(config, **extra)`` raised, None if it returned; ImplementationError if
    it hung."""
    __tracebackhide__ = True
    return raised(impl, lambda: impl.construct(config, **extra))


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
        raise ImplementationError(
            f"{impl.name} returned a {type(result).__name__}, "
            f"but should return torch tensors {want} to be differentiated"
        )
    return tensors


def backward(impl: Implementation, config: Config, weights, x, h0, grads) -> Call:
    """Build with ``weights``, call on ``x`` and ``h0``, and backpropagate ``grads`` (for output, h_n
    and c_n) from those results that require grad; returns the built callable."""
    import torch

    with torch.enable_grad():
        built = impl.build(config, weights)
        results = differentiable_result(impl, config, built(x, h0))
        pairs = [(r, g) for r, g in zip(results, grads) if r.requires_grad]
        if not pairs:
            raise ImplementationError(
                f"{impl.name}: neither output nor h_n requires grad, so nothing can be backpropagated "
                f"(a forward-only implementation declares not_claimed = {{'gradients'}})"
            )
        torch.autograd.backward([r for r, _ in pairs], [to_tensor(g, config).to(r.device) for r, g in pairs])
    return built


def run_with_grad(impl: Implementation, config: Config, weights, x, h0, grad_output, grad_h_n) -> Gradients:
    """Build ``impl`` with weights that require grad, call it on ``x`` (and ``h0``; for LSTM
    (h_0, c_0)), backpropagate ``grad_output`` and ``grad_h_n`` (for LSTM a pair, for h_n and
    c_n); the weights' gradients come from the built callable's ``parameters`` if it has them,
    else from the tensors given to build (see registry.Call)."""
    __tracebackhide__ = True
    leaves = {name: leaf(w, config) for name, w in weights.items()}
    x_t, h0_t = leaf(x, config), map_state(lambda s: leaf(s, config), h0)
    grads = [grad_output, *parts(grad_h_n)]
    built = checked(impl, lambda: backward(impl, config, leaves, x_t, h0_t, grads), " in forward or backward")
    params = getattr(built, "parameters", leaves)
    unknown = sorted(set(weights) - set(params))
    if unknown:
        raise ImplementationError(
            f"{impl.name}: the built callable's `parameters` lack "
            f"{', '.join(unknown)}, so their gradients cannot be read"
        )
    missing = set()
    initial = {} if h0_t is None else dict(zip(INITIAL_NAMES, parts(h0_t)))
    return Gradients(
        x=grad_of(x_t, "x", missing),
        state={name: grad_of(t, name, missing) for name, t in initial.items()},
        weights={name: grad_of(params[name], name, missing) for name in weights},
        missing=frozenset(missing),
    )
