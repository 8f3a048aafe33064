"""The clause catalogue: stable ids, a one-line statement each, the modes it covers, its source."""

from __future__ import annotations

from dataclasses import dataclass

from .config import ELMAN, MODES, REDUCED_DTYPES

GRU = frozenset({"GRU"})
LSTM = frozenset({"LSTM"})
ALL = frozenset(MODES)


@dataclass(frozen=True)
class Clause:
    id: str
    statement: str
    modes: frozenset = ALL
    source: str = ""
    cell: bool = False  # checks a cell (torch.nn.RNNCell/GRUCell/LSTMCell) rather than a sequence module
    # capabilities every draw of the clause needs: not claiming one takes it out of scope (not claimed)
    requires: frozenset = frozenset()
    dtypes: frozenset = frozenset()  # dtypes of which the implementation must claim one (empty: any)
    constructor: bool = False  # asks the constructor to refuse arguments: drop-in classes only

    @property
    def test_name(self) -> str:
        """The test that checks it: ``cell.elman`` is ``test_cell_elman`` in clauses/test_cell.py."""
        return "test_" + self.id.replace(".", "_")

    @property
    def module(self) -> str:
        return "test_" + self.id.partition(".")[0]


CLAUSES = {
    c.id: c
    for c in [
        Clause(
            "cell.elman",
            "One Elman step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh), act = tanh or relu.",
            frozenset(ELMAN),
            "CONTRACT.md, Cells",
        ),
        Clause(
            "gru.candidate",
            "The GRU candidate applies the reset gate after the matmul: n = tanh(x W_in^T + b_in + r * (h "
            "W_hn^T + b_hn)).",
            GRU,
            "CONTRACT.md, Cells; bugs 1, 13, 14",
        ),
        Clause(
            "gru.update",
            "One GRU step: gates r | z | n in that order, h' = (1 - z) * n + z * h (z weights the old "
            "state).",
            GRU,
            "CONTRACT.md, Cells; bug 12",
        ),
        Clause(
            "recurrence.carries_state",
            "Over a sequence, h_t = f(x_t, h_{t-1}) from h_0: every output step equals the oracle (one "
            "layer, one direction).",
            ALL,
            "CONTRACT.md, Cells; bug 2",
        ),
        Clause(
            "output.matches_oracle",
            "For any configuration (layers, directions, layout, bias, dtype) the output equals the oracle's "
            "top-layer state at every step.",
            ALL,
            "CONTRACT.md, Layers; bugs 3, 6, 10",
        ),
        Clause(
            "state.h_n_matches_oracle",
            "h_n holds every layer's and direction's final state at index layer*D + direction, equal to the "
            "oracle.",
            ALL,
            "CONTRACT.md, Layers",
        ),
        Clause(
            "state.h_n_is_last_output",
            "The top layer's h_n equals the output at the last step (forward direction) and at step 0 "
            "(reverse direction).",
            ALL,
            "CONTRACT.md, h_n and the last output",
        ),
        Clause(
            "state.default_h0_is_zeros",
            "Calling without h_0 equals calling with h_0 = zeros.",
            ALL,
            "CONTRACT.md, Layers",
            requires=frozenset({"initial_state"}),
        ),
        Clause(
            "state.h0_used",
            "An explicit h_0 is used, slice layer*D + direction by that layer and direction: output and h_n "
            "equal the oracle started from it.",
            ALL,
            "CONTRACT.md, Layers",
            requires=frozenset({"initial_state"}),
        ),
        Clause(
            "stacking.chain",
            "A stacked network equals a chain of single-layer networks with the same weights, layer k+1 "
            "reading layer k's output.",
            ALL,
            "CONTRACT.md, Layers; bug 7",
            requires=frozenset({"multi_layer"}),
        ),
        Clause(
            "layout.batch_first",
            "batch_first=True equals the time-major run with input and output transposed; h_n is the same in "
            "both layouts.",
            ALL,
            "CONTRACT.md, Layouts; bug 4",
            requires=frozenset({"batch_first"}),
        ),
        Clause(
            "layout.unbatched",
            "Unbatched input (L, H_in) with h_0 (D*num_layers, H) equals a batch of one, whatever "
            "batch_first says.",
            ALL,
            "CONTRACT.md, Layouts",
            requires=frozenset({"unbatched"}),
        ),
        Clause(
            "lstm.cell",
            "One LSTM step: gates i | f | g | o in that order, c' = f * c + i * g, h' = o * tanh(c').",
            LSTM,
            "CONTRACT.md, Cells; bug 12",
        ),
        Clause(
            "lstm.projection",
            "With proj_size > 0, h is (.., proj_size) and c is (.., H), and h' = (o * tanh(c')) W_hr^T is "
            "what is carried and output.",
            LSTM,
            "CONTRACT.md, Cells and Layers",
            requires=frozenset({"projection"}),
        ),
        Clause(
            "state.c_n_matches_oracle",
            "LSTM: c_n holds every layer's and direction's final cell state (width H, unprojected) at index "
            "layer*D + direction, equal to the oracle.",
            LSTM,
            "CONTRACT.md, Layers",
        ),
        Clause(
            "cell.matches_oracle",
            "A cell (RNNCell, GRUCell, LSTMCell) computes one step from hx (default zeros), batched (N, "
            "H_in) or unbatched (H_in,), equal to the oracle's cell.",
            ALL,
            "CONTRACT.md, Cells; bug 1",
            cell=True,
        ),
        Clause(
            "packed.matches_oracle",
            "PackedSequence input: the output is a PackedSequence holding the same sequences "
            "(pad_packed_sequence gives the input's lengths in the original batch order; any packing of them "
            "is equivalent), equal to the oracle with per-row lengths, padding zero; h_n at each row's own "
            "last step, in the original order.",
            ALL,
            "CONTRACT.md, Variable-length sequences; bug 5",
            requires=frozenset({"packed"}),
        ),
        Clause(
            "packed.each_row_alone",
            "Each sequence of a PackedSequence batch (unpacked in the original batch order, whatever the "
            "output's packing) gives the output and h_n of running it alone, unpadded.",
            ALL,
            "CONTRACT.md, Variable-length sequences; bug 5",
            requires=frozenset({"packed"}),
        ),
        Clause(
            "packed.padding_ignored",
            "A row's results do not depend on the padding around it: adding a longer row to the batch (more "
            "padding, with other values) changes nothing for the others.",
            ALL,
            "CONTRACT.md, Variable-length sequences; bug 5",
            requires=frozenset({"packed"}),
        ),
        Clause(
            "invariance.rows_independent",
            "Each batch row equals running that row alone: nothing leaks across the batch, at any batch "
            "size.",
            ALL,
            "CONTRACT.md, Variable-length sequences; bug 10",
        ),
        Clause(
            "invariance.causal",
            "Changing x after step t leaves the output up to t unchanged (unidirectional); one bidirectional "
            "layer: its forward half up to t, and its reverse half from t on when x before t changes.",
            ALL,
            "CONTRACT.md, Cells",
        ),
        Clause(
            "invariance.streaming",
            "Running x[:k], then x[k:] from the final state it returned (h_n; LSTM: (h_n, c_n)) equals "
            "running x in one call (unidirectional): output concatenated, same final state.",
            ALL,
            "CONTRACT.md, Cells; bug 2",
            requires=frozenset({"initial_state"}),
        ),
        Clause(
            "invariance.deterministic",
            "Repeated calls with the same inputs return bit-for-bit the same output, h_n and (LSTM) c_n.",
            ALL,
            "CONTRACT.md, bug 11",
        ),
        Clause(
            "invariance.inputs_unmodified",
            "The x, h_0, (LSTM) c_0 and weight tensors given to the implementation are unchanged afterwards, "
            "bit for bit.",
            ALL,
            "torch.nn.RNN/GRU/LSTM semantics",
        ),
        Clause(
            "invariance.non_contiguous",
            "Non-contiguous x, h_0 and (LSTM) c_0 (strided slices, transposed storage) give the same results "
            "as contiguous ones.",
            ALL,
            "CONTRACT.md, bug 9",
        ),
        Clause(
            "errors.input_width",
            "An input whose last dimension is not input_size raises.",
            ALL,
            "CONTRACT.md, Errors",
        ),
        Clause(
            "errors.h0_shape",
            "An h_0, or for LSTM a c_0 (whose width is hidden_size), of the wrong shape in any dimension "
            "(layers, batch, width; a prime bad size, a broadcastable 1, or the other one's width) raises.",
            ALL,
            "CONTRACT.md, Errors",
            requires=frozenset({"initial_state"}),
        ),
        Clause("errors.input_rank", "An input of rank 1 or 4 raises.", ALL, "CONTRACT.md, Errors"),
        Clause("errors.zero_length", "A sequence of length 0 raises.", ALL, "CONTRACT.md, Errors"),
        Clause(
            "errors.dtype_mismatch",
            "An input or h_0 whose dtype differs from the weights' raises, and for LSTM a float64 c_0 with "
            "float32 weights (torch promotes a float32 c_0 with float64 weights).",
            ALL,
            "CONTRACT.md, Errors",
        ),
        Clause(
            "errors.proj_size",
            "A proj_size torch refuses raises at construction (drop-in classes only): any proj_size > 0 "
            "on an RNN or GRU; on an LSTM, which needs 0 <= proj_size < hidden_size, proj_size >= "
            "hidden_size or < 0.",
            ALL,
            "CONTRACT.md, Errors",
            constructor=True,
        ),
        Clause(
            "errors.sizes_positive",
            "Constructing with hidden_size <= 0 or num_layers <= 0 raises (drop-in classes only).",
            ALL,
            "CONTRACT.md, Errors",
            constructor=True,
        ),
        Clause(
            "dropout.eval_mode",
            "In eval mode, dropout > 0 changes nothing: the result equals the oracle (dropout = 0).",
            ALL,
            "CONTRACT.md, Layers; bug 8",
            requires=frozenset({"dropout"}),
        ),
        Clause(
            "dropout.single_layer",
            "In training mode, a one-layer network is unaffected by dropout (it only acts between layers, "
            "never on the recurrent state h or c).",
            ALL,
            "CONTRACT.md, Layers; bug 8",
            requires=frozenset({"dropout"}),
        ),
        Clause(
            "dropout.between_layers",
            "In training mode with dropout = 1, every layer above the first reads zeros and the top layer's "
            "output is not dropped.",
            ALL,
            "CONTRACT.md, Layers; bug 8",
            requires=frozenset({"dropout", "multi_layer"}),
        ),
        Clause(
            "dtype.output_matches_input",
            "Output, h_n and (LSTM) c_n have the input's dtype, for every dtype the implementation claims "
            "(bfloat16 and float16 included).",
            ALL,
            "CONTRACT.md, Layouts and shapes; bug 15",
        ),
        Clause(
            "dtype.reduced_precision",
            "In bfloat16 and float16, where claimed, output, h_n and (LSTM) c_n equal the oracle within "
            "the half-precision tolerance.",
            ALL,
            "CONTRACT.md, Precision notes; bug 15",
            dtypes=frozenset(REDUCED_DTYPES),
        ),
        Clause(
            "shape.output",
            "output is (L, N, D*H_out), or (N, L, D*H_out) with batch_first, and h_n is (D*num_layers, N, "
            "H_out) (LSTM: c_n is (D*num_layers, N, H)) whatever batch_first says.",
            ALL,
            "CONTRACT.md, Layouts and shapes",
        ),
        Clause(
            "grad.input",
            "Backpropagation through time: the gradient with respect to the input x equals the oracle's "
            "(directional derivatives, any configuration).",
            ALL,
            "CONTRACT.md, differentiated; bug 9",
            requires=frozenset({"gradients"}),
        ),
        Clause(
            "grad.h0",
            "The gradient with respect to h_0 (and c_0 for LSTM) equals the oracle's, slice layer*D + "
            "direction by that layer and direction.",
            ALL,
            "CONTRACT.md, Layers, differentiated",
            requires=frozenset({"gradients", "initial_state"}),
        ),
        Clause(
            "grad.weights",
            "The gradient with respect to every parameter (each layer and direction, weights, biases and "
            "LSTM projections) equals the oracle's.",
            ALL,
            "CONTRACT.md, Cells and Layers, differentiated",
            requires=frozenset({"gradients"}),
        ),
    ]
}
