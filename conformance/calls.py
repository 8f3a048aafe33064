"""One call of an implementation, in its call thread under its time limit: returned, raised or hung."""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .registry import Implementation


class Returned(NamedTuple):
    value: object


class Raised(NamedTuple):
    error: BaseException


class Hung(NamedTuple):
    """Still running past the implementation's time limit; ``why`` says so in words."""

    why: str


Outcome = Returned | Raised | Hung


def attempt(fn: Callable[[], object]) -> Returned | Raised:
    try:
        return Returned(fn())
    except BaseException as e:  # the caller decides what it means
        return Raised(e)


class CallThread:
    """A daemon thread that runs the calls of one implementation, one at a time. One thread for
    all calls, not one per call: starting a thread costs up to a millisecond on a busy machine
    (measured: 0.8 ms with both cores loaded, against 0.02 ms to hand a call to a waiting
    thread), which is a large part of a small case."""

    def __init__(self, name: str):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = False
        threading.Thread(target=self.serve, name=f"rnn-conformance calls of {name}", daemon=True).start()

    def serve(self):
        while True:
            fn, done = self.jobs.get()
            outcome = attempt(fn)
            self.busy = False  # before the caller can see the outcome and call again
            done.put(outcome)

    def run(self, fn: Callable[[], object], timeout: float) -> Returned | Raised | None:
        """``fn``'s outcome, or None past the timeout."""
        done: queue.SimpleQueue = queue.SimpleQueue()
        self.busy = True
        self.jobs.put((fn, done))
        try:
            return done.get(timeout=timeout)
        except queue.Empty:
            return None


_threads: dict[str, CallThread] = {}
if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads
    os.register_at_fork(after_in_child=_threads.clear)

#: called with a description of each call (a callable giving it) as it starts, and with None as it
#: ends; set in a forked clause test, whose process shows it if it dies (pytest_plugin/isolation.py).
#: That process also stops a call past the time limit, so where it is set the calls run in this
#: thread, without a call thread's hand-off (which cost 7% of a default run).
heartbeat: Callable[[Callable[[], str] | None], None] | None = None


def thread_of(name: str) -> CallThread:
    if name not in _threads:
        _threads[name] = CallThread(name)
    return _threads[name]


def outcome(impl: Implementation, fn: Callable[[], object], what: Callable[[], str] | None = None) -> Outcome:
    """What ``fn()``, a call of ``impl``, did: run in the implementation's call thread, Hung past
    ``impl.time_limit`` (no limit: run here). ``what()`` describes the call in a few words."""
    if heartbeat is not None:
        heartbeat(what)
    result = in_thread(impl, fn)
    if heartbeat is not None:
        heartbeat(None)
    return result


def in_thread(impl: Implementation, fn: Callable[[], object]) -> Outcome:
    """``outcome`` without the heartbeat.

    A stuck call cannot be stopped: it is left running (in a daemon thread, which does not keep
    the process from exiting), and while it runs further calls of the same implementation are Hung
    at once, so a hanging implementation costs one time limit, not one each.
    """
    if not impl.time_limit or heartbeat is not None:  # no limit, or the parent process keeps it
        return attempt(fn)
    too_long = f"{impl.name} took longer than {impl.time_limit:g} s"
    thread = thread_of(impl.name)
    if thread.busy:
        return Hung(f"{too_long} (an earlier call has not returned yet)")
    result = thread.run(fn, impl.time_limit)
    if result is None:
        return Hung(
            f"{too_long} (--rnn-timeout); the call is left running in a background thread and the run goes on"
        )
    return result
