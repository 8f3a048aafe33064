"""The one call path: every call of an implementation (construction, build, forward, backward, and
the calls expected to raise) runs under its time limit, and the runner returns results, never
comparison verdicts."""

import threading
import time

import numpy as np
import pytest
import torch

from conformance import calls, runner
from conformance.case import Case
from conformance.registry import Implementation, ModuleAdapter, resolve
from conformance.spec.config import Config

from .helpers import run_suite

CASE = Case(Config("GRU", input_size=3, hidden_size=4), seq_len=5, batch=3, seed=0)
LENGTHS = np.array([2, 5, 3])


class Sleepy:
    """Sleeps in build, so every call of it takes 0.5 s."""

    modes = ("GRU",)

    def build(self, config, weights):
        time.sleep(0.5)
        return lambda x, h0: None


def impl(adapter, name, time_limit=0.1) -> Implementation:
    """A fresh name for each: a hung call keeps its implementation's call thread busy."""
    return Implementation(name, adapter, modes=frozenset(adapter.modes), time_limit=time_limit)


def test_outcome_says_returned_raised_or_hung():
    fast = impl(Sleepy(), "outcome-test")
    assert calls.outcome(fast, lambda: 42) == calls.Returned(42)
    error = ZeroDivisionError("no")

    def fails():
        raise error

    assert calls.outcome(fast, fails) == calls.Raised(error)
    hung = calls.outcome(fast, lambda: time.sleep(0.5))
    assert isinstance(hung, calls.Hung)
    assert hung.why.startswith("outcome-test took longer than 0.1 s (--rnn-timeout)")
    busy = calls.outcome(fast, lambda: 42)
    assert busy == calls.Hung("outcome-test took longer than 0.1 s (an earlier call has not returned yet)")


def test_without_a_time_limit_the_call_runs_in_the_callers_thread():
    here = impl(Sleepy(), "no-limit-test", time_limit=None)
    assert calls.outcome(here, threading.current_thread) == calls.Returned(threading.current_thread())


def test_the_runner_returns_the_lengths_instead_of_judging_them():
    dropped = resolve("tests.faults:PackedOutputIndicesDropped")
    got = runner.run_case(dropped, CASE, lengths=LENGTHS)
    assert got.lengths == runner.Lengths(output=[5, 3, 2], input=[2, 5, 3])  # unpacked in sorted order
    assert got.output is None  # other sequences: the clause's to judge
    assert runner.run_case(dropped, CASE).lengths is None
    repacked = resolve("tests.returns:repacked")
    got = runner.run_case(repacked, CASE, lengths=LENGTHS)
    assert got.lengths == runner.Lengths(output=[2, 5, 3], input=[2, 5, 3])
    assert got.output.shape == (5, 3, 4)


def test_a_result_of_the_wrong_shape_is_refused_before_anything_reshapes_it():
    longer = resolve("tests.returns:output_axis2_longer")
    with pytest.raises(
        runner.ImplementationError,
        match=r"output has shape \(5, 3, 5\), but should be "
        r"\(5, 3, 4\): \(L=5, N=3, D\*H_out=4\)",
    ):
        runner.run_case(longer, CASE)


def test_refusal_returns_what_the_call_raised():
    torch_gru = resolve("torch.nn:GRU")
    wide = np.zeros((5, 3, 7))
    assert isinstance(runner.refusal(torch_gru, CASE.config, CASE.weights, wide), RuntimeError)
    assert runner.refusal(torch_gru, CASE.config, CASE.weights, CASE.x) is None
    assert isinstance(runner.construction_refusal(torch_gru, CASE.config, proj_size=2), ValueError)
    assert runner.construction_refusal(torch_gru, CASE.config) is None


def test_a_refusal_of_the_valid_configuration_is_not_a_refusal_of_the_bad_input():
    class NoBidirectionalGRU(torch.nn.GRU):
        def __init__(self, *args, bidirectional=False, **kwargs):
            if bidirectional:
                raise ValueError("bidirectional is not supported")
            super().__init__(*args, **kwargs)

    refuses = impl(ModuleAdapter({"GRU": NoBidirectionalGRU}), "no-bidirectional-test")
    config = CASE.config.replace(bidirectional=True)
    weights = CASE.replace(config=config).weights
    with pytest.raises(
        runner.ImplementationError, match="raised ValueError when built for the valid configuration"
    ):
        runner.refusal(refuses, config, weights, np.zeros((5, 3, 7)), valid=(CASE.x, None))
    with pytest.raises(runner.ImplementationError, match="raised ValueError when constructed for the valid"):
        runner.construction_refusal(refuses, config, proj_size=2, valid=config)


class RefusesEveryCall:
    """Builds, then refuses every input: its refusal of a bad one says nothing."""

    modes = ("GRU",)

    def build(self, config, weights):
        def call(x, h0):
            raise NotImplementedError("bidirectional is not supported")

        return call


def test_a_call_that_refuses_the_valid_input_too_is_not_a_refusal_of_the_bad_one():
    refuses = impl(RefusesEveryCall(), "refuses-every-call-test")
    wide = np.zeros((5, 3, 7))
    assert isinstance(runner.refusal(refuses, CASE.config, CASE.weights, wide), NotImplementedError)
    with pytest.raises(runner.ImplementationError, match="raised NotImplementedError on the valid input"):
        runner.refusal(refuses, CASE.config, CASE.weights, wide, valid=(CASE.x, None))


@pytest.mark.parametrize(
    "call",
    [
        lambda i: runner.refusal(i, CASE.config, CASE.weights, CASE.x),
        lambda i: runner.run_with_grad(
            i, CASE.config, CASE.weights, CASE.x, None, np.ones((5, 3, 4)), np.ones((1, 3, 4))
        ),
        lambda i: runner.run_case(i, CASE),
    ],
    ids=["refusal", "run_with_grad", "run_case"],
)
def test_every_call_has_the_time_limit(call):
    with pytest.raises(runner.ImplementationError, match=r"took longer than 0\.1 s"):
        call(impl(Sleepy(), f"sleepy-{id(call)}"))


def test_a_constructor_that_hangs_has_the_time_limit():
    class SlowGRU(torch.nn.GRU):
        def __init__(self, *args, **kwargs):
            time.sleep(0.5)
            super().__init__(*args, **kwargs)

    slow = impl(ModuleAdapter({"GRU": SlowGRU}), "slow-constructor-test")
    with pytest.raises(runner.ImplementationError, match=r"slow-constructor-test took longer than 0\.1 s"):
        runner.construction_refusal(slow, CASE.config, proj_size=2)


ADAPTERS = '''
import time
import torch

class SleepsOnBadWidth:
    """Hangs on an input of the wrong width instead of refusing it."""
    modes = ("GRU",)
    def build(self, config, weights):
        module = torch.nn.GRU(**config.module_kwargs()).to(getattr(torch, config.dtype))
        module.load_state_dict(weights)
        def call(x, h0):
            if x.shape[-1] != config.input_size:
                time.sleep(1.0)
            return module(x, h0)
        return call

class GRUSleepsOnProjSize(torch.nn.GRU):
    """A drop-in GRU whose constructor hangs when given proj_size."""
    def __init__(self, *args, proj_size=0, **kwargs):
        if proj_size:
            time.sleep(1.0)
        super().__init__(*args, **kwargs)
'''


@pytest.fixture
def adapters(pytester):
    pytester.makepyfile(adapters=ADAPTERS)
    pytester.syspathinsert()


@pytest.mark.parametrize(
    "name, clause, test",
    [
        ("adapters:SleepsOnBadWidth", "errors.input_width", "test_errors_input_width"),
        ("adapters:GRUSleepsOnProjSize", "errors.proj_size", "test_errors_proj_size"),
    ],
)
def test_a_call_expected_to_raise_that_hangs_times_out_and_the_run_goes_on(
    pytester, adapters, name, clause, test
):
    result, _ = run_suite(pytester, name, "--rnn-impl=torch.nn:GRU", "-k", test, "--rnn-timeout=0.2")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            f"*{name} took longer than 0.2 s*",
            f"*RNN conformance verdicts: {name}*",
            f"{clause} * timed out *",
            "*RNN conformance verdicts: torch.nn:GRU*",
            f"{clause} * conforms *",
        ]
    )
    assert result.duration < 30
