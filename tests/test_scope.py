"""Whether a clause runs for an implementation, and why not: one function, a value per reason."""

import pytest
import torch

from conformance.pytest_plugin.scope import OutOfScope, Scope, SkipsFile, decide
from conformance.registry import Implementation, ModuleAdapter
from conformance.spec.clauses import CLAUSES


class Adapter:
    modes = ("GRU",)

    def build(self, config, weights):
        raise NotImplementedError


class Offline(Adapter):
    def unavailable(self):
        return "no device"


def impl(adapter=None, **fields) -> Implementation:
    return Implementation("x", adapter or Adapter(), modes=frozenset({"GRU"}), **fields)


DROP_IN = impl(ModuleAdapter({"GRU": torch.nn.GRU}))
NO_DTYPE = frozenset({"float32", "float64"})

OUT_OF_SCOPE = [
    (impl(Offline()), "gru.update", Scope.UNAVAILABLE, "x unavailable: no device"),
    (impl(Offline(), is_cell=True), "gru.update", Scope.UNAVAILABLE, "x unavailable: no device"),
    (
        impl(is_cell=True),
        "gru.update",
        Scope.NOT_APPLICABLE,
        "not applicable: x is a cell (one step); gru.update checks sequence modules",
    ),
    (
        impl(),
        "cell.matches_oracle",
        Scope.NOT_APPLICABLE,
        "not applicable: x is a sequence module; cell.matches_oracle checks cells",
    ),
    (
        impl(),
        "cell.elman",
        Scope.NOT_APPLICABLE,
        "not applicable: x implements GRU; cell.elman covers RNN_RELU, RNN_TANH",
    ),
    (
        impl(),
        "errors.sizes_positive",
        Scope.NOT_APPLICABLE,
        "not applicable: x is an adapter: only drop-in classes can be asked to refuse constructor arguments",
    ),
    (
        impl(not_claimed=NO_DTYPE),
        "gru.update",
        Scope.NOT_CLAIMED,
        "not claimed: x claims no dtype this suite checks (float64, float32)",
    ),
    (
        impl(not_claimed=frozenset({"multi_layer"})),
        "stacking.chain",
        Scope.NOT_CLAIMED,
        "not claimed: x does not claim multi_layer, which stacking.chain is about",
    ),
    (
        impl(not_claimed=frozenset({"initial_state"})),
        "grad.h0",
        Scope.NOT_CLAIMED,
        "not claimed: x does not claim initial_state, which grad.h0 is about",
    ),
    (
        impl(not_claimed=frozenset({"multi_layer"})),
        "dropout.between_layers",
        Scope.NOT_CLAIMED,
        "not claimed: x does not claim multi_layer, which dropout.between_layers is about",
    ),
    (
        impl(),
        "dtype.reduced_precision",
        Scope.NOT_CLAIMED,
        "not claimed: x claims none of the dtypes dtype.reduced_precision checks (bfloat16, float16); "
        "see --rnn-dtypes",
    ),
]


@pytest.mark.parametrize("implementation, clause_id, scope, reason", OUT_OF_SCOPE)
def test_out_of_scope_for_one_reason(implementation, clause_id, scope, reason):
    assert decide(CLAUSES[clause_id], implementation) == OutOfScope(scope, reason)


@pytest.mark.parametrize(
    "implementation, clause_id",
    [
        (impl(), "gru.update"),
        (impl(not_claimed=frozenset({"multi_layer"})), "gru.update"),
        (impl(dtypes=frozenset({"float32", "bfloat16"})), "dtype.reduced_precision"),
        (DROP_IN, "errors.proj_size"),
    ],
)
def test_in_scope(implementation, clause_id):
    assert decide(CLAUSES[clause_id], implementation) is None


def skips_of(*entries) -> SkipsFile:
    return SkipsFile("skips.txt", tuple(enumerate(entries, 1)))


def test_skips_file_lines_match_clause_ids_and_test_ids(tmp_path):
    path = tmp_path / "skips.txt"
    path.write_text("# known gaps\ngru.   # a clause id prefix\n\ntest_state_h0_used[x]\n")
    skips = SkipsFile.read(str(path))
    assert skips.entries == ((2, "gru."), (4, "test_state_h0_used[x]"))
    listed = decide(CLAUSES["gru.update"], impl(), "c/test_gru.py::test_gru_update[x]", skips)
    assert listed == OutOfScope(Scope.LISTED_IN_SKIPS, f"not claimed: listed in {path} (line 2: gru.)")
    by_test_id = decide(CLAUSES["state.h0_used"], impl(), "c/test_state.py::test_state_h0_used[x]", skips)
    assert by_test_id.reason.endswith("(line 4: test_state_h0_used[x])")
    assert decide(CLAUSES["state.h0_used"], impl(), "c/test_state.py::test_state_h0_used[y]", skips) is None
    # a stronger reason wins over the skips file
    stronger = decide(CLAUSES["cell.elman"], impl(), "c/test_cell.py::test_cell_elman[x]", skips_of("cell."))
    assert stronger.scope is Scope.NOT_APPLICABLE


def test_unreadable_skips_file_is_a_usage_error(tmp_path):
    with pytest.raises(pytest.UsageError, match="--rnn-skips: cannot read"):
        SkipsFile.read(str(tmp_path / "missing.txt"))


def test_every_scope_is_reachable_and_has_its_verdict():
    reached = {scope for *_, scope, _ in OUT_OF_SCOPE} | {Scope.LISTED_IN_SKIPS}
    assert reached == set(Scope)
    assert {s: s.verdict for s in Scope} == {
        Scope.UNAVAILABLE: "skipped-unavailable",
        Scope.NOT_APPLICABLE: "not applicable",
        Scope.NOT_CLAIMED: "not claimed",
        Scope.LISTED_IN_SKIPS: "not claimed",
    }


def test_former_test_names_in_a_skips_file_still_work_with_a_deprecation_warning(tmp_path):
    path = tmp_path / "skips.txt"
    path.write_text(
        "test_h0_used[x]\nconformance/clauses/test_cells.py::test_gru_step\ntest_invariances.py\nlayout.\n"
    )
    with pytest.warns(pytest.PytestDeprecationWarning) as warned:
        skips = SkipsFile.read(str(path))
    assert skips.entries == (
        (1, "test_state_h0_used[x]"),
        (2, "test_gru_update"),
        (3, "invariance."),
        (4, "layout."),
    )
    assert len(warned) == 3 and "line 1: 'test_h0_used[x]' uses a former test name" in str(warned[0].message)
    listed = decide(
        CLAUSES["gru.update"], impl(), "conformance/clauses/test_gru.py::test_gru_update[x]", skips
    )
    assert listed.reason.endswith("(line 2: test_gru_update)")


def test_clause_tests_are_named_after_their_clause_ids():
    """Users write -k expressions and skips lines with these names: the decorator refuses a
    test whose module or name does not follow from its clause id."""
    from conformance.clauses._helpers import clause

    def test_misnamed(impl, data):
        pass

    test_misnamed.__module__ = "conformance.clauses.test_gru"
    with pytest.raises(
        NameError,
        match="clause gru.update is checked by test_gru.test_misnamed, but should be by "
        "test_gru.test_gru_update",
    ):
        clause("gru.update")(test_misnamed)
