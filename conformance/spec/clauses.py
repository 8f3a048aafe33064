"""The clause catalogue: stable ids, a one-line statement each, the modes it covers, its source."""

from __future__ import annotations

from dataclasses import dataclass

from .config import MODES

ELMAN = frozenset({"RNN_TANH", "RNN_RELU"})
GRU = frozenset({"GRU"})
ALL = frozenset(MODES)


@dataclass(frozen=True)
class Clause:
    id: str
    statement: str
    modes: frozenset = ALL
    source: str = ""
    requires: frozenset = frozenset()  # capabilities an implementation may declare it lacks (registry: not_claimed)


CLAUSES = {
    c.id: c
    for c in [
        Clause("cell.elman", "One Elman step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu.", ELMAN, "CONTRACT.md, Cells"),
        Clause("gru.candidate", "The GRU candidate applies the reset gate after the matmul: n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn)).", GRU, "CONTRACT.md, Cells; bugs 1, 13, 14"),
        Clause("gru.update", "One GRU step: gates r | z | n in that order, h' = (1 - z) * n + z * h (z weights the old state).", GRU, "CONTRACT.md, Cells; bug 12"),
        Clause("recurrence.carries_state", "Over a sequence, h_t = f(x_t, h_{t-1}) from h_0: every output step equals the oracle (one layer, one direction).", ALL, "CONTRACT.md, Cells; bug 2"),
        Clause("output.matches_oracle", "For any configuration (layers, directions, layout, bias, dtype) the output equals the oracle's top-layer state at every step.", ALL, "CONTRACT.md, Layers; bugs 3, 6, 10"),
        Clause("state.h_n_matches_oracle", "h_n holds every layer's and direction's final state at index layer*D + direction, equal to the oracle.", ALL, "CONTRACT.md, Layers"),
        Clause("state.h_n_is_last_output", "The top layer's h_n equals the output at the last step (forward direction) and at step 0 (reverse direction).", ALL, "CONTRACT.md, h_n and the last output"),
        Clause("state.default_h0_is_zeros", "Calling without h_0 equals calling with h_0 = zeros.", ALL, "CONTRACT.md, Layers"),
        Clause("state.h0_used", "An explicit h_0 is used, slice layer*D + direction by that layer and direction: output and h_n equal the oracle started from it.", ALL, "CONTRACT.md, Layers"),
        Clause("stacking.chain", "A stacked network equals a chain of single-layer networks with the same weights, layer k+1 reading layer k's output.", ALL, "CONTRACT.md, Layers; bug 7"),
        Clause("layout.batch_first", "batch_first=True equals the time-major run with input and output transposed; h_n is the same in both layouts.", ALL, "CONTRACT.md, Layouts; bug 4"),
        Clause("layout.unbatched", "Unbatched input (L, H_in) with h_0 (D*num_layers, H) equals a batch of one, whatever batch_first says.", ALL, "CONTRACT.md, Layouts"),
        Clause("shape.output", "output is (L, N, D*H), or (N, L, D*H) with batch_first, and h_n is (D*num_layers, N, H), both in the input's dtype.", ALL, "CONTRACT.md, Layouts and shapes"),
        Clause("grad.input", "Backpropagation through time: the gradient with respect to the input x equals the oracle's (directional derivatives, any configuration).", ALL, "CONTRACT.md, differentiated; bug 9", frozenset({"gradients"})),
        Clause("grad.h0", "The gradient with respect to h_0 equals the oracle's, slice layer*D + direction by that layer and direction.", ALL, "CONTRACT.md, Layers, differentiated", frozenset({"gradients"})),
        Clause("grad.weights", "The gradient with respect to every parameter (each layer and direction, weights and biases) equals the oracle's.", ALL, "CONTRACT.md, Cells and Layers, differentiated", frozenset({"gradients"})),
    ]
}
