"""Each clause test in a forked child process, so that a crash or a hang is that clause's verdict.

The test process forks a child at its first clause test; the child runs pytest's own test
protocol for each clause test the test process sends it, one after another, and sends back the
reports, serialized as xdist sends them. A child that dies (a signal, an exit) leaves a
``crashed`` report; one whose call runs past the time limit, or that stops making progress, is
killed and leaves a ``timed out`` one; the next clause test forks a new child. What the child was
doing when it died is read from a small shared page (a Beacon) that it updates as it draws cases
and calls the implementation.

A pipe round trip per clause test costs nothing measurable, against one per implementation call
for a call server, or a fork per clause test (10% of a default run: every child redoes the
first-call work of Hypothesis, the strategies and torch). The objects the child inherits are frozen for the
garbage collector (gc.freeze): otherwise each full collection in the child touches every one of
them, so copies every page they are on (measured: 90 ms a collection, 28% of a default run).
The price: OpenMP's threads do not survive fork()
(libgomp: a child that enters a parallel region the parent had used deadlocks), so the child
runs torch on one CPU thread; and CUDA cannot be used in a child forked after CUDA was
initialised, so an implementation on CUDA runs in the test process (--rnn-isolation=thread).
"""

from __future__ import annotations

import ctypes
import faulthandler
import gc
import mmap
import os
import pickle
import select
import signal
import struct
import sys
import tempfile
import time
import traceback
from typing import NamedTuple

import pytest

from .. import calls
from ..case import Case
from . import failures

ISOLATIONS = ("process", "thread")
#: seconds without progress outside a call (no call started or ended, no example begun) past twice
#: the time limit after which a child is killed (a call is stopped at the time limit itself)
GRACE = 10.0
HEADER = struct.Struct("QQII")  # beats, examples, the lengths of the draws and of the call that follow
DRAWS_ROOM, CALL_ROOM = 1 << 15, 1 << 12  # bytes for the example's draws (pickled), the call in progress
DRAWS_AT, CALL_AT = HEADER.size, HEADER.size + DRAWS_ROOM  # where each is on the page
EXIT_BROKEN = 70  # the child could not run the protocol or send its reports: a defect of the suite
BEACON = pytest.StashKey["Beacon"]()
STOPPING = {signal.SIGINT, signal.SIGTERM}
STACKS = signal.SIGUSR1  # a child that receives it writes its threads' Python stacks to its dump
#: why the run is stopping (SIGTERM), once it is
stopping: str | None = None


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the run stops, and the verdicts so far are written."""


def uncached(value):
    """A drawn value to pickle: a case without the arrays it caches."""
    return value.replace() if isinstance(value, Case) else value


class Beacon:
    """A page shared with the child: how often it showed progress, its examples, what the latest
    example drew and the implementation call in progress, if any."""

    def __init__(self):
        self.page = mmap.mmap(-1, HEADER.size + DRAWS_ROOM + CALL_ROOM)  # anonymous, shared after fork

    def update(self, examples=None, draws=None, call=None) -> None:
        """Write what is given (bytes that fit their room), and count a beat."""
        beats, *now = HEADER.unpack_from(self.page)
        for n, (data, start) in enumerate([(draws, DRAWS_AT), (call, CALL_AT)], start=1):
            if data is not None:
                self.page[start : start + len(data)] = data
                now[n] = len(data)
        if examples is not None:
            now[0] = examples
        HEADER.pack_into(self.page, 0, beats + 1, *now)

    def example(self, number: int) -> None:
        self.update(examples=number, draws=b"", call=b"")

    def drew(self, draws: list) -> None:
        """The latest example's draws so far, (label, value) pairs."""
        data = pickle.dumps([(label, uncached(value)) for label, value in draws])
        self.update(draws=data if len(data) <= DRAWS_ROOM else b"")

    def called(self, what) -> None:
        """calls.heartbeat: a call starts (``what()`` describes it) or ends (None)."""
        self.update(call=b"" if what is None else what().encode()[:CALL_ROOM])

    def beats(self) -> int:
        return HEADER.unpack_from(self.page)[0]

    def calling(self) -> bool:
        """Whether a call of the implementation is in progress."""
        return HEADER.unpack_from(self.page)[3] > 0

    def last(self) -> tuple[int, list, str]:
        """The examples begun, the latest one's draws (empty: none, or too large to keep) and the
        call in progress ("" if none)."""
        _, examples, length, call_length = HEADER.unpack_from(self.page)
        draws = pickle.loads(self.page[DRAWS_AT : DRAWS_AT + length]) if length else []
        call = self.page[CALL_AT : CALL_AT + call_length].decode(errors="replace")
        return examples, draws, call


def why_not(impl, isolation: str) -> str | None:
    """Why ``impl``'s clause tests run in the test process (None: each in a child of its own)."""
    if isolation != "process":
        return "--rnn-isolation=thread"
    if not hasattr(os, "fork"):
        return f"no fork() on {sys.platform}"
    if str(getattr(impl.adapter, "device", "cpu")).startswith("cuda") or cuda_initialized():
        return "CUDA cannot be used in a forked process"
    if getattr(impl.adapter, "uses_jax", False) and jax_initialized():
        return "JAX is initialized in this process: its runtime's threads do not survive fork()"
    return None


def jax_initialized() -> bool:
    """Whether JAX has started a backend here (what a child forked from this process would hang on)."""
    bridge = sys.modules.get("jax._src.xla_bridge")
    return bool(getattr(bridge, "_backends", None))


def cuda_initialized() -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and torch.cuda.is_initialized()


def signal_name(status: int) -> str:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            return signal.Signals(number).name
        except ValueError:
            return f"signal {number}"
    return f"exit status {os.WEXITSTATUS(status)}"


# --- in the child -----------------------------------------------------------------------------------


def die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when its parent dies, even while a call hangs."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before that
        os._exit(EXIT_BROKEN)


def fresh_seeds() -> None:
    """Hypothesis draws each test's seed from one Random per process, made on first use: a child of a
    process that has made it would repeat its parent's next seeds, in every child alike. Made anew
    here, as a new process would (the run's --hypothesis-seed, if any, still decides)."""
    import hypothesis.core

    local = getattr(hypothesis.core, "threadlocal", None)  # Hypothesis's own; absent: nothing to do
    if getattr(local, "_hypothesis_global_random", None) is not None:
        local._hypothesis_global_random = None


def send(fd: int, value) -> None:
    data = pickle.dumps(value)
    data = struct.pack("Q", len(data)) + data
    while data:
        data = data[os.write(fd, data) :]


def serve(session, commands: int, replies: int, beacon: Beacon, dump, parent: int) -> None:
    """The child: run each clause test the test process sends (its node id, the next test's, the
    budgets), one after another, and send back its reports; never returns. A fatal signal writes
    the Python stacks to ``dump``."""
    status = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the test process's to handle
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)
        faulthandler.enable(file=dump, all_threads=True)
        faulthandler.register(STACKS, file=dump, all_threads=True)  # the parent asks, before it kills
        die_with_parent(parent)
        if "torch" in sys.modules:  # see the module's docstring
            sys.modules["torch"].set_num_threads(1)
        calls.heartbeat = beacon.called  # and Child.receive stops a call past its time limit
        fresh_seeds()
        from _pytest.runner import runtestprotocol

        from .session import SESSION

        items = {item.nodeid: item for item in session.items}
        serializable = session.config.hook.pytest_report_to_serializable
        with os.fdopen(commands, "rb") as orders:
            for line in orders:  # ends when the test process closes it
                nodeid, next_nodeid, budgets = pickle.loads(bytes.fromhex(line.decode()))
                item, nextitem = items[nodeid], items.get(next_nodeid)
                session.config.stash[SESSION].budgets = budgets
                item.stash[BEACON] = beacon
                session._setupstate.teardown_exact(item)  # what the test process ran in between
                reports = runtestprotocol(item, log=False, nextitem=nextitem)
                send(replies, [serializable(config=session.config, report=r) for r in reports])
    except BaseException:
        traceback.print_exc()
        status = EXIT_BROKEN
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


# --- in the test process ----------------------------------------------------------------------------


class Ended(NamedTuple):
    """How a clause test in the child ended: its reports' data (None: the child died or was killed:
    its wait status, or how long it had stalled), its wall time, faulthandler's dump."""

    data: list | None  # the serialized reports
    status: int | None
    stalled: float | None
    seconds: float
    stacks: str = ""
    # the Beacon when the child was found stalled, before it was asked for its stacks: the signal
    # that asks can end a native sleep, and with it the call in progress
    last: tuple | None = None


class Child:
    """The forked process that runs this process's clause tests, one after another, so that each
    starts warm (a process per test costs 10% of a run: every one redoes the first-call work of
    Hypothesis, the strategies and torch). Forked at the first clause test, and again after one
    died or was killed."""

    def __init__(self, session):
        self.beacon, self.dump = Beacon(), tempfile.TemporaryFile()
        child_reads, self.commands = os.pipe()
        self.replies, child_writes = os.pipe()
        parent, self.pid = os.getpid(), None
        # Ctrl-C or SIGTERM between fork() and the end of this would leave the child running, unknown
        signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
        # The child's garbage collections leave the objects it inherits alone (see the docstring); in
        # this process they stay frozen too, so that no later collection walks them again (pytest's
        # five at the end of the session took 0.45 s with torch loaded).
        gc.freeze()
        try:
            self.pid = os.fork()
            if self.pid == 0:
                os.close(self.commands)
                os.close(self.replies)
                serve(session, child_reads, child_writes, self.beacon, self.dump, parent)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)
        os.close(child_reads)
        os.close(child_writes)

    def run(self, item, nextitem, budgets, limit: float | None) -> Ended:
        """Run ``item`` in the child; its reports, or how the child died (then it is stopped)."""
        began = time.monotonic()
        self.beacon.example(0)
        order = pickle.dumps((item.nodeid, None if nextitem is None else nextitem.nodeid, budgets)).hex()
        try:
            os.write(self.commands, order.encode() + b"\n")
            data, stalled = self.receive(limit)
        except BrokenPipeError:
            data, stalled = None, None
        except BaseException:  # Ctrl-C, SIGTERM: the child goes with the run
            self.stop()
            raise
        if data is not None:
            return Ended(pickle.loads(data), None, None, time.monotonic() - began)
        last = None
        if stalled is not None:
            last = self.beacon.last()
            self.ask_for_stacks()
        status, stacks = self.stop(kill=stalled is not None)
        return Ended(None, status, stalled, time.monotonic() - began, stacks, last)

    def receive(self, limit: float | None) -> tuple[bytes | None, float | None]:
        """One reply: (its data, None); (None, None) if the child died first; (None, seconds) if a
        call ran past ``limit`` or, with no call running, the child showed no progress for twice as
        long and more (the watchdog's patience)."""
        buffer = b""
        last_beats, last_change = self.beacon.beats(), time.monotonic()
        patience = None if limit is None else 2 * limit + GRACE
        wait = 1.0 if limit is None else min(1.0, limit / 4)
        while True:
            if stopping:
                raise Terminated(stopping)
            if select.select([self.replies], [], [], wait)[0]:
                chunk = os.read(self.replies, 1 << 16)
                if not chunk:
                    return None, None
                buffer += chunk
                if len(buffer) >= 8 and len(buffer) - 8 >= struct.unpack_from("Q", buffer)[0]:
                    return buffer[8:], None
                continue
            now, beats = time.monotonic(), self.beacon.beats()
            if beats != last_beats:
                last_beats, last_change = beats, now
            elif limit is not None and self.beacon.calling() and now - last_change > limit:
                return None, now - last_change
            elif patience is not None and now - last_change > patience:
                return None, now - last_change

    def ask_for_stacks(self, patience: float = 1.0) -> None:
        """Have the child write its Python stacks to its dump (faulthandler, which answers even while
        native code holds the GIL), and wait a moment for them."""
        try:
            os.kill(self.pid, STACKS)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + patience
        while time.monotonic() < deadline and os.fstat(self.dump.fileno()).st_size == 0:
            time.sleep(0.01)
        time.sleep(0.05)  # the rest of the dump

    def stop(self, kill: bool = True) -> tuple[int | None, str]:
        """End the child (at once with ``kill``, else once it has read all its orders): its wait
        status and faulthandler's dump of a fatal signal ("" if none)."""
        if self.pid is None:
            return None, ""
        os.close(self.commands)
        if kill:
            os.kill(self.pid, signal.SIGKILL)
        _, status = os.waitpid(self.pid, 0)
        os.close(self.replies)
        self.dump.seek(0)
        stacks = self.dump.read().decode(errors="replace")
        self.dump.close()
        self.pid = None
        return status, stacks


CHILD = pytest.StashKey["Child"]()


def child_of(session) -> Child:
    """This process's child, forked if there is none (stopped at the end of the run)."""
    config = session.config
    child = config.stash.get(CHILD, None)
    if child is None:  # the first: whichever child is current at the end is stopped then
        config.add_cleanup(lambda: config.stash[CHILD].stop(kill=False))
    if child is None or child.pid is None:
        child = config.stash[CHILD] = Child(session)
    return child


def reports_of(item, ended: Ended) -> list | None:
    """The child's own reports (None: it died before sending them)."""
    if ended.data is None:
        return None
    from_serializable = item.config.hook.pytest_report_from_serializable
    return [from_serializable(config=item.config, data=d) for d in ended.data]


def crash_site(stacks: str) -> str:
    """From faulthandler's dump: the frames of the thread that received the fatal signal, without
    this suite's, Hypothesis's, pytest's and threading's own."""
    current = stacks.partition("Current thread")[2].partition("\n\n")[0]
    frames = [line for line in current.splitlines()[1:] if line.strip().startswith("File ")]
    own = (
        os.path.dirname(os.path.dirname(__file__)),
        "hypothesis",
        "_pytest",
        "pluggy",
        "threading.py",
        "runpy",
    )
    return "\n".join(line for line in frames if not any(part in line for part in own))


def cause(ended: Ended, beacon: Beacon, impl) -> tuple[BaseException, int, list]:
    """Why a clause test of ``impl`` left no reports, as the error its clause fails with; its
    examples, the draws of the example it was in."""
    from ..runner import ImplementationCrashed, ImplementationTimedOut

    examples, draws, call = ended.last or beacon.last()
    during = f"; the call in progress: {call}" if call else ""
    where = "where the process died"
    if ended.stalled is not None and call:
        error = ImplementationTimedOut(
            f"{impl.name} took longer than {impl.time_limit:g} s (--rnn-timeout): the call was still running "
            f"after {ended.stalled:.1f} s, and the process running it was stopped during example {examples}"
            f"{during}"
        )
        where = "where the call was when it was stopped"
    elif ended.stalled is not None:
        error = ImplementationTimedOut(
            f"the test made no progress for {ended.stalled:.0f} s (no call of the implementation started or "
            "ended, no example began) and its process was stopped: a call stuck where the thread-based time "
            f"limit (--rnn-timeout) cannot stop it, such as native code holding Python's GIL{during}"
        )
    elif (
        ended.status is not None
        and os.WIFEXITED(ended.status)
        and os.WEXITSTATUS(ended.status) == EXIT_BROKEN
    ):
        error = RuntimeError("the child process running the test could not send its reports (see stderr)")
    else:
        died = "died" if ended.status is None else f"died of {signal_name(ended.status)}"
        error = ImplementationCrashed(
            f"the process running the implementation {died} during example {examples}{during}"
        )
    site = crash_site(ended.stacks)
    if site:
        error.add_note(f"{where} (faulthandler's dump, innermost first):\n{site}")
    return error, examples, draws


def failed_reports(item, seconds: float, failure: tuple[str, list]) -> list:
    """setup, call and teardown reports for a clause test that left none: the call failed with
    ``failure`` (its text and user properties)."""
    from _pytest.reports import TestReport

    text, props = failure
    keywords = {name: 1 for name in item.keywords}
    common = dict(nodeid=item.nodeid, location=item.location, keywords=keywords, longrepr=None)
    return [
        TestReport(**common, outcome="passed", when="setup"),
        TestReport(
            **{**common, "longrepr": failures.longrepr(item, text)},
            outcome="failed",
            when="call",
            duration=seconds,
            user_properties=[*item.user_properties, *props],
        ),
        TestReport(**common, outcome="passed", when="teardown"),
    ]


def run_protocol(item, nextitem, budgets, failure_of) -> None:
    """pytest_runtest_protocol for a clause test run in the child: the reports are logged here.
    ``failure_of(error, examples, draws)`` gives the text and user properties of a test that died."""
    ihook = item.ihook
    ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    began = time.monotonic()
    try:
        child = child_of(item.session)
        ended = child.run(item, nextitem, budgets, item.callspec.params["impl"].time_limit)
        reports = reports_of(item, ended) or failed_reports(
            item, ended.seconds, failure_of(*cause(ended, child.beacon, item.callspec.params["impl"]))
        )
    except Exception as e:  # a defect of this suite: this test's verdict is "error", the run goes on
        error = f"rnn-conformance could not run the test in a child process: {type(e).__name__}: {e}"
        failure = {"kind": "error", "message": error}  # not failure_of: it may be what broke
        reports = failed_reports(item, time.monotonic() - began, (error, [("rnn_failure", failure)]))
    for report in reports:
        ihook.pytest_runtest_logreport(report=report)
    ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    setup_state = getattr(item.session, "_setupstate", None)
    if setup_state is not None:  # what this process set up for earlier tests, as if this one had run here
        setup_state.teardown_exact(nextitem)
