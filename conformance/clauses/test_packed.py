"""Variable-length sequences given as a PackedSequence (CONTRACT.md, "Variable-length sequences";
bug 5): the runner packs the case's input with the drawn lengths and unpacks the output."""

import functools

import numpy as np
from hypothesis import strategies as st

from ..case import round_to
from ..compare import Mismatch, assert_output_close, assert_state_close
from ..runner import run_case
from ..spec import layout
from ..state import map_state
from ..strategies import just, mostly
from ._helpers import clause, compared_with_oracle, draw_case, expected, tolerance


@functools.lru_cache(maxsize=1024)
def row_lengths(N: int, L: int):
    """N lengths in [1, L], about uniform, each shrinking towards L: one choice a row. (Half of the
    rows at full length, as drawn until 2026-12, left rows out of length order rare, and a fault in
    the order of a packed batch's rows shows only there: it needed up to 25 examples, now 7.)"""
    return st.lists(st.integers(0, L - 1).map(lambda short: L - short), min_size=N, max_size=N)


def draw_lengths(data, case):
    """One length per row in [1, L]; about one time in four sorted by decreasing length and packed
    with enforce_sorted=True, otherwise in any order with enforce_sorted=False."""
    N, L = case.batch, case.seq_len
    lengths = data.draw(row_lengths(N, L), label="lengths")
    enforce_sorted = data.draw(mostly(just(False), just(True), one_in=4), label="enforce_sorted")
    return np.array(sorted(lengths, reverse=True) if enforce_sorted else lengths), enforce_sorted


def assert_same_sequences(lengths):
    """The packed output holds sequences of the input's lengths, in the original batch order (its
    packing may be any that pad_packed_sequence unpacks to them; the values are compared unpacked)."""
    __tracebackhide__ = True
    if lengths.output != lengths.input:
        raise Mismatch(
            f"the packed output holds sequences of lengths {lengths.output} (unpacked, in its own "
            f"unsorted_indices' order), but should hold the input's, {lengths.input}, in the original "
            "batch order"
        )


def run_packed(impl, case, lengths, **changes):
    """The case run with its input packed with ``lengths``; the output must hold sequences of
    those lengths."""
    __tracebackhide__ = True
    got = run_case(impl, case, lengths=lengths, **changes)
    assert_same_sequences(got.lengths)
    return got


def rows(config, seq, i, n=None):
    """Rows i (a slice) and the first n steps of a sequence in the config's layout."""
    return layout.steps(config, layout.rows(config, seq, i), slice(None, n))


@clause("packed.matches_oracle")
def test_packed_matches_oracle(impl, data):
    case = draw_case(data, impl)
    lengths, enforce_sorted = draw_lengths(data, case)
    got = run_packed(impl, case, lengths, enforce_sorted=enforce_sorted)
    want_output, want_h_n = expected(case, lengths=lengths)
    tol = tolerance(case, want_output, want_h_n)
    what = f"packed output (lengths {lengths.tolist()}, unpacked; zero past each length)"
    with compared_with_oracle(case, got, tol, ("output", "h_n"), lengths=lengths):
        assert_output_close(
            case.config, got.output, want_output, tol, what=what, against="the oracle with per-row lengths"
        )
        assert_state_close(
            case.config,
            got.h_n,
            want_h_n,
            tol,
            what="h_n of the packed run",
            against="the oracle at each row's own last step",
        )


@clause("packed.each_row_alone")
def test_packed_each_row_alone(impl, data):
    case = draw_case(data, impl, batch=mostly(st.integers(2, 4), st.integers(5, 9)))
    lengths, enforce_sorted = draw_lengths(data, case)
    got = run_packed(impl, case, lengths, enforce_sorted=enforce_sorted)
    tol = tolerance(case, got.output, got.h_n)
    for i, n in enumerate(lengths.tolist()):
        one = slice(i, i + 1)
        alone = run_case(
            impl, case, x=rows(case.config, case.x, one, n), h0=map_state(lambda s: s[:, one], case.h0)
        )
        assert_output_close(
            case.config,
            rows(case.config, got.output, one, n),
            alone.output,
            tol,
            what=f"packed output, row {i} (length {n})",
            against="the row run alone",
        )
        assert_state_close(
            case.config,
            map_state(lambda s: s[:, one], got.h_n),
            alone.h_n,
            tol,
            what=f"h_n of the packed run, row {i} (length {n})",
            against="the row run alone",
        )


@clause("packed.padding_ignored")
def test_packed_padding_ignored(impl, data):
    case = draw_case(data, impl)
    lengths, _ = draw_lengths(data, case)
    extra = data.draw(st.integers(1, 4), label="extra_steps")
    got = run_packed(impl, case, lengths)
    # The same rows, padded further (with other values) to fit a new, longer last row.
    c, (L, N) = case.config, (case.seq_len, case.batch)
    rng = np.random.default_rng(case.seed + 1)
    bigger = round_to(c.dtype, rng.standard_normal((L + extra, N + 1, c.input_size)) * case.input_scale)
    x = layout.to_time_major(c, case.x)
    for i, n in enumerate(lengths.tolist()):
        bigger[:n, i] = x[:n, i]
    h0 = map_state(
        lambda s: np.concatenate([s, round_to(c.dtype, rng.standard_normal(s[:, :1].shape))], axis=1), case.h0
    )
    padded = run_packed(impl, case, np.append(lengths, L + extra), x=layout.from_time_major(c, bigger), h0=h0)
    tol = tolerance(case, got.output, got.h_n)
    assert_output_close(
        c,
        rows(c, padded.output, slice(0, N), L),
        got.output,
        tol,
        what="packed output with a longer row added",
        against="the same rows packed without it",
    )
    assert_state_close(
        c,
        map_state(lambda s: s[:, :N], padded.h_n),
        got.h_n,
        tol,
        what="h_n with a longer row added",
        against="h_n of the same rows packed without it",
    )
