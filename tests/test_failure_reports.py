"""Several distinct failures in one clause: each is reported with its own statement, case and
reproduction, in the text and in the JSON (issue 12, item 3)."""

import json

import torch

from .helpers import run_suite


class TwoBugs(torch.nn.GRU):
    """torch.nn.GRU with two unrelated bugs: it raises for bidirectional=True, and adds 1 to every
    other output. Every example fails, one way or the other, so that Hypothesis meets both bugs
    whatever it draws first: it stops looking for more soon after its first failure (a second bug
    that needed, say, two layers was met or missed depending on the strategies' draws)."""

    def forward(self, x, hx=None):
        if self.bidirectional:
            raise NotImplementedError("bidirectional is not implemented")
        output, h_n = super().forward(x, hx)
        return output + 1, h_n


def test_each_distinct_failure_has_its_own_case_and_reproduction(pytester, tmp_path):
    path = tmp_path / "report.json"
    name = "tests.test_failure_reports:TwoBugs"
    result, _ = run_suite(
        pytester, name, "-k", "output_matches_oracle", "--hypothesis-seed=0", f"--rnn-report={path}"
    )
    failure = json.loads(path.read_text())["implementations"][name]["clauses"]["output.matches_oracle"][
        "failure"
    ]
    each = failure["failures"]
    assert failure["kind"] == "fails" and len(each) == 2
    assert failure["message"].startswith("Hypothesis found 2 distinct failures:")
    raised, mismatch = sorted(each, key=lambda f: f["exception"] != "ImplementationError")
    assert "bidirectional=True" in raised["case"] and "raised NotImplementedError" in raised["message"]
    assert "bidirectional=False" in mismatch["case"]
    assert "output differs from the oracle" in mismatch["message"]
    assert raised["reproduction"] != mismatch["reproduction"]
    text = result.stdout.str()
    assert "Hypothesis found 2 distinct failures, each with its own case:" in text
    assert "--- failure 1 of 2 ---" in text and "--- failure 2 of 2 ---" in text
    failures_section = text[: text.index("RNN conformance verdicts")]
    assert failures_section.count("Reproduce it: python ") == 2
    names = sorted(f["reproduction_path"].rpartition("/")[2] for f in each)
    assert names == ["output.matches_oracle-2.py", "output.matches_oracle.py"]  # in either order
