"""The worst error of a conforming clause as a fraction of its allowance (the worst/allowed column
and worst_error_ratio), and a tolerance declared with --rnn-rtol (issue 12, item 5)."""

import json
import pathlib

import numpy as np
import pytest

from conformance.compare import Accuracy, allowed_error, assert_close, measuring
from conformance.spec.config import Config

from .helpers import run_suite

#: TF32 keeps 10 mantissa bits, ~2^-11 relative per operand, ~1e-3 per product: tests.faults:
#: TF32Matmul measured at up to 18x the suite's float32 allowance (RTOL 1e-5, so an rtol of 1.8e-4)
#: over every forward clause with two seeds: 1e-3 leaves it a 5x margin.
TF32_RTOL = "--rnn-rtol=float32:1e-3"
FAST = ("-k", "output_matches_oracle", "--hypothesis-profile=rnn-fast", "--hypothesis-seed=0")


def clause(path, impl: str, clause_id: str = "output.matches_oracle") -> dict:
    return json.loads(pathlib.Path(path).read_text())["implementations"][impl]["clauses"][clause_id]


def test_reference_shows_its_headroom(pytester, tmp_path):
    path = tmp_path / "verdicts.json"
    result, _ = run_suite(pytester, "torch.nn:GRU", *FAST, f"--rnn-report={path}")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "clause * verdict * examples * seconds * worst/allowed * statement",
            "output.matches_oracle * conforms *",
        ]
    )
    entry = clause(path, "torch.nn:GRU")
    assert 0 < entry["worst_error_ratio"] <= 1
    assert entry["worst_error"]["error"] <= entry["worst_error"]["allowance"]
    assert entry["worst_error"]["dtype"] in ("float32", "float64")
    assert "declared_rtol" not in entry
    assert json.loads(path.read_text())["settings"]["declared_rtol"] == {}


def test_a_clause_without_an_allowance_has_no_ratio(pytester, tmp_path):
    path = tmp_path / "verdicts.json"
    args = ("-k", "errors_zero_length", "--hypothesis-profile=rnn-fast", f"--rnn-report={path}")
    result, _ = run_suite(pytester, "torch.nn:GRU", *args)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["errors.zero_length * conforms * - * A sequence of length 0 raises."])
    assert clause(path, "torch.nn:GRU", "errors.zero_length")["worst_error_ratio"] is None


def test_tf32_fails_by_default(pytester, tmp_path):
    path = tmp_path / "verdicts.json"
    result, _ = run_suite(pytester, "tests.faults:TF32Matmul", *FAST, f"--rnn-report={path}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["output.matches_oracle * fails * - *"])
    entry = clause(path, "tests.faults:TF32Matmul")
    assert entry["failure"]["max_error"] > entry["failure"]["tolerance"]
    assert entry["worst_error_ratio"] is None  # a failure's error and allowance are in its report


def test_tf32_conforms_under_a_declared_rtol(pytester, tmp_path):
    path = tmp_path / "verdicts.json"
    result, _ = run_suite(pytester, "tests.faults:TF32Matmul", *FAST, TF32_RTOL, f"--rnn-report={path}")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*declared tolerance: float32 rtol 0.001 (--rnn-rtol): a pass under it is not full conformance*",
            "output.matches_oracle * conforms (declared rtol) * For any configuration*",
            "tests.faults:TF32Matmul: 1 conforms (declared rtol)",
            "conforms (declared rtol): 1 clauses pass only under --rnn-rtol (float32 rtol 0.001): "
            "their worst error is up to *x the suite's own allowance; not full conformance",
        ]
    )
    report = json.loads(path.read_text())
    assert report["settings"]["declared_rtol"] == {"float32": 1e-3}
    entry = clause(path, "tests.faults:TF32Matmul")
    assert entry["verdict"] == "conforms (declared rtol)" and entry["declared_rtol"] == {"float32": 1e-3}
    assert 0 < entry["worst_error_ratio"] <= 1 < entry["worst_error_ratio_derived"]


def test_a_real_defect_still_fails_under_the_declared_rtol(pytester, tmp_path):
    path = tmp_path / "verdicts.json"
    impl = "tests.faults:BiasHhDropped"
    result, _ = run_suite(pytester, impl, *FAST, TF32_RTOL, "--rnn-dtypes=float32", f"--rnn-report={path}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    entry = clause(path, impl)
    assert entry["verdict"] == "fails" and entry["failure"]["max_error"] > entry["failure"]["tolerance"]


@pytest.mark.parametrize(
    "value, message",
    [
        ("float32", "'float32': not DTYPE:RTOL"),
        ("float31:1e-3", "unknown dtype 'float31'"),
        ("float32:tight", "'tight' is not a number"),
        ("float32:-1", "must be finite and looser than the suite's own for float32, 1e-05"),
        ("float32:1e-6", "must be finite and looser than the suite's own for float32, 1e-05"),
        ("float32:1e-3,float32:1e-2", "float32 is declared twice"),
    ],
)
def test_a_bad_declared_rtol_is_a_usage_error(pytester, value, message):
    result, _ = run_suite(pytester, "torch.nn:GRU", f"--rnn-rtol={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --rnn-rtol: *{message}*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_declared_rtol_takes_the_place_of_the_suites_own():
    """allowed = max(RTOL[dtype], declared) * magnitude * sqrt(steps * num_layers), noted as used
    only where an error needed more than the suite's own allowance."""
    config = Config(mode="GRU", input_size=2, hidden_size=3, dtype="float32")
    weights = {"weight_ih_l0": np.ones((9, 2)), "weight_hh_l0": np.ones((9, 3))}
    derived = allowed_error(config, 4, weights)
    with measuring(Accuracy({"float32": 1e-3})) as accuracy:
        loose = allowed_error(config, 4, weights)
        float64 = allowed_error(config.replace(dtype="float64"), 4, weights)
        assert_close(
            np.zeros(3), np.full(3, derived / 2), loose, what="output", axes=("unit",), dtype="float32"
        )
    assert loose == pytest.approx(100 * derived) and loose.derived == derived
    assert float64 == allowed_error(config.replace(dtype="float64"), 4, weights)
    assert accuracy.as_dict()["declared"] == {} and accuracy.ratio == pytest.approx(0.005)
    with measuring(accuracy):
        assert_close(
            np.zeros(3), np.full(3, 2 * derived), loose, what="output", axes=("unit",), dtype="float32"
        )
    assert accuracy.as_dict()["declared"] == {"float32": 1e-3} and accuracy.derived_ratio == pytest.approx(2)
