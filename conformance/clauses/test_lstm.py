"""LSTM: the cell with its (h, c) state and gate order, and projections (CONTRACT.md, "Cells")."""

from hypothesis import strategies as st

from ..compare import assert_shape
from ..runner import run_case
from ._helpers import assert_matches_oracle, clause, draw_case, one_step


@clause("lstm.cell")
def test_lstm_cell(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, projection=False, **one_step(impl)))


@clause("lstm.projection")
def test_lstm_projection(impl, data):
    case = draw_case(data, impl, projection=True, hidden_size=st.integers(2, 9), seq_len=st.integers(1, 4))
    c = case.config
    got = run_case(impl, case)
    h_n, c_n = got.h_n
    rows = () if case.batch is None else (case.batch,)
    assert_shape(
        h_n,
        (c.num_layers * c.directions, *rows, c.proj_size),
        what="h_n",
        why=f"(proj_size={c.proj_size}: h is projected)",
    )
    assert_shape(
        c_n,
        (c.num_layers * c.directions, *rows, c.hidden_size),
        what="c_n",
        why=f"(hidden_size={c.hidden_size}: c is never projected)",
    )
    assert_matches_oracle(impl, case)
