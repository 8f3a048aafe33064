"""Inputs and constructor arguments torch refuses must be refused, not answered (CONTRACT.md,
"Errors"). Any exception counts; torch 2.13 raises ValueError or RuntimeError for each."""

import pytest
import torch
from hypothesis import strategies as st

from ..compare import Mismatch
from ..runner import tensors
from ..spec.config import Config
from . import clause, draw_case

SMALL = dict(seq_len=st.integers(1, 4), batch=st.integers(1, 4))


def bad_sizes(right: int):
    """PyTorch's tests' prime bad size 7, or 1 (which broadcasts), never the right size."""
    return st.sampled_from([n for n in (7, 1, 11) if n != right])


def assert_raises(impl, case, what, *, x=None, h0=None, dtypes=(None, None)):
    """Call the implementation built for ``case`` with x or h0 replaced (values are cast to the
    case's dtype unless ``dtypes`` says otherwise); it must raise."""
    __tracebackhide__ = True
    weights, good_x, good_h0 = tensors(case.config, case.weights, case.x, case.h0)
    x = good_x if x is None else torch.as_tensor(x)
    h0 = good_h0 if h0 is None else torch.as_tensor(h0)
    x, h0 = (t if t is None else t.to(d or good_x.dtype) for t, d in zip((x, h0), dtypes))
    fn = impl.build(case.config, weights)
    try:
        with torch.no_grad():
            fn(x, h0)
    except Exception:
        return
    raise Mismatch(f"{impl.name} returned a result for {what}, but should raise")


def assert_constructor_raises(impl, config: Config, what, **extra):
    __tracebackhide__ = True
    if not impl.constructible:
        pytest.skip(f"{impl.name} is an adapter: only drop-in classes can be asked to refuse constructor arguments")
    try:
        impl.adapter.classes[config.mode](**config.module_kwargs(), **extra)
    except Exception:
        return
    raise Mismatch(f"{impl.name} returned a result for {what}, but should raise")


@clause("errors.input_width")
def test_input_width(impl, data):
    case = draw_case(data, impl, **SMALL)
    width = data.draw(bad_sizes(case.config.input_size), label="bad input width")
    x = torch.zeros(*case.x.shape[:-1], width)
    assert_raises(impl, case, f"an input of width {width} (input_size={case.config.input_size})", x=x)


@clause("errors.h0_shape")
def test_bad_h0_refused(impl, data):
    case = draw_case(data, impl, with_h0=True, **SMALL)
    right = case.h0.shape
    axis = data.draw(st.sampled_from(range(len(right))), label="dimension made wrong")
    size = data.draw(bad_sizes(right[axis]), label="bad size")
    shape = right[:axis] + (size,) + right[axis + 1 :]
    names = ("layers*D", "batch", "hidden") if len(right) == 3 else ("layers*D", "hidden")
    assert_raises(impl, case, f"h_0 of shape {shape} ({names[axis]} should be {right[axis]}; h_0 should be {right})", h0=torch.zeros(shape))


@clause("errors.input_rank")
def test_input_rank(impl, data):
    case = draw_case(data, impl, with_h0=False, **SMALL)
    rank = data.draw(st.sampled_from((1, 4)), label="rank")
    shape = (case.config.input_size,) if rank == 1 else (case.seq_len, case.batch or 1, 1, case.config.input_size)
    assert_raises(impl, case, f"an input of rank {rank}, shape {shape}", x=torch.zeros(shape))


@clause("errors.zero_length")
def test_zero_length(impl, data):
    case = draw_case(data, impl, **SMALL)
    x = case.x.take(range(0), axis=1 if case.config.batch_first and case.batch is not None else 0)
    assert_raises(impl, case, f"a sequence of length 0 (input shape {x.shape})", x=x)


@clause("errors.dtype_mismatch")
def test_dtype_mismatch(impl, data):
    case = draw_case(data, impl, with_h0=True, **SMALL)
    other = {"float64": torch.float32, "float32": torch.float64}[case.config.dtype]
    which = data.draw(st.sampled_from(("x", "h_0")), label="tensor in the other dtype")
    dtypes = (other, None) if which == "x" else (None, other)
    assert_raises(impl, case, f"{which} in {other} with {case.config.dtype} weights", x=case.x, h0=case.h0, dtypes=dtypes)


@clause("errors.proj_size")
def test_proj_size(impl, data):
    config = draw_case(data, impl, **SMALL).config
    proj = data.draw(st.integers(1, max(1, config.hidden_size - 1)), label="proj_size")
    assert_constructor_raises(impl, config, f"proj_size={proj} on {config.mode} (only LSTM has projections)", proj_size=proj)


@clause("errors.sizes_positive")
def test_sizes_positive(impl, data):
    config = draw_case(data, impl, **SMALL).config
    field = data.draw(st.sampled_from(("hidden_size", "num_layers")), label="size made non-positive")
    value = data.draw(st.sampled_from((0, -1)), label="value")
    assert_constructor_raises(impl, config.replace(**{field: value}), f"{field}={value}")
