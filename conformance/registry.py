"""Resolving ``--rnn-impl NAME`` to an Implementation: drop-in torch.nn-like classes, or adapters."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import warnings
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

from .spec.config import DTYPES, ELMAN, GATES, MODES, REDUCED_DTYPES, Config
from .state import map_state

if TYPE_CHECKING:
    import torch

ENTRY_POINT_GROUP = "rnn_conformance.implementations"


class Call(Protocol):
    """What an adapter's ``build`` returns: ``call(x, h0) -> (output, h_n)``, torch tensors (on any
    device, with any strides) or floating-point NumPy arrays; a list does as well as a tuple.

    ``x`` is laid out as the config says (batch_first, or unbatched ``(L, H_in)``) and may be a
    ``PackedSequence``, in which case the output must be one holding the same sequences: any
    packing that ``pad_packed_sequence`` unpacks to the input's lengths in the original order.
    ``h0`` is None (zeros) or ``(num_layers*D, N, H_out)``; for LSTM h0 and h_n are the tuples
    (h_0, c_0) and (h_n, c_n). A cell (``is_cell``) is called as ``call(x, hx)`` with x
    ``(N, H_in)`` or ``(H_in,)`` and returns h' (LSTM: (h', c')). It raises for input it refuses.

    Gradients (the ``grad.*`` clauses): it is built with weight tensors that require grad and
    called outside ``torch.no_grad``; the runner backpropagates from (output, h_n) and reads the
    weights' gradients from an optional attribute ``parameters`` (canonical name -> the tensor
    the forward really uses, e.g. a module's own Parameters after ``load_state_dict``), else from
    the tensors given to ``build``, which is right wherever the weights are converted with torch
    operations. One that converts through NumPy declares ``not_claimed = {"gradients"}``.
    """

    def __call__(self, x: Any, h0: Any, /) -> Any: ...


class Adapter(Protocol):
    """What ``--rnn-impl`` names when it is not a drop-in class: an object (or a class with a
    no-argument constructor) with ``modes`` and ``build``; optional attributes in AdapterOptions.

    ``build`` gets a ``Config`` (``config.training``: train mode, dropout ``config.dropout``
    between layers, or eval mode) and the weights in torch's canonical names and layout
    (``weight_ih_l0``, gate blocks r|z|n), already in ``config.dtype`` on the CPU.
    """

    modes: Collection[str]  # torch mode names it implements: "RNN_TANH", "RNN_RELU", "GRU", "LSTM"

    def build(self, config: Config, weights: Mapping[str, Any]) -> Call: ...


class AdapterOptions(Protocol):
    """The optional attributes of an adapter; where one is missing, its default applies."""

    is_cell: bool  # one step, like torch.nn.RNNCell/GRUCell/LSTMCell (default False)
    dtypes: Collection[str]  # dtypes it claims (default "float64", "float32"; also "bfloat16", "float16")
    description: str  # shown in the report header (default: the class name)
    not_claimed: Collection[str]  # capabilities it lacks: their clauses are "not claimed", not failed

    def unavailable(self) -> str | None:
        """A reason to skip every clause (e.g. no GPU); default None."""


class ConstructibleAdapter(Adapter, Protocol):
    """An adapter of drop-in classes (ModuleAdapter), which the errors.* clauses ask to refuse
    constructor arguments."""

    def construct(self, config: Config, **extra: Any) -> Any:
        """An instance for ``config``, with the ``extra`` keywords also given to the constructor."""


class ResolveError(Exception):
    """--rnn-impl (or --rnn-kind) names something that cannot be used; the message is one line."""


@dataclass(frozen=True)
class Implementation:
    """A resolved implementation, what the clauses run: immutable (``restricted`` returns a view).

    ``not_claimed`` is the adapter's own declaration plus --rnn-not-claimed; ``time_limit`` the
    seconds one call may take (--rnn-timeout; None: no limit)."""

    name: str
    adapter: Adapter
    modes: frozenset
    dtypes: frozenset = frozenset(DTYPES)
    is_cell: bool = False
    not_claimed: frozenset = frozenset()
    time_limit: float | None = 60.0

    def __post_init__(self):
        unknown = self.modes - set(MODES)
        if unknown:
            raise ResolveError(
                f"{self.name}: mode(s) {', '.join(sorted(unknown))} not covered by this suite (known: "
                f"{', '.join(MODES)})"
            )
        if not self.modes:
            raise ResolveError(f"{self.name}: the adapter declares no modes (set `modes`, e.g. ('GRU',))")

    @property
    def description(self) -> str:
        return getattr(self.adapter, "description", type(self.adapter).__name__)

    def unavailable(self) -> str | None:
        check = getattr(self.adapter, "unavailable", None)
        return check() if callable(check) else None

    def build(self, config: Config, weights: Mapping[str, Any]) -> Call:
        return self.adapter.build(config, weights)

    def restricted(self, modes) -> Implementation:
        """The same implementation, seen only through ``modes`` (a clause's scope)."""
        return dataclasses.replace(self, modes=self.modes & frozenset(modes))

    @property
    def constructible(self) -> bool:
        """A drop-in class: its constructor can be asked to refuse bad arguments."""
        return isinstance(self.adapter, ModuleAdapter)

    def construct(self, config: Config, **extra: Any) -> Any:
        return self.adapter.construct(config, **extra)

    def __repr__(self):
        return f"Implementation({self.name!r}, modes={sorted(self.modes)}{', cell' if self.is_cell else ''})"

    def declared(self) -> Declared:
        return Declared(
            self.name,
            self.description,
            self.modes,
            frozenset(self.dtypes),
            self.is_cell,
            self.not_claimed,
            self.constructible,
            self.unavailable(),
        )


@dataclass(frozen=True)
class Declared:
    """What the report says of an implementation, without the implementation: an xdist worker,
    which resolved it, sends it to the controller, which so never imports it (torch: a second of
    CPU while the workers start, on the cores they need)."""

    name: str
    description: str
    modes: frozenset
    dtypes: frozenset
    is_cell: bool
    not_claimed: frozenset
    constructible: bool
    unavailable_because: str | None

    def unavailable(self) -> str | None:
        return self.unavailable_because

    def message(self) -> dict:
        """As execnet carries it (no sets, no classes)."""
        return {k: sorted(v) if isinstance(v, frozenset) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_message(cls, message: dict) -> Declared:
        return cls(**{k: frozenset(v) if isinstance(v, list) else v for k, v in message.items()})


class ModuleAdapter(ConstructibleAdapter):
    """Adapts drop-in classes: construct with the config, load the weights, call forward.

    A drop-in class mirrors ``torch.nn.RNN``/``GRU``/``LSTM`` (same constructor keywords, same
    parameter names, ``forward(input, hx=None) -> (output, h_n)``); resolve reads its cell kind from
    the ``mode`` attribute of an instance, as ``torch.nn.RNNBase`` sets it, or --rnn-kind. A drop-in
    cell mirrors ``torch.nn.RNNCell``/``GRUCell``/``LSTMCell`` (see cell_kind). Gradients are read
    from the module's own parameters; a class attribute ``not_claimed`` declares what it lacks.
    """

    def __init__(self, classes: dict[str, type], device: str = "cpu", cell: bool = False, dtypes=DTYPES):
        self.classes = classes
        self.dtypes = tuple(dtypes)
        self.modes = tuple(classes)
        self.device = device
        self.is_cell = cell
        names = sorted({f"{c.__module__}.{c.__qualname__}" for c in classes.values()})
        self.description = f"{' / '.join(names)} on {device}"
        self.not_claimed = frozenset().union(*(getattr(c, "not_claimed", ()) for c in classes.values()))

    def construct(self, config: Config, **extra: Any) -> torch.nn.Module:
        """An instance for ``config``; ``extra`` keywords go to the constructor as well (the errors.*
        clauses pass arguments it must refuse)."""
        import torch

        with warnings.catch_warnings():
            # torch warns that dropout does nothing with one layer; the dropout clauses check that.
            warnings.filterwarnings(
                "ignore", message="dropout option adds dropout after all but last", category=UserWarning
            )
            module = self.classes[config.mode](**config.module_kwargs(), **extra)
        mode = getattr(module, "mode", config.mode)
        if mode != config.mode:
            raise AssertionError(
                f"constructed with {config.module_kwargs()}, the module reports mode {mode!r}, but should be "
                f"{config.mode!r}"
            )
        return module.to(device=self.device, dtype=getattr(torch, config.dtype)).train(config.training)

    def build(self, config: Config, weights: Mapping[str, torch.Tensor]) -> Call:
        module = self.construct(config)
        module.load_state_dict({k: v.to(self.device) for k, v in weights.items()})

        def call(x, h0):
            x = x.to(self.device)
            return module(x) if h0 is None else module(x, map_state(lambda s: s.to(self.device), h0))

        call.parameters = dict(module.named_parameters())  # load_state_dict copied the weights into these
        return call


def cell_kind(module) -> str | None:
    """A cell's mode ("GRU", ...) if ``module`` is a cell (no ``mode``; RNNCellBase, or weight_ih
    without ``_l0``), from its gate count; None for anything else."""
    import torch

    weight_ih = dict(module.named_parameters()).get("weight_ih")
    if not (isinstance(module, torch.nn.modules.rnn.RNNCellBase) or weight_ih is not None) or hasattr(
        module, "mode"
    ):
        return None
    gates = weight_ih.shape[0] // module.hidden_size if weight_ih is not None else None
    if gates == 1:
        return {"relu": "RNN_RELU"}.get(getattr(module, "nonlinearity", "tanh"), "RNN_TANH")
    return {g: m for m, g in GATES.items() if g > 1}.get(gates)


def probe_cell(cls: type) -> bool:
    try:
        return cell_kind(cls(input_size=2, hidden_size=3)) is not None
    except Exception:
        return False


def probe_modes(cls: type) -> tuple[str, ...]:
    try:
        module = cls(input_size=2, hidden_size=3)
        mode = cell_kind(module) or module.mode
    except AttributeError:
        raise ResolveError(
            f"cannot tell the cell kind of {cls.__qualname__}: its instances have no `mode` attribute; pass "
            "--rnn-kind (e.g. --rnn-kind=GRU)"
        ) from None
    except Exception as e:
        raise ResolveError(
            f"{cls.__qualname__}(input_size=2, hidden_size=3) raised {type(e).__name__}: {e}"
        ) from None
    # An Elman RNN mirror takes `nonlinearity`, so it is held to both.
    return ELMAN if mode in ELMAN else (mode,)


def load_object(name: str):
    """An entry point of group rnn_conformance.implementations, or ``module:attr`` / ``module.attr``."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return ep.load()
            except Exception as e:
                raise ResolveError(
                    f"entry point {name!r} ({ep.value}) failed to load: {type(e).__name__}: {e}"
                ) from None
    if ":" in name:
        module_name, _, attr = name.partition(":")
    elif "." in name:
        module_name, _, attr = name.rpartition(".")
    else:
        known = sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
        raise ResolveError(
            f"unknown implementation {name!r}: not a registered name "
            f"({', '.join(known) or 'none registered'}) nor module:attr"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as e:
        raise ResolveError(
            f"cannot import module {module_name!r} for {name!r}: {type(e).__name__}: {e}"
        ) from None
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ResolveError(f"module {module_name!r} has no attribute {attr!r} (from {name!r})") from None
    return obj


def findable(name: str) -> bool:
    """Whether ``name`` is a registered implementation or its module's top-level package exists,
    found without importing anything: the xdist controller's check of --rnn-impl."""
    if any(ep.name == name for ep in entry_points(group=ENTRY_POINT_GROUP)):
        return True
    module = name.partition(":")[0] if ":" in name else name.rpartition(".")[0]
    try:
        return bool(module) and importlib.util.find_spec(module.partition(".")[0]) is not None
    except (ImportError, ValueError):
        return False


def resolve(
    name: str,
    modes: Collection[str] | None = None,
    dtypes: Collection[str] | None = None,
    *,
    not_claimed: Collection[str] = (),
    time_limit: float | None = 60.0,
) -> Implementation:
    """``modes`` (from --rnn-kind) overrides what the implementation says it implements, ``dtypes``
    (from --rnn-dtypes) the dtypes it claims; ``not_claimed`` (--rnn-not-claimed) adds to what its
    adapter declares it lacks; ``time_limit`` (--rnn-timeout) bounds each call."""
    import torch

    from .capabilities import check

    obj = load_object(name)
    if isinstance(obj, type) and issubclass(obj, torch.nn.Module) and not hasattr(obj, "build"):
        adapter = ModuleAdapter({m: obj for m in (modes or probe_modes(obj))}, cell=probe_cell(obj))
    elif isinstance(obj, type) and callable(getattr(obj, "build", None)):
        adapter = obj()
    elif callable(getattr(obj, "build", None)):
        adapter = obj
    else:
        raise ResolveError(
            f"{name!r} is a {type(obj).__name__}, neither a torch.nn.Module class mirroring torch.nn.RNN/GRU "
            f"nor an adapter (an object with build(config, weights))"
        )
    if dtypes is not None:
        unknown = set(dtypes) - set(DTYPES + REDUCED_DTYPES)
        if unknown:
            raise ResolveError(
                f"--rnn-dtypes: unknown dtype(s) {', '.join(sorted(unknown))} (known: "
                f"{', '.join(DTYPES + REDUCED_DTYPES)})"
            )
    declared = check(getattr(adapter, "not_claimed", ()), where=f"{name}.not_claimed")  # CapabilityError
    return Implementation(
        name,
        adapter,
        modes=frozenset(modes if modes is not None else getattr(adapter, "modes", ())),
        dtypes=frozenset(dtypes if dtypes is not None else getattr(adapter, "dtypes", DTYPES)),
        is_cell=getattr(adapter, "is_cell", False) is True,
        not_claimed=declared | frozenset(not_claimed),
        time_limit=time_limit or None,
    )
