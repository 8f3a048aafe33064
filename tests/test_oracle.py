"""The oracle is tested against torch first (CONTRACT.md bug 16: the reference itself can be
wrong): torch.nn on the CPU in float64, on generated configurations."""

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance.spec import oracle
from conformance.spec.config import MODES, Config, parameter_shapes
from conformance.state import map_state, parts
from conformance.strategies import cases, cell_configs, configs
from implementations.torch_nn import CELL_CLASSES, CLASSES

ORACLE_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def torch_module(case):
    module = (CELL_CLASSES if case.config.cell else CLASSES)[case.config.mode](
        **case.config.module_kwargs()
    ).double()
    module.load_state_dict({k: torch.tensor(v) for k, v in case.weights.items()})
    return module


def assert_equal_f64(got, want):
    """Arrays, or states (h, c) part by part."""
    assert len(parts(got)) == len(parts(want))
    for g, w in zip(parts(got), parts(want)):
        np.testing.assert_allclose(g.detach().numpy(), w, rtol=1e-10, atol=1e-10)


def torch_h0(case):
    return map_state(torch.tensor, case.h0)


def assert_oracle_equals(module, case):
    """The oracle's (output, h_n) for the case against the torch module's."""
    x = torch.tensor(case.x)
    with torch.no_grad():
        output, h_n = module(x) if case.h0 is None else module(x, torch_h0(case))
    want_output, want_h_n = oracle.forward(case.config, case.weights, case.x, case.h0)
    assert_equal_f64(output, want_output)
    assert_equal_f64(h_n, want_h_n)


@ORACLE_SETTINGS
@given(case=cases(configs(MODES, ("float64",))))
def test_oracle_equals_torch(case):
    assert_oracle_equals(torch_module(case), case)


@ORACLE_SETTINGS
@given(case=cases(configs(MODES, ("float64",)), unbatched=True), data=st.data())
def test_oracle_unbatched_equals_torch(case, data):
    assert_oracle_equals(torch_module(case), case)


@ORACLE_SETTINGS
@given(case=cases(configs(MODES, ("float64",), batch_first=False), with_h0=True), data=st.data())
def test_oracle_variable_lengths_equal_packed_torch(case, data):
    """Variable lengths: torch's PackedSequence (unsorted) vs the oracle's per-row lengths."""
    lengths = np.array(
        data.draw(
            st.lists(st.integers(1, case.seq_len), min_size=case.batch, max_size=case.batch), label="lengths"
        )
    )
    module = torch_module(case)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        torch.tensor(case.x), torch.tensor(lengths), enforce_sorted=False
    )
    with torch.no_grad():
        packed_out, h_n = module(packed, torch_h0(case))
    output, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_out, total_length=case.seq_len)
    want_output, want_h_n = oracle.forward(case.config, case.weights, case.x, case.h0, lengths=lengths)
    assert_equal_f64(output, want_output)
    assert_equal_f64(h_n, want_h_n)


@ORACLE_SETTINGS
@given(case=cases(configs({"LSTM"}, ("float64",), projection=True, hidden_size=st.integers(2, 8))))
def test_lstm_oracle_with_projection_equals_torch(case):
    """proj_size > 0 every time (the general test draws it one time in three)."""
    with torch.no_grad():
        output, state = torch_module(case)(torch.tensor(case.x), torch_h0(case))
    want_output, want_state = oracle.forward(case.config, case.weights, case.x, case.h0)
    assert_equal_f64(output, want_output)
    assert_equal_f64(state, want_state)


@ORACLE_SETTINGS
@given(case=cases(cell_configs(MODES, ("float64",)), unbatched=st.booleans()))
def test_cell_oracle_equals_torch_cells(case):
    with torch.no_grad():
        got = torch_module(case)(torch.tensor(case.x), torch_h0(case))
    assert_equal_f64(got, oracle.cell_forward(case.config, case.weights, case.x, case.h0))


def test_oracle_reads_like_the_equations_on_a_hand_example():
    """One GRU step worked by hand: with zero weights r = z = 1/2, n = tanh(b_in + b_hn / 2)."""
    from conformance.spec.config import Config

    config = Config("GRU", input_size=1, hidden_size=1)
    weights = {
        "weight_ih_l0": np.zeros((3, 1)),
        "weight_hh_l0": np.zeros((3, 1)),
        "bias_ih_l0": np.array([0.0, 0.0, 0.5]),
        "bias_hh_l0": np.array([0.0, 0.0, 1.0]),
    }
    output, h_n = oracle.forward(config, weights, np.zeros((1, 1, 1)), np.full((1, 1, 1), 0.25))
    n = np.tanh(0.5 + 0.5 * 1.0)
    assert np.isclose(output[0, 0, 0], 0.5 * n + 0.5 * 0.25)
    assert np.isclose(h_n[0, 0, 0], output[0, 0, 0])


def test_lstm_oracle_on_a_hand_example():
    """One LSTM step by hand: zero weights give i = f = o = 1/2 and g = tanh(b_g)."""
    from conformance.spec.config import Config

    config = Config("LSTM", input_size=1, hidden_size=1)
    weights = {
        "weight_ih_l0": np.zeros((4, 1)),
        "weight_hh_l0": np.zeros((4, 1)),
        "bias_ih_l0": np.array([0.0, 0.0, 0.5, 0.0]),
        "bias_hh_l0": np.zeros(4),
    }
    output, (h_n, c_n) = oracle.forward(
        config, weights, np.zeros((1, 1, 1)), (np.zeros((1, 1, 1)), np.full((1, 1, 1), 0.25))
    )
    c = 0.5 * 0.25 + 0.5 * np.tanh(0.5)
    assert np.isclose(c_n[0, 0, 0], c)
    assert np.isclose(h_n[0, 0, 0], 0.5 * np.tanh(c)) and np.isclose(output[0, 0, 0], h_n[0, 0, 0])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(case=cases(configs(MODES, ("float64",), num_layers=st.integers(2, 3), dropout=1.0, training=True)))
def test_oracle_models_training_dropout_of_one_as_torch_does(case):
    """dropout = 1 in training mode: every layer above the first reads zeros (torch's mask is all zeros)."""
    assert_oracle_equals(torch_module(case).train(), case)


def test_oracle_refuses_a_dropout_it_cannot_model():
    """A random mask (0 < dropout < 1 between layers, training mode) is refused, never ignored;
    eval mode and a single layer have nothing random to model."""
    from conformance.spec.config import Config, parameter_shapes

    def run(**fields):
        config = Config("GRU", input_size=2, hidden_size=3, **fields)
        weights = {name: np.ones(shape) for name, shape in parameter_shapes(config).items()}
        return oracle.forward(config, weights, np.ones((4, 1, 2)))

    with pytest.raises(ValueError, match="cannot model dropout=0.5 in training mode"):
        run(num_layers=2, dropout=0.5, training=True)
    eval_mode, no_dropout = run(num_layers=2, dropout=0.5), run(num_layers=2)
    np.testing.assert_array_equal(eval_mode[0], no_dropout[0])
    np.testing.assert_array_equal(run(dropout=0.5, training=True)[0], run()[0])


def test_the_oracle_runs_numpy_blas_on_one_thread(monkeypatch):
    """OpenBLAS's threads spin while they wait for each other: on a busy 2-core machine a complex
    step through a 64-unit GRU took 80 times longer with two (spec/blas.py)."""
    from conformance.spec import blas

    before = [lib.num_threads for lib in blas.blas().lib_controllers]
    during = []
    run_layers = oracle.run_layers

    def spy(*args, **kwargs):
        during.extend(lib.num_threads for lib in blas.blas().lib_controllers)
        return run_layers(*args, **kwargs)

    monkeypatch.setattr(oracle, "run_layers", spy)
    config = Config("GRU", input_size=3, hidden_size=4)
    weights = {name: np.ones(shape) for name, shape in parameter_shapes(config).items()}
    oracle.forward(config, weights, np.ones((2, 1, 3)))
    assert before and during == [1] * len(before)
    assert [lib.num_threads for lib in blas.blas().lib_controllers] == before  # restored after the call
