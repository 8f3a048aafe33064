"""Tensors in, Result or Gradients out: every call of an implementation, with its returned values checked."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from . import calls
from .registry import Call, Implementation
from .spec.config import Config
from .spec.layout import describe_dims, output_dims, shape_of, state_dims, time_axis
from .state import INITIAL_NAMES, STATE_NAMES, map_state, parts

LAYOUTS = ("strided", "transposed")


class ImplementationError(AssertionError):
    """The implementation raised, hung, or returned something that is not (output, h_n)."""


class ImplementationTimedOut(ImplementationError):
    """A call of the implementation ran past its time limit (--rnn-timeout)."""


class ImplementationCrashed(ImplementationError):
    """The process running the implementation died (a signal such as SIGSEGV, or an exit)."""


class Lengths(NamedTuple):
    """A packed call's sequence lengths, in the original batch order: the output's and the input's."""

    output: list
    input: list


class Result(NamedTuple):
    # float64 copies, in the implementation's layout (padded if the input was packed; None if the
    # packed output's sequences have other lengths than the input's); a cell: h'
    output: np.ndarray | None
    h_n: np.ndarray | tuple  # h_n, or (h_n, c_n) for LSTM; a cell: h' or (h', c')
    output_dtype: str | None
    h_n_dtype: str | tuple  # for LSTM (h_n's, c_n's)
    lengths: Lengths | None = None  # a packed call's: the clauses compare the output's with the input's


# --- calling ------------------------------------------------------------------------------------


def settled(impl: Implementation, fn, what=None) -> calls.Returned | calls.Raised:
    """What ``fn()``, a call of ``impl``, returned or raised; ImplementationTimedOut if it hung.
    What is not an Exception (KeyboardInterrupt, pytest's skip) goes on up as it is. ``what()``
    describes the call (see calls.outcome)."""
    __tracebackhide__ = True
    outcome = calls.outcome(impl, fn, what)
    if isinstance(outcome, calls.Hung):
        raise ImplementationTimedOut(outcome.why)
    if isinstance(outcome, calls.Raised) and not isinstance(outcome.error, Exception):
        raise outcome.error
    return outcome


def checked(impl: Implementation, fn, during: str = "", what=None):
    """``fn()``'s value; ImplementationError if it raised (``during`` says when) or hung."""
    __tracebackhide__ = True
    outcome = settled(impl, fn, what)
    if isinstance(outcome, calls.Returned):
        return outcome.value
    error = outcome.error
    if isinstance(error, ImplementationError):
        raise error
    raise ImplementationError(f"{impl.name} raised {type(error).__name__}{during}: {error}") from error


def raised(impl: Implementation, fn, what=None) -> Exception | None:
    """What ``fn()`` raised, None if it returned; ImplementationError if it hung."""
    __tracebackhide__ = True
    outcome = settled(impl, fn, what)
    return outcome.error if isinstance(outcome, calls.Raised) else None


def described(value) -> str:
    """A call argument in a few words: its type, dtype and shape."""
    if value is None:
        return "None"
    if isinstance(value, (tuple, list)):
        return f"({', '.join(map(described, value))})"
    sizes = getattr(value, "batch_sizes", None)
    if sizes is not None:  # a PackedSequence
        return f"PackedSequence({described(value.data)}, batch_sizes={sizes.tolist()})"
    shape = getattr(value, "shape", None)
    if shape is None:
        return type(value).__name__
    return f"{str(getattr(value, 'dtype', '')).removeprefix('torch.')} {type(value).__name__}{tuple(shape)}"


def call_of(config: Config, x, h0) -> str:
    return f"built for {config.mode} {config.module_kwargs()}, called on x={described(x)}, h0={described(h0)}"


def without_grad(fn):
    """``fn`` made to run without recording a graph (grad mode is per thread: set it in the call)."""

    def run():
        import torch

        with torch.no_grad():
            return fn()

    return run


# --- tensors in -----------------------------------------------------------------------------------


def to_tensor(value, config: Config):
    """An array as a new contiguous tensor in ``config.dtype`` (a copy: an implementation that writes
    to its inputs must not change the case's arrays); a tensor as it is (the errors clauses give some
    in another dtype); None as None."""
    import torch

    if value is None or isinstance(value, torch.Tensor):
        return value
    if config.dtype == "bfloat16":  # NumPy has no bfloat16
        return torch.from_numpy(np.array(value, dtype=np.float64, order="C")).to(torch.bfloat16)
    return torch.from_numpy(np.array(value, dtype=config.dtype, order="C"))


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


def readable(value, what: str) -> tuple[np.ndarray, str]:
    """``value`` (a torch tensor on any device, a NumPy array, or anything with ``__array__``) as a
    float64 NumPy copy, and its dtype's name; ImplementationError if it is none of these, holds no
    floating-point values, or cannot be read (a tensor on the meta device)."""
    import torch

    if isinstance(value, torch.Tensor):
        try:
            array, dtype = value.detach().cpu(), str(value.dtype).removeprefix("torch.")
        except Exception as e:
            raise ImplementationError(f"{what} is a tensor on {value.device} that cannot be read: {e}") from e
        if not array.is_floating_point():
            raise ImplementationError(f"{what} has dtype {dtype}, but should be floating point")
        return array.to(torch.float64).numpy(), dtype
    if isinstance(value, np.ndarray) or hasattr(value, "__array__"):
        try:
            array = np.asarray(value)
        except Exception as e:
            raise ImplementationError(f"{what} is a {type(value).__name__} that cannot be read: {e}") from e
        if not (np.issubdtype(array.dtype, np.floating) or array.dtype.name == "bfloat16"):
            raise ImplementationError(
                f"{what} is a {type(value).__name__} of dtype {array.dtype}, "
                "but should hold floating-point values"
            )
        return array.astype(np.float64), str(array.dtype)
    raise ImplementationError(
        f"{what} is a {type(value).__name__}, but should be a torch.Tensor (or a NumPy array)"
    )


def as_array(value, what: str, dims: tuple | None = None) -> tuple[np.ndarray, str]:
    """``value`` read (see ``readable``) and, given its named ``dims``, of their shape."""
    array, dtype = readable(value, what)
    if dims is not None:
        check_shape(array.shape, what, dims)
    return array, dtype


def check_shape(shape, what: str, dims: tuple):
    """ImplementationError unless ``shape`` is that of the named ``dims``."""
    if tuple(shape) != shape_of(dims):
        raise ImplementationError(
            f"{what} has shape {tuple(shape)}, but should be {shape_of(dims)}: {describe_dims(dims)}"
        )


def is_pair(value) -> bool:
    """Two items, as a tuple or a list (equivalent forms of torch's tuples)."""
    return isinstance(value, (tuple, list)) and len(value) == 2


def as_state(value, config: Config, what: str, x_shape: tuple):
    """h_n as an array, or for LSTM (h_n, c_n) as a tuple of arrays, of the shapes ``config`` and
    the input's shape imply; and its dtype (for LSTM the tuple of both parts' dtypes)."""
    if config.mode != "LSTM":
        return as_array(value, what, state_dims(config, x_shape))
    if not is_pair(value):
        raise ImplementationError(
            f"{what} is a {type(value).__name__}, but should be the tuple (h_n, c_n) of an LSTM"
        )
    h, h_dtype = as_array(value[0], what, state_dims(config, x_shape, 0))
    c, c_dtype = as_array(value[1], c_name(what), state_dims(config, x_shape, 1))
    return (h, c), (h_dtype, c_dtype)


def c_name(what: str) -> str:
    """The name of the c part where ``what`` names the h part."""
    return what.replace("h_n", "c_n").replace("h'", "c'")


def input_shape(config: Config, x, total_length: int | None) -> tuple:
    """The shape of the input ``x`` (a tensor, or packed: padded to ``total_length`` steps)."""
    if total_length is None:
        return tuple(x.shape)
    batch = len(x.unsorted_indices) if x.unsorted_indices is not None else int(x.batch_sizes[0])
    steps = (batch, total_length) if config.batch_first else (total_length, batch)
    return (*steps, x.data.shape[-1])


def unpack(output, packed_input, total_length: int, config: Config):
    """The packed output padded to ``total_length`` steps in the original batch order, and the
    lengths of its sequences and of the input's. Any packing of the same sequences is accepted;
    the output is None if the lengths differ (the clauses report them)."""
    from torch.nn.utils.rnn import PackedSequence

    if not isinstance(output, PackedSequence):
        raise ImplementationError(
            f"output is a {type(output).__name__}, but should be a PackedSequence (the input was packed)"
        )
    steps = int(packed_input.batch_sizes.sum())
    width = output_dims(config, input_shape(config, packed_input, total_length))[-1]
    as_array(output.data, "output.data", (("sum of the lengths", steps), width))
    padded, lengths = padded_packed(output, max(total_length, len(output.batch_sizes)), config)
    _, input_lengths = padded_packed(packed_input, total_length, config)
    lengths = Lengths(lengths.tolist(), input_lengths.tolist())
    return (padded if lengths.output == lengths.input else None), lengths


def padded_packed(packed, total_length: int, config: Config):
    """pad_packed_sequence of an implementation's PackedSequence; ImplementationError if it cannot."""
    from torch.nn.utils.rnn import pad_packed_sequence

    try:
        return pad_packed_sequence(packed, batch_first=config.batch_first, total_length=total_length)
    except Exception as e:
        raise ImplementationError(
            f"output is a PackedSequence that cannot be unpacked: pad_packed_sequence raised "
            f"{type(e).__name__}: {e}"
        ) from e


def as_result(impl: Implementation, config: Config, returned, x, total_length: int | None) -> Result:
    """What a forward call returned, checked against the shapes the configuration and the input
    imply, and copied; a packed output padded to ``total_length``."""
    __tracebackhide__ = True
    x_shape = input_shape(config, x, total_length)
    if config.cell:
        state, dtype = as_state(returned, config, "h'", x_shape)
        return Result(parts(state)[0], state, parts(dtype)[0], dtype)
    if not is_pair(returned):
        raise ImplementationError(
            f"{impl.name} returned a {type(returned).__name__}"
            f"{f' of {len(returned)} items' if isinstance(returned, (tuple, list)) else ''}, "
            "but should return a tuple (output, h_n)"
        )
    output, lengths = returned[0], None
    if total_length is not None:
        output, lengths = unpack(output, x, total_length, config)
    output, output_dtype = (
        as_array(output, "output", output_dims(config, x_shape))
        if lengths is None or lengths.output == lengths.input
        else (None, None)
    )
    h_n, h_n_dtype = as_state(returned[1], config, "h_n", x_shape)
    return Result(output, h_n, output_dtype, h_n_dtype, lengths)


# --- forward ------------------------------------------------------------------------------------


def call(
    impl: Implementation, config: Config, weights, x, h0=None, *, total_length: int | None = None
) -> Result:
    """Build ``impl`` with the weight tensors and call it on the tensors ``x`` (and ``h0``), as
    given. A packed ``x`` must give a packed output, padded back to ``total_length`` steps."""
    __tracebackhide__ = True
    what = functools.partial(call_of, config, x, h0)
    returned = checked(impl, without_grad(lambda: impl.build(config, weights)(x, h0)), what=what)
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


def refusal(impl: Implementation, config: Config, weights, x, h0=None, *, valid=None) -> Exception | None:
    """What ``impl`` built for ``config`` raised when called on ``x`` (and ``h0``): arrays, or tensors
    given as they are; None if it returned. ``valid`` (x, h0) is first called to show that what it
    raises is a refusal of ``x`` and ``h0``: ImplementationError if building or that call raised,
    or a call hung."""
    __tracebackhide__ = True
    weights, x, h0 = tensors(config, weights, x, h0)
    built = checked(
        impl,
        without_grad(lambda: impl.build(config, weights)),
        f" when built for the valid configuration {config.mode} {config.module_kwargs()}, before any bad "
        "input",
        what=lambda: f"built for {config.mode} {config.module_kwargs()}",
    )
    if valid is not None:
        valid_x, valid_h0 = tensors(config, {}, *valid)[1:]
        checked(
            impl,
            without_grad(lambda: built(valid_x, valid_h0)),
            " on the valid input of the same configuration, before the bad input",
            what=functools.partial(call_of, config, valid_x, valid_h0),
        )
    return raised(impl, without_grad(lambda: built(x, h0)), functools.partial(call_of, config, x, h0))


def construction_refusal(impl: Implementation, config: Config, *, valid: Config | None = None, **extra):
    """What ``impl.construct(config, **extra)`` raised, None if it returned; ImplementationError if
    it hung, or if constructing for ``valid``, tried first, raised (then a refusal would say nothing
    of ``extra`` or of what ``config`` changes)."""
    __tracebackhide__ = True
    if valid is not None:
        checked(
            impl,
            lambda: impl.construct(valid),
            f" when constructed for the valid configuration {valid.module_kwargs()}, before the refused one",
            what=lambda: f"constructed for {valid.module_kwargs()}",
        )
    return raised(
        impl,
        lambda: impl.construct(config, **extra),
        lambda: f"constructed for {config.module_kwargs()} {extra}",
    )


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


def differentiable_result(impl: Implementation, config: Config, result, x_shape: tuple) -> list:
    """[output, h_n] (LSTM: [output, h_n, c_n]) as tensors of the right shapes, or ImplementationError."""
    import torch

    ok = is_pair(result) and (config.mode != "LSTM" or is_pair(result[1]))
    tensors = [result[0], *(result[1] if config.mode == "LSTM" else [result[1]])] if ok else []
    if not (tensors and all(isinstance(t, torch.Tensor) for t in tensors)):
        want = "(output, (h_n, c_n))" if config.mode == "LSTM" else "(output, h_n)"
        raise ImplementationError(
            f"{impl.name} returned a {type(result).__name__}, "
            f"but should return torch tensors {want} to be differentiated"
        )
    check_shape(tensors[0].shape, "output", output_dims(config, x_shape))
    for part, (name, t) in enumerate(zip(STATE_NAMES, tensors[1:])):
        check_shape(t.shape, name, state_dims(config, x_shape, part))
    return tensors


def backward(impl: Implementation, config: Config, weights, x, h0, grads) -> Call:
    """Build with ``weights``, call on ``x`` and ``h0``, and backpropagate ``grads`` (for output, h_n
    and c_n) from those results that require grad; returns the built callable."""
    import torch

    with torch.enable_grad():
        built = impl.build(config, weights)
        results = differentiable_result(impl, config, built(x, h0), tuple(x.shape))
        pairs = [(r, g) for r, g in zip(results, grads) if r.requires_grad]
        if not pairs:
            raise ImplementationError(
                f"{impl.name}: neither output nor h_n requires grad, so nothing can be backpropagated "
                f"(a forward-only implementation declares not_claimed = {{'gradients'}})"
            )
        # L = sum(output * R) + sum(h_n * S) (+ sum(c_n * T)), whose gradient is what backpropagating
        # R, S (and T) gives, exactly; a scalar, because torch.autograd.backward with gradient
        # tensors imports sympy on its first call (0.3 s a process). In the result's own dtype: a
        # wrong dtype is dtype.output_matches_input's to report.
        loss = sum((r * to_tensor(g, config).to(r.device, r.dtype)).sum() for r, g in pairs)
        loss.backward()
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
    built = checked(
        impl,
        lambda: backward(impl, config, leaves, x_t, h0_t, grads),
        " in forward or backward",
        lambda: f"{call_of(config, x_t, h0_t)}, then backward",
    )
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
