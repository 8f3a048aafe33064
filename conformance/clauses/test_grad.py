"""Backpropagation through time: gradients with respect to x, h_0 (and c_0) and every parameter
equal the oracle's (CONTRACT.md, "Cells" and "Layers", differentiated; checked as directional
derivatives, which the oracle computes exactly by complex-step differentiation).

Sizes are the forward clauses' (sometimes tile-sized, sometimes up to 128 steps, where vanishing
and exploding gradients break kernels) and every flag; unbatched input one draw in five. The
implementation runs in eval mode, without torch.no_grad, and the loss weighs output, h_n and (for
LSTM) c_n. A parameter's derivative costs one complex oracle run (the directions of x share one
over repeated batch rows, as do h_0's and c_0's), so each example checks a few directions: 2 for
x, 2 for each part of the initial state, and one per parameter for up to 4 parameters drawn
(labelled) from the configuration's; over the examples every parameter of every layer and
direction is reached.
"""

from hypothesis import strategies as st

from ..capabilities import within
from ..gradients import Probe
from ..spec.config import parameter_shapes
from ..state import INITIAL_NAMES
from ..strategies import just, mostly, sampled_from
from ._helpers import clause, draw_case

UNBATCHED = mostly(just(False), just(True))
DIRECTIONS = 2
PARAMETERS_PER_EXAMPLE = 4


@clause("grad.input")
def test_grad_input(impl, data):
    probe = Probe(draw_case(data, impl, unbatched=within(impl, "unbatched", UNBATCHED)))
    probe.check(probe.run(impl), "x", DIRECTIONS)


@clause("grad.h0")
def test_grad_h0(impl, data):
    probe = Probe(draw_case(data, impl, unbatched=within(impl, "unbatched", UNBATCHED), with_h0=True))
    got = probe.run(impl)
    for name in INITIAL_NAMES:
        if name in probe.arrays:  # c_0: LSTM only
            probe.check(got, name, DIRECTIONS)


@clause("grad.weights")
def test_grad_weights(impl, data):
    case = draw_case(data, impl, unbatched=within(impl, "unbatched", UNBATCHED))
    names = data.draw(
        st.lists(
            sampled_from(list(parameter_shapes(case.config))),
            min_size=1,
            max_size=PARAMETERS_PER_EXAMPLE,
            unique=True,
        ),
        label="parameters checked",
    )
    probe = Probe(case)
    got = probe.run(impl)
    for name in names:
        probe.check(got, name, 1)
