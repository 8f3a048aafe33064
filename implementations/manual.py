"""The tutorial loop in torch ops, layer by layer and step by step:
h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh). An adapter (see conformance.registry).

Each piece is a method so that tests/faults.py can break exactly one of them.
"""

from __future__ import annotations

import torch


class Manual:
    modes = ("RNN_TANH", "RNN_RELU", "GRU")
    dtypes = ("float64", "float32", "bfloat16", "float16")
    description = "explicit time loop in torch ops (implementations.manual)"

    def build(self, config, weights):
        return lambda x, h0: self.forward(config, weights, x, h0)

    # --- cells ------------------------------------------------------------------------------------

    def cell(self, mode, x, h, w):
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

    # --- time, directions, layers -----------------------------------------------------------------

    def layer_weights(self, config, weights, layer, direction):
        sfx = f"_l{layer}{'_reverse' if direction else ''}"
        W_ih, W_hh = weights["weight_ih" + sfx], weights["weight_hh" + sfx]
        if config.bias:
            return W_ih, W_hh, weights["bias_ih" + sfx], weights["bias_hh" + sfx]
        zeros = W_ih.new_zeros(W_ih.shape[0])
        return W_ih, W_hh, zeros, zeros

    def run_direction(self, mode, x, h, w, reverse):
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for t in steps:
            h = self.cell(mode, x[t], h, w)
            outputs[t] = h
        return torch.stack(outputs), h

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
        shape = (config.num_layers * config.directions, N, config.hidden_size)
        return x.new_zeros(shape) if h0 is None else h0

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
            raise ValueError(f"input dtype {x.dtype} does not match weight dtype {weights['weight_ih_l0'].dtype}")

    def check_h0(self, config, x, h0):
        if h0 is None:
            return
        rows = () if x.dim() == 2 else (x.shape[0 if config.batch_first else 1],)
        shape = (config.num_layers * config.directions, *rows, config.hidden_size)
        if tuple(h0.shape) != shape or h0.dtype != x.dtype:
            raise RuntimeError(f"h_0 is {tuple(h0.shape)} {h0.dtype}, expected {shape} {x.dtype}")

    def forward(self, config, weights, x, h0):
        self.check_rank(x)
        self.check_input(config, weights, x)
        self.check_h0(config, x, h0)
        unbatched = x.dim() == 2
        if unbatched:
            x, h0 = x.unsqueeze(1), None if h0 is None else h0.unsqueeze(1)
        elif config.batch_first:
            x = x.transpose(0, 1)
        h0 = self.initial_state(config, h0, x.shape[1], x)
        layer_input, layer_outputs, h_n = x, [], []
        for layer in range(config.num_layers):
            halves = []
            for direction in range(config.directions):
                w = self.layer_weights(config, weights, layer, direction)
                out, h = self.run_direction(config.mode, layer_input, h0[layer * config.directions + direction], w, reverse=direction == 1)
                halves.append(out)
                h_n.append(h)
            layer_outputs.append(self.dropout(config, torch.cat(halves, dim=2), layer))
            layer_input = self.next_layer_input(layer_outputs, x)
        output, h_n = layer_outputs[-1], torch.stack(h_n)
        if unbatched:
            return output[:, 0], h_n[:, 0]
        return self.finish(config, output, h_n)


manual = Manual()
