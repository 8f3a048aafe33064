"""The dialect diagnosis (conformance/dialects.py): each known variant is recognised, and only it."""

import json
from pathlib import Path

import numpy as np
import pytest

from conformance import diagnosis, dialects
from conformance.case import Case
from conformance.clauses._helpers import assert_matches_oracle, tolerance
from conformance.compare import Mismatch, allowed_error
from conformance.registry import resolve
from conformance.runner import run_case
from conformance.spec import oracle
from conformance.spec.config import Config
from implementations.manual import Manual

from . import dialect_faults
from .helpers import run_suite

# assert_matches_oracle's assume() (the oracle's values representable) runs outside a Hypothesis test here
pytestmark = pytest.mark.filterwarnings("ignore:Using `assume` outside a property-based test")


def case(mode="GRU", seq_len=3, **config):
    """Distinguishable by every variant that applies: several steps and units, biases, a given h_0."""
    config = Config(mode, **{"input_size": 3, "hidden_size": 4, **config})
    return Case(config, seq_len=seq_len, batch=2, seed=1, with_h0=True)


GRU, LSTM, RNN = case(), case("LSTM"), case("RNN_TANH")
BIDIRECTIONAL = case(bidirectional=True)

#: dialect id -> (its fault in tests/dialect_faults.py, a case where it shows)
FAULTS = {
    "gru.no_b_hn": ("GruNoBHn", GRU),
    "gru.no_bias_hh": ("NoBiasHh", GRU),
    "gru.reset_before_matmul": ("GruResetBeforeMatmul", GRU),
    "gru.z_inverted": ("GruZInverted", GRU),
    **{
        id_: (fault.__name__, GRU if id_.startswith("gru.") else LSTM)
        for id_, fault in dialect_faults.GATE_ORDERS.items()
    },
    "lstm.forget_bias_plus_one": ("LstmForgetBiasPlusOne", LSTM),
    "lstm.state_order_swapped": ("LstmStateOrderSwapped", LSTM),
    "lstm.no_bias_hh": ("NoBiasHh", LSTM),
    "rnn.nonlinearity_swapped": ("RnnNonlinearitySwapped", RNN),
    "rnn.no_bias_hh": ("NoBiasHh", RNN),
    # h_n of another shape is the runner's to report: (num_layers*D, N, H) with num_layers*D == N
    "layout.h_n_batch_first": ("HnBatchFirst", case(batch_first=True, bidirectional=True)),
    "bidirectional.reverse_not_reversed": ("ReverseNotReversed", BIDIRECTIONAL),
    "bidirectional.halves_swapped": ("HalvesSwapped", BIDIRECTIONAL),
    "bidirectional.h_n_reverse_last_step": ("HnReverseLastStep", BIDIRECTIONAL),
    "stacking.layer_input_is_x": ("LayerInputIsX", case(num_layers=2, input_size=4)),
    "state.h0_ignored": ("H0Ignored", GRU),
    "dtype.float32_arithmetic": ("Float32Arithmetic", GRU),
}


def diagnosed(impl, case) -> dict:
    """The diagnosis of the implementation's mismatch with the oracle on the case."""
    with pytest.raises(Mismatch) as failure:
        assert_matches_oracle(impl, case)
    return diagnosis.of(failure.value)


def test_every_dialect_has_a_fault_and_a_readme_row():
    assert set(FAULTS) == set(dialects.BY_ID)
    assert len(dialects.BY_ID) == len(dialects.VARIANTS)  # the ids are unique
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme[readme.index("## Diagnosis: known dialects") :]
    for id_ in dialects.BY_ID:  # the LSTM's 21 unnamed gate orders are listed by their order alone
        assert f"`{id_}`" in table or f"`{id_.removeprefix('lstm.gate_order_')}`" in table, id_


@pytest.mark.parametrize("variant", sorted(dialects.BY_ID))
def test_fault_is_diagnosed_as_its_dialect(variant):
    fault, case = FAULTS[variant]
    found = diagnosed(resolve(f"tests.dialect_faults:{fault}"), case)
    assert found["matches"] == [variant]
    assert variant in found["tried"] and found["unavailable"] is None


@pytest.mark.parametrize("case", sorted({c for _, c in FAULTS.values()}, key=repr), ids=repr)
def test_manual_matches_the_oracle_on_every_case(case):
    assert_matches_oracle(resolve("manual"), case)


def test_the_note_names_each_match_and_where_real_code_has_it():
    with pytest.raises(Mismatch) as failure:
        assert_matches_oracle(resolve("tests.dialect_faults:GruNoBHn"), GRU)
    assert diagnosis.of(failure.value) is diagnosis.of(failure.value) is failure.value.rnn_diagnosis
    assert failure.value.__notes__ == [
        "diagnosis: the result equals torch's GRU without b_hn (gru.no_b_hn): b_in kept, b_hn (the n block "
        "of bias_hh, inside r * (...)) left out, as in flax's nnx.GRUCell, which has no b_hn (flax#5594)"
    ]


def test_float32_arithmetic_says_how_to_declare_it():
    assert "--rnn-not-claimed=float64" in dialects.BY_ID["dtype.float32_arithmetic"].sentence()


class OffByHalf(Manual):
    """No known dialect: h' - 0.5."""

    def gru_cell(self, x, h, W_ih, W_hh, b_ih, b_hh):
        return super().gru_cell(x, h, W_ih, W_hh, b_ih, b_hh) - 0.5


def test_no_match_says_so_and_keeps_the_gru_gates():
    with pytest.raises(Mismatch) as failure:
        assert_matches_oracle(resolve("tests.test_dialects:OffByHalf"), case(seq_len=1))
    found = diagnosis.of(failure.value)
    assert found["matches"] == [] and "gru.no_b_hn" in found["tried"]
    gates, verdict = failure.value.__notes__[0].splitlines()
    assert gates.startswith("GRU gates: ")
    assert verdict == "diagnosis: no known variant of the equations reproduces this result"


def test_a_failing_diagnosis_is_no_error(monkeypatch):
    def broken(comparison):
        raise ValueError("no oracle today")

    monkeypatch.setattr(dialects, "diagnose", broken)
    with pytest.raises(Mismatch) as failure:
        assert_matches_oracle(resolve("tests.dialect_faults:GruNoBHn"), GRU)
    assert diagnosis.of(failure.value) == {
        "matches": [],
        "tried": [],
        "unavailable": "ValueError: no oracle today",
    }
    assert failure.value.__notes__ == ["diagnosis unavailable: ValueError: no oracle today"]


def test_only_oracle_comparisons_are_diagnosed():
    assert diagnosis.of(ValueError("not a comparison")) is None


def test_weights_are_not_changed():
    weights = GRU.weights
    before = {name: w.copy() for name, w in weights.items()}
    got = run_case(resolve("tests.dialect_faults:GruNoBHn"), GRU)
    tol = tolerance(GRU, got.output)
    comparison = dialects.Comparison(GRU, (got.output, got.h_n), tol, ("output",), weights)
    assert dialects.diagnose(comparison)["matches"] == ["gru.no_b_hn"]
    assert all(np.array_equal(weights[name], before[name]) for name in before)


@pytest.mark.parametrize(
    ("fault", "variant"),
    [("GruCellNoBHn", "gru.no_b_hn"), ("LstmCellStateSwapped", "lstm.state_order_swapped")],
)
def test_cells_are_diagnosed(fault, variant):
    mode = "LSTM" if "Lstm" in fault else "GRU"
    cell = case(mode, seq_len=1, cell=True)
    got = run_case(resolve(f"tests.dialect_faults:{fault}"), cell)
    want = oracle.cell_forward(cell.config, cell.weights, cell.x, cell.h0)
    tol = allowed_error(cell.config, 1, cell.weights, cell.x, cell.h0, want)
    comparison = dialects.Comparison(cell, (None, got.h_n), tol, ("h_n",))
    assert dialects.diagnose(comparison)["matches"] == [variant]


def test_packed_input_is_diagnosed():
    """The variant is evaluated with the clause's lengths."""
    lengths = np.array([3, 2])
    got = run_case(resolve("tests.dialect_faults:ReverseNotReversed"), BIDIRECTIONAL, lengths=lengths)
    c = BIDIRECTIONAL
    tol = tolerance(c, *oracle.forward(c.config, c.weights, c.x, c.h0, lengths))
    comparison = dialects.Comparison(c, (got.output, got.h_n), tol, ("output", "h_n"), lengths=lengths)
    assert dialects.diagnose(comparison)["matches"] == ["bidirectional.reverse_not_reversed"]


def test_a_failing_clause_reports_its_dialect(pytester, tmp_path):
    name, path = "tests.dialect_faults:GruNoBHn", tmp_path / "report.json"
    result, _ = run_suite(pytester, name, "-k", "gru_update", "--hypothesis-seed=0", f"--rnn-report={path}")
    failure = json.loads(path.read_text())["implementations"][name]["clauses"]["gru.update"]["failure"]
    assert "gru.no_b_hn" in failure["diagnosis"]["matches"]
    result.stdout.fnmatch_lines(["diagnosis: the result equals torch's GRU without b_hn (gru.no_b_hn): *"])
