"""The adapters of torch's compilers (implementations/torch_compilers.py): results and verdicts."""

import pytest
import torch

from conformance.spec.config import Config
from implementations import torch_compilers as compilers

from .helpers import MODULES, flat, initial_state

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
