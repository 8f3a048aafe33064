"""Invariances that catch kernel bugs: row independence, causality, streaming, determinism,
untouched inputs, non-contiguous inputs (CONTRACT.md, bugs 2, 9, 10, 11)."""

import numpy as np
from hypothesis import strategies as st

from ..capabilities import within
from ..compare import Mismatch, assert_close, assert_output_close, assert_state_close
from ..runner import LAYOUTS, call, run_case, tensors
from ..spec import layout
from ..spec.layout import output_axes
from ..state import INITIAL_NAMES, STATE_NAMES, map_state, names, parts
from ..strategies import BATCH_EDGES, TILE_EDGES, as_strategy, mostly, sampled_from
from ._helpers import clause, draw_case, tolerance

LONG = st.integers(2, 12)


def state_rows(state, index):
    """The given rows of h (or of each of h and c)."""
    return map_state(lambda s: layout.state_rows(s, index), state)


@clause("invariance.rows_independent")
def test_invariance_rows_independent(impl, data):
    batch = mostly(sampled_from(BATCH_EDGES), st.integers(2, 6))
    case = draw_case(data, impl, batch=batch, with_h0=within(impl, "initial_state", True))
    rows = data.draw(
        st.lists(st.integers(0, case.batch - 1), max_size=2, unique=True), label="rows (besides the last)"
    )
    whole = run_case(impl, case)
    tol = tolerance(case, whole.output, whole.h_n)
    c = case.config
    for row in sorted({case.batch - 1, *rows}):
        one = [row]
        alone = run_case(impl, case, x=layout.rows(c, case.x, one), h0=state_rows(case.h0, one))
        against = f"row {row} run alone (batch of 1)"
        assert_output_close(
            case.config,
            layout.rows(c, whole.output, one),
            alone.output,
            tol,
            what=f"output row {row} of the batch of {case.batch}",
            against=against,
        )
        assert_state_close(
            case.config,
            state_rows(whole.h_n, one),
            alone.h_n,
            tol,
            what=f"h_n row {row} of the batch of {case.batch}",
            against=against,
        )


def changed(case, steps):
    """x with the given time steps replaced by other values."""
    x, other = case.x.copy(), case.replace(seed=(case.seed + 1) % 2**32).x
    key = layout.along(x, layout.time_axis(case.config, x.ndim == 3), steps)
    x[key] = other[key]
    return x


@clause("invariance.causal")
def test_invariance_causal(impl, data):
    bidirectional = data.draw(
        as_strategy(within(impl, "bidirectional", st.booleans())), label="bidirectional"
    )
    # Layer 2 of a bidirectional stack reads the reverse half, which sees the future: no causality there.
    layers = 1 if bidirectional else within(impl, "multi_layer", st.integers(1, 3))
    case = draw_case(data, impl, seq_len=LONG, bidirectional=bidirectional, num_layers=layers)
    t = data.draw(st.integers(0, case.seq_len - 2), label="t")
    base = run_case(impl, case)
    tol = tolerance(case, base.output, base.h_n)
    base_axes = output_axes(case.config, base.output)
    later = output_axes(case.config, run_case(impl, case, x=changed(case, slice(t + 1, None))).output)
    assert_close(
        later[: t + 1, :, :1],
        base_axes[: t + 1, :, :1],
        tol,
        what=f"output up to step {t} (forward direction) after x changed from step {t + 1} on",
        axes=("step", "row", "direction", "unit"),
        against="the output before the change",
        dtype=case.config.dtype,
    )
    if bidirectional:
        earlier = output_axes(case.config, run_case(impl, case, x=changed(case, slice(0, t + 1))).output)
        assert_close(
            earlier[t + 1 :, :, 1:],
            base_axes[t + 1 :, :, 1:],
            tol,
            what=f"output from step {t + 1} on (reverse direction) after x changed up to step {t}",
            axes=("step", "row", "direction", "unit"),
            against="the output before the change",
            dtype=case.config.dtype,
        )


@clause("invariance.streaming")
def test_invariance_streaming(impl, data):
    case = draw_case(data, impl, seq_len=LONG, bidirectional=False)
    k = data.draw(st.integers(1, case.seq_len - 1), label="k (split step)")
    c = case.config
    whole = run_case(impl, case)
    first = run_case(impl, case, x=layout.steps(c, case.x, slice(None, k)))
    second = run_case(impl, case, x=layout.steps(c, case.x, slice(k, None)), h0=first.h_n)
    tol = tolerance(case, whole.output, whole.h_n)
    against = f"running x[:{k}], then x[{k}:] from the {names(first.h_n)} it returned"
    assert_output_close(
        case.config,
        whole.output,
        np.concatenate([first.output, second.output], axis=layout.time_axis(c, case.batch is not None)),
        tol,
        what="output of one call",
        against=against,
    )
    assert_state_close(case.config, whole.h_n, second.h_n, tol, what="h_n of one call", against=against)


@clause("invariance.deterministic")
def test_invariance_deterministic(impl, data):
    case = draw_case(data, impl, hidden_size=mostly(sampled_from(TILE_EDGES), st.integers(1, 8), one_in=3))
    first = run_case(impl, case)
    for attempt in (2, 3):
        again = run_case(impl, case)
        for what, a, b in (
            ("output", first.output, again.output),
            *zip(STATE_NAMES, parts(first.h_n), parts(again.h_n)),
        ):
            differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
            if differ.any():
                i = tuple(int(v) for v in np.argwhere(differ)[0])
                raise Mismatch(
                    f"{what} of call {attempt} differs from call 1 in {differ.sum()} of {differ.size} "
                    f"values; first at index {i}: "
                    f"got {b[i]!r}, but should be {a[i]!r} (repeated calls must agree bit for bit)"
                )


@clause("invariance.inputs_unmodified")
def test_invariance_inputs_unmodified(impl, data):
    case = draw_case(data, impl, with_h0=within(impl, "initial_state", True))
    weights, x, h0 = tensors(case.config, case.weights, case.x, case.h0)
    state = {} if h0 is None else dict(zip(INITIAL_NAMES, parts(h0)))
    given = {"x": x, **state, **weights}
    before = {name: t.clone() for name, t in given.items()}
    call(impl, case.config, weights, x, h0)
    for name, t in given.items():
        if not t.equal(before[name]):
            n = int((t != before[name]).sum())
            raise Mismatch(
                f"{name} was modified in place: {n} of {t.numel()} values changed, but should be left as "
                "given"
            )


@clause("invariance.non_contiguous")
def test_invariance_non_contiguous(impl, data):
    case = draw_case(data, impl)
    given = "x" if case.h0 is None else f"x and {names(case.h0, INITIAL_NAMES)}"
    layout = data.draw(sampled_from(LAYOUTS), label=f"layout of {given}")
    contiguous, strided = run_case(impl, case), run_case(impl, case, layout=layout)
    tol = tolerance(case, contiguous.output, contiguous.h_n)
    against = "the same values given contiguous"
    assert_output_close(
        case.config,
        strided.output,
        contiguous.output,
        tol,
        what=f"output for {layout} (non-contiguous) {given}",
        against=against,
    )
    assert_state_close(
        case.config,
        strided.h_n,
        contiguous.h_n,
        tol,
        what=f"h_n for {layout} (non-contiguous) {given}",
        against=against,
    )
