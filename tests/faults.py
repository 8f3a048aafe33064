"""A catalogue of faulty implementations, one realistic bug each (CONTRACT.md's list, and more).

Each fault is a small subclass of the manual loop (or of a torch.nn class) that breaks exactly
one thing. ``CATALOGUE`` maps the ``--rnn-impl`` name of each to the clause that must catch it;
tests/test_catalogue.py runs the suite on every one, the way a user would.
"""

from __future__ import annotations

import torch

from implementations.manual import Manual


class ResetBeforeMatmul(Manual):
    """Bug 1: Cho et al.'s candidate, n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)."""

    def gru_cell(self, x, h, W_ih, W_hh, b_ih, b_hh):
        x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
        W_hr, W_hz, W_hn = W_hh.chunk(3)
        b_hr, b_hz, b_hn = b_hh.chunk(3)
        r = torch.sigmoid(x_r + h @ W_hr.T + b_hr)
        z = torch.sigmoid(x_z + h @ W_hz.T + b_hz)
        n = torch.tanh(x_n + (r * h) @ W_hn.T + b_hn)
        return (1 - z) * n + z * h


class GatesSwapped(Manual):
    """Bug 12: weights read in Keras/ONNX order z | r | n instead of r | z | n."""

    def gru_cell(self, x, h, W_ih, W_hh, b_ih, b_hh):
        def swap(t):
            r, z, n = t.chunk(3)
            return torch.cat([z, r, n])

        return super().gru_cell(x, h, swap(W_ih), swap(W_hh), swap(b_ih), swap(b_hh))


class UpdateGateInverted(Manual):
    """h' = z * n + (1 - z) * h: z weighting the new state (a common transcription error)."""

    def gru_cell(self, x, h, W_ih, W_hh, b_ih, b_hh):
        x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
        h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        return z * torch.tanh(x_n + r * h_n) + (1 - z) * h


class BiasHhDropped(Manual):
    """Bug 13: only one bias vector (b_ih); bias_hh is never added."""

    def layer_weights(self, config, weights, layer, direction):
        W_ih, W_hh, b_ih, b_hh = super().layer_weights(config, weights, layer, direction)
        return W_ih, W_hh, b_ih, torch.zeros_like(b_hh)


class StateNotCarried(Manual):
    """Bug 2: every step starts again from h_0 instead of h_{t-1}."""

    def run_direction(self, mode, x, h, w, reverse):
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for t in steps:
            outputs[t] = self.cell(mode, x[t], h, w)
        return torch.stack(outputs), outputs[steps[-1]]


class ReverseNotReversed(Manual):
    """Bug 3: the reverse direction runs forward in time with the _reverse weights."""

    def run_direction(self, mode, x, h, w, reverse):
        return super().run_direction(mode, x, h, w, reverse=False)


class H0Ignored(Manual):
    """A given h_0 is ignored: the state always starts at zeros."""

    def initial_state(self, config, h0, N, x):
        return super().initial_state(config, None, N, x)


class WrongLayerFed(Manual):
    """Bug 7: every layer after the first reads the FIRST layer's output (right width, wrong
    tensor), which only shows with 3 layers or more."""

    def next_layer_input(self, layer_outputs, x):
        return layer_outputs[0]


class BidirectionalInterleaved(Manual):
    """Bug 6: bidirectional output laid out (L, N, H, D) instead of (L, N, D, H)."""

    def finish(self, config, output, h_n):
        if config.bidirectional:
            L, N, _ = output.shape
            output = output.reshape(L, N, 2, -1).transpose(2, 3).reshape(L, N, -1)
        return super().finish(config, output, h_n)


class OutputNotBatchFirst(Manual):
    """Bug 4: with batch_first=True the output is returned time-major."""

    def finish(self, config, output, h_n):
        return output, h_n


class NaiveTanh(Manual):
    """tanh as (e^2x - 1) / (e^2x + 1): inf / inf = NaN once |x| > ~44 (float32) or ~355 (float64),
    which only large magnitudes reach."""

    def cell(self, mode, x, h, w):
        if mode != "RNN_TANH":
            return super().cell(mode, x, h, w)
        W_ih, W_hh, b_ih, b_hh = w
        e = torch.exp(2 * (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh))
        return (e - 1) / (e + 1)


class BatchTileRemainder(Manual):
    """Bug 10: a kernel tiled over 32 batch rows whose last, partial tile reads the recurrent
    term of the previous tile's rows: only wrong when the batch is larger than 32."""

    TILE = 32

    def cell(self, mode, x, h, w):
        N = h.shape[0]
        if N <= self.TILE or N % self.TILE == 0:
            return super().cell(mode, x, h, w)
        full = N - N % self.TILE
        stale = torch.cat([h[:full], h[full - self.TILE : full][: N - full]])
        return super().cell(mode, x, stale, w)


class HiddenTileBias(Manual):
    """A kernel tiled over 64 hidden units that adds bias_hh to the first tile only: only wrong
    when hidden_size is larger than 64."""

    def layer_weights(self, config, weights, layer, direction):
        W_ih, W_hh, b_ih, b_hh = super().layer_weights(config, weights, layer, direction)
        H = config.hidden_size
        if H <= 64:
            return W_ih, W_hh, b_ih, b_hh
        keep = (torch.arange(b_hh.shape[0]) % H) < 64
        return W_ih, W_hh, b_ih, b_hh * keep


class LongSequenceHalfState(Manual):
    """A kernel that keeps the carried state in bfloat16 after 64 steps (a staging buffer sized
    for short sequences): only long sequences drift."""

    def run_direction(self, mode, x, h, w, reverse):
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for i, t in enumerate(steps):
            h = self.cell(mode, x[t], h, w)
            if i >= 64:
                h = h.to(torch.bfloat16).to(x.dtype)
            outputs[t] = h
        return torch.stack(outputs), h


class HnBatchFirstGRU(torch.nn.GRU):
    """A drop-in torch.nn.GRU whose h_n follows batch_first (it must not)."""

    def forward(self, input, hx=None):
        output, h_n = super().forward(input, hx)
        if self.batch_first and input.dim() == 3:
            h_n = h_n.transpose(0, 1)
        return output, h_n



# --- gradient-only faults: the forward is right, backpropagation is not --------------------------


class TruncatedBPTT(Manual):
    """Backpropagation truncated to one step (h detached between steps, as truncated BPTT does on
    purpose between chunks): the recurrent term of every gradient is lost, h_0 gets none."""

    def cell(self, mode, x, h, w):
        return super().cell(mode, x, h.detach(), w)


class ResetGateGradDropped(Manual):
    """A GRU backward that treats the reset gate as a constant: no gradient through r."""

    def gru_cell(self, x, h, W_ih, W_hh, b_ih, b_hh):
        x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
        h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        return (1 - z) * torch.tanh(x_n + r.detach() * h_n) + z * h


class H0Detached(Manual):
    """h_0 is copied into the kernel's state buffer detached: no gradient reaches h_0."""

    def initial_state(self, config, h0, N, x):
        return super().initial_state(config, h0, N, x).detach()


class WeightGradLastStepOnly(Manual):
    """A kernel whose weight-gradient accumulator is overwritten at every step instead of added
    to: the weights' gradients come from the last time step only."""

    def run_direction(self, mode, x, h, w, reverse):
        frozen = tuple(t.detach() for t in w)
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for i, t in enumerate(steps):
            h = self.cell(mode, x[t], h, w if i == len(steps) - 1 else frozen)
            outputs[t] = h
        return torch.stack(outputs), h


class LayerInputDetached(Manual):
    """Layer k+1 reads layer k's output detached: gradients do not flow down the stack (lower
    layers get only what reaches them through their own h_n)."""

    def next_layer_input(self, layer_outputs, x):
        return layer_outputs[-1].detach()


class TanhNoSquareBackward(torch.autograd.Function):
    """tanh with a hand-written backward that forgets the square: dy/da = 1 - y, not 1 - y^2."""

    @staticmethod
    def forward(ctx, a):
        y = torch.tanh(a)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y)


class HandWrittenTanhBackward(Manual):
    """The tanh RNN cell through a custom autograd Function whose backward is wrong."""

    def cell(self, mode, x, h, w):
        if mode != "RNN_TANH":
            return super().cell(mode, x, h, w)
        W_ih, W_hh, b_ih, b_hh = w
        return TanhNoSquareBackward.apply(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


class HnDetachedGRU(torch.nn.GRU):
    """A drop-in torch.nn.GRU whose h_n carries no gradient (a kernel that backpropagates from the
    output sequence only)."""

    def forward(self, input, hx=None):
        output, h_n = super().forward(input, hx)
        return output, h_n.detach()


# name for --rnn-impl -> the clauses expected to catch it (it must fail at least one of them; it
# usually fails more, since most clauses compare whole results)
CATALOGUE = {
    "tests.faults:ResetBeforeMatmul": {"gru.candidate"},
    "tests.faults:GatesSwapped": {"gru.update"},
    "tests.faults:UpdateGateInverted": {"gru.update"},
    "tests.faults:BiasHhDropped": {"cell.elman", "gru.update"},
    "tests.faults:StateNotCarried": {"recurrence.carries_state"},
    "tests.faults:ReverseNotReversed": {"output.matches_oracle", "state.h_n_is_last_output"},
    "tests.faults:H0Ignored": {"state.h0_used"},
    "tests.faults:WrongLayerFed": {"stacking.chain"},
    "tests.faults:BidirectionalInterleaved": {"output.matches_oracle", "state.h_n_is_last_output"},
    "tests.faults:OutputNotBatchFirst": {"layout.batch_first"},
    "tests.faults:NaiveTanh": {"cell.elman", "recurrence.carries_state"},
    "tests.faults:BatchTileRemainder": {"output.matches_oracle", "state.h_n_matches_oracle", "recurrence.carries_state", "state.h0_used"},
    "tests.faults:HiddenTileBias": {"output.matches_oracle", "state.h_n_matches_oracle", "recurrence.carries_state", "state.h0_used"},
    "tests.faults:LongSequenceHalfState": {"recurrence.carries_state", "output.matches_oracle", "state.h_n_matches_oracle"},
    "tests.faults:HnBatchFirstGRU": {"layout.batch_first", "shape.output"},
    "tests.faults:TruncatedBPTT": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:ResetGateGradDropped": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:H0Detached": {"grad.h0"},
    "tests.faults:WeightGradLastStepOnly": {"grad.weights"},
    "tests.faults:LayerInputDetached": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:HandWrittenTanhBackward": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:HnDetachedGRU": {"grad.input", "grad.h0", "grad.weights"},
}
