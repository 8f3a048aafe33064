"""A declaration binds every clause: an implementation that raises whenever a feature is used, run
with that feature declared, fails no clause; a clause that draws a declared gap is refused."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.capabilities import CAPABILITIES, DeclarationError
from conformance.clauses._helpers import Draws, draw_case
from conformance.pytest_plugin.session import Progress
from conformance.registry import Implementation
from conformance.spec.clauses import CLAUSES

from .helpers import run_suite
from .refusing import without


@pytest.mark.parametrize("capability", sorted(CAPABILITIES))
def test_every_clause_honours_a_declared_gap(pytester, tmp_path, capability):
    path = tmp_path / "report.json"
    result, _ = run_suite(
        pytester,
        f"tests.refusing:ADAPTERS.without_{capability}",
        f"--rnn-impl=tests.refusing:ADAPTERS.cells_without_{capability}",
        f"--rnn-not-claimed={capability}",
        "--hypothesis-profile=rnn-fast",
        f"--rnn-report={path}",
    )
    impls = json.loads(path.read_text())["implementations"].values()
    verdicts = {clause_id: e for impl in impls for clause_id, e in impl["clauses"].items()}
    wrong = [
        f"{clause_id} {e['verdict']}: {e['failure']['message'].splitlines()[0]}"
        for impl in impls
        for clause_id, e in impl["clauses"].items()
        if e["verdict"] in ("fails", "error")
    ]
    assert not wrong, f"--rnn-not-claimed={capability} did not keep these clauses from it:\n" + "\n".join(
        wrong
    )
    assert set(verdicts) == set(CLAUSES)
    assert result.ret == pytest.ExitCode.OK


def test_a_clause_drawing_a_declared_gap_is_refused():
    impl = Implementation(
        "x", without("bidirectional"), modes=frozenset({"GRU"}), not_claimed=frozenset({"bidirectional"})
    )

    @given(st.data())
    def draw(data):
        draw_case(Draws(data, Progress(), "invariance.causal"), impl, bidirectional=st.booleans())

    with pytest.raises(
        DeclarationError, match="clause invariance.causal drew a case with bidirectional=True"
    ):
        draw()
