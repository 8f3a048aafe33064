"""dtypes: the output keeps the input's dtype, and half precision is as accurate as half precision
can be (CONTRACT.md, "Layouts and shapes", "Precision notes"; bug 15)."""

from hypothesis import strategies as st

from ..runner import run_case
from ..spec.config import REDUCED_DTYPES
from . import assert_dtypes, assert_matches_oracle, clause, draw_case


@clause("dtype.output_matches_input")
def test_output_matches_input(impl, data):
    case = draw_case(data, impl, dtype=st.sampled_from(sorted(impl.dtypes)))
    got = run_case(impl, case)
    assert_dtypes(case, got)


@clause("dtype.reduced_precision")
def test_reduced_precision(impl, data):
    claimed = sorted(impl.dtypes & set(REDUCED_DTYPES))
    assert_matches_oracle(impl, draw_case(data, impl, dtype=st.sampled_from(claimed)))
