"""Hypothesis strategies for configurations and cases: small by default, sometimes tile-sized,
long, large-batch or large-magnitude, so that kernel faults at those sizes are reached."""

from __future__ import annotations

import functools

from hypothesis import strategies as st

from .case import Case
from .spec.config import DTYPES, MODES, Config

#: Sizes just below, at and above common kernel tile widths (warp 32, tiles 16/64/128).
TILE_EDGES = (15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129)
BATCH_EDGES = (7, 8, 9, 31, 32, 33, 63, 64, 65)


# Strategies are made once and reused: Hypothesis validates a strategy object on its first draw,
# which cost more than the draw itself when clauses made new ones for every example (st.integers
# and st.booleans are already cached by Hypothesis itself). The caches key values with their
# types: True == 1 == 1.0, and st.just(1.0) is no bias=True.


def typed(values) -> tuple:
    return tuple((type(v), v) for v in values)


@functools.lru_cache(maxsize=1024)
def _sampled_from(key: tuple):
    return st.sampled_from([v for _, v in key])


def sampled_from(values):
    """st.sampled_from, made once per sequence of values."""
    return _sampled_from(typed(values))


@functools.lru_cache(maxsize=1024, typed=True)
def just(value):
    """st.just, made once per (hashable) value."""
    return st.just(value)


@functools.lru_cache(maxsize=1024)
def mostly(common, rare, one_in: int = 5):
    """``common`` about (one_in-1)/one_in of the time, else ``rare``; shrinks towards ``common``."""
    return st.integers(0, one_in - 1).flatmap(lambda k: rare if k == one_in - 1 else common)


def as_strategy(value):
    if isinstance(value, st.SearchStrategy):
        return value
    try:
        return just(value)
    except TypeError:  # unhashable
        return st.just(value)


def drawn(draw, value):
    """``draw(value)`` for a strategy; a pinned value as it is. Drawing st.just(value) makes no
    choice, so this changes no example, but a draw costs Hypothesis 20-40 µs of bookkeeping and a
    case has a dozen pins."""
    return draw(value) if isinstance(value, st.SearchStrategy) else value


def mostly_one_of(common: tuple, rare: tuple, one_in: int = 5):
    """``mostly`` for values rather than strategies, in one draw instead of three (Hypothesis's
    bookkeeping of the draws of a case cost as much as an implementation call): sampled_from a table
    that repeats ``common`` so that it holds about (one_in-1)/one_in of the entries, then ``rare``;
    it shrinks towards common[0], and to the smallest ``rare`` value a failure needs."""
    repeats = max(1, round((one_in - 1) * len(rare) / len(common)))
    return sampled_from(common * repeats + rare)


HIDDEN = mostly_one_of(tuple(range(1, 9)), TILE_EDGES, one_in=4)
BATCH = mostly_one_of(tuple(range(1, 5)), BATCH_EDGES, one_in=4)
SEQ_LEN = mostly(st.integers(1, 6), st.integers(7, 128))
#: A cell's configuration: one layer, one direction, no batch_first.
CELL = dict(num_layers=1, batch_first=False, bidirectional=False, cell=True)


@st.composite
def configs(draw, modes, dtypes=DTYPES, projection=None, **fixed) -> Config:
    """A configuration of one of ``modes``; keyword arguments pin fields (a value or a strategy).

    An LSTM with hidden_size > 1 gets a proj_size in [1, hidden_size) about one time in three, or
    always (``projection=True``), or never (``projection=False``).

    Every field shrinks towards torch's default (tanh before relu, bias=True), so that what a
    shrunk failing example keeps beyond the defaults is what the failure needs (the run's hints).
    """
    fields = {**config_fields(tuple(modes), tuple(dtypes)), **fixed}
    values = {name: drawn(draw, s) for name, s in fields.items()}
    if (
        values["mode"] == "LSTM"
        and values["hidden_size"] > 1
        and projection is not False
        and not values.get("cell")
    ):
        some = st.integers(1, values["hidden_size"] - 1)
        values["proj_size"] = draw(some if projection else mostly(just(0), some, one_in=3), label="proj_size")
    return Config(**values)


@functools.lru_cache(maxsize=64)
def config_fields(modes: tuple, dtypes: tuple) -> dict:
    """The strategy of each field of a configuration, before a clause's pins (in drawing order)."""
    return dict(
        mode=sampled_from([m for m in MODES if m in modes]),
        input_size=HIDDEN,
        hidden_size=HIDDEN,
        num_layers=st.integers(1, 3),
        bias=sampled_from((True, False)),
        batch_first=st.booleans(),
        bidirectional=st.booleans(),
        dtype=sampled_from([d for d in DTYPES if d in dtypes]),
    )


@st.composite
def cell_configs(draw, modes, dtypes=DTYPES, **fixed) -> Config:
    """A cell configuration (torch.nn.RNNCell/GRUCell/LSTMCell): one layer, one direction."""
    return draw(configs(modes, dtypes, **CELL, **fixed))


def weight_gains(mode: str, seq_len: int):
    """torch's init scale (gain 1) mostly, sometimes larger to reach saturation and large values.

    Large gains are kept to sequences of at most 8 steps. A tanh or GRU network with gain 3 is
    chaotic (recurrent spectral radius ~1.7): rounding differences grow exponentially and float32
    cannot match float64 after a few dozen steps, whoever is right. A ReLU network is unbounded:
    with gain 1.5 a few small networks in a thousand grew past 1e30 over 128 steps (measured),
    close to float32's overflow, so it gets 1.5 on short sequences only.
    """
    if seq_len > 8:
        return just(1.0)
    return sampled_from((1.0, 1.5) if mode == "RNN_RELU" else (1.0, 3.0))


INPUT_SCALE = mostly_one_of((1.0,), (10.0, 1000.0), one_in=3)


@st.composite
def cases(
    draw, config_strategy, *, seq_len=SEQ_LEN, batch=BATCH, with_h0=st.booleans(), unbatched=False
) -> Case:
    """A case for a configuration drawn from ``config_strategy``."""
    config = draw(config_strategy)
    length = drawn(draw, seq_len)
    return Case(
        config=config,
        seq_len=length,
        batch=None if drawn(draw, unbatched) else drawn(draw, batch),
        seed=draw(st.integers(0, 2**32 - 1)),
        weight_gain=draw(weight_gains(config.mode, length)),
        input_scale=draw(INPUT_SCALE),
        with_h0=drawn(draw, with_h0),
    )


#: a case's fields (not its configuration's) that a clause can pin, and their strategies by default
CASE_FIELDS = dict(seq_len=SEQ_LEN, batch=BATCH, with_h0=st.booleans(), unbatched=False)


def case_strategy(modes, dtypes, fields: dict):
    """``cases(configs(modes, dtypes, ...))`` with ``fields`` pinning fields of the case
    (CASE_FIELDS) or of its configuration; made once per distinct set of pins."""
    key = (frozenset(modes), frozenset(dtypes), tuple((name, typed([v])) for name, v in fields.items()))
    try:
        return _case_strategy(*key)
    except TypeError:  # an unhashable pin
        return _case_strategy.__wrapped__(*key)


@functools.lru_cache(maxsize=1024)
def _case_strategy(modes: frozenset, dtypes: frozenset, items: tuple):
    fields = {name: value for name, ((_, value),) in items}
    case_fields = {name: fields.pop(name, default) for name, default in CASE_FIELDS.items()}
    return cases(configs(modes, dtypes, **fields), **case_fields)
