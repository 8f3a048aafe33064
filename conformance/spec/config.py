"""One RNN configuration and the parameter layout torch derives from it (CONTRACT.md, "Layers")."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

#: torch.nn.RNNBase.mode values this suite knows, and the gate count G of each.
GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "GRU": 3, "LSTM": 4}
MODES = tuple(GATES)
#: The Elman RNN's two modes (torch.nn.RNN's ``nonlinearity``).
ELMAN = ("RNN_TANH", "RNN_RELU")
DTYPES = ("float64", "float32")
#: Half-precision dtypes: checked only where an implementation claims them (adapter ``dtypes``).
REDUCED_DTYPES = ("bfloat16", "float16")


@dataclass(frozen=True)
class Config:
    """The constructor arguments of an RNN, plus the dtype it runs in.

    ``mode`` uses torch's own names (``RNNBase.mode``): RNN_TANH, RNN_RELU, GRU, LSTM.
    ``cell=True`` describes one step of ``torch.nn.RNNCell``/``GRUCell``/``LSTMCell`` instead: one
    layer, one direction, no batch_first, parameters named without the ``_l0`` suffix.
    """

    mode: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = False
    bidirectional: bool = False
    dtype: str = "float64"
    proj_size: int = 0  # LSTM only: h is projected to proj_size units (0 < proj_size < hidden_size)
    cell: bool = False
    dropout: float = 0.0
    training: bool = False  # how it runs, like dtype: train mode (dropout active) or eval mode

    def __post_init__(self):
        if self.mode not in GATES:
            raise ValueError(f"unknown mode {self.mode!r}; known: {', '.join(MODES)}")
        if self.proj_size and not (
            self.mode == "LSTM" and 0 < self.proj_size < self.hidden_size and not self.cell
        ):
            raise ValueError(
                f"proj_size={self.proj_size} needs a sequence LSTM and 0 < proj_size < "
                f"hidden_size={self.hidden_size}"
            )
        if self.cell and (self.num_layers != 1 or self.batch_first or self.bidirectional):
            raise ValueError("a cell has one layer, one direction and no batch_first")

    @property
    def gates(self) -> int:
        return GATES[self.mode]

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def h_out(self) -> int:
        return self.proj_size or self.hidden_size

    @property
    def nonlinearity(self) -> str | None:
        return {"RNN_TANH": "tanh", "RNN_RELU": "relu"}.get(self.mode)

    def replace(self, **changes) -> Config:
        return dataclasses.replace(self, **changes)

    def module_kwargs(self) -> dict:
        """Keyword arguments for ``torch.nn.RNN``/``GRU``/``LSTM`` or their cells (and anything
        mirroring them)."""
        if self.cell:
            kwargs = dict(input_size=self.input_size, hidden_size=self.hidden_size, bias=self.bias)
            return kwargs | ({"nonlinearity": self.nonlinearity} if self.nonlinearity else {})
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
        if self.proj_size:
            kwargs["proj_size"] = self.proj_size
        if self.dropout:
            kwargs["dropout"] = self.dropout
        return kwargs


def suffix(direction: int) -> str:
    return "_reverse" if direction else ""


def layer_parameter_names(config: Config, layer: int, direction: int) -> dict[str, str]:
    """Canonical names of one layer and direction: {"weight_ih": "weight_ih_l1_reverse", ...};
    a cell's are the bare roles ({"weight_ih": "weight_ih", ...})."""
    roles = (
        ["weight_ih", "weight_hh"]
        + (["bias_ih", "bias_hh"] if config.bias else [])
        + (["weight_hr"] if config.proj_size else [])
    )
    return {role: role if config.cell else f"{role}_l{layer}{suffix(direction)}" for role in roles}


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
            if config.proj_size:
                shapes[names["weight_hr"]] = (config.proj_size, H)
    return shapes
