"""The ONNX adapters (implementations/onnx.py): torch's weights converted right, and their verdicts."""

import sys

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from conformance.spec.config import Config

from .helpers import MODULES, assert_verdicts, flat, initial_state, verdicts

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from implementations import onnx as adapters  # noqa: E402  (after the skips: it needs onnx to run)

ADAPTERS = {"onnxruntime": adapters.onnxruntime, "onnx-reference": adapters.reference}
CASES = [(name, mode) for name, adapter in ADAPTERS.items() for mode in MODULES if mode in adapter.modes]


def module_and_call(adapter, mode: str, bidirectional=True, num_layers=2, batch_first=True):
    """torch.nn's module and the adapter built from its weights, float32, input_size != hidden_size."""
    torch.manual_seed(0)
    kwargs = dict(input_size=3, hidden_size=4, num_layers=num_layers, batch_first=batch_first)
    module = MODULES[mode](bidirectional=bidirectional, **kwargs).eval()
    config = Config(mode=mode, bidirectional=bidirectional, dtype="float32", **kwargs)
    return module, adapter.build(config, dict(module.state_dict()))


@pytest.mark.parametrize("name, mode", CASES)
def test_the_weights_are_converted_to_onnx_layouts_and_gate_orders(name, mode):
    """Bidirectional, two layers, batch_first, with h_0: the ONNX model computes what torch.nn does."""
    module, call = module_and_call(ADAPTERS[name], mode)
    x, h0 = torch.randn(2, 5, 3), initial_state(mode, 4, 2, 4)
    with torch.no_grad():
        want = module(x, h0)
    got = call(x, h0)
    for g, w in zip(flat(got), flat(want)):
        assert g.dtype == torch.float32
        torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", MODULES)
def test_a_packed_sequence_runs_with_sequence_lens_in_onnxruntime(mode):
    module, call = module_and_call(adapters.onnxruntime, mode, batch_first=False)
    x = pack_padded_sequence(torch.randn(5, 3, 3), torch.tensor([2, 5, 3]), enforce_sorted=False)
    with torch.no_grad():
        want = module(x)
    got = call(x, None)
    unpacked = [(pad_packed_sequence(r[0]), *flat(r)[1:]) for r in (got, want)]
    torch.testing.assert_close(*unpacked, rtol=1e-5, atol=1e-5)


def test_without_the_extra_the_adapter_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # an import of it now raises ImportError
    reason = adapters.onnxruntime.unavailable()
    assert reason == "onnxruntime is not installed: pip install 'rnn-conformance[onnx]'"
    with pytest.raises(ImportError, match=r"rnn-conformance\[onnx\]"):
        adapters.onnxruntime.build(Config(mode="GRU", input_size=1, hidden_size=1), {})


NOT_CLAIMED = ("lstm.projection", "dropout.eval_mode", "dropout.single_layer", "dropout.between_layers")
NOT_CLAIMED += ("grad.input", "grad.h0", "grad.weights")
NOT_APPLICABLE = ("cell.matches_oracle", "errors.proj_size", "errors.sizes_positive")
PACKED = ("packed.matches_oracle", "packed.each_row_alone", "packed.padding_ignored")


def test_onnxruntime_conforms_but_accepts_a_length_0_sequence(pytester, tmp_path):
    """Measured with onnxruntime 1.32.0: every clause conforms at float32 and float16, packed
    sequences included, except errors.zero_length: its RNN and LSTM operators return an empty
    output for a length-0 sequence, and its GRU aborts (the next test): which of the two the clause
    meets first depends on the examples Hypothesis draws (6.155.2: an RNN, fails; 6.170.17: a GRU,
    crashed)."""
    got = verdicts(pytester, tmp_path, "implementations.onnx:onnxruntime")
    assert got.pop("errors.zero_length") in ("fails", "crashed")
    assert_verdicts(got, not_claimed=NOT_CLAIMED, not_applicable=NOT_APPLICABLE)


def test_onnxruntime_gru_aborts_the_process_on_a_length_0_sequence(pytester, tmp_path):
    """ "terminate called without an active exception": the clause's verdict is crashed."""
    impl = "implementations.onnx:onnxruntime"
    got = verdicts(pytester, tmp_path, impl, "--rnn-kind=GRU", "-k", "errors_zero_length")
    assert got == {"errors.zero_length": "crashed"}


def test_onnx_reference_conforms_but_does_not_check_its_inputs(pytester, tmp_path):
    """Measured with onnx 1.23.2: every numerics clause conforms in float64, float32 and float16;
    the ReferenceEvaluator checks no input against the model's declared type and shape, so an h_0
    of the wrong shape (a slice of it is used) and an input in the other dtype are answered."""
    got = verdicts(pytester, tmp_path, "implementations.onnx:reference")
    assert_verdicts(
        got,
        fails=["errors.h0_shape", "errors.dtype_mismatch"],
        not_claimed=NOT_CLAIMED + PACKED,
        not_applicable=NOT_APPLICABLE,
    )
