"""The cost table of --rnn-shard: seconds per clause test in a reference run, and how it is made."""

from __future__ import annotations

import json
from pathlib import Path

COSTS = Path(__file__).with_name("costs.json")
#: how costs.json is made again, from the JSON reports of reference runs
REGENERATE = (
    "rnn-conformance torch.nn:GRU --hypothesis-seed=0 --rnn-report=gru.json && "
    "rnn-conformance torch.nn:LSTM --rnn-impl=torch.nn:RNN --rnn-impl=torch.nn:GRUCell --hypothesis-seed=0 "
    "--rnn-report=others.json && python -m conformance.pytest_plugin.costs gru.json others.json"
)


def function_name(nodeid: str) -> str:
    """The clause test's function name: the cost table's key (the same for every implementation)."""
    return nodeid.rpartition("::")[2].partition("[")[0]


def load_costs(path: Path = COSTS) -> dict[str, float]:
    return json.loads(path.read_text())["seconds"]


def ran(entry: dict) -> bool:
    """A clause that ran its examples: out-of-scope ones took no time, and a crash's time says little."""
    return entry["verdict"] in ("conforms", "fails") and entry["examples"] > 0


def regenerate(reports: list[str], path: Path = COSTS) -> dict[str, float]:
    """costs.json from reference runs' JSON reports: each clause test's seconds in the first report
    that ran it (the GRU run's, then the others' for the tests a GRU does not run)."""
    seconds: dict[str, float] = {}
    for report in reports:
        for impl in json.loads(Path(report).read_text())["implementations"].values():
            for entry in filter(ran, impl["clauses"].values()):
                each = round(entry["seconds"] / len(entry["tests"]), 2)
                for name in map(function_name, entry["tests"]):
                    seconds.setdefault(name, each)
    table = {"regenerate": REGENERATE, "seconds": dict(sorted(seconds.items()))}
    path.write_text(json.dumps(table, indent=2) + "\n")
    return seconds


if __name__ == "__main__":
    import sys

    print(f"{len(regenerate(sys.argv[1:]))} clause tests written to {COSTS}")
