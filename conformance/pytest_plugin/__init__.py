"""The pytest plugin (entry point pytest11): the suite's hooks and the rnn_progress fixture.

Two more are methods: Session.pytest_runtest_logreport (pytest passes that hook no config, so the
run's records are kept by the object registered for the run) and, with xdist only, XdistHooks'.
"""

from __future__ import annotations

import functools
import signal
import sys
import threading
import warnings

import pytest

from .. import profiles
from ..spec.clauses import CLAUSES
from . import failures, isolation, options, summaries, verdicts
from .isolation import BEACON
from .scope import decide
from .session import PROGRESS, SESSION, Progress, Session
from .shards import ShardHooks
from .workers import XdistHooks, is_worker, is_xdist_controller, resolve_for_controller

profiles.register()  # before Hypothesis's own plugin loads --hypothesis-profile

NO_IMPL_GIVEN = (
    "the RNN conformance clauses need an implementation: pass --rnn-impl=NAME (e.g. --rnn-impl=torch.nn:GRU)"
)


def pytest_addoption(parser):
    options.add(parser)


@pytest.hookimpl(trylast=True)  # after Hypothesis's plugin has loaded --hypothesis-profile
def pytest_configure(config):
    config.addinivalue_line("markers", "rnn_clause(id): the test checks the named clause of the RNN contract")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(), "rnn-conformance-xdist")
    session = config.stash[SESSION] = Session.start(config)
    config.pluginmanager.register(session, "rnn-conformance-session")  # its pytest_runtest_logreport
    if session.options.shard:
        config.pluginmanager.register(ShardHooks(session.options.shard, session), "rnn-conformance-shard")
    if is_worker(config):
        session.workers = config.workerinput.get("workercount", 1)
    else:
        session.terminal = config.pluginmanager.get_plugin("terminalreporter")
        on_sigterm(config)
    if is_xdist_controller(config):  # the workers resolve them: XdistHooks.pytest_testnodedown
        session.workers = getattr(config.option, "numprocesses", None) or 1
    elif is_worker(config):
        resolve_for_controller(config, session)
    else:
        session.implementations()


def on_sigterm(config) -> None:
    """SIGTERM, handled as Ctrl-C is: the run stops, and the verdicts so far are written. The flag
    stops it even where the exception is swallowed (raised inside a finalizer, which Python ignores):
    no clause test starts after it, and a forked one is stopped within a second."""
    if threading.current_thread() is not threading.main_thread():
        return

    def terminate(signum, frame):
        isolation.stopping = "terminated (SIGTERM)"
        raise isolation.Terminated(isolation.stopping)

    before = signal.signal(signal.SIGTERM, terminate)

    def restore():
        signal.signal(signal.SIGTERM, before)
        isolation.stopping = None

    config.add_cleanup(restore)


def pytest_report_header(config):
    return config.stash[SESSION].header(controller=is_xdist_controller(config)) or None


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("rnn_clause") is None or "impl" not in metafunc.fixturenames:
        return
    impls = metafunc.config.stash[SESSION].implementations()
    if not impls:
        metafunc.parametrize("impl", [None])  # reported once, as a usage error, after collection
        return
    metafunc.parametrize("impl", [pytest.param(impl, id=impl.name) for impl in impls])


@pytest.hookimpl(tryfirst=True)  # before -k/-m deselect, so the skips file is checked against every test
def pytest_collection_modifyitems(config, items):
    if config.stash[SESSION].usage_error:  # an xdist worker: the controller reports it, nothing runs
        config.hook.pytest_deselected(items=list(items))
        items[:] = []
        return
    skips, used = config.stash[SESSION].skips, set()
    for item in items:
        marker = item.get_closest_marker("rnn_clause")
        if marker is None or not hasattr(item, "callspec"):
            continue
        spec, impl = CLAUSES[marker.args[0]], item.callspec.params["impl"]
        if impl is None:
            raise pytest.UsageError(NO_IMPL_GIVEN)
        item.user_properties += [("rnn_clause", spec.id), ("rnn_impl", impl.name)]
        out = decide(spec, impl, item.nodeid, skips)
        if out:
            item.add_marker(pytest.mark.skip(reason=out.reason))
            item.user_properties += [("rnn_scope", out.scope.value), ("rnn_reason", out.reason)]
        used.update(n for n, _ in skips.matching(spec.id, item.nodeid))
    for n, entry in skips.entries:
        if n not in used:
            warnings.warn(
                pytest.PytestWarning(
                    f"--rnn-skips {skips.path}, line {n}: {entry!r} matches no test id nor clause id"
                ),
                stacklevel=2,
            )


def pytest_collection_finish(session):
    if not is_xdist_controller(session.config):
        workers = getattr(session.config, "workerinput", {}).get("workercount", 1)
        session.config.stash[SESSION].collected(session.items, workers)


@pytest.fixture
def rnn_progress(request) -> Progress:
    """The clause test's progress, kept on its item for its report; it spans the test's examples."""
    impl, stash = request.node.callspec.params["impl"], request.node.stash
    session = request.config.stash[SESSION]
    share, rtol = session.share(impl.name), session.options.declared_rtol
    progress = stash[PROGRESS] = Progress(share, beacon=stash.get(BEACON, None), declared_rtol=rtol)
    return progress


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A clause test in a child process of its own (isolation.py), unless it is skipped anyway or
    its implementation cannot be forked (--rnn-isolation=thread, CUDA, no fork())."""
    if isolation.stopping:
        raise isolation.Terminated(isolation.stopping)
    props = dict(item.user_properties)
    if "rnn_clause" not in props or "rnn_scope" in props:
        return None
    impl = item.callspec.params["impl"]
    if isolation.why_not(impl, item.config.stash[SESSION].options.isolation):
        return None
    budgets = item.config.stash[SESSION].budgets
    isolation.run_protocol(item, nextitem, budgets, functools.partial(died, item))
    return True


def died(item, error, examples: int, draws: list) -> tuple[str, list]:
    """A clause test whose process died or was killed: its failure's text and report properties."""
    impl, spec = item.callspec.params["impl"], CLAUSES[dict(item.user_properties)["rnn_clause"]]
    progress = Progress()
    progress.examples, progress.first_failure, progress.draws = examples, examples, draws
    error.add_note(failures.rerun_note(impl, spec, progress))
    failure = failures.record(impl, error, progress, item.config.stash[SESSION].options, spec.id)
    text = failures.section(impl, spec.id, error, failure) or f"{type(error).__name__}: {error}"
    return text, [("rnn_examples", examples), ("rnn_failure", failure)]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On the process running the test: its examples, accuracy and failure travel to the controller
    on the report's user_properties."""
    report = yield
    props = dict(item.user_properties)
    if "rnn_clause" not in props or call.when != "call":
        return report
    progress, impl = item.stash.get(PROGRESS, Progress()), item.callspec.params["impl"]
    extra = [("rnn_examples", progress.examples)]
    if progress.accuracy.ratio is not None:
        extra.append(("rnn_accuracy", progress.accuracy.as_dict()))
    if progress.cut:
        cut = {"share_s": round(progress.share, 3), "after_examples": progress.examples}
        extra.append(("rnn_budget_cut", cut))
    if report.failed and call.excinfo is not None:
        exc = call.excinfo.value
        failure = failures.record(
            impl, exc, progress, item.config.stash[SESSION].options, props["rnn_clause"]
        )
        text = failures.section(impl, props["rnn_clause"], exc, failure)
        report.longrepr = failures.longrepr(item, text) if text else report.longrepr
        extra.append(("rnn_failure", failure))
    report.user_properties = [*report.user_properties, *extra]  # a copy: the item's list is shared
    return report


def pytest_terminal_summary(terminalreporter):
    config = terminalreporter.config
    if config.stash[SESSION].usage_error:
        return
    if not is_worker(config) and not config.option.collectonly:  # --collect-only runs no verdict
        verdicts.write_tables(terminalreporter, terminalreporter.config.stash[SESSION])


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    config = session.config
    if is_worker(config) or config.option.collectonly:
        return
    rnn = config.stash[SESSION]
    if rnn.usage_error:  # as pytest ends a run on a UsageError: one line, exit status 4
        sys.stderr.write(f"ERROR: {rnn.usage_error}\n")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
        return
    rnn.incomplete = verdicts.incompleteness(rnn, session.shouldfail or session.shouldstop)
    if rnn.options.report or rnn.options.summary:
        report = verdicts.report(config, rnn)
        if rnn.options.report:
            verdicts.write_json(rnn.options.report, report)
        if rnn.options.summary:
            summaries.write(rnn.options.summary, report)
