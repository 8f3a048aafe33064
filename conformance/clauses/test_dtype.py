"""dtypes: the output keeps the input's dtype, and half precision is as accurate as half precision
can be (CONTRACT.md, "Layouts and shapes", "Precision notes"; bug 15)."""

from ..capabilities import claimed_dtypes
from ..compare import Mismatch
from ..runner import run_case
from ..spec.config import REDUCED_DTYPES
from ..state import STATE_NAMES, parts
from ..strategies import sampled_from
from ._helpers import assert_matches_oracle, clause, draw_case


@clause("dtype.output_matches_input")
def test_dtype_output_matches_input(impl, data):
    case = draw_case(data, impl, dtype=sampled_from(sorted(claimed_dtypes(impl))))
    got = run_case(impl, case)
    assert_dtypes(case, got)


@clause("dtype.reduced_precision")
def test_dtype_reduced_precision(impl, data):
    claimed = sorted(claimed_dtypes(impl) & set(REDUCED_DTYPES))
    assert_matches_oracle(impl, draw_case(data, impl, dtype=sampled_from(claimed)))


def assert_dtypes(case, got):
    """The output and each part of the final state (h_n; LSTM: h_n and c_n) have the input's dtype."""
    __tracebackhide__ = True
    for what, dtype in (("output", got.output_dtype), *zip(STATE_NAMES, parts(got.h_n_dtype))):
        if dtype != case.config.dtype:
            raise Mismatch(f"{what} has dtype {dtype}, but should be {case.config.dtype} (the input's dtype)")
