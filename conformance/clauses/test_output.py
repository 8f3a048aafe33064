"""The output of whole configurations (layers, directions, layouts) against the oracle
(CONTRACT.md, "Layers"; bugs 3, 6, 10)."""

from ._helpers import assert_matches_oracle, clause, draw_case


@clause("output.matches_oracle")
def test_output_matches_oracle(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, with_h0=False), parts=("output",))
