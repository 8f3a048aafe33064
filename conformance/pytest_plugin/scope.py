"""Whether a clause runs for an implementation, decided once, and why not as a value (Scope)."""

from __future__ import annotations

import enum
import re
import warnings
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


#: Test names before they were named after their clause ids (0.1.0), still accepted in skips files.
FORMER_TEST_NAMES = {
    "test_bad_h0_refused": "test_errors_h0_shape",
    "test_batch_first": "test_layout_batch_first",
    "test_between_layers": "test_dropout_between_layers",
    "test_c_n_matches_oracle": "test_state_c_n_matches_oracle",
    "test_carries_state": "test_recurrence_carries_state",
    "test_causal": "test_invariance_causal",
    "test_cell_module_matches_oracle": "test_cell_matches_oracle",
    "test_default_h0_is_zeros": "test_state_default_h0_is_zeros",
    "test_deterministic": "test_invariance_deterministic",
    "test_dtype_mismatch": "test_errors_dtype_mismatch",
    "test_elman_step": "test_cell_elman",
    "test_eval_mode": "test_dropout_eval_mode",
    "test_gru_step": "test_gru_update",
    "test_h0_used": "test_state_h0_used",
    "test_h_n_is_last_output": "test_state_h_n_is_last_output",
    "test_h_n_matches_oracle": "test_state_h_n_matches_oracle",
    "test_input_rank": "test_errors_input_rank",
    "test_input_width": "test_errors_input_width",
    "test_inputs_unmodified": "test_invariance_inputs_unmodified",
    "test_lstm_step": "test_lstm_cell",
    "test_non_contiguous": "test_invariance_non_contiguous",
    "test_output_matches_input": "test_dtype_output_matches_input",
    "test_output_shapes_and_dtypes": "test_shape_output",
    "test_packed_rows_alone": "test_packed_each_row_alone",
    "test_proj_size": "test_errors_proj_size",
    "test_reduced_precision": "test_dtype_reduced_precision",
    "test_rows_independent": "test_invariance_rows_independent",
    "test_single_layer": "test_dropout_single_layer",
    "test_sizes_positive": "test_errors_sizes_positive",
    "test_stack_equals_chain": "test_stacking_chain",
    "test_streaming": "test_invariance_streaming",
    "test_unbatched": "test_layout_unbatched",
    "test_zero_length": "test_errors_zero_length",
}
#: Clause modules renamed or split (0.1.0): a whole-module line now names their clause id prefixes.
FORMER_MODULES = {
    "test_cells.py": ("cell.", "gru."),
    "test_dtypes.py": ("dtype.",),
    "test_gradients.py": ("grad.",),
    "test_invariances.py": ("invariance.",),
    "test_recurrence.py": ("recurrence.", "output."),
    "test_shapes.py": ("shape.",),
}


def current_names(entry: str) -> tuple[str, ...]:
    """A skips-file line in today's test names: a former test name replaced by its new one, a
    former module by its clause id prefixes (or dropped before ``::test_...``)."""
    for old, new in FORMER_TEST_NAMES.items():
        entry = re.sub(rf"(?<![\w]){old}(?![\w])", new, entry)
    for old, prefixes in FORMER_MODULES.items():
        if old in entry:
            head, sep, test = entry.partition("::")
            return (test,) if sep else prefixes
    return (entry,)


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
        entries = []
        for n, line in enumerate(lines, 1):
            current = current_names(line) if line else ()
            if current and current != (line,):
                warnings.warn(
                    pytest.PytestDeprecationWarning(
                        f"--rnn-skips {path}, line {n}: {line!r} uses a former test name; it now reads "
                        f"{' / '.join(current)} (tests are named after their clause ids)"
                    ),
                    stacklevel=2,
                )
            entries += [(n, entry) for entry in current]
        return cls(path, tuple(entries))

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
