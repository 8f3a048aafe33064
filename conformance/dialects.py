"""Known dialects of torch's RNN equations, evaluated by the oracle: which reproduce a failing result."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .compare import RTOL
from .spec import oracle
from .spec.config import ELMAN, Config
from .state import map_state, parts

# --- how a variant is evaluated: transforms around oracle.forward -------------------------------


def without_bias_hh(from_block: int = 0):
    """bias_hh set to zero from gate block ``from_block`` on (0: all of it)."""

    def transform(config: Config, weights: dict) -> dict:
        for name in (n for n in weights if n.startswith("bias_hh")):
            weights[name][from_block * config.hidden_size :] = 0.0
        return weights

    return transform


def gate_order(order: str, torch_order: str):
    """torch's weights read by an implementation that takes their gate blocks as ``order`` (both in
    torch's letters): the weights in torch's order that such an implementation effectively uses."""
    source = [order.index(gate) for gate in torch_order]

    def transform(config: Config, weights: dict) -> dict:
        for name in (n for n in weights if n.startswith(("weight_ih", "weight_hh", "bias_ih", "bias_hh"))):
            blocks = np.split(weights[name], len(order))
            weights[name] = np.concatenate([blocks[k] for k in source])
        return weights

    return transform


def other_nonlinearity(config: Config) -> Config:
    return config.replace(mode={"RNN_TANH": "RNN_RELU", "RNN_RELU": "RNN_TANH"}[config.mode])


def h_n_batch_first(config: Config, output, state):
    return output, map_state(lambda s: s.swapaxes(0, 1), state)


def halves_swapped(config: Config, output, state):
    H = config.h_out
    return np.concatenate([output[..., H:], output[..., :H]], axis=-1), state


def state_order_swapped(config: Config, output, state):
    return output, state[::-1]


def float32_allowance(tol: float) -> float:
    return tol * RTOL["float32"] / RTOL["float64"]  # allowed_error is proportional to RTOL


# --- when a variant applies ---------------------------------------------------------------------


def mode(*modes):
    return lambda config, case: config.mode in modes


def biased(*modes):
    return lambda config, case: config.mode in modes and config.bias


def bidirectional(config, case) -> bool:
    return config.bidirectional


def upper_layers_can_read_x(config, case) -> bool:
    return config.num_layers > 1 and config.input_size == config.directions * config.h_out


def h0_given(config, case) -> bool:
    return case.h0 is not None


def batch_first(config, case) -> bool:
    return config.batch_first and case.batch is not None


def lstm_without_projection(config, case) -> bool:
    return config.mode == "LSTM" and not config.proj_size


def claims_float64(config, case) -> bool:
    return config.dtype == "float64"


# --- the catalogue ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """A known deviation from torch's equations. Its sentence: "the result equals ``name`` (``id``):
    ``differs``, as in ``found``". The oracle evaluates it with ``dialect`` (oracle.Dialect's
    switches) after the ``config``, ``weights`` and ``h0`` transforms, then ``result`` transforms its
    (output, state); it matches within ``tolerance(tol)``."""

    id: str
    name: str
    differs: str
    found: str
    applies: Callable  # (config, case) -> bool
    dialect: oracle.Dialect = oracle.TORCH
    config: Callable = lambda config: config
    weights: Callable = lambda config, weights: weights  # (config, a copy of the weights) -> weights
    h0: Callable = lambda h0: h0
    result: Callable = lambda config, output, state: (output, state)
    tolerance: Callable = lambda tol: tol

    def sentence(self) -> str:
        return f"diagnosis: the result equals {self.name} ({self.id}): {self.differs}, as in {self.found}"


TORCH_GRU_ORDER, TORCH_LSTM_ORDER = "rzn", "ifgo"
#: Where real code reads torch's gate blocks in another order.
ORDERS_SEEN = {
    "gru.gate_order_zrn": "Keras and ONNX, whose GRU order is z | r | h, fed torch's weights (keras#15915)",
    "lstm.gate_order_iofg": "ONNX, whose LSTM order is i | o | f | c, fed torch's weights unchanged",
    "lstm.gate_order_figo": "OpenVINO, whose LSTM order is f | i | c | o, fed torch's weights unchanged",
}


def gate_orders(kind: str, torch_order: str) -> list[Variant]:
    """Every other order of the gate blocks, named by its order in torch's letters."""
    variants = []
    for letters in itertools.permutations(torch_order):
        order = "".join(letters)
        if order == torch_order:
            continue
        id_ = f"{kind.lower()}.gate_order_{order}"
        variants.append(
            Variant(
                id_,
                f"torch's {kind} with its gate blocks read in another order",
                f"the gate blocks of weight_ih, weight_hh, bias_ih and bias_hh taken as {' | '.join(order)}, "
                f"not torch's {' | '.join(torch_order)}",
                ORDERS_SEEN.get(id_, "weight converters that assume another gate order"),
                mode(kind),
                weights=gate_order(order, torch_order),
            )
        )
    return variants


VARIANTS: list[Variant] = [
    Variant(
        "gru.no_b_hn",
        "torch's GRU without b_hn",
        "b_in kept, b_hn (the n block of bias_hh, inside r * (...)) left out",
        "flax's nnx.GRUCell, which has no b_hn (flax#5594)",
        biased("GRU"),
        weights=without_bias_hh(from_block=2),
    ),
    Variant(
        "gru.no_bias_hh",
        "torch's GRU without bias_hh",
        "all of bias_hh left out, bias_ih kept",
        "ports with one bias vector per gate",
        biased("GRU"),
        weights=without_bias_hh(),
    ),
    Variant(
        "gru.reset_before_matmul",
        "a GRU with the reset gate applied before the matmul",
        "n = tanh(x W_in^T + b_in + (r * h) W_hn^T + b_hn)",
        "Cho et al. 2014, Keras reset_after=False, ONNX linear_before_reset=0 (pytorch#189225, burn#2701)",
        mode("GRU"),
        dialect=oracle.Dialect(reset_before_matmul=True),
    ),
    Variant(
        "gru.z_inverted",
        "a GRU whose update gate weights the new state",
        "h' = z * n + (1 - z) * h",
        "transcriptions of the GRU from papers that define z the other way round",
        mode("GRU"),
        dialect=oracle.Dialect(z_weights_new=True),
    ),
    *gate_orders("GRU", TORCH_GRU_ORDER),
    *gate_orders("LSTM", TORCH_LSTM_ORDER),
    Variant(
        "lstm.forget_bias_plus_one",
        "an LSTM with 1 added to the forget gate",
        "f = sigmoid(x W_if^T + b_if + h W_hf^T + b_hf + 1)",
        "Keras unit_forget_bias and TensorFlow's forget_bias=1.0 applied in the forward pass",
        mode("LSTM"),
        dialect=oracle.Dialect(forget_bias=1.0),
    ),
    Variant(
        "lstm.state_order_swapped",
        "torch's LSTM with its state returned as (c, h)",
        "(c_n, h_n) returned where torch returns (h_n, c_n)",
        "frameworks whose LSTM state is (c, h), such as TensorFlow's LSTMStateTuple",
        lstm_without_projection,
        result=state_order_swapped,
    ),
    Variant(
        "lstm.no_bias_hh",
        "torch's LSTM without bias_hh",
        "bias_hh left out, bias_ih kept",
        "Keras and TensorFlow, whose LSTM has one bias vector",
        biased("LSTM"),
        weights=without_bias_hh(),
    ),
    Variant(
        "rnn.nonlinearity_swapped",
        "torch's Elman RNN with the other nonlinearity",
        "relu where tanh is asked for, or tanh where relu is",
        "wrappers that drop the nonlinearity argument and use their default",
        mode(*ELMAN),
        config=other_nonlinearity,
    ),
    Variant(
        "rnn.no_bias_hh",
        "torch's Elman RNN without bias_hh",
        "bias_hh left out, bias_ih kept",
        "Keras SimpleRNN and ports with one bias vector",
        biased(*ELMAN),
        weights=without_bias_hh(),
    ),
    Variant(
        "layout.h_n_batch_first",
        "torch's result with h_n laid out like a batch_first input",
        "h_n (and c_n) are (batch, num_layers*D, H_out), where batch_first must not change their layout",
        "drop-in modules that transpose every tensor when batch_first=True",
        batch_first,
        result=h_n_batch_first,
    ),
    Variant(
        "bidirectional.reverse_not_reversed",
        "torch's bidirectional RNN whose reverse direction reads the sequence forwards",
        "the _reverse weights run over x_0 ... x_{L-1} instead of x_{L-1} ... x_0",
        "GPU backends that got the reverse direction wrong (pytorch#90421, #94754)",
        bidirectional,
        dialect=oracle.Dialect(reverse_reads_forwards=True),
    ),
    Variant(
        "bidirectional.halves_swapped",
        "torch's bidirectional output with its two halves in the wrong order",
        "the output is [reverse, forward] along its last axis instead of [forward, reverse]",
        "concatenations written in the wrong order",
        bidirectional,
        result=halves_swapped,
    ),
    Variant(
        "bidirectional.h_n_reverse_last_step",
        "torch's bidirectional RNN with the reverse direction's h_n taken at the last step",
        "the reverse direction's h_n is its output at t=L-1 (each row's last step), not at t=0 "
        "where its pass ends",
        "code that takes h_n as output[-1] for both directions",
        bidirectional,
        dialect=oracle.Dialect(reverse_h_n_at_last_step=True),
    ),
    Variant(
        "stacking.layer_input_is_x",
        "a stack whose upper layers read x",
        "every layer reads the input x instead of the output of the layer below",
        "loops over layers that pass the same input to each (pytorch#89357, mxnet#17479)",
        upper_layers_can_read_x,
        dialect=oracle.Dialect(layer_input_is_x=True),
    ),
    Variant(
        "state.h0_ignored",
        "torch's result from a zero initial state",
        "h_0 (and c_0) given but zeros used",
        "wrappers that do not pass hx on to the kernel",
        h0_given,
        h0=lambda h0: None,
    ),
    Variant(
        "dtype.float32_arithmetic",
        "the float64 oracle within the float32 allowance but not the float64 one",
        "the arithmetic is float32's while float64 is claimed",
        "kernels that compute in float32 whatever the input dtype, or with TF32; if that is by design, "
        "declare it: --rnn-not-claimed=float64",
        claims_float64,
        tolerance=float32_allowance,
    ),
]

BY_ID = {variant.id: variant for variant in VARIANTS}


# --- what an oracle comparison compared, and the diagnosis of a failing one ------------------------


@dataclass(frozen=True)
class Comparison:
    """A clause's oracle comparison: the case, the implementation's result (output, h_n), the
    allowed error and the parts compared ("output", "h_n": the whole state, "c_n"), with the weights
    and lengths the clause ran with (None: the case's, all steps)."""

    case: object
    got: tuple
    tol: float
    parts: tuple
    weights: dict | None = None
    lengths: np.ndarray | None = None

    @property
    def oracle_weights(self) -> dict:
        return self.case.weights if self.weights is None else self.weights

    def compared(self, output, state) -> list:
        named = {"output": output, "h_n": state, "c_n": parts(state)[1] if isinstance(state, tuple) else None}
        return [named[part] for part in self.parts]


def evaluate(variant: Variant, comparison: Comparison):
    """The variant's (output, state) on the comparison's inputs; the caller's arrays stay untouched."""
    case = comparison.case
    config = variant.config(case.config)
    copied = {name: np.array(w, dtype=np.float64) for name, w in comparison.oracle_weights.items()}
    weights = variant.weights(config, copied)
    h0 = variant.h0(case.h0)
    with np.errstate(all="ignore"):
        if config.cell:
            output, state = None, oracle.cell_forward(config, weights, case.x, h0, variant.dialect)
        else:
            output, state = oracle.forward(config, weights, case.x, h0, comparison.lengths, variant.dialect)
    return variant.result(config, output, state)


def close(got, want, tol: float) -> bool:
    """Every value within ``tol`` (equal infinities are equal, NaN never is); other shapes never are."""
    got, want = parts(got), parts(want)
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if g is None or w is None or np.shape(g) != np.shape(w):
            return False
        with np.errstate(invalid="ignore"):
            if not np.all(np.where(g == w, 0.0, np.abs(g - w)) <= tol):
                return False
    return True


def reproduces(variant: Variant, comparison: Comparison) -> bool:
    want = comparison.compared(*evaluate(variant, comparison))
    got = comparison.compared(*comparison.got)
    tol = variant.tolerance(comparison.tol)
    return all(close(g, w, tol) for g, w in zip(got, want))


def applicable(comparison: Comparison) -> list[Variant]:
    case = comparison.case
    return [v for v in VARIANTS if v.applies(case.config, case)]


def diagnose(comparison: Comparison) -> dict:
    """{"matches": ids of the variants that reproduce the implementation's result, "tried": ids of
    those that apply to the case}."""
    tried = applicable(comparison)
    return {"matches": [v.id for v in tried if reproduces(v, comparison)], "tried": [v.id for v in tried]}


def sentences(matches: list[str]) -> list[str]:
    if not matches:
        return ["diagnosis: no known variant of the equations reproduces this result"]
    return [BY_ID[id_].sentence() for id_ in matches]
