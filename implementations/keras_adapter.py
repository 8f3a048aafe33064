"""Keras 3 SimpleRNN, GRU and LSTM layers on the torch backend, chained and wrapped in Bidirectional."""

from __future__ import annotations

import importlib.metadata
import os
import sys

import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from conformance.registry import Call
from conformance.spec.config import Config
from conformance.state import map_state, parts

INSTALL = "pip install 'rnn-conformance[keras]'"
SOURCE = "https://github.com/keras-team/keras/blob/v3.15.1/keras/src/layers/rnn"

# Keras's gate blocks as torch's block indices (the columns of kernel and recurrent_kernel):
# - GRU z|r|h: `x_z = matmul(inputs_z, self.kernel[:, : self.units])`, then r, then h
#   (SOURCE/gru.py#L207-L211); torch's r|z|n -> (1, 0, 2).
# - LSTM i|f|c|o: `x_i, x_f, x_c, x_o = x` (SOURCE/lstm.py#L197), torch's i|f|g|o: the same.
GATE_ORDER = {"RNN_TANH": (0,), "RNN_RELU": (0,), "GRU": (1, 0, 2), "LSTM": (0, 1, 2, 3)}


def unavailable() -> str | None:
    """Why Keras cannot run here on the torch backend, or None (then keras is imported)."""
    loaded = sys.modules.get("keras")
    if loaded is not None:
        backend = loaded.backend.backend()
        if backend != "torch":
            return f"keras was already imported with the {backend!r} backend; set KERAS_BACKEND=torch"
        return None
    # Keras reads the backend once, at its first import.
    os.environ.setdefault("KERAS_BACKEND", "torch")
    try:
        import keras
    except ImportError:
        return f"keras is not installed: {INSTALL}"
    if keras.backend.backend() != "torch":
        return f"KERAS_BACKEND is {os.environ['KERAS_BACKEND']!r}; this adapter needs KERAS_BACKEND=torch"
    return None


# --- weights ----------------------------------------------------------------------------------------


def reordered(weight: torch.Tensor, mode: str) -> torch.Tensor:
    """A torch weight or bias with its gate blocks (along axis 0) in Keras's order."""
    blocks = weight.chunk(len(GATE_ORDER[mode]))
    return torch.cat([blocks[i] for i in GATE_ORDER[mode]])


def kernel(weight: torch.Tensor, mode: str) -> torch.Tensor:
    """torch's [G*H, in] weight as Keras's [in, G*H] kernel (`shape=(input_dim, self.units * 3)`,
    SOURCE/gru.py#L148-L149; recurrent_kernel `(self.units, self.units * 3)`, #L155-L156)."""
    return reordered(weight, mode).T


def bias(b_ih: torch.Tensor, b_hh: torch.Tensor, mode: str, reset_after: bool) -> torch.Tensor:
    """Keras's bias from torch's two.

    GRU with reset_after=True has `bias_shape = (2, 3 * self.units)`, [input bias, recurrent
    bias] (SOURCE/gru.py#L164-L171): both kept. Every other layer has one bias vector, added to
    the input's matmul: SimpleRNN and LSTM add b_ih + b_hh exactly as torch does (both only ever
    appear summed). GRU with reset_after=False (Cho et al.: n = tanh(x W_n + b_n + (r * h) U_n))
    also gets b_ih + b_hh: exact for r and z, and for n equal to torch only where r = 1, since
    torch's b_hn is multiplied by r; the dialect has no place for it, and the GRU clauses report it.
    """
    b_ih, b_hh = (
        torch.cat([b.chunk(len(GATE_ORDER[mode]))[i] for i in GATE_ORDER[mode]]) for b in (b_ih, b_hh)
    )
    return torch.stack([b_ih, b_hh]) if mode == "GRU" and reset_after else b_ih + b_hh


def layer_values(config: Config, weights, layer: int, reset_after: bool) -> list:
    """The values of one torch layer's weights for the Keras layer's trainable_variables, in their
    order: kernel, recurrent_kernel (and bias) of the forward, then of the backward layer."""
    values = []
    for suffix in [f"_l{layer}", f"_l{layer}_reverse"][: config.directions]:
        values += [kernel(weights[f"weight_ih{suffix}"], config.mode)]
        values += [kernel(weights[f"weight_hh{suffix}"], config.mode)]
        if config.bias:
            values += [
                bias(weights[f"bias_ih{suffix}"], weights[f"bias_hh{suffix}"], config.mode, reset_after)
            ]
    return values


# --- layers -----------------------------------------------------------------------------------------


def keras_layer(config: Config, input_size: int, reset_after: bool):
    """One built Keras layer (Bidirectional, merge_mode="concat", if bidirectional) returning the
    sequence and the final states."""
    import keras

    common = dict(
        units=config.hidden_size,
        use_bias=config.bias,
        return_sequences=True,
        return_state=True,
        dtype=config.dtype,
    )
    if config.mode == "GRU":
        # use_cudnn=False: on a GPU Keras would otherwise call torch's own cuDNN GRU.
        layer = keras.layers.GRU(reset_after=reset_after, use_cudnn=False, **common)
    elif config.mode == "LSTM":
        layer = keras.layers.LSTM(use_cudnn=False, **common)
    else:
        layer = keras.layers.SimpleRNN(activation="relu" if config.mode == "RNN_RELU" else "tanh", **common)
    if config.bidirectional:
        # Its own dtype too: Bidirectional casts both directions' outputs to its compute dtype.
        layer = keras.layers.Bidirectional(layer, merge_mode="concat", dtype=config.dtype)
    layer.build((None, None, input_size))
    return layer


def initial_state(config: Config, h0, layer: int):
    """Keras's initial_state list for one layer: per direction h (LSTM: h, c), from torch's
    (layers*D, N, H) state; None for zeros."""
    if h0 is None:
        return None
    d = config.directions
    layers = {s.shape[0] for s in parts(h0)}
    if layers != {config.num_layers * d}:  # torch's layer axis, which Keras does not see
        raise ValueError(f"h_0 has {layers} layers*directions, but should have {config.num_layers * d}")
    return [s[layer * d + k] for k in range(d) for s in parts(h0)]


def final_state(config: Config, states: list):
    """torch's h_n (LSTM: (h_n, c_n)) from each layer's Keras states [h (c) per direction]."""
    per_part = len(states[0]) // config.directions
    stacked = [
        torch.stack([s[i] for s in states for i in range(p, len(s), per_part)]) for p in range(per_part)
    ]
    return tuple(stacked) if config.mode == "LSTM" else stacked[0]


# --- the adapter ------------------------------------------------------------------------------------


class Keras:
    """torch.nn.RNN/GRU/LSTM as a chain of Keras layers, one per torch layer, run with each layer's
    ``stateless_call`` on values computed from the suite's weights by torch operations, so that
    autograd reaches those weights (on the torch backend Keras's ops are torch's)."""

    modes = ("RNN_TANH", "RNN_RELU", "GRU", "LSTM")
    # No float64: on the torch backend Keras's result_type maps float64 to float32
    # (keras/src/backend/common/dtypes.py, BIT64_TO_BIT32_DTYPE), so ops.matmul of two float64
    # tensors computes and returns float32, and a float64 layer is float32-accurate (keras#23704).
    dtypes = ("float32",)
    reset_after = True
    not_claimed = frozenset(
        {
            "projection",  # Keras's LSTM has no proj_size
            # Keras's dropout masks the cell's inputs at every step; torch's is between layers.
            "dropout",
        }
    )

    @property
    def description(self) -> str:
        try:
            version = importlib.metadata.version("keras")
        except importlib.metadata.PackageNotFoundError:
            version = f"(not installed: {INSTALL})"
        dialect = "" if self.reset_after else ", GRU reset_after=False"
        return f"Keras {version} SimpleRNN/GRU/LSTM on the torch backend{dialect} ({__name__})"

    def unavailable(self) -> str | None:
        return unavailable()

    def build(self, config: Config, weights) -> Call:
        missing = unavailable()
        if missing:
            raise ImportError(missing)
        layers = []
        for k in range(config.num_layers):
            width = config.input_size if k == 0 else config.directions * config.hidden_size
            layer = keras_layer(config, width, self.reset_after)
            layers.append((layer, layer_values(config, weights, k, self.reset_after)))

        def call(x, h0):
            if isinstance(x, PackedSequence):
                return forward_packed(config, layers, x, h0)
            unbatched = x.dim() == 2
            if unbatched:
                x = x.unsqueeze(0)
                h0 = map_state(lambda s: s.unsqueeze(1), h0)
            elif not config.batch_first:
                x = x.transpose(0, 1)
            output, h_n = forward(config, layers, x, h0)
            if unbatched:
                output = output.squeeze(0)
                h_n = map_state(lambda s: s.squeeze(1), h_n)
            elif not config.batch_first:
                output = output.transpose(0, 1)
            return output, h_n

        return call


def forward(config: Config, layers, x, h0, mask=None):
    """The chain over the batch-major ``x``: the top layer's sequence and torch's h_n."""
    states = []
    from keras.src.layers.input_spec import assert_input_compatibility

    for k, (layer, values) in enumerate(layers):
        # stateless_call skips what Layer.__call__ checks first: the input against the layer's spec
        # (a rank-4 input is refused there), which a user calling the layer gets.
        assert_input_compatibility(layer.input_spec, x, layer.name)
        fixed = [v.value for v in layer.non_trainable_variables]  # the dropout seed generators' state
        (x, *state), _ = layer.stateless_call(
            values, fixed, x, initial_state=initial_state(config, h0, k), mask=mask, training=config.training
        )
        states.append(state)
    return x, final_state(config, states)


def forward_packed(config: Config, layers, packed: PackedSequence, h0):
    """Padded batch-major with a mask of each row's steps (Keras holds the state over masked steps,
    and its backward layer, reading the flipped sequence, starts at each row's own end), packed again."""
    x, lengths = pad_packed_sequence(packed, batch_first=True)
    mask = torch.arange(x.shape[1])[None, :] < lengths[:, None]
    output, h_n = forward(config, layers, x, h0, mask)
    packed = pack_padded_sequence(output, lengths, batch_first=True, enforce_sorted=False)
    return packed, h_n


class KerasResetBefore(Keras):
    """Keras's GRU with reset_after=False: Cho et al.'s candidate, n = tanh(x W_n + b_n + (r * h) U_n),
    a dialect torch does not implement; registered for the suite to report the difference."""

    modes = ("GRU",)
    reset_after = False


keras = Keras()
keras_gru_reset_before = KerasResetBefore()
