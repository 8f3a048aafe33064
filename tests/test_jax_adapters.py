"""The JAX cell adapters (implementations/jax_cells.py): weights converted, gradients, verdicts."""

import sys

import pytest
import torch

from conformance.spec.config import Config
from conformance.state import INITIAL_NAMES, map_state, parts

from .framework_cases import MODULES, max_difference, module_and_call, non_conforming
from .helpers import flat, initial_state, verdicts

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("equinox")

from implementations import jax_cells as adapters  # noqa: E402  (after the skips)

ADAPTERS = {"flax-linen": adapters.flax_linen, "flax-nnx": adapters.flax_nnx, "equinox": adapters.equinox}
CASES = [(name, mode) for name, adapter in ADAPTERS.items() for mode in MODULES if mode in adapter.modes]
# torch's b_hn, the last H entries of bias_hh: flax.nnx's GRUCell has no place for it (flax#5594).
NNX_GRU = ("flax-nnx", "GRU")


@pytest.mark.parametrize("name, mode", CASES)
def test_the_weights_are_converted_to_each_frameworks_layout_and_gate_order(name, mode):
    """One layer (the adapters claim no more), batch_first, with h_0; b_hn zero for nnx's GRU."""
    zero_b_hn = {"bias_hh_l0": (slice(8, 12), 0.0)} if (name, mode) == NNX_GRU else {}
    module, call = module_and_call(ADAPTERS[name], mode, bidirectional=False, num_layers=1, **zero_b_hn)
    assert max_difference(module, call, mode) < 1e-5


def test_flax_nnx_gru_drops_b_hn():
    module, call = module_and_call(adapters.flax_nnx, "GRU", bidirectional=False, num_layers=1)
    assert max_difference(module, call, "GRU") > 1e-2


def gradients(run, weights: list, x, h0) -> list:
    """The gradients of x, h_0's parts and ``weights`` of a fixed random projection of run(x, h0)."""
    torch.manual_seed(2)
    loss = sum((r * torch.randn_like(r)).sum() for r in flat(run(x, h0)))
    return torch.autograd.grad(loss, [x, *parts(h0), *weights])


@pytest.mark.parametrize("name, mode", CASES)
def test_the_gradients_are_torchs(name, mode):
    """JAX's VJP through the weight conversion, float64: the gradients of x, h_0 (and c_0) and each
    weight equal torch.nn's. nnx's GRU runs with b_hn zero: its gradient there is zero, torch's not."""
    torch.manual_seed(0)
    module = MODULES[mode](input_size=4, hidden_size=5).double()
    if (name, mode) == NNX_GRU:
        with torch.no_grad():
            module.bias_hh_l0[10:] = 0.0
    weights = {k: v.detach().clone().requires_grad_() for k, v in module.state_dict().items()}
    x = torch.randn(3, 2, 4, dtype=torch.float64, requires_grad=True)
    h0 = map_state(lambda s: s.double().requires_grad_(), initial_state(mode, 1, 2, 5))
    call = ADAPTERS[name].build(Config(mode=mode, input_size=4, hidden_size=5, dtype="float64"), weights)
    names = ["x", *INITIAL_NAMES[: len(parts(h0))], *weights]
    want = dict(zip(names, gradients(module, [getattr(module, n) for n in weights], x, h0)))
    got = dict(zip(names, gradients(call, list(weights.values()), x, h0)))
    if (name, mode) == NNX_GRU:
        assert not got["bias_hh_l0"][10:].any() and want["bias_hh_l0"][10:].any()
        got["bias_hh_l0"], want["bias_hh_l0"] = got["bias_hh_l0"][:10], want["bias_hh_l0"][:10]
    differences = {n: float((got[n] - want[n]).abs().max()) for n in names}
    assert max(differences.values()) < 1e-10, differences


def test_the_gradient_clause_conforms(pytester, tmp_path):
    """flax-linen (rnn-fast, seed 0): gradients are claimed, and the weights' gradients of the
    configurations the clause draws are torch's. One clause: each compiles a VJP per shape (43 s for
    the three); test_the_gradients_are_torchs checks x's and h_0's on every adapter and mode."""
    got = verdicts(pytester, tmp_path, "implementations.jax_cells:flax_linen", "-k", "grad_weights")
    assert got == {"grad.weights": "conforms"}


def test_without_the_extra_the_adapter_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "equinox", None)  # an import of it now raises ImportError
    assert adapters.equinox.unavailable() == "equinox is not installed: pip install 'rnn-conformance[jax]'"
    with pytest.raises(ImportError, match=r"rnn-conformance\[jax\]"):
        adapters.equinox.build(Config(mode="GRU", input_size=1, hidden_size=1), {})


ERRORS = ["errors.dtype_mismatch", "errors.h0_shape"]
#: equinox's cells check the carry's shape against hidden_size and the batch (measured): an h_0 of the
#: wrong shape raises there.
FAILED_ERRORS = {
    "flax-linen": ERRORS,
    "flax-nnx": ERRORS,
    "equinox": ["errors.dtype_mismatch"],
}


@pytest.mark.parametrize("name", ADAPTERS)
def test_the_cells_answer_inputs_torch_refuses(pytester, tmp_path, name):
    """Measured with jax 0.10.2, flax 0.12.8, equinox 0.13.8 (the errors clauses only: JAX's compile
    makes the whole suite minutes long): a carry of batch 7 broadcasts against a batch of 1 (flax),
    and JAX promotes an input of the other dtype. (An empty sequence is refused by the adapter's own
    time loop, as torch does.)"""
    impl = f"implementations.jax_cells:{name.replace('-', '_')}"
    got = verdicts(pytester, tmp_path, impl, "-k", "errors")
    assert non_conforming(got)["fails"] == FAILED_ERRORS[name]


def test_flax_nnx_gru_fails_the_candidate_clause(pytester, tmp_path):
    got = verdicts(pytester, tmp_path, "implementations.jax_cells:flax_nnx", "--rnn-kind=GRU", "-k", "gru")
    assert non_conforming(got) == {"fails": ["gru.candidate", "gru.update"]}
