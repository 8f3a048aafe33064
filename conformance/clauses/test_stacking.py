"""Stacking: layer k+1 reads layer k's output sequence (CONTRACT.md, "Layers"; bug 7)."""

import re

import numpy as np
from hypothesis import strategies as st

from ..compare import assert_output_close, assert_state_close
from ..runner import run_case
from ..state import combine, map_state
from ._helpers import clause, draw_case, tolerance


def single_layer(case, layer: int, x, h0):
    """Layer ``layer`` of the case as a network of its own: its weights renamed to layer 0."""
    c = case.config
    config = c.replace(num_layers=1, input_size=c.input_size if layer == 0 else c.directions * c.h_out)
    weights = {
        re.sub(r"_l\d+", "_l0", n): w for n, w in case.weights.items() if re.search(rf"_l{layer}(_|$)", n)
    }
    h0 = map_state(lambda s: s[layer * c.directions : (layer + 1) * c.directions], h0)
    return dict(config=config, weights=weights, x=x, h0=h0)


@clause("stacking.chain")
def test_stacking_chain(impl, data):
    case = draw_case(data, impl, num_layers=st.integers(2, 4))
    stacked = run_case(impl, case)
    x, h_n = case.x, []
    for layer in range(case.config.num_layers):
        link = run_case(impl, case, **single_layer(case, layer, x, case.h0))
        x = link.output
        h_n.append(link.h_n)
    tol = tolerance(case, stacked.output, stacked.h_n)
    assert_output_close(
        case.config,
        stacked.output,
        x,
        tol,
        what="output of the stack",
        against="the chain of single-layer runs",
    )
    assert_state_close(
        case.config,
        stacked.h_n,
        combine(np.concatenate, h_n),
        tol,
        what="h_n of the stack",
        against="the chain's h_n, concatenated",
    )
