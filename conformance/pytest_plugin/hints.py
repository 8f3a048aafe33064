"""What a run's failures suggest declaring: a feature that every failing clause's shrunk case keeps.

Hypothesis shrinks every field towards torch's defaults (strategies.configs), so what a shrunk
failing case still uses beyond them is what the failure needs. When at least two clauses fail and
every one's shrunk case uses the same capability (or cell kind), or every failing clause is about
the same capability (its ``requires``), the run names the option that declares it. A feature
that a failing errors clause's case used is not named: the implementation ran that case's valid
call before it failed to refuse the bad one (onnx.reference checks no h_0 shape, but takes h_0).
"""

from __future__ import annotations

from ..capabilities import SETTINGS, claimed_dtypes
from ..spec.clauses import CLAUSES
from ..spec.config import DTYPES, MODES

FAILED = ("fails", "error", "crashed", "timed out")
#: a failure of this exception ran the valid call of its case: the features it uses are supported
RAN = "NotRefused"
MODE = "mode "  # a cell kind as a feature: "mode RNN_RELU"
NONLINEARITY = {"RNN_RELU": "nonlinearity='relu'", "RNN_TANH": "nonlinearity='tanh'"}


def first(order, among) -> list:
    return [value for value in order if value in among][:1]


def shrink_targets(impl, clause_id: str) -> set:
    """What a clause's shrunk case has whatever the cause: its first cell kind and first dtype."""
    modes = first(MODES, impl.modes & CLAUSES[clause_id].modes)
    return {MODE + m for m in modes} | set(first(DTYPES, claimed_dtypes(impl)))


def evidence(impl, clause_id: str, features: dict) -> set:
    """The features a failing clause's shrunk case kept (or its clause needs) beyond every case's."""
    kept = {*features["uses"], MODE + features["mode"], *CLAUSES[clause_id].requires}
    return kept - shrink_targets(impl, clause_id)


def option(impl, feature: str) -> str:
    if feature.startswith(MODE):
        others = [m for m in MODES if m in impl.modes and m != feature.removeprefix(MODE)]
        return f"--rnn-kind={','.join(others)}"
    return f"--rnn-not-claimed={','.join(sorted(impl.not_claimed | {feature}))}"


def setting(feature: str) -> str:
    if feature.startswith(MODE):
        mode = feature.removeprefix(MODE)
        return f"{NONLINEARITY[mode]} ({mode})" if mode in NONLINEARITY else mode
    return SETTINGS.get(feature, feature)


def hints(impl, clauses: dict) -> list[dict]:
    """impl's hints from its verdicts (clause id -> verdict entry, as verdicts.verdicts gives them)."""
    failing = {
        c: (e.get("failure") or {}).get("features") for c, e in clauses.items() if e["verdict"] in FAILED
    }
    if impl is None or len(failing) < 2 or None in failing.values():
        return []
    shared = set.intersection(*(evidence(impl, c, features) for c, features in failing.items()))
    ran = [e["failure"] for e in clauses.values() if (e.get("failure") or {}).get("exception") == RAN]
    shared -= {feature for failure in ran for feature in (failure.get("features") or {}).get("uses", ())}
    return [hint(impl, feature, sorted(failing, key=list(CLAUSES).index)) for feature in sorted(shared)]


def listed(clause_ids: list, most: int = 4) -> str:
    more = len(clause_ids) - most
    return ", ".join(clause_ids[:most]) + (f" and {more} more" if more > 0 else "")


def hint(impl, feature: str, clause_ids: list) -> dict:
    declare = option(impl, feature)
    message = (
        f"hint: all {len(clause_ids)} failing clauses ({listed(clause_ids)}) failed on cases with "
        f"{setting(feature)}; if {impl.name} does not support it, declare it: {declare}"
    )
    return {"feature": feature, "option": declare, "clauses": clause_ids, "message": message}
