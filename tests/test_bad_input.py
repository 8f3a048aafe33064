"""Bad input to the tool gets a one-line message and a non-zero exit, or a failing verdict for the
clause concerned; never a crash of the run or a wall of traceback."""

import os

import pytest

from .helpers import failed, run_suite

ADAPTERS = """
import numpy as np
import torch

class Raises:
    modes = ("GRU",)
    def build(self, config, weights):
        def call(x, h0):
            raise RuntimeError("kernel launch failed")
        return call

class WrongType:
    modes = ("GRU",)
    def build(self, config, weights):
        return lambda x, h0: "not a tuple"

class NaNs:
    modes = ("GRU",)
    def build(self, config, weights):
        module = torch.nn.GRU(**config.module_kwargs()).to(x_dtype(config))
        module.load_state_dict(weights)
        def call(x, h0):
            output, h_n = module(x, h0)
            return output * np.nan, h_n
        return call

def x_dtype(config):
    return getattr(torch, config.dtype)

class NoMode(torch.nn.Module):
    def __init__(self, input_size, hidden_size, **kwargs):
        super().__init__()

not_an_rnn = 42
"""

USAGE_ERRORS = {
    "no_such_name": "unknown implementation 'no_such_name': not a registered name",
    "no_such_module:GRU": "cannot import module 'no_such_module' for 'no_such_module:GRU': "
    "ModuleNotFoundError",
    "broken:GRU": "cannot import module 'broken' for 'broken:GRU': ZeroDivisionError: division by zero",
    "adapters:missing": "module 'adapters' has no attribute 'missing'",
    "adapters:not_an_rnn": "'adapters:not_an_rnn' is a int, neither a torch.nn.Module class",
    "adapters:NoMode": "cannot tell the cell kind of NoMode: its instances have no `mode` attribute; "
    "pass --rnn-kind",
}


@pytest.fixture
def adapters(pytester):
    pytester.makepyfile(adapters=ADAPTERS, broken="1 / 0")
    pytester.syspathinsert()


@pytest.mark.parametrize("name", sorted(USAGE_ERRORS))
def test_bad_name_is_a_one_line_usage_error(pytester, adapters, name):
    result, _ = run_suite(pytester, name)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --rnn-impl: *{USAGE_ERRORS[name]}*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


#: names only importing them tells bad (their module exists): under xdist the workers find them
FOUND_BY_WORKERS = ["broken:GRU", "adapters:missing", "adapters:NoMode"]


@pytest.mark.parametrize("name", FOUND_BY_WORKERS)
def test_bad_name_under_xdist_is_the_same_one_line_usage_error(pytester, adapters, monkeypatch, name):
    """The xdist controller does not import implementations (torch: a second of CPU), so the workers
    find these; they must not crash (xdist would print each worker's traceback and restart it). A
    subprocess: xdist's workers are processes of their own, which import the adapters module."""
    monkeypatch.setenv("PYTHONPATH", f"{pytester.path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    result = pytester.runpytest_subprocess("--pyargs", "conformance", f"--rnn-impl={name}", "-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:]
    result.stderr.fnmatch_lines([f"ERROR: --rnn-impl: *{USAGE_ERRORS[name]}*"])
    output = result.stderr.str() + result.stdout.str()
    assert "Traceback" not in output and "node down" not in output, output[-3000:]


def test_missing_rnn_impl_is_a_usage_error(pytester):
    result = pytester.runpytest_inprocess("--pyargs", "conformance")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: the RNN conformance clauses need an implementation: pass --rnn-impl=NAME*"]
    )


@pytest.mark.parametrize(
    "name, says",
    [
        ("adapters:Raises", "*adapters:Raises raised RuntimeError: kernel launch failed*"),
        (
            "adapters:WrongType",
            "*adapters:WrongType returned a str, but should return a tuple (output, h_n)*",
        ),
        ("adapters:NaNs", "*non-finite values; first NaN at step 0, row 0, * where the oracle is finite*"),
    ],
)
def test_misbehaving_implementation_fails_its_clauses_and_the_run_goes_on(pytester, adapters, name, says):
    result, verdicts = run_suite(
        pytester, name, "-x", "-k", "test_output_matches_oracle or test_shape_output"
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "output.matches_oracle" in failed(verdicts) or "shape.output" in failed(verdicts)
    result.stdout.fnmatch_lines([says])
