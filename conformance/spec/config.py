"""One RNN configuration and the parameter layout torch derives from it (CONTRACT.md, "Layers")."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: torch.nn.RNNBase.mode values this suite knows, and the gate count G of each.
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3}
MODES = tuple(GATES)
DTYPES = ("float64", "float32")
#: Half-precision dtypes: checked only where an implementation claims them (adapter ``dtypes``).
REDUCED_DTYPES = ("bfloat16", "float16")


@dataclass(frozen=True)
class Config:
    """The constructor arguments of an RNN, plus the dtype it runs in.

    ``mode`` uses torch's own names (``RNNBase.mode``): RNN_TANH, RNN_RELU, GRU.
    """

    mode: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    bidirectional: bool = False
    dtype: str = "float64"
    dropout: float = 0.0
    training: bool = False  # how it runs, like dtype: train mode (dropout active) or eval mode

    def __post_init__(self):
        if self.mode not in GATES:
            raise ValueError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")

    @property
    def gates(self) -> int:
        return GATES[self.mode]

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def h_out(self) -> int:
        return self.hidden_size

    @property
    def nonlinearity(self) -> str | None:
        return {"RNN_TANH": "tanh", "RNN_RELU": "relu"}.get(self.mode)

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)

    def module_kwargs(self) -> dict:
        """Keyword arguments for ``torch.nn.RNN``/``GRU`` (and anything mirroring them)."""
        kwargs = dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bias=self.bias,
            batch_first=self.batch_first,
            bidirectional=self.bidirectional,
        )
        if self.nonlinearity:
            kwargs["nonlinearity"] = self.nonlinearity
        if self.dropout:
            kwargs["dropout"] = self.dropout
        return kwargs


def suffix(direction: int) -> str:
    return "_reverse" if direction else ""


def layer_parameter_names(config: Config, layer: int, direction: int) -> dict[str, str]:
    """Canonical names of one layer and direction: {"weight_ih": "weight_ih_l1_reverse", ...}."""
    roles = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if config.bias else [])
    return {role: f"{role}_l{layer}{suffix(direction)}" for role in roles}


def parameter_shapes(config: Config) -> dict[str, tuple[int, ...]]:
    """Every parameter torch creates for ``config``, in torch's order, with its shape."""
    G, H, D = config.gates, config.hidden_size, config.directions
    shapes = {}
    for layer in range(config.num_layers):
        width = config.input_size if layer == 0 else D * config.h_out
        for direction in range(D):
            names = layer_parameter_names(config, layer, direction)
            shapes[names["weight_ih"]] = (G * H, width)
            shapes[names["weight_hh"]] = (G * H, config.h_out)
            if config.bias:
                shapes[names["bias_ih"]] = (G * H,)
                shapes[names["bias_hh"]] = (G * H,)
    return shapes
