"""Drop-in classes that raise whenever one capability is used, as real implementations that lack it do.

``without(capability)`` is a ModuleAdapter of torch.nn.RNN/GRU/LSTM subclasses refusing it, and
``cells_without(capability)`` one of the cells; neither declares anything, so a run declares the
gap with ``--rnn-not-claimed``. They are reached as ``--rnn-impl=tests.refusing:ADAPTERS.<name>``.
"""

from __future__ import annotations

from types import SimpleNamespace

import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.capabilities import CAPABILITIES
from conformance.registry import ModuleAdapter
from implementations.torch_nn import CELL_CLASSES, CLASSES

#: capability -> whether constructor keywords use it
AT_CONSTRUCTION = {
    "bidirectional": lambda kw: kw.get("bidirectional", False),
    "multi_layer": lambda kw: kw.get("num_layers", 1) > 1,
    "batch_first": lambda kw: kw.get("batch_first", False),
    "bias_false": lambda kw: not kw.get("bias", True),
    "projection": lambda kw: kw.get("proj_size", 0) > 0,
    "dropout": lambda kw: kw.get("dropout", 0) > 0,
}


def dtypes(module, x) -> set:
    data = x.data if isinstance(x, PackedSequence) else x
    return {data.dtype, next(module.parameters()).dtype}


def unbatched(module, x) -> bool:
    rank = 1 if isinstance(module, torch.nn.RNNCellBase) else 2
    return not isinstance(x, PackedSequence) and x.dim() == rank


#: capability -> whether a call (module, input, hx) uses it
AT_CALL = {
    "packed": lambda m, x, hx: isinstance(x, PackedSequence),
    "unbatched": lambda m, x, hx: unbatched(m, x),
    "initial_state": lambda m, x, hx: hx is not None,
    "float32": lambda m, x, hx: torch.float32 in dtypes(m, x),
    "float64": lambda m, x, hx: torch.float64 in dtypes(m, x),
    "gradients": lambda m, x, hx: torch.is_grad_enabled(),
}
assert set(AT_CONSTRUCTION) | set(AT_CALL) == CAPABILITIES, "a capability without a refusing implementation"


class Refuses:
    """Raises NotImplementedError when ``refused`` is used, at construction or at a call."""

    refused = ""

    def __init__(self, *args, **kwargs):
        if AT_CONSTRUCTION.get(self.refused, lambda kw: False)(kwargs):
            raise NotImplementedError(f"{type(self).__name__} does not support {self.refused} ({kwargs})")
        super().__init__(*args, **kwargs)

    def forward(self, input, hx=None):
        if AT_CALL.get(self.refused, lambda m, x, hx: False)(self, input, hx):
            raise NotImplementedError(f"{type(self).__name__} does not support {self.refused}")
        return super().forward(input, hx)


def refusing(cls: type, capability: str) -> type:
    return type(f"{cls.__name__}Without_{capability}", (Refuses, cls), {"refused": capability})


def adapter(classes: dict, capability: str, cell: bool = False) -> ModuleAdapter:
    return ModuleAdapter({mode: refusing(cls, capability) for mode, cls in classes.items()}, cell=cell)


def without(capability: str) -> ModuleAdapter:
    return adapter(CLASSES, capability)


def cells_without(capability: str) -> ModuleAdapter:
    return adapter(CELL_CLASSES, capability, cell=True)


#: --rnn-impl=tests.refusing:ADAPTERS.without_bidirectional, ...cells_without_bidirectional
ADAPTERS = SimpleNamespace(
    **{f"without_{c}": without(c) for c in CAPABILITIES},
    **{f"cells_without_{c}": cells_without(c) for c in CAPABILITIES},
)

#: A drop-in GRU that refuses bidirectional=True, declaring nothing (as a third-party GRU might).
GRUWithoutBidirectional = refusing(torch.nn.GRU, "bidirectional")
