"""torch.nn.RNN/GRU/LSTM through torch's compilers: torch.compile, TorchScript, torch.export, torch.onnx."""

from __future__ import annotations

import warnings
from typing import Optional

import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.registry import Call
from conformance.spec.config import Config
from conformance.state import parts

from . import onnx as onnx_adapters
from .torch_nn import CLASSES
from .torch_nn import cpu as torch_nn


def signature(x, h0) -> tuple:
    """What torch.export (and so the ONNX exporter) specializes a program on."""
    return tuple(x.shape), x.dtype, h0 is None


def arguments(x, h0) -> tuple:
    return (x,) if h0 is None else (x, h0)


class CompiledModule:
    """The shared adapter: torch.nn's module, built and loaded as the ``torch`` adapter does, then
    handed to a compiler (``compile``: the module -> a call(x, h0)) once per ``build``."""

    modes = tuple(CLASSES)
    dtypes = ("float64", "float32")
    not_claimed: frozenset = frozenset()

    def compile(self, config: Config, module: torch.nn.Module) -> Call:
        raise NotImplementedError

    def build(self, config: Config, weights) -> Call:
        module = torch_nn.construct(config)
        module.load_state_dict(weights)
        call = self.compile(config, module)
        call.parameters = dict(module.named_parameters())  # what every compiled form reads
        return call


class Compile(CompiledModule):
    # torch.compile's default backend (inductor, C++ on the CPU), static shapes: each new shape,
    # dtype or h_0 presence is a recompile (5 to 50 s each on a 2-core machine). After
    # torch._dynamo.config.recompile_limit (8) compiles of nn.RNNBase.forward in one process,
    # dynamo runs new signatures eagerly, silently; and one process runs all of a run's clause
    # tests. So every build starts from a reset dynamo: its calls are compiled, whatever ran before.
    description = (
        "torch.compile(torch.nn.RNN/GRU/LSTM, backend='inductor', dynamic=False) on cpu, "
        "with torch._dynamo.config.allow_rnn = True"
    )

    def compile(self, config: Config, module: torch.nn.Module) -> Call:
        torch._dynamo.reset()
        compiled = torch.compile(module, dynamic=False)

        def call(x, h0):
            # Without allow_rnn, dynamo graph-breaks on every RNN module and the whole forward
            # runs eagerly: torch.compile would be torch.nn itself.
            # One compile thread: a worker pool per forked clause process costs more than it saves.
            with torch._dynamo.config.patch(allow_rnn=True), torch._inductor.config.patch(compile_threads=1):
                return compiled(*arguments(x, h0))

        return call


class Scripted(torch.nn.Module):
    """A module holding the RNN, as TorchScript models hold one: a scripted nn.RNN/GRU/LSTM alone
    cannot be called from Python (its forward is two overloads, forward__0 and forward__1: the
    RecursiveScriptModule has no attribute 'forward')."""

    def __init__(self, rnn):
        super().__init__()
        self.rnn = rnn

    def forward(self, x: torch.Tensor, h0: Optional[torch.Tensor]):  # noqa: UP045 (TorchScript)
        return self.rnn(x, h0)

    @torch.jit.export
    def packed(self, x: PackedSequence, h0: Optional[torch.Tensor]):  # noqa: UP045
        return self.rnn(x, h0)


class ScriptedLSTM(Scripted):
    def forward(self, x: torch.Tensor, h0: Optional[tuple[torch.Tensor, torch.Tensor]]):  # noqa: UP045
        return self.rnn(x, h0)

    @torch.jit.export
    def packed(self, x: PackedSequence, h0: Optional[tuple[torch.Tensor, torch.Tensor]]):  # noqa: UP045
        return self.rnn(x, h0)


class Script(CompiledModule):
    description = "torch.jit.script of a module calling torch.nn.RNN/GRU/LSTM, on cpu"

    def compile(self, config: Config, module: torch.nn.Module) -> Call:
        with warnings.catch_warnings():
            # torch.jit.script is deprecated ("switch to torch.compile or torch.export") but works.
            warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.* is deprecated")
            scripted = torch.jit.script((ScriptedLSTM if config.mode == "LSTM" else Scripted)(module))

        def call(x, h0):
            if isinstance(x, PackedSequence):
                output, h_n = scripted.packed(x, h0)
                return PackedSequence(*output), h_n  # TorchScript returns its own NamedTuple type
            return scripted(x, h0)

        return call


class ExportedPrograms(CompiledModule):
    """A program exported per call signature (shape, dtype, h_0 given or not), kept for the build."""

    # torch.export cannot trace a PackedSequence: its batch sizes are data, and nn.RNNBase.forward
    # reads them ("GuardOnDataDependentSymNode: Could not extract specialized integer from
    # data-dependent expression u1").
    not_claimed = frozenset({"packed"})

    def export(self, module: torch.nn.Module, args: tuple):
        """The program of ``module`` on ``args``, as a function of those arguments."""
        raise NotImplementedError

    def compile(self, config: Config, module: torch.nn.Module) -> Call:
        programs = {}

        def call(x, h0):
            key = signature(x, h0)
            if key not in programs:
                programs[key] = self.export(module, arguments(x, h0))
            return programs[key](*arguments(x, h0))

        return call


class Export(ExportedPrograms):
    description = "torch.export.export(torch.nn.RNN/GRU/LSTM, args).module() on cpu"

    def export(self, module, args):
        return torch.export.export(module, args).module()  # its parameters are the module's own


class OnnxExport(ExportedPrograms):
    # torch 2.13's default exporter (dynamo=True: torch.export, then onnxscript's translation).
    not_claimed = ExportedPrograms.not_claimed | {
        "gradients",  # the result comes through NumPy
        "dropout",  # exported for inference
        "float64",  # onnxruntime 1.32 has no double kernel for RNN, GRU or LSTM
    }
    dtypes = ("float32", "float16")
    runtime = onnx_adapters.onnxruntime
    packages = ("onnxscript", "onnxruntime")

    @property
    def description(self) -> str:
        return (
            f"torch.onnx.export (dynamo=True, onnxscript {onnx_adapters.version('onnxscript')}) "
            f"of torch.nn.RNN/GRU/LSTM, run by onnxruntime {onnx_adapters.version('onnxruntime')} "
            "(CPU, 1 thread)"
        )

    def unavailable(self) -> str | None:
        return onnx_adapters.missing(self.packages)

    def build(self, config: Config, weights) -> Call:
        missing = self.unavailable()
        if missing:
            raise ImportError(missing)
        return super().build(config, weights)

    def export(self, module, args):
        with torch.no_grad():
            program = torch.onnx.export(module, args, verbose=False)
        run = self.runtime.session(program.model_proto)
        names = [i.name for i in program.model_proto.graph.input]

        def call(*args):
            feeds = dict(zip(names, (onnx_adapters.as_numpy(t) for a in args for t in parts(a))))
            output, *finals = map(torch.from_numpy, run(feeds))
            return output, (tuple(finals) if len(finals) == 2 else finals[0])

        return call


compile = Compile()
script = Script()
export = Export()
onnx = OnnxExport()
