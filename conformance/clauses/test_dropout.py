"""Dropout acts between layers only, in training mode only, never after the last layer
(CONTRACT.md, "Layers"; bug 8). Checked by properties that hold whatever the random stream."""

import numpy as np
from hypothesis import strategies as st

from ..compare import assert_output_close, assert_state_close
from ..runner import run_case
from ..spec import oracle
from ..state import combine
from . import assert_matches_oracle, clause, draw_case, tolerance
from .test_stacking import single_layer

DROPOUT = st.sampled_from((0.25, 0.5, 1.0))


@clause("dropout.eval_mode")
def test_eval_mode(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, num_layers=st.integers(2, 3), dropout=DROPOUT, training=False))


@clause("dropout.single_layer")
def test_single_layer(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, num_layers=1, dropout=DROPOUT, training=True))


@clause("dropout.between_layers")
def test_between_layers(impl, data):
    case = draw_case(data, impl, num_layers=st.integers(2, 3), dropout=1.0, training=True, with_h0=True)
    # Layer 0 reads x; with everything dropped, every layer above reads zeros.
    x, outputs, h_n = case.x, [], []
    for layer in range(case.config.num_layers):
        output, h = oracle.forward(**single_layer(case, layer, x, case.h0))
        outputs.append(output)
        h_n.append(h)
        x = np.zeros_like(output)
    got = run_case(impl, case)
    tol = tolerance(case, *outputs, *h_n)
    against = "the oracle with every layer above the first reading zeros (dropout = 1 in training mode)"
    assert_output_close(case.config, got.output, outputs[-1], tol, what="output (the top layer's, which is never dropped)", against=against)
    assert_state_close(case.config, got.h_n, combine(np.concatenate, h_n), tol, against=against)
