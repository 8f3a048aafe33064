"""torch.nn.RNN/GRU/LSTM as ONNX models (RNN, GRU, LSTM operators) run by onnxruntime or onnx.reference."""

from __future__ import annotations

import importlib
import importlib.metadata

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from conformance.registry import Call
from conformance.spec.config import Config
from conformance.state import map_state, parts

INSTALL = "pip install 'rnn-conformance[onnx]'"
OPSET = 22  # the operators' latest version (bfloat16 and float16 allowed since 22)

OPERATORS = {"RNN_TANH": "RNN", "RNN_RELU": "RNN", "GRU": "GRU", "LSTM": "LSTM"}
# The ONNX gate blocks as torch's block indices: torch GRU r|z|n -> ONNX z|r|h, torch LSTM i|f|g|o -> i|o|f|c.
GATE_ORDER = {"RNN_TANH": (0,), "RNN_RELU": (0,), "GRU": (1, 0, 2), "LSTM": (0, 3, 1, 2)}
ACTIVATIONS = {"RNN_TANH": "Tanh", "RNN_RELU": "Relu"}
STATES = {"h0": "Yh", "c0": "Yc"}  # initial state input -> the operator's final state output
MODEL = f"ONNX RNN/GRU/LSTM operators (opset {OPSET}, implementations.onnx)"


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return f"(not installed: {INSTALL})"


def missing(packages) -> str | None:
    """Why the extra is unusable (the first of ``packages`` that does not import), or None."""
    for package in packages:
        try:
            importlib.import_module(package)
        except ImportError:
            return f"{package} is not installed: {INSTALL}"
    return None


# --- weights ----------------------------------------------------------------------------------------


def reordered(weight: torch.Tensor, mode: str) -> torch.Tensor:
    """A torch weight or bias with its gate blocks (along axis 0) in ONNX's order."""
    blocks = weight.chunk(len(GATE_ORDER[mode]))
    return torch.cat([blocks[i] for i in GATE_ORDER[mode]])


def layer_weights(config: Config, weights, layer: int) -> dict:
    """W, R and (with bias) B of one layer as NumPy arrays: [D, G*H, in], [D, G*H, H], [D, 2*G*H]."""
    suffixes = [f"_l{layer}", f"_l{layer}_reverse"][: config.directions]

    def stacked(name, *, then=None):
        def one(sfx):
            w = reordered(weights[name + sfx].detach(), config.mode)
            return w if then is None else torch.cat([w, reordered(weights[then + sfx].detach(), config.mode)])

        return torch.stack([one(s) for s in suffixes]).cpu().numpy()

    arrays = {"W": stacked("weight_ih"), "R": stacked("weight_hh")}
    if config.bias:
        arrays["B"] = stacked("bias_ih", then="bias_hh")  # ONNX's B is Wb then Rb
    return arrays


# --- the graph --------------------------------------------------------------------------------------


class Graph:
    """The ONNX model of a config: the operator chained over layers, in torch's layouts. Inputs x
    (and h0, c0: torch's [layers*D, batch, H] states; lengths: int32 [batch] for sequence_lens),
    outputs output, Yh (and Yc for LSTM) in torch's layouts."""

    def __init__(self, config: Config, weights, *, lengths: bool, initial: bool):
        onnx = self.onnx = importlib.import_module("onnx")
        helper = onnx.helper
        self.config, self.nodes, self.initializers = config, [], []
        self.elem = helper.np_dtype_to_tensor_dtype(weights["weight_ih_l0"].detach().cpu().numpy().dtype)
        states = list(STATES)[: len(self.finals)] if initial else []
        inputs = [self.value("x", config.input_size)] + [self.value(s) for s in states]
        if lengths:
            inputs.append(helper.make_tensor_value_info("lengths", onnx.TensorProto.INT32, ["batch"]))
        x = self.node("Transpose", ["x"], ["x_t"], perm=[1, 0, 2]) if config.batch_first else "x"
        finals = []
        for layer in range(config.num_layers):
            x, layer_finals = self.layer(weights, layer, x, states, "lengths" if lengths else "")
            finals.append(layer_finals)
        if config.batch_first:
            self.node("Transpose", [x], ["output"], perm=[1, 0, 2])
        else:
            self.node("Identity", [x], ["output"])
        for name, per_layer in zip(self.finals, zip(*finals)):
            self.node("Concat", list(per_layer), [name], axis=0)
        outputs = [self.value("output", config.directions * config.h_out)]
        outputs += [self.value(name) for name in self.finals]
        graph = helper.make_graph(self.nodes, f"torch_{config.mode}", inputs, outputs, self.initializers)
        self.model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        onnx.checker.check_model(self.model)

    @property
    def finals(self) -> tuple:
        """The operator's final state outputs, which are also the model's: Yh (and Yc for LSTM)."""
        return tuple(STATES.values())[: 2 if self.config.mode == "LSTM" else 1]

    def value(self, name: str, width: int | None = None):
        """A graph input or output: a sequence (x, output) of ``width`` features in torch's layout,
        or a state (h0, c0, Yh, Yc) as torch lays it out, [layers*D, batch, H]."""
        c = self.config
        if width is not None:
            shape = ["batch", "seq", width] if c.batch_first else ["seq", "batch", width]
        else:
            shape = [c.num_layers * c.directions, "batch", c.hidden_size]
        return self.onnx.helper.make_tensor_value_info(name, self.elem, shape)

    def node(self, op: str, inputs, outputs, **attributes):
        self.nodes.append(self.onnx.helper.make_node(op, inputs, outputs, **attributes))
        return outputs[0]

    def constant(self, name: str, array) -> str:
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def initial(self, state: str, layer: int) -> str:
        """Layer ``layer``'s [D, batch, H] slice of the torch state [layers*D, batch, H]."""
        d = self.config.directions
        bounds = [
            self.constant(f"{state}_{b}_l{layer}", np.array([v], np.int64))
            for b, v in (("start", layer * d), ("end", (layer + 1) * d), ("axis", 0))
        ]
        return self.node("Slice", [state, *bounds], [f"{state}_l{layer}"])

    def layer(self, weights, layer: int, x: str, states: list, lengths: str):
        """One operator over the time-major ``x``; returns its output [seq, batch, D*H] and its
        final states' names."""
        c = self.config
        arrays = {k: self.constant(f"{k}_l{layer}", v) for k, v in layer_weights(c, weights, layer).items()}
        initial = {s: self.initial(s, layer) for s in states}
        inputs = [x, arrays["W"], arrays["R"], arrays.get("B", ""), lengths, initial.get("h0", "")]
        if c.mode == "LSTM":
            inputs.append(initial.get("c0", ""))
        finals = [f"{out}_l{layer}" for out in self.finals]
        attributes = dict(
            hidden_size=c.hidden_size, direction="bidirectional" if c.bidirectional else "forward"
        )
        if c.mode == "GRU":
            attributes["linear_before_reset"] = 1  # torch's n = tanh(x W_in + b_in + r * (h W_hn + b_hn))
        if c.mode in ACTIVATIONS:
            attributes["activations"] = [ACTIVATIONS[c.mode]] * c.directions
        y = self.node(OPERATORS[c.mode], inputs, [f"Y_l{layer}", *finals], **attributes)
        # Y is [seq, D, batch, H]; the next layer (and torch's output) reads [seq, batch, D*H].
        y = self.node("Transpose", [y], [f"Y_l{layer}_t"], perm=[0, 2, 1, 3])
        # The width is explicit, not -1: that could not be inferred from an empty (length-0) Y, and
        # the Reshape, not the operator, would refuse it.
        shape = self.constant(f"shape_l{layer}", np.array([0, 0, c.directions * c.hidden_size], np.int64))
        return self.node("Reshape", [y, shape], [f"out_l{layer}"]), finals


# --- calling ----------------------------------------------------------------------------------------


def as_numpy(t: torch.Tensor):
    """A tensor as a NumPy array in its own dtype (the runtime refuses one that is not the model's)."""
    return t.detach().cpu().contiguous().numpy()


class OnnxAdapter:
    """The shared adapter: the model is built per variant (packed or not, h_0 given or not) on first
    use, once per ``build``; subclasses say how a runtime runs it (``session``)."""

    modes = ("RNN_TANH", "RNN_RELU", "GRU", "LSTM")
    packages = ("onnx",)
    not_claimed = frozenset(
        {
            "gradients",  # the result comes through NumPy
            "projection",  # ONNX's LSTM has no proj_size
            "dropout",  # the operators are inference-only
        }
    )

    def unavailable(self) -> str | None:
        return missing(self.packages)

    def session(self, model):
        """A function feeds -> the model's outputs as NumPy arrays."""
        raise NotImplementedError

    def build(self, config: Config, weights) -> Call:
        missing = self.unavailable()
        if missing:
            raise ImportError(missing)
        runners = {}

        def runner(lengths: bool, initial: bool):
            if (lengths, initial) not in runners:
                graph = Graph(config, weights, lengths=lengths, initial=initial)
                runners[lengths, initial] = self.session(graph.model)
            return runners[lengths, initial]

        def call(x, h0):
            if isinstance(x, PackedSequence):
                return self.forward_packed(config, runner, x, h0)
            unbatched = x.dim() == 2
            if unbatched:  # torch ignores batch_first here; the graph transposes if it is set
                x, h0 = x.unsqueeze(0 if config.batch_first else 1), map_state(lambda s: s.unsqueeze(1), h0)
            output, h_n = self.forward(config, runner, x, h0)
            if unbatched:
                return output.squeeze(0 if config.batch_first else 1), map_state(lambda s: s.squeeze(1), h_n)
            return output, h_n

        return call

    def forward(self, config: Config, runner, x, h0, lengths=None):
        feeds = {"x": as_numpy(x)}
        feeds.update(zip(STATES, map(as_numpy, parts(h0) if h0 is not None else ())))
        if lengths is not None:
            feeds["lengths"] = lengths.numpy().astype("int32")
        output, *finals = map(torch.from_numpy, runner(lengths is not None, h0 is not None)(feeds))
        return output, (tuple(finals) if config.mode == "LSTM" else finals[0])

    def forward_packed(self, config: Config, runner, packed: PackedSequence, h0):
        """Padded in the original row order, run with ``sequence_lens``, and packed again."""
        x, lengths = pad_packed_sequence(packed, batch_first=config.batch_first)
        output, h_n = self.forward(config, runner, x, h0, lengths)
        packed = pack_padded_sequence(output, lengths, batch_first=config.batch_first, enforce_sorted=False)
        return packed, h_n


class OnnxRuntime(OnnxAdapter):
    packages = ("onnx", "onnxruntime")
    # No float64: onnxruntime 1.32 has no double kernel for RNN, and its GRU and LSTM kernels raise
    # "does not support double yet". bfloat16 cannot pass through NumPy.
    dtypes = ("float32", "float16")

    @property
    def description(self) -> str:
        return f"{MODEL} run by onnxruntime {version('onnxruntime')} (CPU, 1 thread)"

    def session(self, model):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        # one thread: the harness's processes (and xdist workers) share the cores
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        session = onnxruntime.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )
        return lambda feeds: session.run(None, feeds)


class Reference(OnnxAdapter):
    dtypes = ("float64", "float32", "float16")  # NumPy computes in the input's dtype
    # Its RNN raises "Unknown activation function 'Relu'": torch's RNN_RELU cannot be run there.
    modes = ("RNN_TANH", "GRU", "LSTM")
    not_claimed = OnnxAdapter.not_claimed | {"packed"}  # its operators ignore sequence_lens

    @property
    def description(self) -> str:
        return f"{MODEL} run by onnx {version('onnx')}'s ReferenceEvaluator (NumPy)"

    def session(self, model):
        from onnx.reference import ReferenceEvaluator

        evaluator = ReferenceEvaluator(model)
        return lambda feeds: evaluator.run(None, feeds)


onnxruntime = OnnxRuntime()
reference = Reference()
