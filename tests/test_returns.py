"""Whatever an implementation returns ends in a verdict about it: every malformed result fails its
clauses, never an ``error`` (which is for defects of the suite), and every equivalent form of a
right result conforms (tests/returns.py has both catalogues)."""

import json

import pytest
import torch
from hypothesis import settings

from . import returns
from .helpers import failed, run_suite
from .returns import CELL_MALFORMED, EQUIVALENT, MALFORMED

# Few examples: a malformed result fails at the first one, and an equivalent form is the same
# values as torch.nn's, which the reference runs check in depth.
settings.register_profile("returns", parent=settings.get_profile("catalogue"), max_examples=5)

#: Native tracebacks: pytest's own style reads the source of every frame (half the time of a run).
FAST = ("--hypothesis-profile=returns", "--tb=native")

MALFORMED_NAMES = [*MALFORMED, *(f"cell_{name}" for name in CELL_MALFORMED)]


def run_returns(pytester, name: str):
    """The suite on ``tests.returns:NAME``: (pytest's result, clause id -> its verdict entry)."""
    report = pytester.path / "report.json"
    impl = f"tests.returns:{name}"
    result, _ = run_suite(pytester, impl, *FAST, f"--rnn-report={report}")
    return result, json.loads(report.read_text())["implementations"][impl]["clauses"]


def test_every_form_is_an_adapter():
    """A form named like one of the module's own functions would be that function."""
    for name in [*MALFORMED_NAMES, *EQUIVALENT]:
        assert isinstance(getattr(returns, name), returns.Returns), name


def errors(clauses: dict) -> dict:
    """clause id -> message, of the clauses whose verdict is ``error``."""
    return {c: e["failure"]["message"] for c, e in clauses.items() if e["verdict"] == "error"}


@pytest.mark.parametrize("name", MALFORMED_NAMES)
def test_a_malformed_result_fails_and_is_never_an_error(pytester, name):
    _, clauses = run_returns(pytester, name)
    assert not errors(clauses), f"{name}: errors instead of fails:\n" + "\n".join(
        f"{c}: {m}" for c, m in errors(clauses).items()
    )
    assert any(e["verdict"] == "fails" for e in clauses.values()), f"{name} passed every clause"


def test_a_result_that_changes_between_calls_fails_as_nondeterministic(pytester):
    _, clauses = run_returns(pytester, "Nondeterministic")
    assert not errors(clauses), errors(clauses)
    messages = [e["failure"]["message"] for e in clauses.values() if e["verdict"] == "fails"]
    assert any(m.startswith("nondeterministic: ") for m in messages), "\n\n".join(messages)


NO_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


@pytest.mark.parametrize(
    "name", [pytest.param(name, marks=NO_GPU) if name == "on_cuda" else name for name in sorted(EQUIVALENT)]
)
def test_an_equivalent_result_conforms(pytester, name):
    result, verdicts = run_suite(pytester, f"tests.returns:{name}", *FAST)
    assert not failed(verdicts), f"{name} failed {sorted(failed(verdicts))}:\n{result.stdout.str()[-3000:]}"
    assert result.ret == 0
