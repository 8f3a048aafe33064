"""The pytest plugin (entry point pytest11): the suite's hooks and the rnn_progress fixture.

Two more are methods: Session.pytest_runtest_logreport (pytest passes that hook no config, so the
run's records are kept by the object registered for the run) and, with xdist only, XdistHooks'.
"""

from __future__ import annotations

import warnings

import pytest

from .. import profiles
from ..spec.clauses import CLAUSES
from . import failures, options, verdicts
from .scope import decide
from .session import PROGRESS, SESSION, Progress, Session
from .workers import XdistHooks, is_worker, is_xdist_controller

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
    if not is_xdist_controller(config):  # the controller resolves them later: XdistHooks.pytest_collection
        session.implementations()


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


@pytest.fixture
def rnn_progress(request) -> Progress:
    """The clause test's progress, kept on its item for its report; it spans the test's examples."""
    progress = request.node.stash[PROGRESS] = Progress()
    return progress


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On the process running the test: its examples and failure travel to the controller on the
    report's user_properties."""
    report = yield
    props = dict(item.user_properties)
    if "rnn_clause" not in props or call.when != "call":
        return report
    progress = item.stash.get(PROGRESS, Progress())
    extra = [("rnn_examples", progress.examples)]
    if report.failed and call.excinfo is not None:
        impl, exc = item.callspec.params["impl"], call.excinfo.value
        failure = failures.record(impl, exc, progress, item.config.stash[SESSION].options.modes)
        report.longrepr = failures.section(impl, props["rnn_clause"], exc, failure) or report.longrepr
        extra.append(("rnn_failure", failure))
    report.user_properties = [*report.user_properties, *extra]  # a copy: the item's list is shared
    return report


def pytest_terminal_summary(terminalreporter):
    if not is_worker(terminalreporter.config):
        verdicts.write_tables(terminalreporter, terminalreporter.config.stash[SESSION])


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    config = session.config
    if config.stash[SESSION].options.report and not is_worker(config):
        verdicts.write_report(config, config.stash[SESSION])
