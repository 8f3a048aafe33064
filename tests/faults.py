"""A catalogue of faulty implementations, one realistic bug each (CONTRACT.md's list, and more).

Each fault is a small subclass of the manual loop (or of a torch.nn class) that breaks exactly
one thing. ``CATALOGUE`` maps the ``--rnn-impl`` name of each to the clause that must catch it;
tests/test_catalogue.py runs the suite on every one, the way a user would.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.state import first, map_state
from implementations.manual import Manual

#: Faults written for a tensor state h (before LSTM's (h, c)) claim only these modes.
ELMAN_GRU = ("RNN_TANH", "RNN_RELU", "GRU")


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

    modes = ELMAN_GRU

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for t in steps:
            outputs[t] = self.cell(mode, x[t], h, w)
        return torch.stack(outputs), outputs[steps[-1]]


class ReverseNotReversed(Manual):
    """Bug 3: the reverse direction runs forward in time with the _reverse weights."""

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        return super().run_direction(mode, x, h, w, reverse=False, lengths=lengths)


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

    modes = ("RNN_TANH",)

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
    modes = ELMAN_GRU

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

    modes = ELMAN_GRU

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
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


def regate(t, order):
    """Gate blocks (rows of a weight, entries of a bias) of an LSTM read in another order."""
    blocks = t.chunk(4)
    return torch.cat([blocks[k] for k in order])


class LstmGatesIFOG(Manual):
    """Bug 12: torch LSTM weights read as i | f | o | g (a converter mixing ONNX's i, o, f, c)."""

    modes = ("LSTM",)
    ORDER = (0, 1, 3, 2)

    def lstm_cell(self, x, h, c, W_ih, W_hh, b_ih, b_hh, W_hr):
        return super().lstm_cell(x, h, c, *(regate(t, self.ORDER) for t in (W_ih, W_hh, b_ih, b_hh)), W_hr)


class LstmGatesFIGO(LstmGatesIFOG):
    """Bug 12: torch LSTM weights read in OpenVINO's order f | i | g | o."""

    ORDER = (1, 0, 2, 3)


class LstmForgetBiasDropped(Manual):
    """The forget gate's biases are dropped (a converter that re-initialises them, as Keras'
    unit_forget_bias does, or folds only the other gates')."""

    modes = ("LSTM",)

    def lstm_cell(self, x, h, c, W_ih, W_hh, b_ih, b_hh, W_hr):
        keep = torch.ones_like(b_ih).chunk(4)
        mask = torch.cat([keep[0], 0 * keep[1], keep[2], keep[3]])
        return super().lstm_cell(x, h, c, W_ih, W_hh, b_ih * mask, b_hh * mask, W_hr)


class LstmProjectionBeforeTanh(Manual):
    """With proj_size: h' = tanh((o * c') W_hr^T), the projection applied before the tanh."""

    modes = ("LSTM",)

    def lstm_cell(self, x, h, c, W_ih, W_hh, b_ih, b_hh, W_hr):
        if W_hr is None:
            return super().lstm_cell(x, h, c, W_ih, W_hh, b_ih, b_hh, W_hr)
        i, f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.tanh(self.project(torch.sigmoid(o) * c, W_hr)), c


class LstmCnProjected(Manual):
    """With proj_size: c_n is returned projected, c_n W_hr^T, like h_n."""

    modes = ("LSTM",)

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        output, state = super().run_direction(mode, x, h, w, reverse, lengths)
        if mode == "LSTM" and w[-1] is not None:
            state = (state[0], self.project(state[1], w[-1]))
        return output, state


class PackedReverseFromPadding(Manual):
    """Bug 5: with variable lengths, the reverse direction starts at the padded end of the batch
    (flipping the whole padded tensor) instead of each row's own last step."""

    def reverse_within_lengths(self, seq, lengths):
        return seq.flip(0)


class PackedHnAtPaddedEnd(Manual):
    """h_n taken at the padded last step: the state of a short row keeps running through the
    padding (outputs are still zeroed there)."""

    def keep_state(self, active, new, old):
        return new


class PackedLengthOffByOne(Manual):
    """Padding leaks into the state: a row still runs one padded step past its length (t <= length)."""

    def active_rows(self, t, lengths):
        return (t <= lengths)[:, None]


class PackedHnSortedOrder(Manual):
    """h_n returned in the packed (length-sorted) order instead of the original batch order."""

    def forward_packed(self, config, weights, packed, h0):
        output, h_n = super().forward_packed(config, weights, packed, h0)
        order = packed.sorted_indices
        return output, h_n if order is None else map_state(lambda s: s[:, order], h_n)


class PackedOutputIndicesDropped(Manual):
    """The packed output loses sorted_indices/unsorted_indices, so it unpacks in sorted order."""

    def repack(self, output, lengths, packed):
        return PackedSequence(super().repack(output, lengths, packed).data, packed.batch_sizes)


class GRUCellResetBeforeMatmul(torch.nn.GRUCell):
    """Bug 1 in a cell: a drop-in torch.nn.GRUCell with n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)."""

    def forward(self, input, hx=None):
        if hx is None:
            hx = input.new_zeros(input.shape[:-1] + (self.hidden_size,))
        b_ih, b_hh = (
            b if b is not None else input.new_zeros(3 * self.hidden_size)
            for b in (self.bias_ih, self.bias_hh)
        )
        return ResetBeforeMatmul().gru_cell(input, hx, self.weight_ih, self.weight_hh, b_ih, b_hh)


# --- gradient-only faults: the forward is right, backpropagation is not --------------------------


class TruncatedBPTT(Manual):
    """Backpropagation truncated to one step (h detached between steps, as truncated BPTT does on
    purpose between chunks): the recurrent term of every gradient is lost, h_0 gets none."""

    def cell(self, mode, x, h, w):
        return super().cell(mode, x, map_state(torch.Tensor.detach, h), w)


class ResetGateGradDropped(Manual):
    """A GRU backward that treats the reset gate as a constant: no gradient through r."""

    modes = ELMAN_GRU  # the gradient clauses cover RNN and GRU

    def gru_cell(self, x, h, W_ih, W_hh, b_ih, b_hh):
        x_r, x_z, x_n = (x @ W_ih.T + b_ih).chunk(3, dim=-1)
        h_r, h_z, h_n = (h @ W_hh.T + b_hh).chunk(3, dim=-1)
        r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
        return (1 - z) * torch.tanh(x_n + r.detach() * h_n) + z * h


class H0Detached(Manual):
    """h_0 is copied into the kernel's state buffer detached: no gradient reaches h_0."""

    def initial_state(self, config, h0, N, x):
        return map_state(torch.Tensor.detach, super().initial_state(config, h0, N, x))


class WeightGradLastStepOnly(Manual):
    """A kernel whose weight-gradient accumulator is overwritten at every step instead of added
    to: the weights' gradients come from the last time step only."""

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        frozen = tuple(t if t is None else t.detach() for t in w)
        steps = range(x.shape[0] - 1, -1, -1) if reverse else range(x.shape[0])
        outputs = [None] * x.shape[0]
        for i, t in enumerate(steps):
            h = self.cell(mode, x[t], h, w if i == len(steps) - 1 else frozen)
            outputs[t] = first(h)
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


class C0Detached(Manual):
    """LSTM: c_0 is copied into the kernel's cell-state buffer detached (h_0 is not): no gradient
    reaches c_0."""

    modes = ("LSTM",)

    def initial_state(self, config, h0, N, x):
        h, c = super().initial_state(config, h0, N, x)
        return h, c.detach()


class ForgetGateGradDropped(Manual):
    """An LSTM backward that treats the forget gate as a constant: no gradient through f."""

    modes = ("LSTM",)

    def lstm_cell(self, x, h, c, W_ih, W_hh, b_ih, b_hh, W_hr):
        i, f, g, o = (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh).chunk(4, dim=-1)
        c = torch.sigmoid(f).detach() * c + torch.sigmoid(i) * torch.tanh(g)
        return self.project(torch.sigmoid(o) * torch.tanh(c), W_hr), c


class CnDetachedLSTM(torch.nn.LSTM):
    """A drop-in torch.nn.LSTM whose c_n carries no gradient (a kernel that saves only h for
    backward): a loss on c_n, as truncated BPTT across chunks has, backpropagates nothing."""

    def forward(self, input, hx=None):
        output, (h_n, c_n) = super().forward(input, hx)
        return output, (h_n, c_n.detach())


class GradRoundedToFloat32(torch.autograd.Function):
    """Identity forward; the backward rounds the incoming gradient to float32."""

    @staticmethod
    def forward(ctx, h):
        return h.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad.float().to(grad.dtype)


class Float64BackwardInFloat32(Manual):
    """A float64 kernel whose backward accumulates in float32 (a mixed-precision backward kernel):
    the forward is exact, the gradients are off by ~1e-7 relative. Only a float64 gradient
    tolerance near float64's own precision sees it."""

    dtypes = ("float64",)

    def cell(self, mode, x, h, w):
        return map_state(GradRoundedToFloat32.apply, super().cell(mode, x, h, w))


# --- invariances -------------------------------------------------------------------------------


class LargeBatchRowsMixed(Manual):
    """Bug 10: a large-batch path (N > 32) that reduces over the wrong axis: every row's state is
    pulled towards the batch mean before each step."""

    modes = ELMAN_GRU

    def cell(self, mode, x, h, w):
        if h.dim() == 2 and h.shape[0] > 32:
            h = 0.5 * (h + h.mean(0, keepdim=True))
        return super().cell(mode, x, h, w)


class SequenceCentred(Manual):
    """Not causal: each layer's input is centred over the whole sequence (a sequence-level
    normalisation that looks at the future)."""

    modes = ELMAN_GRU

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        return super().run_direction(mode, x - x.mean(0, keepdim=True), h, w, reverse, lengths)


class StaleHn(Manual):
    """h_n taken from the wrong step: the state before the last step (h_0 for one step)."""

    modes = ELMAN_GRU

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        outputs, _ = super().run_direction(mode, x, h, w, reverse, lengths)
        if x.shape[0] == 1:
            return outputs, h
        return outputs, outputs[1 if reverse else -2]


class UnbatchedKeepsBatchAxis(Manual):
    """Unbatched input (L, H_in) is run as a batch of one and returned that way: output
    (L, 1, H) and h_n (layers*D, 1, H), the batch axis never squeezed away."""

    def forward(self, config, weights, x, h0):
        if isinstance(x, PackedSequence) or x.dim() != 2:
            return super().forward(config, weights, x, h0)
        batch = config.replace(batch_first=False)
        return super().forward(batch, weights, x.unsqueeze(1), map_state(lambda s: s.unsqueeze(1), h0))


class StatefulDefaultState(Manual):
    """Without h_0, starts from the final state of its previous call of the same shape instead of
    zeros (Keras's stateful=True, or a tutorial's self.hidden kept between batches)."""

    def __init__(self):
        self.last = {}

    def initial_state(self, config, h0, N, x):
        state = super().initial_state(config, h0, N, x)
        if h0 is not None:
            return state
        key = (config, N, x.dtype)
        return self.last.get(key, state)

    def run_layers(self, config, weights, x, h0, lengths=None):
        output, h_n = super().run_layers(config, weights, x, h0, lengths)
        self.last[(config, x.shape[1], x.dtype)] = map_state(torch.Tensor.detach, h_n)
        return output, h_n


stateful_default_state = StatefulDefaultState()


class RandomSummationOrder(Manual):
    """Bug 11: the recurrent matmul sums over hidden units in a random order for H >= 16 (e.g.
    work split among threads as they come), so repeat runs differ in the last bits."""

    modes = ELMAN_GRU

    def cell(self, mode, x, h, w):
        W_ih, W_hh, b_ih, b_hh = w
        if h.shape[-1] < 16:
            return super().cell(mode, x, h, w)
        perm = torch.randperm(h.shape[-1])
        return super().cell(mode, x, h[..., perm], (W_ih, W_hh[:, perm], b_ih, b_hh))


class H0ModifiedInPlace(Manual):
    """The caller's h_0 is used as the state buffer: the final state is written into it."""

    modes = ELMAN_GRU

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        outputs, last = super().run_direction(mode, x, h, w, reverse)
        h.copy_(last)
        return outputs, h


def raw_storage(t):
    """``t`` read from its storage as if it were contiguous."""
    return None if t is None else torch.as_strided(t, t.shape, torch.empty(t.shape).stride())


class AssumesContiguous(Manual):
    """Bug 9: reads x and h_0 from raw storage as if they were contiguous."""

    modes = ELMAN_GRU

    def forward(self, config, weights, x, h0):
        return super().forward(config, weights, raw_storage(x), raw_storage(h0))


class LstmC0ModifiedInPlace(Manual):
    """The caller's c_0 is used as the kernel's cell-state buffer: the final c is written into it."""

    modes = ("LSTM",)

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        outputs, (h_n, c_n) = super().run_direction(mode, x, h, w, reverse, lengths)
        buffer = h[1]
        buffer.copy_(c_n)
        return outputs, (h_n, buffer)


class LstmStaleCn(Manual):
    """c_n read from the other slot of a double-buffered cell state: the c before the last step
    (c_0 for one step), with the right h_n (unpacked input)."""

    modes = ("LSTM",)

    def run_direction(self, mode, x, h, w, reverse, lengths=None):
        outputs, (h_n, c_n) = super().run_direction(mode, x, h, w, reverse, lengths)
        if lengths is not None:
            return outputs, (h_n, c_n)
        before = x[1:] if reverse else x[:-1]  # every step but the last one taken
        c_before = super().run_direction(mode, before, h, w, reverse)[1][1] if len(before) else h[1]
        return outputs, (h_n, c_before)


class LstmC0AssumesContiguous(Manual):
    """Bug 9 for the cell state: c_0 is read from raw storage as if it were contiguous (x and h_0
    are read right)."""

    modes = ("LSTM",)

    def forward(self, config, weights, x, h0):
        return super().forward(config, weights, x, None if h0 is None else (h0[0], raw_storage(h0[1])))


# --- errors ------------------------------------------------------------------------------------


class InputWidthPadded(Manual):
    """Accepts any input width: pads x with zeros or truncates it to input_size."""

    modes = ELMAN_GRU

    def forward(self, config, weights, x, h0):
        width = x.shape[-1]
        if width > config.input_size:
            x = x[..., : config.input_size]
        elif width < config.input_size:
            x = torch.nn.functional.pad(x, (0, config.input_size - width))
        return super().forward(config, weights, x, h0)


class H0ShapeNotChecked(Manual):
    """h_0 is never checked: extra layers are ignored and a batch of 1 broadcasts."""

    modes = ELMAN_GRU

    def check_h0(self, config, x, h0):
        pass


class RankNotChecked(Manual):
    """Any input that is not 2-D is taken as batched: a 4-D input broadcasts through the matmuls."""

    modes = ELMAN_GRU

    def check_rank(self, x):
        pass


class LstmC0ShapeNotChecked(Manual):
    """Only h_0 is checked, never c_0: a c_0 with batch or width 1 broadcasts, extra layers are ignored."""

    modes = ("LSTM",)

    def check_h0(self, config, x, h0):
        super().check_h0(config, x, None if h0 is None else first(h0))


class ZeroLengthReturnsH0(Manual):
    """A sequence of length 0 returns an empty output and h_0 instead of raising."""

    modes = ELMAN_GRU

    def forward(self, config, weights, x, h0):
        if x.dim() == 3 and x.shape[1 if config.batch_first else 0] == 0:
            N = x.shape[0 if config.batch_first else 1]
            h0 = (
                x.new_zeros(config.num_layers * config.directions, N, config.hidden_size)
                if h0 is None
                else h0
            )
            return x.new_zeros(*x.shape[:2], config.directions * config.hidden_size), h0
        return super().forward(config, weights, x, h0)


class SilentDtypeCast(Manual):
    """Casts x and h_0 to the weights' dtype instead of refusing a mismatch."""

    modes = ELMAN_GRU

    def forward(self, config, weights, x, h0):
        dtype = weights["weight_ih_l0"].dtype
        return super().forward(config, weights, x.to(dtype), None if h0 is None else h0.to(dtype))


class LstmC0CopiedIntoBuffer(Manual):
    """c_0 is copied into a cell-state buffer allocated in the weights' dtype, and copy_ casts: a
    c_0 of another dtype is accepted."""

    modes = ("LSTM",)

    def forward(self, config, weights, x, h0):
        if h0 is not None:
            h, c = h0
            h0 = (h, torch.empty(c.shape, dtype=weights["weight_ih_l0"].dtype).copy_(c))
        return super().forward(config, weights, x, h0)


class GRUAcceptsProjSize(torch.nn.GRU):
    """A drop-in GRU that accepts proj_size and ignores it."""

    def __init__(self, *args, proj_size=0, **kwargs):
        super().__init__(*args, **kwargs)


class LSTMAnyProjSize(torch.nn.LSTM):
    """A drop-in LSTM that takes a proj_size >= hidden_size (or < 0) to mean no projection instead of
    refusing it."""

    def __init__(self, input_size, hidden_size, *args, proj_size=0, **kwargs):
        super().__init__(
            input_size,
            hidden_size,
            *args,
            proj_size=proj_size if 0 <= proj_size < hidden_size else 0,
            **kwargs,
        )


class RNNClampsSizes(torch.nn.RNN):
    """A drop-in RNN that turns hidden_size or num_layers <= 0 into 1 instead of refusing them."""

    def __init__(self, input_size, hidden_size, num_layers=1, **kwargs):
        super().__init__(input_size, max(hidden_size, 1), max(num_layers, 1), **kwargs)


# --- dropout -----------------------------------------------------------------------------------


class DropoutAfterLastLayer(Manual):
    """Bug 8: dropout on every layer's output, the last one included."""

    modes = ELMAN_GRU

    def dropout(self, config, output, layer):
        if not config.training:
            return output
        return torch.nn.functional.dropout(output, config.dropout, training=True)


class DropoutInEval(Manual):
    """Bug 8: dropout between layers in eval mode too."""

    modes = ELMAN_GRU

    def dropout(self, config, output, layer):
        return super().dropout(config.replace(training=True), output, layer)


class LstmCellStateDropout(Manual):
    """Bug 8 for LSTM: in training mode dropout also hits the cell state c at every step (RNNDrop,
    Moon et al. 2015), not only the sequence between layers."""

    modes = ("LSTM",)
    p = 0.0  # the dropout probability in force for the network being run

    def build(self, config, weights):
        run = type(self)()
        run.p = config.dropout if config.training else 0.0
        return lambda x, h0: run.forward(config, weights, x, h0)

    def lstm_cell(self, x, h, c, *w):
        h, c = super().lstm_cell(x, h, c, *w)
        return h, torch.nn.functional.dropout(c, self.p) if self.p else c


# --- dtypes ------------------------------------------------------------------------------------


class Float64ComputedInFloat32(Manual):
    """float64 input computed in float32 internally (and cast back): float64 in name only."""

    modes = ELMAN_GRU

    def forward(self, config, weights, x, h0):
        if x.dtype != torch.float64:
            return super().forward(config, weights, x, h0)
        weights = {n: w.float() for n, w in weights.items()}
        output, h_n = super().forward(config, weights, x.float(), None if h0 is None else h0.float())
        return output.double(), h_n.double()


class HalfOutputFloat32(Manual):
    """Bug 15: half-precision input is computed in float32 for accuracy and returned in float32."""

    modes = ELMAN_GRU

    def forward(self, config, weights, x, h0):
        if x.dtype not in (torch.bfloat16, torch.float16):
            return super().forward(config, weights, x, h0)
        weights = {n: w.float() for n, w in weights.items()}
        return super().forward(config, weights, x.float(), None if h0 is None else h0.float())


class LstmHalfCnFloat32(Manual):
    """Bug 15: with half-precision input c_n comes back in float32 (the dtype of the kernel's
    cell-state accumulator); output and h_n are in the input's dtype."""

    modes = ("LSTM",)

    def forward(self, config, weights, x, h0):
        output, (h_n, c_n) = super().forward(config, weights, x, h0)
        if weights["weight_ih_l0"].dtype in (torch.bfloat16, torch.float16):
            c_n = c_n.float()
        return output, (h_n, c_n)


class HalfNaiveTanh(Manual):
    """A half-precision path with tanh as (e^2x - 1) / (e^2x + 1): float16 overflows to inf / inf
    = NaN once |x| > ~5.5."""

    modes = ("RNN_TANH",)  # so that the float16 tanh path is drawn often enough to be reached
    dtypes = ("float64", "float32", "float16")

    def cell(self, mode, x, h, w):
        if mode != "RNN_TANH" or x.dtype != torch.float16:
            return super().cell(mode, x, h, w)
        W_ih, W_hh, b_ih, b_hh = w
        e = torch.exp(2 * (x @ W_ih.T + b_ih + h @ W_hh.T + b_hh))
        return (e - 1) / (e + 1)


# --- approximate kernels: not defects, conformant only under a declared tolerance (--rnn-rtol) ------


def tf32(t):
    """A float32 tensor rounded to TF32's 10 mantissa bits (to nearest); its gradient passes through."""
    bits = t.detach().view(torch.int32)
    rounded = ((bits + 0x1000) & -0x2000).view(torch.float32)  # -0x2000: the 13 low bits cleared
    return t + (rounded - t.detach())  # exactly ``rounded``: the difference is exact in float32


class TF32Mode(torch.overrides.TorchFunctionMode):
    """Every matmul in the block takes its float32 operands rounded to TF32, as tensor cores do."""

    MATMULS = {torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.Tensor.__rmatmul__}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.MATMULS:
            args = tuple(tf32(a) if a.dtype == torch.float32 else a for a in args)
        return func(*args, **(kwargs or {}))


class TF32Matmul(Manual):
    """float32 matmuls on TF32 tensor cores (torch.backends.cuda.matmul.allow_tf32): each operand
    keeps 10 of its 23 mantissa bits, ~2^-11 relative. Not a defect but an approximate kernel."""

    dtypes = ("float32",)

    def forward(self, config, weights, x, h0):
        with TF32Mode():
            return super().forward(config, weights, x, h0)


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
    "tests.faults:NaiveTanh": {
        "cell.elman",
        "recurrence.carries_state",
        "output.matches_oracle",
        "state.h_n_matches_oracle",
        "state.h0_used",
    },
    "tests.faults:BatchTileRemainder": {
        "output.matches_oracle",
        "state.h_n_matches_oracle",
        "recurrence.carries_state",
        "state.h0_used",
    },
    "tests.faults:HiddenTileBias": {  # any whole forward pass with hidden_size > 64 and a bias
        "output.matches_oracle",
        "state.h_n_matches_oracle",
        "state.c_n_matches_oracle",
        "packed.matches_oracle",
        "recurrence.carries_state",
        "state.h0_used",
    },
    "tests.faults:LongSequenceHalfState": {
        "recurrence.carries_state",
        "output.matches_oracle",
        "state.h_n_matches_oracle",
    },
    "tests.faults:HnBatchFirstGRU": {"layout.batch_first", "shape.output"},
    "tests.faults:LstmGatesIFOG": {"lstm.cell"},
    "tests.faults:LstmGatesFIGO": {"lstm.cell"},
    "tests.faults:LstmForgetBiasDropped": {"lstm.cell"},
    "tests.faults:LstmProjectionBeforeTanh": {"lstm.projection"},
    "tests.faults:LstmCnProjected": {"lstm.projection", "state.c_n_matches_oracle"},
    "tests.faults:PackedReverseFromPadding": {
        "packed.matches_oracle",
        "packed.each_row_alone",
        "packed.padding_ignored",
    },
    "tests.faults:PackedHnAtPaddedEnd": {
        "packed.matches_oracle",
        "packed.each_row_alone",
        "packed.padding_ignored",
    },
    "tests.faults:PackedLengthOffByOne": {
        "packed.matches_oracle",
        "packed.each_row_alone",
        "packed.padding_ignored",
    },
    "tests.faults:PackedHnSortedOrder": {"packed.matches_oracle"},
    "tests.faults:PackedOutputIndicesDropped": {"packed.matches_oracle"},
    "tests.faults:GRUCellResetBeforeMatmul": {"cell.matches_oracle"},
    "tests.faults:TruncatedBPTT": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:ResetGateGradDropped": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:H0Detached": {"grad.h0"},
    "tests.faults:WeightGradLastStepOnly": {"grad.weights"},
    "tests.faults:LayerInputDetached": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:HandWrittenTanhBackward": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:HnDetachedGRU": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:C0Detached": {"grad.h0"},
    "tests.faults:ForgetGateGradDropped": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:CnDetachedLSTM": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:Float64BackwardInFloat32": {"grad.input", "grad.h0", "grad.weights"},
    "tests.faults:LargeBatchRowsMixed": {"invariance.rows_independent"},
    "tests.faults:SequenceCentred": {"invariance.causal"},
    "tests.faults:StaleHn": {"invariance.streaming"},
    "tests.faults:UnbatchedKeepsBatchAxis": {"layout.unbatched"},
    "tests.faults:stateful_default_state": {
        "state.default_h0_is_zeros",
        "output.matches_oracle",
        "state.h_n_matches_oracle",
        "recurrence.carries_state",
    },
    "tests.faults:RandomSummationOrder": {"invariance.deterministic"},
    "tests.faults:H0ModifiedInPlace": {"invariance.inputs_unmodified"},
    "tests.faults:AssumesContiguous": {"invariance.non_contiguous"},
    "tests.faults:InputWidthPadded": {"errors.input_width"},
    "tests.faults:H0ShapeNotChecked": {"errors.h0_shape"},
    "tests.faults:RankNotChecked": {"errors.input_rank"},
    "tests.faults:ZeroLengthReturnsH0": {"errors.zero_length"},
    "tests.faults:SilentDtypeCast": {"errors.dtype_mismatch"},
    "tests.faults:GRUAcceptsProjSize": {"errors.proj_size"},
    "tests.faults:RNNClampsSizes": {"errors.sizes_positive"},
    "tests.faults:DropoutAfterLastLayer": {"dropout.single_layer", "dropout.between_layers"},
    "tests.faults:DropoutInEval": {"dropout.eval_mode"},
    "tests.faults:Float64ComputedInFloat32": {"output.matches_oracle", "state.h_n_matches_oracle"},
    "tests.faults:HalfOutputFloat32": {"dtype.output_matches_input"},
    "tests.faults:HalfNaiveTanh": {"dtype.reduced_precision"},
    # LSTM faults that only the invariance, errors, dropout and dtype clauses' (h, c) coverage catches
    "tests.faults:LstmC0ModifiedInPlace": {"invariance.inputs_unmodified"},
    "tests.faults:LstmStaleCn": {"invariance.streaming", "state.c_n_matches_oracle"},
    "tests.faults:LstmC0AssumesContiguous": {"invariance.non_contiguous"},
    "tests.faults:LstmC0ShapeNotChecked": {"errors.h0_shape"},
    "tests.faults:LstmC0CopiedIntoBuffer": {"errors.dtype_mismatch"},
    "tests.faults:LSTMAnyProjSize": {"errors.proj_size"},
    "tests.faults:LstmCellStateDropout": {"dropout.single_layer", "dropout.between_layers"},
    "tests.faults:LstmHalfCnFloat32": {"dtype.output_matches_input"},
}
