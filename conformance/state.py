"""The recurrent state as torch passes it: the array h, or the tuple (h, c) for LSTM."""

from __future__ import annotations

#: The names of the parts of a final state, in order.
STATE_NAMES = ("h_n", "c_n")
#: The names of the parts of an initial state, in order.
INITIAL_NAMES = ("h_0", "c_0")


def parts(state) -> tuple:
    """(h,) or (h, c)."""
    return state if isinstance(state, tuple) else (state,)


def map_state(fn, state):
    """``fn`` applied to h, or to each of (h, c); None stays None (the default state)."""
    if state is None:
        return None
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def replace_part(state, index: int, value):
    """The state with part ``index`` (0: h, 1: c) replaced by ``value``."""
    if not isinstance(state, tuple):
        if index != 0:
            raise IndexError(f"a state h has one part, not part {index}")
        return value
    return state[:index] + (value,) + state[index + 1 :]


def names(state, which=STATE_NAMES) -> str:
    """How to name the state in a message: "h_n", or "(h_n, c_n)" for an LSTM state (``which``
    INITIAL_NAMES for h_0)."""
    n = which[: len(parts(state))]
    return n[0] if len(n) == 1 else f"({', '.join(n)})"


def first(state):
    """h, whatever the kind of state."""
    return parts(state)[0]


def combine(fn, states: list):
    """States of the same kind combined part by part: combine(np.concatenate, [h_a, h_b]) is
    np.concatenate([h_a, h_b]), and for LSTM states the tuple of the combined h's and c's."""
    combined = tuple(fn(list(group)) for group in zip(*map(parts, states)))
    return combined if isinstance(states[0], tuple) else combined[0]
