"""The pytest plugin (entry point pytest11): options, the ``impl`` parameter, markers, header."""

from __future__ import annotations

import os

import pytest

from . import profiles
from .spec.clauses import CLAUSES

IMPLS = pytest.StashKey[list]()
PROFILE_BEFORE = pytest.StashKey[str]()
THREADS_SET = pytest.StashKey[bool]()
profiles.register()  # before Hypothesis's own plugin loads --hypothesis-profile

# verdict table, JSON report, capabilities, skips file, time limit
pytest_plugins = ["conformance.report"]


def pytest_addoption(parser):
    group = parser.getgroup("rnn-conformance", "RNN conformance suite (rnn-conformance)")
    group.addoption(
        "--rnn-impl", action="append", default=[], metavar="NAME",
        help="implementation to check: a registered name (manual, torch, torch-cuda), module:Class mirroring "
        "torch.nn.RNN/GRU/LSTM or a cell, or module:adapter. Repeat to check several.",
    )
    group.addoption(
        "--rnn-kind", default=None, metavar="MODE[,MODE]",
        help="cell kinds the implementation claims (RNN_TANH, RNN_RELU, GRU, LSTM); default: its `modes` or, for a "
        "torch.nn-like class, its instances' `mode` attribute.",
    )
    group.addoption(
        "--rnn-database", default=None, metavar="URL",
        help="share Hypothesis's example database, so a failure found by one job is replayed first by the next: "
        "redis://host:port/db (RedisExampleDatabase), or a directory. Also read from RNN_CONFORMANCE_DATABASE.",
    )
    group.addoption(
        "--rnn-dtypes", default=None, metavar="DTYPE[,DTYPE]",
        help="dtypes the implementation claims (float64, float32, bfloat16, float16); default: its `dtypes` "
        "or, for a torch.nn-like class, float64,float32.",
    )


def parse_list(value: str | None, case=str.upper):
    """"GRU, lstm" -> ("GRU", "LSTM"); None stays None (the implementation's own declaration)."""
    if value is None:
        return None
    return tuple(case(m.strip()) for m in value.split(",") if m.strip())



def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def share_cores_between_xdist_workers(config):
    """On the xdist controller, before the workers start (they inherit its environment): each
    worker gets cpu_count // workers threads through OMP_NUM_THREADS, which torch and NumPy's
    OpenBLAS read when they load (NumPy loads before any plugin hook of a worker could set it).
    Several workers each running default thread pools oversubscribe the cores, and their
    busy-waiting threads slow the run. An OMP_NUM_THREADS the user set wins."""
    workers = getattr(config.option, "numprocesses", None)
    if not is_xdist_controller(config) or not isinstance(workers, int) or workers < 1 or "OMP_NUM_THREADS" in os.environ:
        return
    os.environ["OMP_NUM_THREADS"] = str(max(1, usable_cpus() // workers))
    config.stash[THREADS_SET] = True  # unset again at the end, for an in-process run (pytester)


@pytest.hookimpl(trylast=True)  # after Hypothesis's plugin has loaded --hypothesis-profile
def pytest_configure(config):
    share_cores_between_xdist_workers(config)
    config.addinivalue_line("markers", "rnn_clause(id): the test checks the named clause of the RNN contract")
    url = config.getoption("rnn_database") or os.environ.get("RNN_CONFORMANCE_DATABASE")
    if url:
        from hypothesis import settings

        config.stash[PROFILE_BEFORE] = settings._current_profile
        try:
            profiles.share_database(url)
        except ValueError as e:
            raise pytest.UsageError(f"--rnn-database: {e}") from None
    if not is_xdist_controller(config):
        implementations(config)


def is_xdist_controller(config) -> bool:
    return getattr(config.option, "dist", "no") != "no" and not hasattr(config, "workerinput")


def implementations(config) -> list:
    """The --rnn-impl implementations, resolved once (importing them, torch included, takes a
    second or more); a bad name, module or capability is a UsageError."""
    if IMPLS in config.stash:
        return config.stash[IMPLS]
    from . import capabilities
    from .registry import ResolveError, resolve

    modes, dtypes = parse_list(config.getoption("rnn_kind")), parse_list(config.getoption("rnn_dtypes"), str.lower)
    limit = config.getoption("rnn_timeout") or None
    try:
        extra = capabilities.parse(config.getoption("rnn_not_claimed"))
        impls = [resolve(name, modes, dtypes, not_claimed=extra, time_limit=limit) for name in config.getoption("rnn_impl")]
    except ResolveError as e:
        raise pytest.UsageError(f"--rnn-impl: {e}") from None
    except capabilities.CapabilityError as e:  # --rnn-not-claimed or an adapter's not_claimed
        raise pytest.UsageError(str(e)) from None
    config.stash[IMPLS] = impls
    return impls


@pytest.hookimpl(wrapper=True)
def pytest_collection(session):
    """On the xdist controller, the implementations are resolved only now, after xdist has
    started the workers (each resolves its own): importing them (torch: over a second) before
    would hold every worker back as long. The controller does not collect."""
    implementations(session.config)
    return (yield)


def pytest_unconfigure(config):
    if config.stash.get(THREADS_SET, False):
        del os.environ["OMP_NUM_THREADS"]
    if PROFILE_BEFORE in config.stash:  # an in-process run (pytester) must not leave it loaded
        from hypothesis import settings

        settings.load_profile(config.stash[PROFILE_BEFORE])


def pytest_report_header(config):
    names = config.getoption("rnn_impl")
    if not names:
        return None
    from importlib.metadata import version

    import hypothesis

    lines = [f"rnn-conformance: torch {version('torch')}, hypothesis {hypothesis.__version__}, numpy {version('numpy')}"]
    if is_xdist_controller(config):  # not resolved yet (see pytest_collection): the verdict tables say more
        lines.append(f"  implementations {', '.join(names)}, resolved by each xdist worker")
        lines.append(f"  OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')} in each worker")
    for impl in [] if is_xdist_controller(config) else implementations(config):
        lines.append(f"  implementation {impl.name}: {impl.description}; {'cell ' if impl.is_cell else ''}modes {', '.join(sorted(impl.modes))}; dtypes {', '.join(sorted(impl.dtypes))}")
        reason = impl.unavailable()
        if reason:
            lines.append(f"    unavailable, its clauses are skipped: {reason}")
    s = hypothesis.settings.default
    lines.append(f"  hypothesis profile {hypothesis.settings._current_profile!r}: max_examples={s.max_examples}, derandomize={s.derandomize}, deadline={s.deadline}")
    return lines


NO_IMPL_GIVEN = "the RNN conformance clauses need an implementation: pass --rnn-impl=NAME (e.g. --rnn-impl=torch.nn:GRU)"


def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = item.get_closest_marker("rnn_clause")
        if marker is None:
            continue
        impl = item.callspec.params["impl"]
        if impl is None:
            raise pytest.UsageError(NO_IMPL_GIVEN)
        item.user_properties += [("rnn_clause", marker.args[0]), ("rnn_impl", impl.name)]


def pytest_generate_tests(metafunc):
    marker = metafunc.definition.get_closest_marker("rnn_clause")
    if marker is None or "impl" not in metafunc.fixturenames:
        return
    impls = implementations(metafunc.config)
    if not impls:
        metafunc.parametrize("impl", [None])  # reported once, as a usage error, after collection
        return
    spec = CLAUSES[marker.args[0]]
    params = []
    for impl in impls:
        marks = []
        reason = impl.unavailable()
        if reason:
            marks.append(pytest.mark.skip(reason=f"{impl.name} unavailable: {reason}"))
        elif impl.is_cell != spec.cell:
            what = ("a cell (one step)", "sequence modules") if impl.is_cell else ("a sequence module", "cells")
            marks.append(pytest.mark.skip(reason=f"not applicable: {impl.name} is {what[0]}; {spec.id} checks {what[1]}"))
        elif not impl.modes & spec.modes:
            marks.append(pytest.mark.skip(reason=f"not applicable: {impl.name} implements {', '.join(sorted(impl.modes))}; {spec.id} covers {', '.join(sorted(spec.modes))}"))
        params.append(pytest.param(impl, id=impl.name, marks=marks))
    metafunc.parametrize("impl", params)
