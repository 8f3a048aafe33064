"""The Keras adapters (implementations/keras_adapter.py): the weights converted right, and their verdicts."""

import sys
import types

import pytest
import torch

from conformance.spec.config import Config
from implementations import keras_adapter as adapters

from .framework_cases import MODULES, max_difference, module_and_call, non_conforming
from .helpers import verdicts

if adapters.unavailable():  # it sets KERAS_BACKEND=torch before importing keras
    pytest.skip(adapters.unavailable(), allow_module_level=True)


@pytest.mark.parametrize("mode", MODULES)
def test_the_weights_are_converted_to_keras_layouts_and_gate_orders(mode):
    """Bidirectional, two layers, batch_first, with h_0: the Keras layers compute what torch.nn does."""
    module, call = module_and_call(adapters.keras, mode, bidirectional=True, num_layers=2)
    assert max_difference(module, call, mode) < 1e-5


def test_gru_reset_before_differs_from_torch_only_through_the_reset_gate():
    """reset_after=False (Cho et al.) with torch's weights: far from torch; with the reset gate
    saturated open (r = 1, b_ir large) the candidates agree, so the conversion is otherwise right."""
    module, call = module_and_call(adapters.keras_gru_reset_before, "GRU", bidirectional=True, num_layers=2)
    assert max_difference(module, call, "GRU") > 1e-2
    opened = {f"bias_ih_{s}": (slice(0, 4), 1e4) for s in ("l0", "l0_reverse", "l1", "l1_reverse")}
    module, call = module_and_call(
        adapters.keras_gru_reset_before, "GRU", bidirectional=True, num_layers=2, **opened
    )
    assert max_difference(module, call, "GRU") < 1e-5


def test_gradients_reach_the_weights_given_to_build():
    """stateless_call on torch-converted values: autograd reaches the suite's weight tensors."""
    module, _ = module_and_call(adapters.keras, "GRU", bidirectional=True, num_layers=2)
    config = Config(
        mode="GRU", input_size=3, hidden_size=4, num_layers=2, bidirectional=True, dtype="float32"
    )
    weights = {k: v.detach().clone().requires_grad_() for k, v in module.state_dict().items()}
    output, h_n = adapters.keras.build(config, weights)(torch.randn(5, 2, 3), None)
    (output.sum() + h_n.sum()).backward()
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in weights.values())


def test_a_keras_imported_with_another_backend_is_refused(monkeypatch):
    other = types.SimpleNamespace(backend=types.SimpleNamespace(backend=lambda: "jax"))
    monkeypatch.setitem(sys.modules, "keras", other)
    reason = adapters.keras.unavailable()
    assert reason == "keras was already imported with the 'jax' backend; set KERAS_BACKEND=torch"
    with pytest.raises(ImportError, match="KERAS_BACKEND=torch"):
        adapters.keras.build(Config(mode="GRU", input_size=1, hidden_size=1), {})


ERRORS = ["errors.dtype_mismatch", "errors.h0_shape"]
NOT_APPLICABLE = ["errors.proj_size", "errors.sizes_positive"]


def test_keras_gru_conforms_in_float32_but_answers_inputs_torch_refuses(pytester, tmp_path):
    """Measured with keras 3.15.1 (restricted to GRU's clauses: the whole suite takes minutes here):
    an h_0 of batch 7 for a batch of 1 is broadcast, a float64 input cast to the float32 layer's
    dtype. (A rank-4 input is refused by the layer's input spec, which the adapter checks as
    Layer.__call__ does.)"""
    impl = "implementations.keras_adapter:keras"
    got = verdicts(pytester, tmp_path, impl, "--rnn-kind=GRU", "-k", "gru or errors")
    assert non_conforming(got) == {"fails": ERRORS, "not applicable": NOT_APPLICABLE}


def test_keras_gru_reset_before_fails_the_gru_equations(pytester, tmp_path):
    impl = "implementations.keras_adapter:keras_gru_reset_before"
    got = verdicts(pytester, tmp_path, impl, "-k", "gru_candidate or gru_update")  # the id names the impl
    assert non_conforming(got) == {"fails": ["gru.candidate", "gru.update"]}
