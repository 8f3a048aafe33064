"""The speed issue's calibration (a benchmark, not a test): five plain Hypothesis properties of
torch.nn.GRU, with none of the suite's harness, and where their time goes.

Issue 14 set its targets against "five plain Hypothesis properties (100 examples each, the same
implementations)". This rebuilds them on the suite's own case strategy and oracle, so that they
draw the examples a clause draws, and times them as ``bench.py --only split`` times the clauses:
the implementation (building torch.nn.GRU, loading the weights, calling it), the oracle, and the
rest (Hypothesis's engine, drawing, arrays, comparing). No labelled draws, no report, no
tolerance derivation, no shape or crash checks: the cheapest a property-based check can be.

    python benchmarks/calibration.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: float32 tolerances a user would write by hand; the cases' outputs are bounded by about 1 (GRU)
TOLERANCE = {"float32": 2e-3, "float64": 1e-9}


class Clock:
    """Seconds spent in the implementation and in the oracle, and examples run, per property."""

    def __init__(self):
        self.implementation = self.oracle = 0.0
        self.examples = 0

    def timed(self, field: str, fn, *args):
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            setattr(self, field, getattr(self, field) + time.perf_counter() - start)


def gru(clock: Clock, case, x=None, batch_first=None):
    """torch.nn.GRU built for the case, with its weights, called on its x (or ``x``) and h_0:
    (output, h_n) as float64 arrays. Only building and calling count as the implementation's time,
    as in the suite's split; making its tensors and reading its results are the rest."""
    import torch

    c = case.config
    kwargs = c.module_kwargs() | ({} if batch_first is None else {"batch_first": batch_first})
    weights = {n: torch.from_numpy(np.array(w, dtype=c.dtype)) for n, w in case.weights.items()}
    args = [
        torch.from_numpy(np.array(a, dtype=c.dtype))
        for a in (case.x if x is None else x, case.h0)
        if a is not None
    ]

    def build_and_call():
        module = torch.nn.GRU(**kwargs).to(getattr(torch, c.dtype)).eval()
        module.load_state_dict(weights)
        with torch.no_grad():
            return module(*args)

    output, h_n = clock.timed("implementation", build_and_call)
    return output.double().numpy(), h_n.double().numpy()


def properties(clock: Clock, max_examples: int = 100) -> dict:
    """The five properties, as Hypothesis tests that count their examples on ``clock``."""
    from hypothesis import HealthCheck, given, seed, settings

    from conformance.spec import layout, oracle
    from conformance.strategies import case_strategy

    def cases(**pins):
        return case_strategy(("GRU",), ("float32", "float64"), pins)

    def plain(strategy):
        """@given(strategy), 100 examples, seed 0: the same examples in every run, as the split's
        --hypothesis-seed=0 gives the clauses."""
        options = settings(
            max_examples=max_examples, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        return lambda test: seed(0)(options(given(strategy)(test)))

    def close(case, got, want):
        tol = TOLERANCE[case.config.dtype]
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)

    def against_oracle(case):
        clock.examples += 1
        got = gru(clock, case)
        want = clock.timed("oracle", oracle.forward, case.config, case.weights, case.x, case.h0)
        return got, want

    @plain(cases())
    def output_matches_oracle(case):
        (output, _), (want, _) = against_oracle(case)
        close(case, output, want)

    @plain(cases())
    def h_n_matches_oracle(case):
        (_, h_n), (_, want) = against_oracle(case)
        close(case, h_n, want)

    @plain(cases(with_h0=True))
    def h0_used(case):
        got, want = against_oracle(case)
        close(case, got[0], want[0])
        close(case, got[1], want[1])

    @plain(cases(batch_first=False, unbatched=False))
    def batch_first(case):
        clock.examples += 1
        time_major, _ = gru(clock, case)
        config = case.config.replace(batch_first=True)
        rows_first, _ = gru(clock, case, layout.from_time_major(config, case.x), True)
        close(case, layout.to_time_major(config, rows_first), time_major)

    @plain(cases())
    def deterministic(case):
        clock.examples += 1
        first, _ = gru(clock, case)
        again, _ = gru(clock, case)
        np.testing.assert_array_equal(first, again)

    return {
        "output matches the oracle": output_matches_oracle,
        "h_n matches the oracle": h_n_matches_oracle,
        "a given h_0 is used": h0_used,
        "batch_first is the transpose (2 calls)": batch_first,
        "deterministic (2 calls)": deterministic,
    }


def run(max_examples: int = 100, repeats: int = 5) -> list[list]:
    """Each property run ``repeats`` times (after a short warm-up run of each, not counted), a
    table row each for its median run (see ``row``), then the five medians' total."""
    for name in properties(Clock()):  # warm-up: imports and first calls
        timed_run(name, max_examples=2)
    rows, total = [], (0, 0.0, 0.0, 0.0)
    for name in properties(Clock()):
        runs = sorted((timed_run(name, max_examples) for _ in range(repeats)), key=lambda r: r[1])
        rows.append(row(name, *runs[repeats // 2]))
        total = tuple(t + v for t, v in zip(total, runs[repeats // 2]))
    rows.append(row("all five", *total))
    return rows


def timed_run(name: str, max_examples: int) -> tuple[int, float, float, float]:
    """One run of the property ``name``: examples, seconds, seconds in the implementation and in the
    oracle. A failure (a false alarm of the hand-written tolerances) is an error of the benchmark."""
    clock = Clock()
    test = properties(clock, max_examples)[name]
    start = time.perf_counter()
    test()
    return clock.examples, time.perf_counter() - start, clock.implementation, clock.oracle


def row(name: str, examples: int, wall: float, implementation: float, oracle: float) -> list:
    """[property, examples, seconds, then per example: all, implementation, oracle, the rest (ms);
    the implementation's share of the time]."""
    per = 1e3 / max(examples, 1)
    rest = wall - implementation - oracle
    return [
        name,
        examples,
        f"{wall:.2f}",
        f"{wall * per:.2f}",
        f"{implementation * per:.2f}",
        f"{oracle * per:.2f}",
        f"{rest * per:.2f}",
        f"{100 * implementation / wall:.0f}%",
    ]


HEADER = [
    "property",
    "examples",
    "s",
    "ms/example",
    "implementation",
    "oracle",
    "rest",
    "implementation share",
]


if __name__ == "__main__":
    from bench import table

    table("Five plain Hypothesis properties of torch.nn.GRU (no harness)", HEADER, run())
