"""Benchmark (not a test): wall time and examples/s of a default run per reference implementation,
the serial vs pytest-xdist speed-up, and where the time goes (oracle, implementation, harness).

    python benchmarks/bench.py                  # everything, default Hypothesis profile
    python benchmarks/bench.py --only floor     # one section: floor, runs, xdist, isolation, split,
                                                # calibration, catalogue
    python benchmarks/bench.py --profile rnn-fast
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's conformance and tests, in the runs made in this process
REFERENCES = ["torch.nn:GRU", "torch.nn:RNN", "torch", "manual"]


def pytest_args(impl: str, *args: str) -> list[str]:
    """The arguments of ``pytest --pyargs conformance --rnn-impl=impl``, quiet, and ``args``."""
    return ["--pyargs", "conformance", f"--rnn-impl={impl}", "-q", "-p", "no:warnings", *args]


def pytest_command(impl: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *pytest_args(impl, *args)]


def pytest_run(impl: str, *args: str) -> tuple[float, int, int]:
    """Wall seconds, examples run, exit code of ``pytest --pyargs conformance --rnn-impl=impl``."""
    cmd = pytest_command(impl, "--hypothesis-show-statistics", *args)
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - start
    # "N passing examples, M failing examples" (older Hypothesis) or "N passing, M failing, and ..." (newer)
    examples = sum(int(n) for n in re.findall(r"(\d+) passing\b", proc.stdout))
    examples += sum(int(n) for n in re.findall(r"(\d+) failing\b", proc.stdout))
    return wall, examples, proc.returncode


def table(title: str, header: list[str], rows: list[list]):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    print(f"\n{title}")
    for row in [header, ["-" * w for w in widths], *rows]:
        print(
            "  "
            + "  ".join(
                str(x).rjust(w) if i else str(x).ljust(w) for i, (x, w) in enumerate(zip(row, widths))
            )
        )


def section_runs(profile: str):
    rows = []
    for impl in REFERENCES:
        wall, examples, rc = pytest_run(impl, f"--hypothesis-profile={profile}")
        rows.append(
            [impl, f"{wall:.1f}", examples, f"{examples / wall:.0f}", "pass" if rc == 0 else f"rc={rc}"]
        )
    table(
        f"Default run per reference implementation (profile {profile}, serial, wall includes start-up)",
        ["implementation", "wall s", "examples", "examples/s", "verdict"],
        rows,
    )


def alternated(impl: str, first: list[str], second: list[str], repeats: int) -> tuple[list, list]:
    """``repeats`` pairs of runs of ``impl`` with the ``first`` then the ``second`` arguments, each
    with the same seed (the same examples): the machine's drift falls on both alike."""
    seed = "--hypothesis-seed=0"
    a, b = [], []
    for _ in range(repeats):
        a.append(pytest_run(impl, seed, *first))
        b.append(pytest_run(impl, seed, *second))
    return a, b


def compared(impl: str, a: list, b: list) -> list:
    """A table row: medians of the two kinds of run, their ratio, each run's wall, the examples."""
    from statistics import median

    ma, mb = median(w for w, _, _ in a), median(w for w, _, _ in b)
    runs = [" ".join(f"{w:.1f}" for w, _, _ in runs) for runs in (a, b)]
    return [impl, f"{ma:.1f}", f"{mb:.1f}", f"{ma / mb:.2f}x", *runs, f"{a[0][1]} / {b[0][1]}"]


def section_xdist(profile: str, repeats: int = 3):
    """Serial and -n 2 runs alternated ``repeats`` times; medians (the machine's own noise is a
    few seconds)."""
    profile_arg = f"--hypothesis-profile={profile}"
    rows = [
        compared(impl, *alternated(impl, [profile_arg], [profile_arg, "-n", "2"], repeats))
        for impl in ["torch.nn:GRU", "torch"]
    ]
    table(
        f"Serial vs pytest -n 2 (same seed; medians of {repeats} alternated runs)",
        ["implementation", "serial s", "-n 2 s", "speed-up", "serial runs", "-n 2 runs", "examples"],
        rows,
    )


def section_isolation(profile: str, repeats: int = 5):
    """The cost of running each clause test in a forked child (--rnn-isolation=process, the
    default) against running them in the test process (thread): alternated runs, medians."""
    profile_arg = f"--hypothesis-profile={profile}"
    impl = "torch.nn:GRU"
    forked, here = alternated(
        impl, [profile_arg, "--rnn-isolation=process"], [profile_arg, "--rnn-isolation=thread"], repeats
    )
    table(
        f"Isolation: each clause test forked vs in the test process (same seed; medians of {repeats} "
        "alternated runs; ratio > 1 is the cost)",
        ["implementation", "forked s", "in-process s", "ratio", "forked runs", "in-process runs", "examples"],
        [compared(impl, forked, here)],
    )


class Timers:
    """A pytest plugin that splits the clause tests' time: Hypothesis's engine (everything outside
    the clause's body), drawing (the strategies, through the labelled draws), the oracle (forward
    and the gradients' complex steps), the implementation (building it, calling it, its backward)
    and the rest of the suite (case arrays, tensors in and out, comparisons)."""

    FIELDS = ("hypothesis", "drawing", "oracle", "implementation", "suite")

    def __init__(self):
        self.calls = self.body = self.drawing = self.oracle = self.implementation = 0.0
        self.examples = 0
        self.depth = 0  # the oracle and the implementation are each timed once, at the outermost call
        self.per_test = {}  # test name -> the same totals for that test alone (a Timers each)
        self.before = self.totals()

    def timed(self, fn, field):
        @functools.wraps(fn)  # keeps the built callable's attributes (its `parameters`, for gradients)
        def wrapper(*args, **kwargs):
            if self.depth:
                return fn(*args, **kwargs)
            self.depth += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.depth -= 1
                setattr(self, field, getattr(self, field) + time.perf_counter() - start)

        return wrapper

    def pytest_configure(self, config):
        from conformance import gradients, registry, runner
        from conformance.clauses import _helpers
        from conformance.spec import oracle

        oracle.forward = self.timed(oracle.forward, "oracle")
        gradients.Probe.derivatives = self.timed(gradients.Probe.derivatives, "oracle")
        _helpers.Draws.draw = self.timed(_helpers.Draws.draw, "drawing")
        # build, call and backpropagate (build and call are timed on their own as well, for the
        # clauses that call without gradients; the outermost timer counts, once)
        runner.backward = self.timed(runner.backward, "implementation")
        # a constructor the errors clauses expect to refuse is the implementation's too
        registry.Implementation.construct = self.timed(registry.Implementation.construct, "implementation")
        build = registry.Implementation.build
        registry.Implementation.build = lambda impl, config, weights: self.timed(
            self.timed(build, "implementation")(impl, config, weights), "implementation"
        )
        measuring = _helpers.measuring  # around the clause's body, once per example

        @contextlib.contextmanager
        def body(accuracy):
            self.examples += 1
            start = time.perf_counter()
            try:
                with measuring(accuracy):
                    yield
            finally:
                self.body += time.perf_counter() - start

        _helpers.measuring = body

    def pytest_runtest_logreport(self, report):
        if report.when == "call":
            self.calls += report.duration
            now = self.totals()
            one = self.per_test[report.nodeid.rpartition("::")[2].partition("[")[0]] = Timers()
            for field, value in now.items():
                setattr(one, field, value - self.before[field])
            self.before = now

    def totals(self) -> dict[str, float]:
        fields = ("calls", "body", "drawing", "oracle", "implementation", "examples")
        return {field: getattr(self, field) for field in fields}

    def split(self) -> dict[str, float]:
        inner = self.drawing + self.oracle + self.implementation
        return dict(
            hypothesis=self.calls - self.body,
            drawing=self.drawing,
            oracle=self.oracle,
            implementation=self.implementation,
            suite=self.body - inner,
        )


def split_run(impl: str, profile: str) -> Timers:
    """One default run of ``impl`` in this process (the clock must run where the clauses do)."""
    import pytest

    timers = Timers()
    with contextlib.redirect_stdout(io.StringIO()):  # its verdicts are the runs section's to show
        pytest.main(
            pytest_args(
                impl,
                f"--hypothesis-profile={profile}",
                "--hypothesis-seed=0",
                "--rnn-isolation=thread",
                "--rnn-timeout=0",  # calls in place, as in the default forked run (no call thread)
            ),
            plugins=[timers],
        )
    return timers


def hypothesis_alone(repeats: int = 5) -> float:
    """Milliseconds per example that Hypothesis itself takes to run a test which draws one of this
    suite's default GRU cases (float32 or float64) through ``data.draw`` and does nothing with it:
    its engine and the draws, with nothing of the suite's and no implementation. Medians of
    ``repeats`` runs of 100 examples, derandomized."""
    from statistics import median

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from conformance.strategies import case_strategy

    cases = case_strategy(("GRU",), ("float32", "float64"), {})

    @settings(
        max_examples=100,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def draws_a_case(data):
        data.draw(cases, label="case")

    def timed():
        start = time.perf_counter()
        draws_a_case()
        return time.perf_counter() - start

    return median(timed() for _ in range(repeats)) * 1e3 / 100


#: The clauses that check what the calibration's five properties check (benchmarks/calibration.py)
CALIBRATED_CLAUSES = (
    "test_output_matches_oracle",
    "test_state_h_n_matches_oracle",
    "test_state_h0_used",
    "test_layout_batch_first",
    "test_invariance_deterministic",
)


def per_example_row(name: str, timers: Timers) -> list:
    parts = timers.split()
    per = 1e3 / max(timers.examples, 1)
    return (
        [name, timers.examples, f"{per * timers.calls:.2f}"]
        + [f"{per * parts[f]:.2f}" for f in Timers.FIELDS]
        + [f"{100 * parts['implementation'] / timers.calls:.0f}%"]
    )


def section_split(profile: str):
    rows, per_example = [], []
    for impl in ["torch.nn:GRU", "manual"]:
        timers = split_run(impl, profile)
        if impl == "torch.nn:GRU":
            calibrated = [per_example_row(name, timers.per_test[name]) for name in CALIBRATED_CLAUSES]
        parts = timers.split()
        rows.append(
            [impl, f"{timers.calls:.2f}", timers.examples]
            + [f"{parts[f]:.2f} ({100 * parts[f] / timers.calls:.0f}%)" for f in Timers.FIELDS]
        )
        per_example.append(
            [impl, f"{1e3 * timers.calls / timers.examples:.2f}"]
            + [f"{1e3 * parts[f] / timers.examples:.2f}" for f in Timers.FIELDS]
        )
    table(
        "Where the time goes inside the clauses (seconds, thread isolation: the clocks run in this process)",
        ["implementation", "clauses s", "examples", *Timers.FIELDS],
        rows,
    )
    table("The same, milliseconds per example", ["implementation", "clauses", *Timers.FIELDS], per_example)
    table(
        "torch.nn:GRU: the clauses that check what the calibration's five properties check "
        "(--only calibration), milliseconds per example",
        ["clause", "examples", "clause", *Timers.FIELDS, "implementation share"],
        calibrated,
    )
    table(
        "Hypothesis alone: a test that draws one default GRU case and does nothing with it (ms per example)",
        ["ms per example"],
        [[f"{hypothesis_alone():.2f}"]],
    )


def startup() -> float:
    """Seconds of a run that collects the clauses and runs none: interpreter, imports, plugin."""
    start = time.perf_counter()
    subprocess.run(pytest_command("torch.nn:GRU", "--collect-only"), cwd=ROOT, capture_output=True)
    return time.perf_counter() - start


def section_floor(profile: str, repeats: int = 5):
    """The default run of torch.nn:GRU against its floor: start-up plus the implementation's own
    time (what a run would cost if drawing, the oracle and the harness were free); medians of
    ``repeats`` runs, --hypothesis-seed=0."""
    from statistics import median

    runs = [
        pytest_run("torch.nn:GRU", f"--hypothesis-profile={profile}", "--hypothesis-seed=0")
        for _ in range(repeats)
    ]
    walls = sorted(w for w, _, _ in runs)
    examples = runs[0][1]
    start = median(startup() for _ in range(repeats))
    timers = split_run("torch.nn:GRU", profile)
    floor = start + timers.implementation
    wall = median(walls)
    table(
        f"torch.nn:GRU default run (profile {profile}, --hypothesis-seed=0, serial; medians of {repeats})",
        [
            "wall s",
            "runs",
            "examples",
            "examples/s",
            "start-up s",
            "implementation s",
            "floor s",
            "wall / floor",
        ],
        [
            [
                f"{wall:.1f}",
                " ".join(f"{w:.1f}" for w in walls),
                examples,
                f"{examples / wall:.0f}",
                f"{start:.1f}",
                f"{timers.implementation:.1f}",
                f"{floor:.1f}",
                f"{wall / floor:.2f}",
            ]
        ],
    )


def section_calibration(profile: str):
    """The issue's calibration: five plain Hypothesis properties of torch.nn.GRU, no harness
    (benchmarks/calibration.py); the default profile's 100 examples whatever ``profile`` says."""
    from calibration import HEADER, run

    table(
        "Calibration: five plain Hypothesis properties of torch.nn.GRU, no harness (medians of 5 runs, "
        "seed 0; milliseconds per example)",
        HEADER,
        run(),
    )


def catch(fault: str, clauses: set, profile: str, seed: int, only) -> tuple[list, int | None]:
    """[fault, clauses that failed (of those it must fail), examples the first of them needed, wall s,
    verdict], and that number of examples (None: not caught). Only the clauses that must catch the
    fault run (``only``: tests/helpers.only): a clause test's examples depend on its seed alone."""
    import json
    import os
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp, "report.json")
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        start = time.perf_counter()
        cmd = pytest_command(
            fault,
            f"--hypothesis-profile={profile}",
            f"--hypothesis-seed={seed}",
            f"--rnn-report={report}",
            *only(clauses),
        )
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        entries = (
            json.loads(report.read_text())["implementations"][fault]["clauses"] if report.exists() else {}
        )
    needed = {
        c: e["failure"].get("first_failing_example")
        for c, e in entries.items()
        if c in clauses and e["verdict"] == "fails"
    }
    first = min(needed, key=lambda c: needed[c] or 0, default=None)
    verdict = "caught" if needed else f"NOT CAUGHT (rc={proc.returncode})"
    row = [
        fault.split(":")[1],
        ", ".join(sorted(needed)) or "-",
        f"{needed[first]} ({first})" if first else "-",
        f"{wall:.1f}",
        verdict,
    ]
    return row, needed[first] if first else None


def section_catalogue(profile: str, seed: int = 0):
    """Every fault through --rnn-impl, two at a time; the catalogue profile (default minus
    shrinking) unless --profile says otherwise."""
    from concurrent.futures import ThreadPoolExecutor
    from statistics import median

    from tests.faults import CATALOGUE
    from tests.helpers import only

    profile = "catalogue" if profile == "default" else profile
    start = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        rows, needed = zip(
            *pool.map(lambda f: catch(f, CATALOGUE[f], profile, seed, only), sorted(CATALOGUE))
        )
    table(
        f"Fault catalogue under profile {profile}, --hypothesis-seed={seed} "
        f"({time.perf_counter() - start:.0f} s in all, two at a time)",
        [
            "fault",
            "fails (of the clauses that must catch it)",
            "examples needed (first clause)",
            "wall s",
            "verdict",
        ],
        rows,
    )
    caught = [n for n in needed if n is not None]
    print(
        f"  caught {len(caught)} of {len(rows)}; examples to kill (first failing example of the first "
        f"clause to fail): median {median(caught) if caught else '-'}, "
        f"mean {sum(caught) / max(len(caught), 1):.1f}, max {max(caught, default='-')}"
    )


SECTIONS = {
    "floor": section_floor,
    "runs": section_runs,
    "xdist": section_xdist,
    "isolation": section_isolation,
    "split": section_split,
    "calibration": section_calibration,
    "catalogue": section_catalogue,
}

if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="default")
    parser.add_argument("--only", choices=sorted(SECTIONS), action="append")
    args = parser.parse_args()
    import os

    print(f"machine: {os.cpu_count()} CPUs; python {sys.version.split()[0]}")
    for name in args.only or list(SECTIONS):
        SECTIONS[name](args.profile)
