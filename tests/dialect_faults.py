"""One small faulty implementation per dialect of conformance/dialects.py, written independently of it."""

from __future__ import annotations

import itertools

import torch

from conformance.state import map_state
from implementations.manual import Manual

from .faults import UpdateGateInverted


class GruNoBHn(Manual):
    """flax's nnx.GRUCell: no b_hn inside r * (...)."""

    def gru_cell(self, x, h, W_ih, W_hh, b_ih, b_hh):
        H = h.shape[-1]
        return super().gru_cell(x, h, W_ih, W_hh, b_ih, torch.cat([b_hh[: 2 * H], 0 * b_hh[2 * H :]]))


class NoBiasHh(Manual):
    """One bias vector: bias_hh is never added (any mode)."""

    def layer_weights(self, config, weights, layer, direction):
        W_ih, W_hh, b_ih, b_hh = super().layer_weights(config, weights, layer, direction)
        return W_ih, W_hh, b_ih, torch.zeros_like(b_hh)


class GruResetBeforeMatmul(Manual):
    def gru_cell(self, x, h, W_ih, W_hh, b_ih, b_hh):
        x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
        (W_hr, W_hz, W_hn), (b_hr, b_hz, b_hn) = W_hh.chunk(3), b_hh.chunk(3)
        r = torch.sigmoid(x_r + h @ W_hr.T + b_hr)
        z = torch.sigmoid(x_z + h @ W_hz.T + b_hz)
        return (1 - z) * torch.tanh(x_n + (r * h) @ W_hn.T + b_hn) + z * h


GruZInverted = UpdateGateInverted  # the fault catalogue's: h' = z * n + (1 - z) * h


class GruGateOrder(Manual):
    """Takes its weights' gate blocks in the order ORDER (torch's letters)."""

    ORDER = "rzn"

    def gru_cell(self, x, h, W_ih, W_hh, b_ih, b_hh):
        gx = dict(zip(self.ORDER, (x @ W_ih.T + b_ih).chunk(3, dim=-1)))
        gh = dict(zip(self.ORDER, (h @ W_hh.T + b_hh).chunk(3, dim=-1)))
        r, z = torch.sigmoid(gx["r"] + gh["r"]), torch.sigmoid(gx["z"] + gh["z"])
        return (1 - z) * torch.tanh(gx["n"] + r * gh["n"]) + z * h


class LstmGateOrder(Manual):
    """Takes its weights' gate blocks in the order ORDER (torch's letters)."""

    ORDER = "ifgo"

    def lstm_cell(self, x, h, c, W_ih, W_hh, b_ih, b_hh, W_hr):
        gates = dict(zip(self.ORDER, (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)))
        i, f, o = (torch.sigmoid(gates[k]) for k in "ifo")
        c = f * c + i * torch.tanh(gates["g"])
        return self.project(o * torch.tanh(c), W_hr), c


def gate_order_faults(base, torch_order: str) -> dict[str, type]:
    """A subclass of ``base`` for every other order of the gate blocks, by its dialect id."""
    kind = base.__name__.removesuffix("GateOrder").lower()
    orders = ("".join(letters) for letters in itertools.permutations(torch_order))
    return {
        f"{kind}.gate_order_{order}": type(f"{base.__name__}{order.upper()}", (base,), {"ORDER": order})
        for order in orders
        if order != torch_order
    }


#: Every gate-order fault, by its dialect id; each is also a name here for --rnn-impl (LstmGateOrderIOFG).
GATE_ORDERS = {**gate_order_faults(GruGateOrder, "rzn"), **gate_order_faults(LstmGateOrder, "ifgo")}
globals().update({fault.__name__: fault for fault in GATE_ORDERS.values()})


class LstmForgetBiasPlusOne(Manual):
    def lstm_cell(self, x, h, c, W_ih, W_hh, b_ih, b_hh, W_hr):
        i, f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)
        c = torch.sigmoid(f + 1.0) * c + torch.sigmoid(i) * torch.tanh(g)
        return self.project(torch.sigmoid(o) * torch.tanh(c), W_hr), c


class LstmStateOrderSwapped(Manual):
    def forward(self, config, weights, x, h0):
        output, (h_n, c_n) = super().forward(config, weights, x, h0)
        return output, (c_n, h_n)


class RnnNonlinearitySwapped(Manual):
    def cell(self, mode, x, h, w):
        return super().cell({"RNN_TANH": "RNN_RELU", "RNN_RELU": "RNN_TANH"}.get(mode, mode), x, h, w)


class HnBatchFirst(Manual):
    def finish(self, config, output, h_n):
        output, h_n = super().finish(config, output, h_n)
        return output, map_state(lambda s: s.transpose(0, 1), h_n) if config.batch_first else h_n


class ReverseNotReversed(Manual):
    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        return super().run_direction(mode, x, h, w, reverse=False, lengths=lengths)


class HalvesSwapped(Manual):
    def finish(self, config, output, h_n):
        if config.bidirectional:
            forward, backward = output.chunk(2, dim=-1)
            output = torch.cat([backward, forward], dim=-1)
        return super().finish(config, output, h_n)


class HnReverseLastStep(Manual):
    """h_n taken as output[-1] for both directions (unpacked input only)."""

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        output, state = super().run_direction(mode, x, h, w, reverse, lengths)
        if reverse:
            state = (output[-1], state[1]) if mode == "LSTM" else output[-1]
        return output, state


class LayerInputIsX(Manual):
    def next_layer_input(self, layer_outputs, x):
        return x


class H0Ignored(Manual):
    def initial_state(self, config, h0, N, x):
        return super().initial_state(config, None, N, x)


class Float32Arithmetic(Manual):
    """Computes in float32 whatever the dtype, and returns the dtype asked for."""

    def build(self, config, weights):
        single = {name: w.float() for name, w in weights.items()}

        def call(x, h0):
            output, h_n = self.forward(config, single, x.float(), map_state(lambda s: s.float(), h0))
            return output.to(x.dtype), map_state(lambda s: s.to(x.dtype), h_n)

        return call


class GruCellNoBHn(torch.nn.GRUCell):
    """A GRU cell without b_hn, through torch.gru_cell."""

    def forward(self, x, hx=None):
        H = self.hidden_size
        b_hh = torch.cat([self.bias_hh[: 2 * H], torch.zeros_like(self.bias_hh[2 * H :])])
        return torch.gru_cell(x, hx, self.weight_ih, self.weight_hh, self.bias_ih, b_hh)


class LstmCellStateSwapped(torch.nn.LSTMCell):
    def forward(self, x, hx=None):
        h, c = super().forward(x, hx)
        return c, h
