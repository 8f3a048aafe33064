"""Tolerances and comparisons: decode indices into named axes, say "got X, but should be Y".

Tolerance policy (one table, keyed by dtype; see ``allowed_error``):

    allowed = RTOL[dtype] * magnitude * sqrt(steps * num_layers)

* ``magnitude`` bounds the sum of absolute terms of any pre-activation:
  max(1, |x|, |h_0|, |oracle values|) * (1 + largest row L1 norm of any weight matrix).
  A dot product of K terms rounds to within about sqrt(K) * eps * sum|terms| (typically; K * eps
  in the worst case), and the non-linearities have slope <= 1, so each step's error is a small
  multiple of eps * magnitude. It is also what keeps ReLU RNNs, which are unbounded, fair.
* ``sqrt(steps * num_layers)``: rounding errors of successive steps and layers add up like a
  random walk through the recurrence (contracting dynamics damp them; tanh and GRU contract).
* RTOL[dtype] is about 100 eps for float32 (1e-5) and 450 eps for float64 (1e-13). Measured on
  2000 generated float32 cases and 1000 float64 ones, torch.nn on the CPU used at most 0.6% and
  0.07% of the allowance; ``tests/test_tolerances.py`` keeps checking that it stays at least 10x
  inside, so a correct implementation with another summation order has room, while TF32
  (~1e-3 relative) or a half-precision accumulator does not.
* bfloat16 (eps 2^-8) and float16 (eps 2^-11), checked where an implementation claims them: RTOL is
  about 10 eps (4e-2 and 5e-3). Measured on 300 generated cases each (every mode, layer count,
  direction, up to 128 steps), torch.nn on the CPU used at most 0.28 eps (bfloat16) and 0.40 eps
  (float16) of ``eps * magnitude * sqrt(steps * num_layers)``, the manual loop in torch ops 0.59
  and 0.41 eps: so within 1/17 of the allowance, and ``tests/test_tolerances.py`` keeps the 10x.
  (Half precision rounds the state at every step, so eps, not a multiple of 100 eps, is the scale.)

A declared tolerance (--rnn-rtol=DTYPE:RTOL, for approximate kernels: TF32 matmuls, quantized
weights, half-precision accumulation) takes the place of RTOL[dtype] in the same formula where it
is looser, for values and gradients alike:

    allowed = max(RTOL[dtype], declared) * magnitude * sqrt(steps * num_layers)

The comparisons of a clause test note their worst error, as a fraction of the allowance, in the
``Accuracy`` current for the test (``measuring``), and whether it needed the declared tolerance.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

from .spec.config import Config
from .spec.layout import output_axes, state_axes
from .state import STATE_NAMES, parts

RTOL = {"float64": 1e-13, "float32": 1e-5, "bfloat16": 4e-2, "float16": 5e-3}


class Mismatch(AssertionError):
    """A conformance failure: the message says what was got and what it should be."""


class NotRefused(Mismatch):
    """A bad input was not refused. The implementation had run the valid call of the same case
    first: every feature that case uses, it supports (the run's hints rely on it)."""


def magnitude(weights, *values) -> float:
    """``values`` are arrays, None, or states (h, c)."""
    arrays = [a for v in values if v is not None for a in parts(v)]
    biggest = max([1.0] + [float(np.max(np.abs(a))) for a in arrays if np.size(a)])
    row_l1 = max(float(np.abs(w).sum(axis=-1).max()) for w in weights.values() if w.ndim == 2)
    return biggest * (1.0 + row_l1)


#: The largest finite value of each dtype (NumPy has no bfloat16).
LARGEST = {"float64": 1.8e308, "float32": 3.4e38, "bfloat16": 3.39e38, "float16": 65504.0}


def representable(config: Config, weights, *values) -> bool:
    """Whether every value of the computation stays well inside the dtype's range (a float32
    implementation cannot be asked to reproduce a float64 result of 1e39)."""
    return magnitude(weights, *values) < LARGEST[config.dtype] * 1e-3


def allowed_error(config: Config, steps: int, weights, *values) -> float:
    """The absolute error allowed for any value computed from ``values`` (see module docstring)."""
    derived = RTOL[config.dtype] * magnitude(weights, *values) * math.sqrt(max(steps, 1) * config.num_layers)
    return loosened(derived, RTOL[config.dtype], config.dtype)


# --- declared tolerances and the worst error seen -------------------------------------------------


class Allowance(float):
    """An allowance loosened by a declared rtol; ``derived`` is the suite's own (RTOL's)."""

    def __new__(cls, value: float, derived: float):
        allowance = super().__new__(cls, value)
        allowance.derived = derived
        return allowance


class Accuracy:
    """One clause test's comparisons against an allowance, over all its examples: the rtol declared
    per dtype (--rnn-rtol), the worst error as a fraction of the allowance in force (``ratio``) and
    of the suite's own (``derived_ratio``), and the dtypes whose declared rtol a comparison needed."""

    def __init__(self, declared: dict[str, float] | None = None):
        self.declared = dict(declared or {})
        self.ratio: float | None = None  # None: no comparison against an allowance yet
        self.error = self.allowance = self.derived_ratio = 0.0
        self.dtype: str | None = None
        self.needed: set[str] = set()

    def note(self, error: float, allowance: float, dtype: str | None) -> None:
        """One comparison: its largest error and its allowance (an Allowance where loosened)."""
        if not allowance > 0:  # an exact comparison has no headroom to speak of
            return
        error = math.inf if math.isnan(error) else error
        derived = getattr(allowance, "derived", allowance)
        if self.ratio is None or error / allowance > self.ratio:
            self.ratio, self.error, self.dtype = error / allowance, error, dtype
            self.allowance = float(allowance)
        self.derived_ratio = max(self.derived_ratio, error / derived)
        if error > derived and dtype in self.declared:
            self.needed.add(dtype)

    def as_dict(self) -> dict:
        """What the report shows (see verdicts.record); ``declared``: the rtols the comparisons needed."""
        # plain floats: a report's properties cross to pytest-xdist's controller through execnet,
        # which cannot serialize a NumPy scalar (the worker dies with an internal error)
        return {
            "ratio": float(self.ratio),
            "error": float(self.error),
            "allowance": float(self.allowance),
            "dtype": self.dtype,
            "derived_ratio": float(self.derived_ratio),
            "declared": {dtype: float(self.declared[dtype]) for dtype in sorted(self.needed)},
        }


#: The Accuracy of the clause test running in this thread (None outside one: nothing declared or noted).
CURRENT: ContextVar[Accuracy | None] = ContextVar("rnn_accuracy", default=None)


@contextmanager
def measuring(accuracy: Accuracy):
    """Comparisons in the block use ``accuracy``'s declared rtols and note their errors in it."""
    token = CURRENT.set(accuracy)
    try:
        yield accuracy
    finally:
        CURRENT.reset(token)


def loosened(derived: float, rtol: float, dtype: str) -> float:
    """``derived`` (made with ``rtol``, the suite's own) with the declared rtol in its place where looser."""
    accuracy = CURRENT.get()
    declared = accuracy.declared.get(dtype, 0.0) if accuracy is not None else 0.0
    return Allowance(derived * declared / rtol, derived) if declared > rtol else derived


def note_error(error: float, allowance: float, dtype: str | None) -> None:
    """Into the current Accuracy, if any: one comparison's largest error and its allowance."""
    accuracy = CURRENT.get()
    if accuracy is not None:
        accuracy.note(error, allowance, dtype)


# --- named axes ---------------------------------------------------------------------------------


DIRECTION = ("forward", "reverse")


def describe(axes: tuple[str, ...], index) -> str:
    parts = []
    for name, i in zip(axes, index):
        parts.append(f"{DIRECTION[i]} direction" if name == "direction" else f"{name} {i}")
    return ", ".join(parts)


def processing_order(axes, index, shape) -> tuple:
    """Sort key: where the computation reaches this value first (lower layers, then time as each
    direction walks it: forward from step 0, reverse from the last step)."""
    named = dict(zip(axes, index))
    step = named.get("step", 0)
    if named.get("direction") == 1 and "step" in named:
        step = shape[axes.index("step")] - 1 - step
    return (named.get("layer", 0), step, tuple(index))


def fmt(v: float) -> str:
    return "NaN" if np.isnan(v) else f"{v:.6g}"


#: Machine epsilon of each dtype (NumPy has no bfloat16): a difference in these units says whether it
#: is rounding (a few eps), another precision (float32 arithmetic under float64 is ~1e8 float64 eps,
#: a few float32 eps) or a wrong formula.
EPS = {"float64": 2.0**-52, "float32": 2.0**-23, "bfloat16": 2.0**-7, "float16": 2.0**-10}


def distinct(got: float, want: float) -> tuple[str, str]:
    """``got`` and ``want`` with the fewest significant digits (at least 6) that tell them apart."""
    if np.isnan(got) or np.isnan(want) or got == want:
        return fmt(got), fmt(want)
    for digits in range(6, 18):
        g, w = f"{got:.{digits}g}", f"{want:.{digits}g}"
        if g != w:
            break
    return g, w


def in_eps(diff: float, want: float, dtype: str | None) -> str:
    """The difference in units of the dtype's eps relative to the value; under float64, also in
    float32's, where that is what it looks like."""
    if dtype not in EPS or not (np.isfinite(diff) and np.isfinite(want)) or want == 0:
        return ""
    units = diff / (EPS[dtype] * abs(want))
    text = f"; {units:.3g} {dtype} eps of the value"
    float32_units = diff / (EPS["float32"] * abs(want))
    if dtype == "float64" and 0.05 <= float32_units <= 64:
        text += f", {float32_units:.2g} float32 eps: about what a float32 computation would give"
    return text


def got_should_be(got: float, want: float, tol: float, dtype: str | None) -> str:
    """ "got X, but should be Y (difference D, allowed T; N eps of the value)", with as many digits
    as it takes for X and Y to differ on the page."""
    g, w = distinct(got, want)
    diff = abs(got - want)
    return (
        f"got {g}, but should be {w} (difference {fmt(diff)}, allowed {tol:.2g}{in_eps(diff, want, dtype)})"
    )


def assert_close(
    got: np.ndarray,
    want: np.ndarray,
    tol: float,
    *,
    what: str,
    axes: tuple[str, ...],
    against: str = "the oracle",
    dtype: str | None = None,
):
    """``got`` and ``want`` already in named-axes form (see output_axes, state_axes); ``dtype`` the
    one computed in, for the differences in eps."""
    __tracebackhide__ = True
    with np.errstate(invalid="ignore"):
        err = np.where(got == want, 0.0, np.abs(got - want))  # equal infinities are equal
    bad = ~(err <= tol)  # NaN counts as bad
    note_error(float(np.max(err, initial=0.0)), tol, dtype)
    if not bad.any():
        return
    where = [tuple(int(i) for i in idx) for idx in np.argwhere(bad)]
    worst = max(where, key=lambda i: np.nan_to_num(err[i], nan=np.inf))
    first = min(where, key=lambda i: processing_order(axes, i, got.shape))
    lines = [
        f"{what} differs from {against}: {len(where)} of {bad.size} values "
        f"({100 * len(where) / bad.size:.1f}%) are off by more than the allowed {tol:.2g}",
        f"  largest error {fmt(err[worst])} at {describe(axes, worst)}: "
        f"{got_should_be(got[worst], want[worst], tol, dtype)}",
    ]
    if first != worst:
        lines.append(
            f"  earliest divergence (errors carry forward through time and layers: look here first): "
            f"{describe(axes, first)}: {got_should_be(got[first], want[first], tol, dtype)}"
        )
    nonfinite = ~np.isfinite(got)
    if nonfinite.any():
        i = tuple(int(v) for v in np.argwhere(nonfinite)[0])
        lines.append(
            f"  {nonfinite.sum()} non-finite values; first {fmt(got[i])} at {describe(axes, i)} where the "
            f"oracle is finite ({fmt(want[i])})"
        )
    error = Mismatch("\n".join(lines))
    error.max_error, error.tolerance = float(err[worst]), float(tol)  # for the JSON report
    raise error


def assert_shape(got: np.ndarray, shape: tuple, *, what: str, why: str = ""):
    __tracebackhide__ = True
    if tuple(got.shape) != tuple(shape):
        raise Mismatch(
            f"{what} has shape {tuple(got.shape)}, but should be {tuple(shape)}{' ' + why if why else ''}"
        )


OUTPUT_AXES = ("step", "row", "direction", "unit")
STATE_AXES = ("layer", "direction", "row", "unit")


def assert_output_close(config: Config, got, want, tol, what="output", against="the oracle"):
    __tracebackhide__ = True
    assert_shape(got, want.shape, what=what)
    got, want = output_axes(config, got), output_axes(config, want)
    assert_close(got, want, tol, what=what, axes=OUTPUT_AXES, against=against, dtype=config.dtype)


def assert_state_close(config: Config, got, want, tol, what="h_n", against="the oracle"):
    """h_n, or for LSTM the states (h_n, c_n) part by part (c_n has width H, h_n H_out)."""
    __tracebackhide__ = True
    if isinstance(want, tuple):
        if not (isinstance(got, tuple) and len(got) == len(want)):
            raise Mismatch(f"{what} is a {type(got).__name__}, but should be the tuple (h_n, c_n)")
        for name, g, w in zip(STATE_NAMES, got, want):
            assert_state_close(config, g, w, tol, what=what.replace("h_n", name), against=against)
        return
    assert_shape(
        got, want.shape, what=what, why=f"({what} is (num_layers*D, N, width) whatever batch_first says)"
    )
    got, want = state_axes(config, got), state_axes(config, want)
    assert_close(got, want, tol, what=what, axes=STATE_AXES, against=against, dtype=config.dtype)


# --- gradients ------------------------------------------------------------------------------------

#: Per-dtype factor of the allowed error of a backpropagated gradient (see allowed_gradient_error),
#: as RTOL: about 450 eps for float64 and 100 eps for float32. Measured against the complex-step
#: oracle on 1000 generated cases per dtype (every mode, one random direction per tensor: ~10000
#: directional derivatives), torch.nn on the CPU used at most 0.07% (float64) and 0.3% (float32) of
#: the allowance; ``tests/test_tolerances.py`` keeps checking a 10x margin. So a float64 kernel
#: that backpropagates in float32 (~1e-7 relative) fails, as does TF32 in float32.
RTOL_GRAD = {"float64": 1e-13, "float32": 1e-5}


def allowed_gradient_error(config: Config, steps: int, magnitude_: float, scale: float) -> float:
    """The absolute error allowed for a directional derivative <dL/dθ, V> of the implementation.

    The oracle's complex-step derivative (spec/complex_step.py) is exact up to float64 rounding of
    the same kind, so this allowance covers both. The implementation's error: every Jacobian
    factor of backpropagation is evaluated at values that carry the forward's rounding, eps *
    magnitude in absolute terms, and the slopes of tanh and sigmoid change by at most that much
    relatively (|f''/f'| <= 2), so each factor is relatively
    off by ~eps * magnitude, and the errors of steps and layers add like a random walk, as in
    ``allowed_error``. They are relative to the gradient and to the terms summed into it (over
    steps and rows, which can cancel), so ``scale`` is max(|dL/dθ|_2 * rms(V), |<dL/dθ, V>|,
    (|R|_2 + |S|_2) * rms(V)): the size of <g, V> for a random Gaussian V, or of its terms.
    """
    rtol = RTOL_GRAD[config.dtype]
    derived = rtol * magnitude_ * math.sqrt(max(steps, 1) * config.num_layers) * scale
    return loosened(derived, rtol, config.dtype)


def assert_derivative_close(
    got: float, want: float, tol: float, *, what: str, along: str, note: str = "", dtype: str | None = None
):
    """One directional derivative of the implementation's loss against the oracle's."""
    __tracebackhide__ = True
    err = abs(got - want)
    note_error(err, tol, dtype)
    if err <= tol:  # False for NaN
        return
    g, w = distinct(got, want)
    raise Mismatch(
        f"gradient of {what}: the directional derivative along {along} got {g}, but should be {w} "
        f"(off by {fmt(err)}, {fmt(err / abs(want)) if want else 'inf'} relative; allowed {tol:.2g}){note}"
    )
