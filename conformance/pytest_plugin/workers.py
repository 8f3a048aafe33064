"""pytest-xdist: the controller shares the cores among the workers and resolves the implementations late."""

from __future__ import annotations

import gc
import os

import pytest

from ..registry import Declared, findable
from .session import SESSION


def usable_cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def is_xdist_controller(config) -> bool:
    return getattr(config.option, "dist", "no") != "no" and not is_worker(config)


def resolve_for_controller(config, session) -> None:
    """On a worker: resolve the implementations and send the controller what its report says of
    them. A name the worker cannot use does not crash it (xdist would print the worker's traceback
    and start another): the worker runs nothing and the controller ends the run with the one-line
    usage error (pytest_testnodedown, then pytest_sessionfinish)."""
    try:
        session.implementations()
    except pytest.UsageError as e:
        session.impls, session.usage_error = [], str(e)
        config.workeroutput["rnn_usage_error"] = session.usage_error
        return
    config.workeroutput["rnn_declared"] = [impl.declared().message() for impl in session.impls]


class XdistHooks:
    """Registered only when pytest-xdist is installed: pytest refuses hooks it has no spec for."""

    @pytest.hookimpl(tryfirst=True)  # before the report header, and before xdist starts the workers
    def pytest_sessionstart(self, session):
        """On the controller (the workers inherit its environment): each worker gets cpu_count //
        workers threads through OMP_NUM_THREADS, which torch and NumPy's OpenBLAS read when they load
        (NumPy loads before any plugin hook of a worker could set it). Several workers each running
        default thread pools oversubscribe the cores, and their busy-waiting threads slow the run. An
        OMP_NUM_THREADS the user set wins."""
        config = session.config
        workers = getattr(config.option, "numprocesses", None)
        if not is_xdist_controller(config) or not isinstance(workers, int) or workers < 1:
            return
        if "OMP_NUM_THREADS" not in os.environ:
            os.environ["OMP_NUM_THREADS"] = str(max(1, usable_cpus() // workers))
            config.add_cleanup(lambda: os.environ.pop("OMP_NUM_THREADS", None))  # an in-process run goes on

    @pytest.hookimpl(wrapper=True)
    def pytest_collection(self, session):
        """On the controller, which does not collect: what it has loaded stays (gc.freeze), so that
        pytest's five garbage collections at the end of the session do not walk it all again. It does
        not resolve the implementations: the workers resolve them (pytest_configure) and tell it what
        the report needs (pytest_testnodedown). Importing them here (torch: a second of CPU) held
        the workers back as long, on a machine with as many cores as workers, and doing it at the
        end of the run cost as much. A name that is neither registered nor in an installed package is
        resolved here, for its error; the workers find another bad one (resolve_for_controller)."""
        session_ = session.config.stash[SESSION]
        if not all(map(findable, session_.options.impls)):
            session_.implementations()  # the UsageError that says what is wrong with it
        gc.freeze()
        return (yield)

    def pytest_xdist_node_collection_finished(self, node, ids):
        """On the controller: the clause tests to run, so that those a stopped run left are "not run"."""
        session = node.config.stash[SESSION]
        if not session.expected:
            session.expect(ids)

    def pytest_testnodedown(self, node, error):
        """On the controller, which collects nothing: the shard's tests, as a worker chose them, and
        the implementations as the worker resolved them."""
        session = node.config.stash[SESSION]
        output = getattr(node, "workeroutput", {})
        shard = output.get("rnn_shard")
        if shard and session.shard is None:
            session.shard = shard
        if output.get("rnn_usage_error"):
            session.usage_error = output["rnn_usage_error"]
        if output.get("rnn_declared") and session.impls is None:
            session.impls = [Declared.from_message(m) for m in output["rnn_declared"]]
