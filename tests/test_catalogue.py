"""Every fault in the catalogue is caught, through the same --rnn-impl path a user takes, and the
reference implementations pass every clause."""

import pytest

from .faults import CATALOGUE
from .helpers import failed, only, run_suite

REFERENCES = [
    "manual",
    "torch",
    "torch.nn:GRU",
    "torch.nn:RNN",
    "torch.nn:LSTM",
    "torch.nn:RNNCell",
    "torch.nn:GRUCell",
    "torch.nn:LSTMCell",
]


@pytest.mark.parametrize("fault", sorted(CATALOGUE))
def test_fault_is_caught(pytester, fault):
    # Only the clauses that must catch the fault, up to the first that does: each clause test's
    # examples depend on its seed alone, not on which others run, so the verdict is the one a whole
    # run would give, at a tenth of its cost.
    result, verdicts = run_suite(
        pytester, fault, "--hypothesis-profile=catalogue", *only(CATALOGUE[fault]), "-x"
    )
    caught_by = failed(verdicts)
    assert result.ret != 0, f"{fault} passed the whole suite"
    assert caught_by & CATALOGUE[fault], (
        f"{fault} was caught by {sorted(caught_by)}, but not by any of {sorted(CATALOGUE[fault])}"
    )


@pytest.mark.parametrize("impl", REFERENCES)
def test_reference_passes(pytester, impl):
    """Slow (10 to 20 s each): a whole default run, every clause, as a user's would be."""
    result, verdicts = run_suite(pytester, impl)
    assert not failed(verdicts), f"{impl} failed {sorted(failed(verdicts))}:\n{result.stdout.str()[-3000:]}"
    assert result.ret == 0
    assert "passed" in set().union(*verdicts.values())


def test_cuda_reference_skips_cleanly_without_a_gpu(pytester):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        result, verdicts = run_suite(pytester, "torch-cuda")
        assert result.ret == 0 and not failed(verdicts)
    else:
        result, verdicts = run_suite(pytester, "torch-cuda", "-rs")
        assert result.ret == 0
        assert set().union(*verdicts.values()) == {"skipped"}
        result.stdout.fnmatch_lines(["*torch.cuda.is_available() is False*"])
