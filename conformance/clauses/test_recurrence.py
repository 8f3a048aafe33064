"""The recurrence over time: h_t = f(x_t, h_{t-1}) from h_0 (CONTRACT.md, "Cells"; bug 2)."""

from hypothesis import strategies as st

from ..strategies import mostly
from ._helpers import assert_matches_oracle, clause, draw_case


@clause("recurrence.carries_state")
def test_recurrence_carries_state(impl, data):
    seq_len = mostly(st.integers(2, 8), st.integers(9, 128))
    assert_matches_oracle(
        impl, draw_case(data, impl, seq_len=seq_len, num_layers=1, bidirectional=False), parts=("output",)
    )
