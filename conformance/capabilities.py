"""What an implementation does not claim to support, and which clauses that takes out of scope.

The vocabulary is small and maps onto Config fields (and draw_case's ``unbatched``):

    capability     drawn instead              clauses about nothing else (reported "not claimed")
    bidirectional  bidirectional=False        -
    multi_layer    num_layers=1               stacking.chain
    batch_first    batch_first=False          layout.batch_first
    bias_false     bias=True                  -
    unbatched      batched input only         layout.unbatched
    float32        float64 only               -
    float64        float32 only               -
    gradients      -                          grad.input, grad.h0, grad.weights
    packed         -                          packed.* (PackedSequence input)
    dropout        -                          dropout.* (dropout > 0, training mode)

Which clauses are entirely about a capability is said by each clause's ``requires``
(conformance/spec/clauses.py), and read by conformance/pytest_plugin/scope.py.

An adapter declares them as ``not_claimed = {"bidirectional", ...}``; for a drop-in class (or on
top of an adapter's own) pass ``--rnn-not-claimed=bidirectional,multi_layer``. Not claiming both
dtypes leaves nothing to check: every clause is then "not claimed".
"""

from __future__ import annotations

from .spec.config import DTYPES

#: capability -> (draw_case keyword, the value drawn when it is not claimed)
PINS = {
    "bidirectional": ("bidirectional", False),
    "multi_layer": ("num_layers", 1),
    "batch_first": ("batch_first", False),
    "bias_false": ("bias", True),
    "unbatched": ("unbatched", False),
}
DTYPE_CAPABILITIES = frozenset(DTYPES)
CAPABILITIES = frozenset(PINS) | DTYPE_CAPABILITIES | {"gradients", "packed", "dropout"}


class CapabilityError(ValueError):
    """An unknown capability name; the message is one line."""


def parse(value: str | None) -> frozenset:
    return check(v.strip() for v in (value or "").split(",") if v.strip())


def check(names, where: str = "--rnn-not-claimed") -> frozenset:
    names = frozenset(names)
    unknown = names - CAPABILITIES
    if unknown:
        raise CapabilityError(
            f"{where}: unknown capabilit{'y' if len(unknown) == 1 else 'ies'} {', '.join(sorted(unknown))} "
            f"(known: {', '.join(sorted(CAPABILITIES))})"
        )
    return names


def claimed_dtypes(impl) -> frozenset:
    return frozenset(impl.dtypes) - impl.not_claimed


def restrict(impl, fields: dict) -> dict:
    """draw_case keywords with every not-claimed feature pinned off (a clause's own pins win)."""
    pinned = dict(fields)
    for capability in impl.not_claimed & frozenset(PINS):
        name, value = PINS[capability]
        pinned.setdefault(name, value)
    return pinned
