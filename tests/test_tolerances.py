"""The tolerance policy (conformance/compare.py) leaves a correct implementation a wide margin:
torch.nn on the CPU stays at least 10x inside the allowed error, in float64, float32, and in
bfloat16 and float16 (torch 2.13 runs RNN and GRU in both on the CPU)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from conformance.compare import allowed_error
from conformance.registry import resolve
from conformance.runner import run_case
from conformance.spec import oracle
from conformance.spec.config import MODES
from conformance.strategies import cases, configs

MARGIN = 10


@pytest.mark.parametrize("dtype", ["float32", "float64", "bfloat16", "float16"])
def test_torch_stays_well_inside_the_tolerance(dtype):
    impl = resolve("torch")
    worst = []

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(case=cases(configs(MODES, dtype=dtype)))
    def check(case):
        got = run_case(impl, case)
        want = oracle.forward(case.config, case.weights, case.x, case.h0)
        tol = allowed_error(case.config, case.seq_len, case.weights, case.x, case.h0, *want)
        used = max(np.max(np.abs(got.output - want[0]), initial=0), np.max(np.abs(got.h_n - want[1]), initial=0)) / tol
        worst.append(used)
        assert used * MARGIN <= 1, f"torch.nn used {used:.3g} of the allowed error on {case}"

    check()
    assert len(worst) >= 100
