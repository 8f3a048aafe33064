"""Inputs and constructor arguments torch refuses must be refused, not answered (CONTRACT.md,
"Errors"). Any exception counts; torch 2.13 raises ValueError or RuntimeError for each."""

import numpy as np
import torch
from hypothesis import strategies as st

from ..capabilities import within
from ..compare import NotRefused
from ..runner import construction_refusal, refusal
from ..spec import layout
from ..spec.config import Config
from ..state import INITIAL_NAMES, parts, replace_part
from ..strategies import just, sampled_from
from ._helpers import clause, draw_case

SMALL = dict(seq_len=st.integers(1, 4), batch=st.integers(1, 4))


def bad_sizes(right: int, *confusable: int):
    """PyTorch's tests' prime bad size 7, or 1 (which broadcasts), or a size easily confused with
    the right one, never the right size."""
    return sampled_from(list(dict.fromkeys(n for n in (7, 1, 11, *confusable) if n != right)))


def must_have_raised(impl, error, what):
    __tracebackhide__ = True
    if error is None:
        raise NotRefused(f"{impl.name} returned a result for {what}, but should raise")


def assert_raises(impl, case, what, *, x=None, h0=None):
    """Call the implementation built for ``case`` with x or the state h0 (h_0, or (h_0, c_0) for
    LSTM) replaced (arrays in the case's dtype, tensors as they are); it must raise."""
    __tracebackhide__ = True
    x, h0 = case.x if x is None else x, case.h0 if h0 is None else h0
    must_have_raised(impl, refusal(impl, case.config, case.weights, x, h0, valid=(case.x, case.h0)), what)


def assert_constructor_raises(impl, config: Config, what, valid: Config, **extra):
    """Constructing for ``config`` with ``extra`` must raise, and constructing for ``valid`` not."""
    __tracebackhide__ = True
    must_have_raised(impl, construction_refusal(impl, config, valid=valid, **extra), what)


@clause("errors.input_width")
def test_errors_input_width(impl, data):
    case = draw_case(data, impl, **SMALL)
    width = data.draw(bad_sizes(case.config.input_size), label="bad input width")
    x = np.zeros((*case.x.shape[:-1], width))
    assert_raises(impl, case, f"an input of width {width} (input_size={case.config.input_size})", x=x)


@clause("errors.h0_shape")
def test_errors_h0_shape(impl, data):
    case = draw_case(data, impl, with_h0=True, **SMALL)
    config = case.config
    name = data.draw(sampled_from(INITIAL_NAMES[: len(parts(case.h0))]), label="tensor of the wrong shape")
    index = INITIAL_NAMES.index(name)
    right = parts(case.h0)[index].shape
    axis = data.draw(sampled_from(range(len(right))), label="dimension made wrong")
    # With projections h_0 and c_0 differ in width (proj_size, hidden_size): one must not pass for the other.
    size = data.draw(
        bad_sizes(right[axis], *({config.h_out, config.hidden_size} if axis == len(right) - 1 else ())),
        label="bad size",
    )
    shape = right[:axis] + (size,) + right[axis + 1 :]
    width = "proj_size" if name == "h_0" and config.proj_size else "hidden_size"
    axes = (
        ("num_layers*D", "batch", f"width ({width})")
        if len(right) == 3
        else ("num_layers*D", f"width ({width})")
    )
    assert_raises(
        impl,
        case,
        f"{name} of shape {shape} ({axes[axis]} should be {right[axis]}; {name} should be {right})",
        h0=replace_part(case.h0, index, np.zeros(shape)),
    )


@clause("errors.input_rank")
def test_errors_input_rank(impl, data):
    case = draw_case(data, impl, with_h0=False, **SMALL)
    rank = data.draw(sampled_from((1, 4)), label="rank")
    shape = (
        (case.config.input_size,) if rank == 1 else (case.seq_len, case.batch or 1, 1, case.config.input_size)
    )
    assert_raises(impl, case, f"an input of rank {rank}, shape {shape}", x=np.zeros(shape))


@clause("errors.zero_length")
def test_errors_zero_length(impl, data):
    case = draw_case(data, impl, **SMALL)
    x = layout.steps(case.config, case.x, slice(0, 0))
    assert_raises(impl, case, f"a sequence of length 0 (input shape {x.shape})", x=x)


@clause("errors.dtype_mismatch")
def test_errors_dtype_mismatch(impl, data):
    # Without an initial state, only the input's dtype can differ from the weights'.
    case = draw_case(data, impl, with_h0=within(impl, "initial_state", True), **SMALL)
    other = {"float64": torch.float32, "float32": torch.float64}[case.config.dtype]
    names = ["x", "h_0"] if case.with_h0 else ["x"]
    if case.with_h0 and case.config.mode == "LSTM" and other == torch.float64:
        # torch on the CPU promotes a float32 c_0 under float64 weights instead of refusing it; a
        # float64 c_0 under float32 weights it refuses.
        names.append("c_0")
    # Each in turn, alone (drawing one of them left an LSTM's c_0 to one example in 25 or more).
    for which in names:
        what = f"{which} in {other} with {case.config.dtype} weights"
        if which == "x":
            assert_raises(impl, case, what, x=torch.tensor(case.x, dtype=other))
        else:
            index = INITIAL_NAMES.index(which)
            assert_raises(
                impl,
                case,
                what,
                h0=replace_part(case.h0, index, torch.tensor(parts(case.h0)[index], dtype=other)),
            )


@clause("errors.proj_size")
def test_errors_proj_size(impl, data):
    config = draw_case(data, impl, projection=False, **SMALL).config
    H = config.hidden_size
    if config.mode == "LSTM":
        refused, why = (
            st.one_of(just(H), st.integers(H + 1, 2 * H + 7), st.integers(-3, -1)),
            f"an LSTM needs 0 <= proj_size < hidden_size={H}",
        )
    else:
        refused, why = st.integers(1, max(1, H - 1)), "only LSTM has projections"
    proj = data.draw(refused, label="proj_size")
    assert_constructor_raises(
        impl, config, f"proj_size={proj} on {config.mode} ({why})", valid=config, proj_size=proj
    )


@clause("errors.sizes_positive")
def test_errors_sizes_positive(impl, data):
    # No projection: an LSTM's proj_size >= hidden_size would be a reason to raise of its own.
    config = draw_case(data, impl, projection=False, **SMALL).config
    field = data.draw(sampled_from(("hidden_size", "num_layers")), label="size made non-positive")
    value = data.draw(sampled_from((0, -1)), label="value")
    assert_constructor_raises(impl, config.replace(**{field: value}), f"{field}={value}", valid=config)
