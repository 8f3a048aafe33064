"""Shared by the framework adapters' tests: torch.nn modules, adapters built from their weights, verdicts."""

from __future__ import annotations

import torch

from conformance.spec.config import Config

from .helpers import MODULES, flat


def module_and_call(adapter, mode: str, bidirectional: bool, num_layers: int, **weights_changed):
    """torch.nn's module (float32, batch_first, input_size != hidden_size, weights in [-0.8, 0.8]
    so that every bias matters) and the adapter built from its weights; ``weights_changed`` sets
    a slice of a weight (name -> (slice, value))."""
    torch.manual_seed(0)
    kwargs = dict(input_size=3, hidden_size=4, num_layers=num_layers, batch_first=True)
    module = MODULES[mode](bidirectional=bidirectional, **kwargs).eval()
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-0.8, 0.8)
        for name, (index, value) in weights_changed.items():
            getattr(module, name)[index] = value
    config = Config(mode=mode, bidirectional=bidirectional, dtype="float32", **kwargs)
    return module, adapter.build(config, dict(module.state_dict()))


def run_both(module, call, mode: str):
    """(torch's result, the adapter's) on a batch of 2 sequences of 5 steps, with h_0."""
    states = module.num_layers * (2 if module.bidirectional else 1)
    torch.manual_seed(1)
    x, h0 = torch.randn(2, 5, 3), torch.randn(states, 2, 4)
    h0 = (h0, torch.randn(states, 2, 4)) if mode == "LSTM" else h0
    with torch.no_grad():
        return flat(module(x, h0)), flat(call(x, h0))


def max_difference(module, call, mode: str) -> float:
    want, got = run_both(module, call, mode)
    for g in got:
        assert g.dtype == torch.float32
    return max(float((g - w).abs().max()) for g, w in zip(got, want))


def non_conforming(got: dict) -> dict:
    """verdict -> sorted clauses, for every clause that does not conform."""
    grouped = {}
    for clause, verdict in sorted(got.items()):
        if verdict != "conforms":
            grouped.setdefault(verdict, []).append(clause)
    return grouped
