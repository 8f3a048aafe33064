"""The recurrence over time, and whole configurations against the oracle (CONTRACT.md, "Layers")."""

from hypothesis import strategies as st

from ..strategies import mostly
from . import assert_matches_oracle, clause, draw_case


@clause("recurrence.carries_state")
def test_carries_state(impl, data):
    seq_len = mostly(st.integers(2, 8), st.integers(9, 128))
    assert_matches_oracle(impl, draw_case(data, impl, seq_len=seq_len, num_layers=1, bidirectional=False), parts=("output",))


@clause("output.matches_oracle")
def test_output_matches_oracle(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, with_h0=False), parts=("output",))
