"""--rnn-shard=K/N: a deterministic 1/N of a run's clause tests, balanced by their measured cost."""

from __future__ import annotations

import statistics

import pytest

from .costs import function_name, load_costs
from .options import Shard
from .scope import Scope


def assign(units: dict[str, float], count: int) -> list[list[str]]:
    """Longest processing time first: each unit (node id -> cost), the most costly first and ties by
    node id, goes to the shard with the least cost so far (the lowest index among equals). The
    result depends only on ``units``, so every process that collected the same tests agrees."""
    shards: list[list[str]] = [[] for _ in range(count)]
    loads = [0.0] * count
    for nodeid in sorted(units, key=lambda n: (-units[n], n)):
        least = min(range(count), key=lambda k: (loads[k], k))
        shards[least].append(nodeid)
        loads[least] += units[nodeid]
    return shards


def costs_of(items, costs: dict[str, float]) -> dict[str, float]:
    """Each item's expected seconds (see cost); a test the table does not know costs its median."""
    median = statistics.median(costs.values()) if costs else 1.0
    return {item.nodeid: cost(item, costs, median) for item in items}


def cost(item, costs: dict[str, float], median: float) -> float:
    """A test out of scope by the run's settings costs nothing. One whose implementation is
    unavailable here keeps its cost: that depends on the machine (a GPU), and the split must not."""
    scope = dict(item.user_properties).get("rnn_scope")
    if scope is not None and scope != Scope.UNAVAILABLE.value:
        return 0.0
    return costs.get(function_name(item.nodeid), median)


class ShardHooks:
    """Registered when --rnn-shard is given: after -k/-m and the scope decisions, keep this shard's
    tests and deselect the others, as -k does. Under xdist each worker does it (they collect the same
    tests, so they agree) and the first to finish tells the controller (its workeroutput)."""

    def __init__(self, shard: Shard, session):
        self.shard, self.session = shard, session

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        units = costs_of(items, load_costs())
        mine = set(assign(units, self.shard.count)[self.shard.index - 1])
        self.session.shard = metadata(self.shard, units, mine)
        if hasattr(config, "workeroutput"):
            config.workeroutput["rnn_shard"] = self.session.shard
        deselected = [item for item in items if item.nodeid not in mine]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item.nodeid in mine]


def metadata(shard: Shard, units: dict[str, float], mine: set) -> dict:
    """What the report says of the shard: its tests, and every test of the run it is a part of (what
    rnn-conformance merge expects from all the shards together)."""
    items = sorted(mine)  # a set's order changes with the process's string hashes, a float sum's with it
    return {
        "index": shard.index,
        "count": shard.count,
        "items": items,
        "expected_seconds": round(sum(units[n] for n in items), 1),
        "total_items": sorted(units),
    }
