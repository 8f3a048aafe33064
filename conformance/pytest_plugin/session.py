"""A run's state (Session, in config.stash) and one clause test's progress (Progress, in item.stash)."""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import settings

from .. import capabilities, profiles
from ..capabilities import claimed_dtypes
from ..case import Case
from ..compare import Accuracy
from ..spec.clauses import CLAUSES
from .isolation import why_not
from .options import BUDGET, RTOL, SHARD, Options, declared
from .scope import SkipsFile, decide
from .verdicts import record

#: a run estimated to take longer than this at the rate of its first clause says so, and how to shorten it
SLOW_RUN = 300.0
CLAUSE_OF_TEST = {spec.test_name: spec.id for spec in CLAUSES.values()}


def clause_of(nodeid: str) -> tuple[str | None, str]:
    """(clause id, implementation name) of a clause test's node id (None: not a clause test)."""
    name, _, param = nodeid.rpartition("::")[2].partition("[")
    return CLAUSE_OF_TEST.get(name), param.removesuffix("]")


SESSION = pytest.StashKey["Session"]()
PROGRESS = pytest.StashKey["Progress"]()


@dataclass(eq=False)  # registered as a plugin: hashable, by identity
class Session:
    """What one run knows: its options, the skips file, the implementations (resolved once) and the
    records of every clause test's reports (from xdist workers too), per (implementation, clause)."""

    options: Options
    skips: SkipsFile
    records: defaultdict = field(default_factory=lambda: defaultdict(list))
    impls: list | None = None
    usage_error: str | None = None  # under xdist: why the workers could not use --rnn-impl
    expected: dict = field(default_factory=dict)  # node id -> (implementation, clause): tests to run
    budgets: dict = field(default_factory=dict)  # implementation -> Budget, in this process
    stopped: str | None = None  # why the run stopped early
    incomplete: str | None = None  # why the verdicts are not all there (set at the end)
    warned_slow: bool = False
    terminal: object = None  # pytest's terminal reporter, for the one early warning
    shard: dict | None = None  # --rnn-shard: which tests this shard runs, of which (shards.metadata)

    @classmethod
    def start(cls, config) -> Session:
        """After Hypothesis's plugin has loaded --hypothesis-profile; bad options are UsageErrors."""
        options = Options.read(config)
        session = cls(options, SkipsFile.read(options.skips))
        if options.database:
            share_database(config, options.database)
        return session

    def implementations(self) -> list:
        """The --rnn-impl implementations, resolved once (importing them, torch included, takes a
        second or more); a bad name, module or capability is a UsageError."""
        if self.impls is None:
            self.impls = [self.resolve(name) for name in self.options.impls]
        return self.impls

    def resolve(self, name: str):
        from ..registry import ResolveError, resolve  # imports torch

        try:
            return resolve(name, **self.options.resolve_options())
        except ResolveError as e:
            raise pytest.UsageError(f"--rnn-impl: {e}") from None
        except capabilities.CapabilityError as e:  # an adapter's not_claimed
            raise pytest.UsageError(str(e)) from None

    def collected(self, items, workers: int = 1) -> None:
        """The clause tests this process runs (after -k, -m): each implementation's budget is shared
        out across those that are in scope; under xdist a worker expects its share of them."""
        in_scope = defaultdict(int)
        for item in items:
            props = dict(item.user_properties)
            if "rnn_clause" in props:
                self.expected[item.nodeid] = (props["rnn_impl"], props["rnn_clause"])
                in_scope[props["rnn_impl"]] += "rnn_scope" not in props
        if self.options.budget:
            for impl, count in in_scope.items():
                self.budgets[impl] = Budget(self.options.budget, math.ceil(count / workers))

    def expect(self, nodeids) -> None:
        """The xdist controller: the node ids a worker collected."""
        for nodeid in nodeids:
            clause_id, impl = clause_of(nodeid)
            if clause_id:
                self.expected[nodeid] = (impl, clause_id)

    def unrun(self) -> dict:
        """(impl, clause id) -> the record of a clause whose collected tests left none (an interrupted
        or stopped run): the verdict of its scope where it is out of scope, else "not run"."""
        impls = {impl.name: impl for impl in self.impls or ()}
        done = {key for key, recs in self.records.items() if any(recs)}
        out = {}
        for nodeid, key in self.expected.items():
            if key in done or key in out:
                continue
            impl = impls.get(key[0])
            out_of_scope = decide(CLAUSES[key[1]], impl, nodeid, self.skips) if impl else None
            out[key] = (
                {"verdict": out_of_scope.scope.verdict, "reason": out_of_scope.reason, "nodeid": nodeid}
                if out_of_scope
                else {"verdict": "not run", "nodeid": nodeid}
            )
        return out

    def share(self, impl: str) -> float | None:
        budget = self.budgets.get(impl)
        return None if budget is None else budget.share()

    def finished(self, impl: str, seconds: float) -> None:
        if impl in self.budgets:
            self.budgets[impl].finish(seconds)

    def pytest_keyboard_interrupt(self, excinfo):
        self.stopped = str(excinfo.value) or f"interrupted ({excinfo.typename})"

    def pytest_runtest_logreport(self, report):
        """Every clause test's reports, on the controller (or the only process): from xdist workers too."""
        props = dict(report.user_properties) or worker_crash(report)
        if "rnn_clause" in props:
            self.records[(props["rnn_impl"], props["rnn_clause"])].append(record(report, props))
            if report.when == "call":
                self.finished(props["rnn_impl"], report.duration)
            self.warn_if_slow(report, props)

    def warn_if_slow(self, report, props) -> None:
        """Once, after the first clause that ran examples: how long the run takes at this rate."""
        examples = props.get("rnn_examples", 0)
        if self.warned_slow or self.options.budget or report.when != "call" or not examples:
            return
        self.warned_slow = True
        per_example = report.duration / examples
        impl = props["rnn_impl"]
        left = sum(1 for key in self.expected.values() if key[0] == impl and key not in self.records)
        estimate = per_example * settings.default.max_examples * left / self.workers
        if estimate > SLOW_RUN and self.terminal is not None:
            self.terminal.write("\n")  # after the progress characters of -q
            self.terminal.write_line(
                f"rnn-conformance: {props['rnn_impl']} took {report.duration:.0f} s for {examples} examples "
                f"of {props['rnn_clause']} ({per_example:.2f} s each): at this rate its other {left} clause "
                f"tests take about {estimate / 60:.0f} min; {BUDGET}=SECONDS shares out a time limit "
                "across them",
                yellow=True,
                bold=True,
            )

    workers = 1  # xdist workers (set on the controller)

    def header(self, controller: bool) -> list[str]:
        """The report header's lines; ``controller``: the xdist controller, which resolves nothing yet."""
        impls = [] if controller else self.implementations()
        lines = suite_lines(self.options.impls, impls, controller) if self.options.impls else []
        lines += [
            f"  {impl.name} does not claim: {', '.join(sorted(impl.not_claimed))} "
            "(not drawn; clauses only about them: not claimed)"
            for impl in impls
            if impl.not_claimed
        ]
        if self.options.time_limit:
            lines.append(
                f"  time limit per implementation call: {self.options.time_limit:g} s (--rnn-timeout)"
            )
        for impl in impls:
            why = why_not(impl, self.options.isolation)
            lines.append(
                f"  {impl.name}: clause tests in a forked child process, a new one after a crash (torch on 1 "
                "CPU thread there; --rnn-isolation=thread runs them here)"
                if why is None
                else f"  {impl.name}: clause tests run in this process ({why}): a crash ends the run"
            )
        if self.options.shard:
            shard = self.options.shard
            lines.append(
                f"  shard {shard} ({SHARD}): a deterministic 1/{shard.count} of the "
                "clause tests, balanced by their measured cost; merge the reports with rnn-conformance merge"
            )
        if self.options.budget:
            lines.append(f"  time budget per implementation: {self.options.budget:g} s (--rnn-budget)")
        if self.options.declared_rtol:
            lines.append(
                f"  declared tolerance: {declared(self.options.declared_rtol)} ({RTOL}): a pass under it is "
                "not full conformance (such clauses read 'conforms (declared rtol)')"
            )
        return lines


def suite_lines(names, impls, controller: bool) -> list[str]:
    from importlib.metadata import version

    import hypothesis

    lines = [
        f"rnn-conformance: torch {version('torch')}, hypothesis {hypothesis.__version__}, "
        f"numpy {version('numpy')}"
    ]
    if controller:  # not resolved yet (see XdistHooks.pytest_collection): the verdict tables say more
        lines.append(f"  implementations {', '.join(names)}, resolved by each xdist worker")
        lines.append(f"  OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} in each worker")
    for impl in impls:
        lines.append(
            f"  implementation {impl.name}: {impl.description}; {'cell ' if impl.is_cell else ''}"
            f"modes {', '.join(sorted(impl.modes))}; dtypes checked {', '.join(sorted(claimed_dtypes(impl)))}"
        )
        reason = impl.unavailable()
        if reason:
            lines.append(f"    unavailable, its clauses are skipped: {reason}")
    s, profile = settings.default, settings.get_current_profile_name()
    lines.append(
        f"  hypothesis profile {profile!r}: max_examples={s.max_examples}, "
        f"derandomize={s.derandomize}; the clauses have no deadline (a slow example is not a failure)"
    )
    return lines


def share_database(config, url: str) -> None:
    """Layer the shared example database onto the profile in force, for this run only."""
    before = settings.get_current_profile_name()
    try:
        profiles.share_database(url)
    except ValueError as e:
        raise pytest.UsageError(f"--rnn-database: {e}") from None
    config.add_cleanup(lambda: settings.load_profile(before))  # an in-process run (pytester) goes on


def worker_crash(report) -> dict:
    """The properties of a clause test whose xdist worker died running it (xdist's report has none)."""
    clause_id, impl = clause_of(report.nodeid)
    if not (clause_id and report.failed and "crashed while running" in str(report.longrepr)):
        return {}
    failure = {"kind": "crashed", "message": f"{report.longrepr} (the process running the test died)"}
    return {"rnn_clause": clause_id, "rnn_impl": impl, "rnn_failure": failure}


@dataclass
class Budget:
    """--rnn-budget for one implementation in this process: each clause test gets an equal share of
    what is left when it starts (a clause that finishes early leaves more for the others)."""

    total: float
    clauses: int  # the clause tests this process expects to run for it
    spent: float = 0.0
    finished: int = 0

    def share(self) -> float:
        return max(0.0, self.total - self.spent) / max(1, self.clauses - self.finished)

    def finish(self, seconds: float) -> None:
        self.spent += seconds
        self.finished += 1


class Progress:
    """What a clause test has done so far, for its report: the examples run (every call of its body),
    the number of the first that failed (before shrinking), the cases drawn by the latest; with
    --rnn-budget its share of seconds, and whether the share cut it; its comparisons' accuracy
    (compare.Accuracy, with the rtols declared by --rnn-rtol)."""

    def __init__(self, share: float | None = None, beacon=None, declared_rtol=()):
        self.beacon = beacon  # in a forked clause test: what the test process reads if this one dies
        self.accuracy = Accuracy(dict(declared_rtol))
        self.examples = 0
        self.first_failure: int | None = None
        self.draws: list = []  # (label, value): the latest example's draws; after a failure, the shrunk one's
        self.share, self.started, self.cut = share, time.monotonic(), False
        self.failure: tuple | None = None  # (the latest failure, its draws): what a cut still reports

    def start_example(self) -> None:
        self.examples += 1
        self.draws.clear()
        if self.beacon is not None:
            self.beacon.example(self.examples)

    def spent(self) -> bool:
        """Its budget share is spent (one example always runs)."""
        return self.share is not None and self.examples > 0 and time.monotonic() - self.started > self.share

    @property
    def cases(self) -> list:
        """The cases among the draws."""
        return [value for _, value in self.draws if isinstance(value, Case)]

    def drew(self, label, value) -> None:
        self.draws.append((label, value))
        if self.beacon is not None:
            self.beacon.drew(self.draws)

    def failed(self, error: BaseException | None = None) -> None:
        if self.first_failure is None:
            self.first_failure = self.examples
        self.failure = (error, list(self.draws))

    def __repr__(self):  # Hypothesis prints it with the falsifying example's arguments
        return "<rnn_progress>"
