"""The adapters of torch's compilers (implementations/torch_compilers.py): results and verdicts."""

import pytest
import torch

from conformance.spec.config import Config
from implementations import torch_compilers as compilers

from .helpers import MODULES, assert_verdicts, flat, initial_state, verdicts

ADAPTERS = {
    "torch-compile": compilers.compile,
    "torch-jit": compilers.script,
    "torch-export": compilers.export,
    "torch-onnx": compilers.onnx,
}


def skip_unavailable(adapter):
    reason = getattr(adapter, "unavailable", lambda: None)()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("mode", MODULES)
@pytest.mark.parametrize("name", ADAPTERS)
def test_each_adapter_computes_what_torch_nn_does(name, mode):
    """Bidirectional, two layers, batch_first, with h_0 (and c_0), float32."""
    adapter = ADAPTERS[name]
    skip_unavailable(adapter)
    torch.manual_seed(0)
    kwargs = dict(input_size=3, hidden_size=4, num_layers=2, batch_first=True, bidirectional=True)
    module = MODULES[mode](**kwargs).eval()
    call = adapter.build(Config(mode=mode, dtype="float32", **kwargs), dict(module.state_dict()))
    x, h0 = torch.randn(2, 5, 3), initial_state(mode, 4, 2, 4)
    with torch.no_grad():  # torch.compile's LSTM fails with parameters that require grad: see below
        want, got = module(x, h0), call(x, h0)
    for g, w in zip(flat(got), flat(want)):
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


# The e2e runs check representative clauses only, under a budget: every compiled form recompiles
# (or re-exports) per example, so a whole rnn-fast run takes minutes per adapter.
REPRESENTATIVE = ["-k", "output_matches_oracle or h_n_matches or packed_matches or grad_weights or h0_shape"]


@pytest.mark.parametrize("name", ["torch-jit", "torch-export"])
def test_torchscript_and_torch_export_conform(pytester, tmp_path, name):
    """Measured on torch 2.13.0: every clause conforms (full runs in the README); torch.export
    cannot take a PackedSequence, so the packed clauses are not claimed there."""
    impl = "implementations.torch_compilers:" + {"torch-jit": "script", "torch-export": "export"}[name]
    got = verdicts(pytester, tmp_path, impl, "--rnn-budget=40", *REPRESENTATIVE)
    assert_verdicts(got, not_claimed=["packed.matches_oracle"] if name == "torch-export" else [])


def test_torch_onnx_exports_a_projected_lstm_that_onnxruntime_refuses(pytester, tmp_path):
    """The dynamo exporter emits ONNX's LSTM operator with the projection's width as c_0's. Slow
    (about 20 s): every example exports a new model."""
    got = verdicts(pytester, tmp_path, "implementations.torch_compilers:onnx", "-k", "lstm_projection")
    assert got == {"lstm.projection": "fails"}


def test_torch_compile_fails_on_a_float32_lstm_whose_parameters_require_grad():
    """Inductor's LSTM (mkldnn_rnn_layer, float32 on the CPU) raises "expected Tensor() for op"
    when the parameters require grad (pytorch#158007); float64 and torch.no_grad compile."""
    torch.manual_seed(0)
    module = torch.nn.LSTM(3, 4)
    config = Config(mode="LSTM", input_size=3, hidden_size=4, dtype="float32")
    call = compilers.compile.build(config, dict(module.state_dict()))
    with pytest.raises(TypeError, match="mkldnn_rnn_layer"):
        call(torch.randn(5, 2, 3), None)


def test_torch_compile_compiles_every_build_however_many_came_before():
    """dynamo runs a function eagerly, silently, once it has compiled it recompile_limit (8) times in
    a process, and one process runs all of a run's clause tests: each build resets dynamo, so that
    the compiled path, not torch.nn's eager one, is what the clauses check."""
    from torch._dynamo.utils import counters

    counters.clear()
    config = Config(mode="RNN_TANH", input_size=1, hidden_size=1, dtype="float64")
    module = torch.nn.RNN(1, 1).double()
    for seq_len in range(1, 11):  # ten builds of ten signatures: more than the limit
        with torch.no_grad():
            compilers.compile.build(config, dict(module.state_dict()))(
                torch.ones(seq_len, 1, 1).double(), None
            )
    assert counters["stats"]["unique_graphs"] >= 10, dict(counters["stats"])
