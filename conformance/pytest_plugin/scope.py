"""Whether a clause runs for an implementation, decided once, and why not as a value (Scope)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

import pytest

from ..capabilities import claimed_dtypes
from ..spec.config import DTYPES


class Scope(enum.Enum):
    """Why a clause does not run for an implementation; ``verdict`` is what the verdict table says."""

    UNAVAILABLE = "unavailable"  # the implementation's unavailable() gave a reason
    NOT_APPLICABLE = "not applicable"  # a cell vs a sequence module, cell kinds, constructor on an adapter
    NOT_CLAIMED = "not claimed"  # a declared capability, the dtypes it claims
    LISTED_IN_SKIPS = "listed in the skips file"

    @property
    def verdict(self) -> str:
        renamed = {Scope.UNAVAILABLE: "skipped-unavailable", Scope.LISTED_IN_SKIPS: "not claimed"}
        return renamed.get(self, self.value)


class OutOfScope(NamedTuple):
    scope: Scope
    reason: str  # for people: the skip reason, the JSON report's "reason"


@dataclass(frozen=True)
class SkipsFile:
    """--rnn-skips: (line number, test id or clause id) of each line, comments removed."""

    path: str | None = None
    entries: tuple[tuple[int, str], ...] = ()

    @classmethod
    def read(cls, path: str | None) -> SkipsFile:
        if path is None:
            return cls()
        try:
            with open(path) as f:
                lines = [line.split("#", 1)[0].strip() for line in f.read().splitlines()]
        except OSError as e:
            raise pytest.UsageError(f"--rnn-skips: cannot read {path}: {e.strerror}") from None
        return cls(path, tuple((n, line) for n, line in enumerate(lines, 1) if line))

    def matching(self, clause_id: str, nodeid: str) -> list[tuple[int, str]]:
        """The lines naming the test: a clause id they prefix, or a test id they are part of."""
        return [(n, entry) for n, entry in self.entries if clause_id.startswith(entry) or entry in nodeid]


def names(values) -> str:
    return ", ".join(sorted(values))


def unavailable(spec, impl) -> OutOfScope | None:
    reason = impl.unavailable()
    return OutOfScope(Scope.UNAVAILABLE, f"{impl.name} unavailable: {reason}") if reason else None


def not_applicable(spec, impl) -> OutOfScope | None:
    if impl.is_cell != spec.cell:
        what = ("a cell (one step)", "sequence modules") if impl.is_cell else ("a sequence module", "cells")
        why = f"{impl.name} is {what[0]}; {spec.id} checks {what[1]}"
    elif not impl.modes & spec.modes:
        why = f"{impl.name} implements {names(impl.modes)}; {spec.id} covers {names(spec.modes)}"
    elif spec.constructor and not impl.constructible:
        why = f"{impl.name} is an adapter: only drop-in classes can be asked to refuse constructor arguments"
    else:
        return None
    return OutOfScope(Scope.NOT_APPLICABLE, f"not applicable: {why}")


def not_claimed(spec, impl) -> OutOfScope | None:
    missing = spec.requires & impl.not_claimed
    if not claimed_dtypes(impl):
        why = f"{impl.name} claims no dtype this suite checks ({', '.join(DTYPES)})"
    elif missing:
        why = f"{impl.name} does not claim {', '.join(sorted(missing))}, which {spec.id} is about"
    elif spec.dtypes and not claimed_dtypes(impl) & spec.dtypes:
        dtypes = names(spec.dtypes)
        why = f"{impl.name} claims none of the dtypes {spec.id} checks ({dtypes}); see --rnn-dtypes"
    else:
        return None
    return OutOfScope(Scope.NOT_CLAIMED, f"not claimed: {why}")


def decide(spec, impl, nodeid: str = "", skips: SkipsFile = SkipsFile()) -> OutOfScope | None:
    """Why clause ``spec`` does not run for ``impl`` (the first reason of these, in this order), or
    None: it runs."""
    for check in (unavailable, not_applicable, not_claimed):
        out = check(spec, impl)
        if out:
            return out
    listed = skips.matching(spec.id, nodeid)
    if listed:
        n, entry = listed[0]
        return OutOfScope(Scope.LISTED_IN_SKIPS, f"not claimed: listed in {skips.path} (line {n}: {entry})")
    return None
