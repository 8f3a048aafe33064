"""The verdict table, the JSON report and the failure sections, end to end on real and faulty
implementations (CONTRACT.md's clauses; issue 4)."""

import json
import pathlib
import runpy
import sys

import pytest

from .helpers import run_suite

ROOT = pathlib.Path(__file__).resolve().parents[1]


def report(path):
    return json.loads(pathlib.Path(path).read_text())


def test_conformant_implementation_table_and_json(pytester, tmp_path):
    path = tmp_path / "verdicts.json"
    result, _ = run_suite(
        pytester,
        "torch.nn:GRU",
        "-k",
        "test_gru_update or h_n_is_last",
        f"--rnn-report={path}",
        "--hypothesis-seed=3",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*RNN conformance verdicts: torch.nn:GRU*",
            "clause * verdict * examples * statement",
            "gru.update * conforms * One GRU step: gates r | z | n*",
            "state.h_n_is_last_output * conforms * The top layer's h_n*",
            "torch.nn:GRU: 2 conforms",
        ]
    )
    data = report(path)
    assert data["tool"] == "rnn-conformance"
    assert set(data["versions"]) >= {"rnn-conformance", "torch", "hypothesis", "numpy"}
    assert data["settings"]["seed"] == 3 and data["settings"]["max_examples"] > 0
    clauses = data["implementations"]["torch.nn:GRU"]["clauses"]
    assert set(clauses) == {"gru.update", "state.h_n_is_last_output"}
    for entry in clauses.values():
        assert entry["verdict"] == "conforms" and entry["examples"] >= data["settings"]["max_examples"] // 2


DIAGNOSES = {
    "GatesSwapped": ("test_gru_update", "gru.update", "gru.gate_order_zrn"),
    "UpdateGateInverted": ("test_gru_update", "gru.update", "gru.z_inverted"),
    "ResetBeforeMatmul": ("test_gru_candidate", "gru.candidate", "gru.reset_before_matmul"),
}


@pytest.mark.parametrize("fault", sorted(DIAGNOSES))
def test_faulty_gru_is_diagnosed(pytester, tmp_path, capsys, monkeypatch, fault):
    test, clause_id, variant = DIAGNOSES[fault]
    name, path = f"tests.faults:{fault}", tmp_path / "verdicts.json"
    result, _ = run_suite(pytester, name, "-k", test, f"--rnn-report={path}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            f"{name} fails clause {clause_id}: *",
            "*differs from the oracle: * values * are off by more than the allowed *",
            "  largest error * at step 0, row *, unit *: got *, but should be *",
            "GRU gates: * units differ after one step; the first, row *, unit *, is computed from rows * "
            "(r), * (z) and * (n) of weight_ih_l0 / weight_hh_l0*",
            f"diagnosis: the result equals * ({variant}): *",
            f"Fa*: {test}(*",  # Hypothesis's "Falsifying example:" ("Failing test case:" from 6.16x on)
            f"Reproduce it: python */{clause_id}.py",
            "(the clause's own check, on this example: exit status 1 while it fails, 0 once it conforms)",
            f'    """{name} against clause {clause_id} of rnn-conformance, on one example.',
            "*('case', Case(config=Config(mode='GRU', *",
            f"*RNN conformance verdicts: {name}*",
            f"{clause_id} * fails * *",
        ]
    )
    assert "runner.py" not in result.stdout.str()  # no harness traceback
    failure = report(path)["implementations"][name]["clauses"][clause_id]["failure"]
    assert failure["kind"] == "fails" and failure["case"].startswith("Case(config=Config(mode='GRU'")
    assert failure["max_error"] > failure["tolerance"] > 0
    assert "but should be" in failure["message"]
    assert failure["diagnosis"]["matches"] == [variant]
    assert (
        1
        <= failure["first_failing_example"]
        <= report(path)["implementations"][name]["clauses"][clause_id]["examples"]
    )
    capsys.readouterr()
    monkeypatch.setattr(sys, "argv", [failure["reproduction_path"]])
    with pytest.raises(SystemExit) as exited:  # the script replays the clause's own check
        runpy.run_path(failure["reproduction_path"], run_name="__main__")
    assert exited.value.code == 1
    assert failure["message"] in capsys.readouterr().out


def test_two_implementations_one_report(pytester, tmp_path):
    path = tmp_path / "verdicts.json"
    result, _ = run_suite(
        pytester,
        "torch.nn:GRU",
        "--rnn-impl=tests.faults:BiasHhDropped",
        "-k",
        "test_gru_update",
        f"--rnn-report={path}",
    )
    result.stdout.fnmatch_lines(
        [
            "*verdicts: torch.nn:GRU*",
            "gru.update * conforms *",
            "*verdicts: tests.faults:BiasHhDropped*",
            "gru.update * fails *",
        ]
    )
    impls = report(path)["implementations"]
    assert impls["torch.nn:GRU"]["clauses"]["gru.update"]["verdict"] == "conforms"
    assert impls["tests.faults:BiasHhDropped"]["clauses"]["gru.update"]["verdict"] == "fails"


ADAPTERS = '''
import time
import torch

class NoStacks:
    """Refuses what it does not claim, so a drawn bidirectional or stacked case would fail."""
    modes = ("GRU",)
    not_claimed = {"bidirectional", "multi_layer"}
    def build(self, config, weights):
        assert not config.bidirectional and config.num_layers == 1, "drew a feature that is not claimed"
        module = torch.nn.GRU(**config.module_kwargs()).to(getattr(torch, config.dtype))
        module.load_state_dict(weights)
        return lambda x, h0: module(x, h0)

class Sleeps:
    modes = ("GRU",)
    def build(self, config, weights):
        def call(x, h0):
            time.sleep(1.5)
        return call

class Unknown:
    modes = ("GRU",)
    not_claimed = {"teleportation"}
    def build(self, config, weights):
        pass
'''


@pytest.fixture
def adapters(pytester):
    pytester.makepyfile(adapters=ADAPTERS)
    pytester.syspathinsert()


def test_not_claimed_features_are_not_drawn_and_their_clauses_not_claimed(pytester, adapters):
    result, verdicts = run_suite(
        pytester,
        "adapters:NoStacks",
        "-k",
        "chain or output_matches_oracle or unbatched",
        "--rnn-not-claimed=unbatched",
        "-rs",
    )
    assert result.ret == pytest.ExitCode.OK
    assert verdicts == {
        "stacking.chain": {"skipped"},
        "layout.unbatched": {"skipped"},
        "output.matches_oracle": {"passed"},
    }
    result.stdout.fnmatch_lines(
        [
            "SKIPPED * not claimed: adapters:NoStacks does not claim unbatched, which layout.unbatched is "
            "about",
            "SKIPPED * not claimed: adapters:NoStacks does not claim multi_layer, which stacking.chain is "
            "about",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*does not claim: bidirectional, multi_layer, unbatched*",
            "output.matches_oracle * conforms *",
            "stacking.chain * not claimed * 0 *",
            "layout.unbatched * not claimed * 0 *",
        ]
    )


@pytest.mark.parametrize(
    "args, says",
    [
        (
            ["--rnn-impl=adapters:Unknown"],
            "adapters:Unknown.not_claimed: unknown capability teleportation (known: *",
        ),
        (
            ["--rnn-impl=torch.nn:GRU", "--rnn-not-claimed=bidirectional,sparse"],
            "--rnn-not-claimed: unknown capability sparse (known: *",
        ),
    ],
)
def test_unknown_capability_is_a_usage_error(pytester, adapters, args, says):
    result = pytester.runpytest_inprocess("--pyargs", "conformance", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {says}"])


def test_skips_file_partial_ids_and_unknown_lines(pytester, tmp_path):
    skips = tmp_path / "skips.txt"
    skips.write_text("# known gaps\nlayout.unb   # clause id prefix\ntest_state_h0_used[\n\nno.such_clause\n")
    result, verdicts = run_suite(
        pytester, "torch.nn:GRU", "-k", "unbatched or h0_used or test_shape", f"--rnn-skips={skips}", "-rs"
    )
    assert result.ret == pytest.ExitCode.OK
    assert verdicts == {
        "layout.unbatched": {"skipped"},
        "state.h0_used": {"skipped"},
        "shape.output": {"passed"},
    }
    result.stdout.fnmatch_lines(
        [
            "*PytestWarning: --rnn-skips *, line 5: 'no.such_clause' matches no test id nor clause id*",
            "layout.unbatched * not claimed *",
            f"*not claimed: listed in {skips} (line 2: layout.unb)*",
        ]
    )


def test_a_hanging_implementation_times_out_and_the_run_goes_on(pytester, adapters):
    result, verdicts = run_suite(
        pytester,
        "adapters:Sleeps",
        "-k",
        "test_output_matches_oracle or test_shape_output",
        "--rnn-timeout=0.2",
    )
    assert verdicts == {"output.matches_oracle": {"failed"}, "shape.output": {"failed"}}
    result.stdout.fnmatch_lines(
        [
            "*adapters:Sleeps took longer than 0.2 s*",
            "output.matches_oracle * timed out *",
            "shape.output * timed out *",
        ]
    )
    assert result.duration < 30


@pytest.fixture
def subprocess_env(monkeypatch):
    """Subprocesses import this checkout (and tests.faults) first."""
    monkeypatch.setenv("PYTHONPATH", str(ROOT))


def test_under_xdist_the_table_and_json_are_merged(pytester, subprocess_env, tmp_path):
    path = tmp_path / "verdicts.json"
    result = pytester.runpytest_subprocess(
        "--pyargs",
        "conformance",
        "--rnn-impl=tests.faults:GatesSwapped",
        "-k",
        "test_gru_update or h_n_is_last",
        f"--rnn-report={path}",
        "-n",
        "2",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*verdicts: tests.faults:GatesSwapped*",
            "gru.update * fails *",
            "state.h_n_is_last_output * conforms *",
            "tests.faults:GatesSwapped: 1 conforms, 1 fails",
        ]
    )
    clauses = report(path)["implementations"]["tests.faults:GatesSwapped"]["clauses"]
    assert (
        clauses["gru.update"]["failure"]["case"].startswith("Case(") and clauses["gru.update"]["examples"] > 0
    )
    assert (
        clauses["state.h_n_is_last_output"]["verdict"] == "conforms"
        and clauses["state.h_n_is_last_output"]["examples"] > 0
    )


def test_console_entry_point(pytester, subprocess_env):
    import sys

    result = pytester.run(sys.executable, "-m", "conformance.cli", "torch.nn:GRU", "-k", "test_gru_update")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*RNN conformance verdicts: torch.nn:GRU*", "gru.update * conforms *"])
    assert "PASSED" not in result.stdout.str()
    usage = pytester.run(sys.executable, "-m", "conformance.cli")
    assert usage.ret == 4 and "usage: rnn-conformance NAME" in usage.stderr.str()


def test_packed_and_dropout_can_be_not_claimed(pytester):
    result, verdicts = run_suite(
        pytester, "torch.nn:GRU", "--rnn-not-claimed=packed,dropout", "-k", "packed or dropout", "-rs"
    )
    assert result.ret == pytest.ExitCode.OK
    assert set(verdicts) == {
        "packed.matches_oracle",
        "packed.each_row_alone",
        "packed.padding_ignored",
        "dropout.eval_mode",
        "dropout.single_layer",
        "dropout.between_layers",
    }
    assert all(outcomes == {"skipped"} for outcomes in verdicts.values())


def test_not_applicable_is_its_own_verdict(pytester, adapters, tmp_path):
    """A cell on sequence clauses, cell kinds --rnn-kind leaves out, a constructor clause on an adapter."""
    path = tmp_path / "verdicts.json"
    result, _ = run_suite(
        pytester,
        "torch.nn:GRUCell",
        "--rnn-impl=adapters:NoStacks",
        "--rnn-impl=torch",
        "--rnn-kind=GRU",
        "-k",
        "cell_elman or proj_size",
        f"--rnn-report={path}",
    )
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "*verdicts: torch.nn:GRUCell*",
            "cell.elman * not applicable * 0 *",
            "errors.proj_size * not applicable * 0 *",
            "torch.nn:GRUCell: 2 not applicable",
            "*verdicts: adapters:NoStacks*",
            "adapters:NoStacks: 2 not applicable",
            "*verdicts: torch *",
            "cell.elman * not applicable * 0 *",
            "errors.proj_size * conforms *",
            "torch: 1 conforms, 1 not applicable",
        ]
    )
    impls = report(path)["implementations"]
    reasons = {
        (name, clause_id): entry["reason"]
        for name, impl in impls.items()
        for clause_id, entry in impl["clauses"].items()
        if entry["verdict"] == "not applicable"
    }
    assert reasons == {
        ("torch.nn:GRUCell", "cell.elman"): "not applicable: torch.nn:GRUCell is a cell (one step); "
        "cell.elman checks sequence modules",
        ("torch.nn:GRUCell", "errors.proj_size"): "not applicable: torch.nn:GRUCell is a cell (one step); "
        "errors.proj_size checks sequence modules",
        ("adapters:NoStacks", "cell.elman"): "not applicable: adapters:NoStacks implements GRU; "
        "cell.elman covers RNN_RELU, RNN_TANH",
        (
            "adapters:NoStacks",
            "errors.proj_size",
        ): "not applicable: adapters:NoStacks is an adapter: only drop-in classes can be asked to refuse "
        "constructor arguments",
        ("torch", "cell.elman"): "not applicable: torch implements GRU; cell.elman covers RNN_RELU, RNN_TANH",
    }
