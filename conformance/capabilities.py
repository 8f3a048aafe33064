"""What an implementation may declare it lacks, what is drawn instead, and what a case uses.

The vocabulary is small and maps onto draw_case's fields (Config fields, ``unbatched``, ``with_h0``):

    capability     drawn instead              clauses reported "not claimed" (their ``requires``)
    bidirectional  bidirectional=False        -
    multi_layer    num_layers=1               stacking.chain, dropout.between_layers
    batch_first    batch_first=False          layout.batch_first
    bias_false     bias=True                  -
    unbatched      batched input only         layout.unbatched
    projection     proj_size=0 (LSTM)         lstm.projection
    initial_state  h_0 (and c_0) never given  state.h0_used, state.default_h0_is_zeros, errors.h0_shape,
                                              invariance.streaming, grad.h0
    float32        float64 only               -
    float64        float32 only               -
    gradients      -                          grad.input, grad.h0, grad.weights
    packed         -                          packed.* (PackedSequence input)
    dropout        dropout=0                  dropout.* (dropout > 0)

A fixed nonlinearity is not a capability: an Elman RNN with tanh only is ``--rnn-kind=RNN_TANH``.

Which clauses are entirely about a capability is said by each clause's ``requires``
(conformance/spec/clauses.py), and read by conformance/pytest_plugin/scope.py. Every other clause
draws only what is claimed: draw_case pins the not-claimed fields, a clause that pins such a field
itself passes its pin through ``within``, and draw_case refuses a drawn case that uses a
not-claimed capability (DeclarationError), so a clause cannot override a declaration.

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
    "projection": ("projection", False),
    "initial_state": ("with_h0", False),
}
DTYPE_CAPABILITIES = frozenset(DTYPES)
CAPABILITIES = frozenset(PINS) | DTYPE_CAPABILITIES | {"gradients", "packed", "dropout"}

#: What a case using the capability has, as a failure summary names it.
SETTINGS = {
    "bidirectional": "bidirectional=True",
    "multi_layer": "num_layers > 1",
    "batch_first": "batch_first=True",
    "bias_false": "bias=False",
    "unbatched": "unbatched input",
    "projection": "proj_size > 0",
    "initial_state": "an h_0 given",
    "dropout": "dropout > 0",
    "float32": "dtype float32",
    "float64": "dtype float64",
}


class CapabilityError(ValueError):
    """An unknown capability name; the message is one line."""


class DeclarationError(Exception):
    """A clause drew a case using a capability the implementation does not claim: a defect of the
    clause (it must pin the field through ``within``, or name the capability in ``requires``)."""


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


def claims(impl, capability: str) -> bool:
    return capability not in impl.not_claimed


def within(impl, capability: str, value):
    """A clause's pin (a value or a strategy) of the field of ``capability``, or the value drawn
    instead where ``impl`` does not claim it."""
    return value if claims(impl, capability) else PINS[capability][1]


def restrict(impl, fields: dict) -> dict:
    """draw_case keywords with every not-claimed feature pinned off; a clause's own pin stays, and
    draw_case refuses the case if it uses the feature (``refuse``)."""
    pinned = dict(fields)
    for capability in impl.not_claimed & frozenset(PINS):
        name, value = PINS[capability]
        pinned.setdefault(name, value)
    return pinned


def used(case) -> frozenset:
    """The capabilities a case needs from an implementation (its dtype's included)."""
    c = case.config
    uses = {
        "bidirectional": c.bidirectional,
        "multi_layer": c.num_layers > 1,
        "batch_first": c.batch_first,
        "bias_false": not c.bias,
        "unbatched": case.batch is None,
        "projection": c.proj_size > 0,
        "initial_state": case.with_h0,
        "dropout": c.dropout > 0,
    }
    return frozenset(name for name, yes in uses.items() if yes) | (DTYPE_CAPABILITIES & {c.dtype})


def features(case) -> dict:
    """A case's capability-relevant features, for a failure's record: its mode and what it uses."""
    return {"mode": case.config.mode, "uses": sorted(used(case))}


def refuse(impl, case, clause_id: str) -> None:
    """DeclarationError if ``case`` uses a capability ``impl`` does not claim."""
    gaps = used(case) & impl.not_claimed
    if gaps:
        raise DeclarationError(
            f"clause {clause_id} drew a case with {', '.join(SETTINGS[g] for g in sorted(gaps))}, which "
            f"{impl.name} does not claim ({', '.join(sorted(gaps))}): a defect of the clause, which must pin "
            f"it off (capabilities.within) or require it (Clause.requires); the case: {case!r}"
        )
