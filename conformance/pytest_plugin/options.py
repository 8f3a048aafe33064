"""The suite's command-line options: their names, their help, and their values parsed once per run."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from .. import capabilities
from ..compare import RTOL as DERIVED_RTOL
from .isolation import ISOLATIONS

IMPL = "--rnn-impl"
KIND = "--rnn-kind"
DATABASE = "--rnn-database"
DTYPES = "--rnn-dtypes"
REPORT = "--rnn-report"
NOT_CLAIMED = "--rnn-not-claimed"
SKIPS = "--rnn-skips"
TIMEOUT = "--rnn-timeout"
ISOLATION = "--rnn-isolation"
BUDGET = "--rnn-budget"
RTOL = "--rnn-rtol"
REPRODUCTIONS = "--rnn-reproductions"
SHARD = "--rnn-shard"
SUMMARY = "--rnn-summary"
DATABASE_VARIABLE = "RNN_CONFORMANCE_DATABASE"


def add(parser) -> None:
    group = parser.getgroup("rnn-conformance", "RNN conformance suite (rnn-conformance)")
    group.addoption(
        IMPL,
        action="append",
        default=[],
        metavar="NAME",
        help="implementation to check: a registered name (manual, torch, torch-cuda), module:Class mirroring "
        "torch.nn.RNN/GRU/LSTM or a cell, or module:adapter. Repeat to check several.",
    )
    group.addoption(
        KIND,
        default=None,
        metavar="MODE[,MODE]",
        help="cell kinds the implementation claims (RNN_TANH, RNN_RELU, GRU, LSTM); default: its `modes` or, "
        "for a torch.nn-like class, its instances' `mode` attribute.",
    )
    group.addoption(
        DATABASE,
        default=None,
        metavar="URL",
        help="share Hypothesis's example database, so a failure found by one job is replayed first by the "
        "next: redis://host:port/db (RedisExampleDatabase), or a directory. Also read from "
        f"{DATABASE_VARIABLE}.",
    )
    group.addoption(
        DTYPES,
        default=None,
        metavar="DTYPE[,DTYPE]",
        help="dtypes the implementation claims (float64, float32, bfloat16, float16); default: its `dtypes` "
        "or, for a torch.nn-like class, float64,float32.",
    )
    group.addoption(
        REPORT,
        metavar="PATH",
        default=None,
        help="write the verdicts, settings and failures (shrunk case, error, message) as JSON to PATH",
    )
    group.addoption(
        NOT_CLAIMED,
        metavar="CAP[,CAP]",
        default=None,
        help=f"features the implementation does not claim "
        f"({', '.join(sorted(capabilities.CAPABILITIES))}): "
        "they are not drawn, and clauses only about them are reported 'not claimed'",
    )
    group.addoption(
        SKIPS,
        metavar="PATH",
        default=None,
        help="file of test ids or clause ids (partial ids match), one per line, # comments: "
        "reported 'not claimed'",
    )
    group.addoption(
        TIMEOUT,
        metavar="SECONDS",
        type=float,
        default=60.0,
        help="an implementation call running longer is stopped and its clause 'timed out' (default 60; 0: no "
        "limit)",
    )
    group.addoption(
        ISOLATION,
        choices=ISOLATIONS,
        default="process",
        help="process (default): the clause tests run in a forked child process, so that a crash is its "
        "clause's verdict ('crashed') and a stuck test is stopped ('timed out'); thread: in this process, "
        "with torch's own thread count (a crash ends the run)",
    )
    group.addoption(
        BUDGET,
        metavar="SECONDS",
        type=float,
        default=None,
        help="wall time per implementation, shared out across its clauses (an equal share of what is left "
        "each); a clause whose share is spent stops drawing and passes on the examples it ran",
    )
    group.addoption(
        RTOL,
        metavar="DTYPE:RTOL[,DTYPE:RTOL]",
        default=None,
        help="a looser relative tolerance for an approximate kernel (TF32, quantized weights), e.g. "
        "float32:1e-3: it replaces the suite's own rtol of that dtype in the allowance; a clause that "
        "passes only thanks to it reads 'conforms (declared rtol)', not 'conforms'",
    )
    group.addoption(
        REPRODUCTIONS,
        metavar="DIR",
        default=None,
        help="where each failure's reproduction script is written, as DIR/IMPL/CLAUSE.py (default: "
        ".rnn-conformance/reproductions under the rootdir)",
    )
    group.addoption(
        SHARD,
        metavar="K/N",
        default=None,
        help="run shard K of N: a deterministic 1/N of the clause tests (each test of each implementation), "
        "balanced by their measured cost; merge the shards' --rnn-report files with rnn-conformance merge",
    )
    group.addoption(
        SUMMARY,
        metavar="PATH",
        default=None,
        help="write a short markdown summary (verdict counts per implementation, the failing clauses) to "
        "PATH, e.g. $GITHUB_STEP_SUMMARY",
    )


def parse_list(value: str | None, case=str.upper) -> tuple[str, ...] | None:
    """ "GRU, lstm" -> ("GRU", "LSTM"); None stays None (the implementation's own declaration)."""
    if value is None:
        return None
    return tuple(case(m.strip()) for m in value.split(",") if m.strip())


@dataclass(frozen=True)
class Options:
    """The values of the suite's options for one run; None: not given (the implementation's own word)."""

    impls: tuple[str, ...]
    modes: tuple[str, ...] | None
    dtypes: tuple[str, ...] | None
    not_claimed: frozenset
    database: str | None
    report: str | None
    skips: str | None
    time_limit: float | None  # seconds; None: no limit
    isolation: str = "process"
    budget: float | None = None  # seconds per implementation; None: no budget
    declared_rtol: tuple[tuple[str, float], ...] = ()  # (dtype, rtol) pairs of --rnn-rtol
    reproductions: str = ".rnn-conformance/reproductions"  # where reproduction scripts are written
    seed: str | None = None  # --hypothesis-seed, for the command line that reruns a clause
    rootdir: str = "."  # pytest's: where a reproduction script imports the implementation from
    shard: Shard | None = None  # --rnn-shard
    summary: str | None = None  # --rnn-summary: where the markdown summary is written

    @classmethod
    def read(cls, config) -> Options:
        """A capability --rnn-not-claimed does not know is a UsageError."""
        try:
            not_claimed = capabilities.parse(config.getoption(NOT_CLAIMED))
        except capabilities.CapabilityError as e:
            raise pytest.UsageError(str(e)) from None
        return cls(
            impls=tuple(config.getoption(IMPL)),
            modes=parse_list(config.getoption(KIND)),
            dtypes=parse_list(config.getoption(DTYPES), str.lower),
            not_claimed=not_claimed,
            database=config.getoption(DATABASE) or os.environ.get(DATABASE_VARIABLE),
            report=config.getoption(REPORT),
            skips=config.getoption(SKIPS),
            time_limit=config.getoption(TIMEOUT) or None,
            isolation=config.getoption(ISOLATION),
            budget=positive(config.getoption(BUDGET), BUDGET),
            declared_rtol=tuple(parse_rtol(config.getoption(RTOL)).items()),
            reproductions=str(
                config.rootpath / (config.getoption(REPRODUCTIONS) or ".rnn-conformance/reproductions")
            ),
            seed=config.getoption("hypothesis_seed", None),
            rootdir=str(config.rootpath),
            shard=parse_shard(config.getoption(SHARD)),
            summary=config.getoption(SUMMARY),
        )

    def resolve_options(self) -> dict:
        """registry.resolve's keyword arguments for this run's options."""
        return dict(
            modes=self.modes,
            dtypes=self.dtypes,
            not_claimed=sorted(self.not_claimed),
            time_limit=self.time_limit,
        )

    def replay_options(self) -> dict:
        """reproduce.replay's keyword arguments for this run's options."""
        rtol = {"declared_rtol": dict(self.declared_rtol)} if self.declared_rtol else {}
        return {**self.resolve_options(), **rtol}

    def rerun(self, impl_name: str, test_name: str) -> str:
        """The command line that runs one clause test of this run again."""
        given = [
            (KIND, self.modes and ",".join(self.modes)),
            (DTYPES, self.dtypes and ",".join(self.dtypes)),
            (NOT_CLAIMED, ",".join(sorted(self.not_claimed))),
            ("--hypothesis-seed", self.seed),
        ]
        options = "".join(f" {option}={value}" for option, value in given if value)
        return f"pytest --pyargs conformance --rnn-impl={impl_name} -k {test_name}{options}"


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based, as the option gives it
    count: int

    def __str__(self):
        return f"{self.index}/{self.count}"


def parse_shard(value: str | None) -> Shard | None:
    """ "2/3" -> Shard(2, 3); anything that is not K/N with 1 <= K <= N is a UsageError."""
    if value is None:
        return None
    index, slash, count = (part.strip() for part in value.partition("/"))
    if not (slash and index.isdigit() and count.isdigit()):
        raise pytest.UsageError(f"{SHARD}={value}: not K/N (e.g. {SHARD}=1/3)")
    if not 1 <= int(index) <= int(count):
        raise pytest.UsageError(f"{SHARD}={value}: K must be between 1 and N")
    return Shard(int(index), int(count))


def positive(value: float | None, option: str) -> float | None:
    if value is not None and value <= 0:
        raise pytest.UsageError(f"{option}: {value:g} is not a positive number of seconds")
    return value


def parse_rtol(value: str | None) -> dict[str, float]:
    """ "float32:1e-3" -> {"float32": 0.001}; a declaration that is not DTYPE:RTOL, a dtype the suite
    does not know, given twice, or an rtol that is not looser than the suite's own is a UsageError."""
    declared = {}
    for item in filter(None, (part.strip() for part in (value or "").split(","))):
        dtype, colon, text = (s.strip() for s in item.partition(":"))
        if not colon:
            raise pytest.UsageError(f"{RTOL}: {item!r}: not DTYPE:RTOL (e.g. float32:1e-3)")
        if dtype not in DERIVED_RTOL:
            known = ", ".join(DERIVED_RTOL)
            raise pytest.UsageError(f"{RTOL}: {item!r}: unknown dtype {dtype!r} (one of {known})")
        if dtype in declared:
            raise pytest.UsageError(f"{RTOL}: {dtype} is declared twice")
        declared[dtype] = looser_rtol(item, dtype, text)
    return declared


def looser_rtol(item: str, dtype: str, text: str) -> float:
    try:
        rtol = float(text)
    except ValueError:
        raise pytest.UsageError(f"{RTOL}: {item!r}: {text!r} is not a number") from None
    if not rtol > DERIVED_RTOL[dtype] or rtol == float("inf"):
        raise pytest.UsageError(
            f"{RTOL}: {item!r}: a declared rtol must be finite and looser than the suite's own for {dtype}, "
            f"{DERIVED_RTOL[dtype]:g} (it can only loosen the allowance)"
        )
    return rtol


def declared(rtols) -> str:
    """(dtype, rtol) pairs as "float32 rtol 0.001, float16 rtol 0.01"."""
    return ", ".join(f"{dtype} rtol {rtol:g}" for dtype, rtol in rtols)
