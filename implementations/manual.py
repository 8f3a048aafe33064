"""The tutorial loop in torch ops, layer by layer and step by step:
h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh). An adapter (conformance.registry.Adapter).

The state is a tensor h, or the tuple (h, c) for LSTM. A PackedSequence is unpacked and each row
is masked past its own length, as the oracle does. Each piece is a method so that tests/faults.py
can break exactly one of them.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from conformance.registry import Adapter, Call
from conformance.spec.config import Config
from conformance.state import combine, first, map_state, parts


class Manual:
    modes = ("RNN_TANH", "RNN_RELU", "GRU", "LSTM")
    dtypes = ("float64", "float32", "bfloat16", "float16")
    description = "explicit time loop in torch ops (implementations.manual)"

    def build(self, config: Config, weights: dict[str, torch.Tensor]) -> Call:
        return lambda x, h0: self.forward(config, weights, x, h0)

    # --- cells ------------------------------------------------------------------------------------

    def cell(self, mode, x, h, w):
        """One step; ``h`` is the state, (h, c) for LSTM, and ``w`` then ends with W_hr (or None)."""
        if mode == "LSTM":
            return self.lstm_cell(x, *h, *w)
        W_ih, W_hh, b_ih, b_hh = w
        if mode == "GRU":
            return self.gru_cell(x, h, W_ih, W_hh, b_ih, b_hh)
        act = torch.tanh if mode == "RNN_TANH" else torch.relu
        return act(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)

    def gru_cell(self, x, h, W_ih, W_hh, b_ih, b_hh):
        x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
        h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=-1)
        r = torch.sigmoid(x_r + h_r)
        z = torch.sigmoid(x_z + h_z)
        n = torch.tanh(x_n + r * h_n)
        return (1 - z) * n + z * h

    def lstm_cell(self, x, h, c, W_ih, W_hh, b_ih, b_hh, W_hr):
        i, f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return self.project(torch.sigmoid(o) * torch.tanh(c), W_hr), c

    def project(self, h, W_hr):
        return h if W_hr is None else h @ W_hr.T

    # --- time, directions, layers -----------------------------------------------------------------

    def layer_weights(self, config, weights, layer, direction):
        sfx = f"_l{layer}{'_reverse' if direction else ''}"
        W_ih, W_hh = weights["weight_ih" + sfx], weights["weight_hh" + sfx]
        if config.bias:
            return W_ih, W_hh, weights["bias_ih" + sfx], weights["bias_hh" + sfx]
        zeros = W_ih.new_zeros(W_ih.shape[0])
        return W_ih, W_hh, zeros, zeros

    def cell_weights(self, config, weights, layer, direction):
        """layer_weights, and for LSTM the projection W_hr (None without proj_size)."""
        w = self.layer_weights(config, weights, layer, direction)
        if config.mode != "LSTM":
            return w
        return (*w, weights.get(f"weight_hr_l{layer}{'_reverse' if direction else ''}"))

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        if lengths is not None:
            return self.run_masked(mode, x, h, w, reverse, lengths)
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for t in steps:
            h = self.cell(mode, x[t], h, w)
            outputs[t] = first(h)
        return torch.stack(outputs), h

    # --- variable lengths (PackedSequence) ---------------------------------------------------------

    def active_rows(self, t, lengths):
        return (t < lengths)[:, None]

    def keep_state(self, active, new, old):
        """Past its length a row keeps its state (h, or each of (h, c))."""
        if isinstance(old, tuple):
            return tuple(torch.where(active, n, o) for n, o in zip(new, old))
        return torch.where(active, new, old)

    def reverse_within_lengths(self, seq, lengths):
        """Each row's first ``length`` steps reversed; its padding stays where it is."""
        t = torch.arange(seq.shape[0], device=seq.device)[:, None]
        source = torch.where(t < lengths, lengths - 1 - t, t)
        return seq[source, torch.arange(seq.shape[1], device=seq.device)]

    def run_masked(self, mode, x, h, w, reverse, lengths):
        """One direction over a padded batch: a row stops (keeps its state, outputs zeros) past its
        own length, and the reverse direction starts at the row's own last step."""
        if reverse:
            x = self.reverse_within_lengths(x, lengths)
        outputs = []
        for t in range(x.shape[0]):
            active = self.active_rows(t, lengths)
            h = self.keep_state(active, self.cell(mode, x[t], h, w), h)
            outputs.append(torch.where(active, first(h), 0.0))
        output = torch.stack(outputs)
        return (self.reverse_within_lengths(output, lengths) if reverse else output), h

    def forward_packed(self, config, weights, packed, h0):
        """Unpack (time-major, original row order), run masked, and pack like the input."""
        x, lengths = pad_packed_sequence(packed)
        output, h_n = self.run_layers(config, weights, x, h0, lengths.to(x.device))
        return self.repack(output, lengths, packed), h_n

    def repack(self, output, lengths, packed):
        """The padded output as a PackedSequence with exactly the input's batch_sizes and indices."""
        order = packed.sorted_indices
        if order is not None:
            output, lengths = output.index_select(1, order), lengths[order.cpu()]
        data = pack_padded_sequence(output, lengths, enforce_sorted=True).data
        return PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)

    # --- the whole network ------------------------------------------------------------------------

    def dropout(self, config, output, layer):
        """Dropout on layer ``layer``'s output sequence: between layers only (never after the last
        one), in training mode only."""
        if layer == config.num_layers - 1 or not config.training:
            return output
        return torch.nn.functional.dropout(output, config.dropout, training=True)

    def next_layer_input(self, layer_outputs, x):
        """What layer k+1 reads: layer k's output (all layers' outputs so far are given)."""
        return layer_outputs[-1]

    def initial_state(self, config, h0, N, x):
        if h0 is not None:
            return h0
        h = x.new_zeros((config.num_layers * config.directions, N, config.h_out))
        return (h, x.new_zeros(h.shape[:2] + (config.hidden_size,))) if config.mode == "LSTM" else h

    def finish(self, config, output, h_n):
        if config.batch_first:
            output = output.transpose(0, 1)
        return output, h_n

    # --- the errors torch raises (CONTRACT.md, "Errors") ---------------------------------------------

    def check_rank(self, x):
        if x.dim() not in (2, 3):
            raise ValueError(f"input must be 2-D (L, H_in) or 3-D (L, N, H_in), got {x.dim()}-D")

    def check_input(self, config, weights, x):
        if x.shape[-1] != config.input_size:
            raise RuntimeError(f"input width {x.shape[-1]}, expected input_size {config.input_size}")
        if x.shape[1 if config.batch_first and x.dim() == 3 else 0] == 0:
            raise RuntimeError("sequence length 0")
        if x.dtype != weights["weight_ih_l0"].dtype:
            raise ValueError(
                f"input dtype {x.dtype} does not match weight dtype {weights['weight_ih_l0'].dtype}"
            )

    def check_h0(self, config, x, h0):
        if h0 is None:
            return
        rows = () if x.dim() == 2 else (x.shape[0 if config.batch_first else 1],)
        for state, width in zip(parts(h0), (config.h_out, config.hidden_size)):  # h, and c for LSTM
            shape = (config.num_layers * config.directions, *rows, width)
            if tuple(state.shape) != shape or state.dtype != x.dtype:
                raise RuntimeError(f"h_0 is {tuple(state.shape)} {state.dtype}, expected {shape} {x.dtype}")

    def run_layers(self, config, weights, x, h0, lengths=None):
        """Time-major (L, N, H_in); returns the top layer's output and h_n (LSTM: (h_n, c_n))."""
        h0 = self.initial_state(config, h0, x.shape[1], x)
        layer_input, layer_outputs, h_n = x, [], []
        for layer in range(config.num_layers):
            halves = []
            for direction in range(config.directions):
                w = self.cell_weights(config, weights, layer, direction)
                index = layer * config.directions + direction
                out, h = self.run_direction(
                    config.mode,
                    layer_input,
                    map_state(lambda s: s[index], h0),
                    w,
                    reverse=direction == 1,
                    lengths=lengths,
                )
                halves.append(out)
                h_n.append(h)
            layer_outputs.append(self.dropout(config, torch.cat(halves, dim=2), layer))
            layer_input = self.next_layer_input(layer_outputs, x)
        return layer_outputs[-1], combine(torch.stack, h_n)

    def forward(self, config, weights, x, h0):
        if isinstance(x, PackedSequence):
            return self.forward_packed(config, weights, x, h0)
        self.check_rank(x)
        self.check_input(config, weights, x)
        self.check_h0(config, x, h0)
        unbatched = x.dim() == 2
        if unbatched:
            x, h0 = x.unsqueeze(1), map_state(lambda s: s.unsqueeze(1), h0)
        elif config.batch_first:
            x = x.transpose(0, 1)
        output, h_n = self.run_layers(config, weights, x, h0)
        if unbatched:
            return output[:, 0], map_state(lambda s: s[:, 0], h_n)
        return self.finish(config, output, h_n)


manual: Adapter = Manual()
