"""The recurrent state as torch passes it: the array h, or the tuple (h, c) for LSTM."""

from __future__ import annotations

#: The names of the parts of a final state, in order.
STATE_NAMES = ("h_n", "c_n")
#: ... and of an initial state.
INITIAL_NAMES = ("h_0", "c_0")


def parts(state) -> tuple:
    """(h,) or (h, c)."""
    return state if isinstance(state, tuple) else (state,)


def map_state(fn, state):
    """``fn`` applied to h, or to each of (h, c); None stays None (the default state)."""
    if state is None:
        return None
    return tuple(fn(s) for s in state) if isinstance(state, tuple) else fn(state)


def first(state):
    """h, whatever the kind of state."""
    return parts(state)[0]


def combine(fn, states: list):
    """States of the same kind combined part by part: combine(np.concatenate, [h_a, h_b]) is
    np.concatenate([h_a, h_b]), and for LSTM states the tuple of the combined h's and c's."""
    combined = tuple(fn(list(group)) for group in zip(*map(parts, states)))
    return combined if isinstance(states[0], tuple) else combined[0]
