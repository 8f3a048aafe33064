"""Cells: one Elman step through the sequence modules, and one step of each kind through the cell
modules (torch.nn.RNNCell/GRUCell/LSTMCell) (CONTRACT.md, "Cells")."""

import numpy as np
from hypothesis import strategies as st

from ..capabilities import within
from ..compare import allowed_error, assert_close, assert_shape
from ..runner import run_case
from ..spec import oracle
from ..state import parts
from ._helpers import assert_matches_oracle, clause, compared_with_oracle, draw_case, one_step


@clause("cell.elman")
def test_cell_elman(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, **one_step(impl)))


@clause("cell.matches_oracle")
def test_cell_matches_oracle(impl, data):
    case = draw_case(data, impl, cell=True, seq_len=1, unbatched=within(impl, "unbatched", st.booleans()))
    got = run_case(impl, case)
    want = oracle.cell_forward(case.config, case.weights, case.x, case.h0)
    tol = allowed_error(case.config, 1, case.weights, case.x, case.h0, want)
    with compared_with_oracle(case, got, tol, ("h_n",)):
        for name, g, w in zip(("h'", "c'"), parts(got.h_n), parts(want)):
            assert_shape(g, w.shape, what=name)
            g, w = np.atleast_2d(g), np.atleast_2d(w)
            assert_close(g, w, tol, what=name, axes=("row", "unit"), dtype=case.config.dtype)
