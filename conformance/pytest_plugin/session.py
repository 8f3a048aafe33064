"""A run's state (Session, in config.stash) and one clause test's progress (Progress, in item.stash)."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass, field

import pytest
from hypothesis import settings

from .. import capabilities, profiles
from .options import Options
from .scope import SkipsFile
from .verdicts import record

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

        o = self.options
        try:
            return resolve(name, o.modes, o.dtypes, not_claimed=o.not_claimed, time_limit=o.time_limit)
        except ResolveError as e:
            raise pytest.UsageError(f"--rnn-impl: {e}") from None
        except capabilities.CapabilityError as e:  # an adapter's not_claimed
            raise pytest.UsageError(str(e)) from None

    def pytest_runtest_logreport(self, report):
        """Every clause test's reports, on the controller (or the only process): from xdist workers too."""
        props = dict(report.user_properties)
        if "rnn_clause" in props:
            self.records[(props["rnn_impl"], props["rnn_clause"])].append(record(report, props))

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
            f"modes {', '.join(sorted(impl.modes))}; dtypes {', '.join(sorted(impl.dtypes))}"
        )
        reason = impl.unavailable()
        if reason:
            lines.append(f"    unavailable, its clauses are skipped: {reason}")
    s, profile = settings.default, settings.get_current_profile_name()
    lines.append(
        f"  hypothesis profile {profile!r}: max_examples={s.max_examples}, "
        f"derandomize={s.derandomize}, deadline={s.deadline}"
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


class Progress:
    """What a clause test has done so far, for its report: the examples run (every call of its body),
    the number of the first that failed (before shrinking), the cases drawn by the latest."""

    def __init__(self):
        self.examples = 0
        self.first_failure: int | None = None
        self.cases: list = []  # after a failure: the shrunk example's

    def start_example(self) -> None:
        self.examples += 1
        self.cases.clear()

    def drew(self, case) -> None:
        self.cases.append(case)

    def failed(self) -> None:
        if self.first_failure is None:
            self.first_failure = self.examples

    def __repr__(self):  # Hypothesis prints it with the falsifying example's arguments
        return "<rnn_progress>"
