"""What the clause tests share: the clause decorator, drawing a case, the oracle's answer, tolerances."""

from __future__ import annotations

import contextlib
import functools
import inspect

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from .. import capabilities
from ..compare import (
    Mismatch,
    allowed_error,
    assert_output_close,
    assert_state_close,
    measuring,
    representable,
)
from ..dialects import Comparison
from ..pytest_plugin.failures import rerun_note
from ..runner import ImplementationCrashed, ImplementationTimedOut, run_case
from ..spec.clauses import CLAUSES
from ..strategies import CELL, case_strategy

# A slow example is not a conformance failure, and large cases are large on purpose; the
# rnn_progress fixture is meant to span the examples of a test.
SUPPRESSED = (HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture)


class Draws:
    """Hypothesis's ``data`` as a clause test sees it: ``draw`` as usual, each value noted in the
    test's progress (the rnn_progress fixture) for the report and its reproduction script."""

    def __init__(self, data, progress, clause_id):
        self.data, self.progress, self.clause_id = data, progress, clause_id

    def draw(self, strategy, label=None):
        value = self.data.draw(strategy, label=label)
        self.progress.drew(label, value)
        return value


class Stop(BaseException):
    """Ends a clause test at once, past Hypothesis (which shrinks what an Exception fails, and would
    rerun a crash or a hang at each step): ``error`` fails it, None passes it (its budget is spent)."""

    def __init__(self, error: BaseException | None = None):
        self.error = error


def stopped(given_test):
    """``given_test`` with Stop turned back into its error, or into a pass."""

    @functools.wraps(given_test)
    def test(*args, **kwargs):
        __tracebackhide__ = True
        try:
            return given_test(*args, **kwargs)
        except Stop as stop:
            if stop.error is not None:
                raise stop.error from None
            return None

    return test


def clause(clause_id: str):
    """Mark a test as the check of one clause; it receives ``impl`` (restricted to the clause's
    modes) and Hypothesis's ``data`` for labelled draws."""
    spec = CLAUSES[clause_id]

    def decorate(fn):
        where = f"{fn.__module__.rpartition('.')[2]}.{fn.__name__}"
        if where != f"{spec.module}.{spec.test_name}":  # users' -k and --rnn-skips lines name tests
            raise NameError(
                f"clause {clause_id} is checked by {where}, but should be by {spec.module}.{spec.test_name}"
            )

        @functools.wraps(fn)
        def test(impl, rnn_progress, data):
            rnn_progress.start_example()
            try:
                with measuring(rnn_progress.accuracy):  # the allowances and the worst error seen
                    fn(impl.restricted(spec.modes), Draws(data, rnn_progress, clause_id))
            except HypothesisException:  # assume(), not a failure
                raise
            except (ImplementationCrashed, ImplementationTimedOut) as e:
                rnn_progress.failed(e)
                e.add_note(rerun_note(impl, spec, rnn_progress))
                raise Stop(e) from None
            except Exception as e:
                rnn_progress.failed(e)
                e.rnn_draws = list(rnn_progress.draws)  # its own, when Hypothesis reports several failures
                raise
            # At the end of an example that passed, not at the start of the next: Hypothesis takes an
            # example that ends before it has drawn what an earlier one drew for flakiness.
            if rnn_progress.spent():
                rnn_progress.cut = True
                error, rnn_progress.draws[:] = rnn_progress.failure or (None, rnn_progress.draws)
                raise Stop(error)

        # wraps() would have pytest and Hypothesis read fn's own signature, which lacks the fixture.
        test.__signature__ = inspect.signature(test, follow_wrapped=False)
        # The settings are made here, when pytest imports the clause module to collect it, so they are
        # the profile in force for this run (Hypothesis's plugin loads --hypothesis-profile, and this
        # suite's plugin layers --rnn-database onto it, in pytest_configure, before collection) with
        # this suite's overrides; a settings object copies the profile in force when it is made.
        # print_blob: the failure's @reproduce_failure decorator, for its report.
        clause_settings = settings(deadline=None, suppress_health_check=SUPPRESSED, print_blob=True)
        checked = stopped(clause_settings(given(data=st.data())(test)))
        checked.rnn_clause_body = fn  # what a reproduction script replays an example through
        return pytest.mark.rnn_clause(clause_id)(checked)

    return decorate


def draw_case(data, impl, *, cell=False, label="case", **fields):
    """Draw a case the implementation claims; keyword arguments pin fields of the case (CASE_FIELDS)
    or of its configuration (``cell``: a cell's). A pin of a not-claimed feature must go through
    capabilities.within: a case using one is refused (DeclarationError)."""
    fields = capabilities.restrict(impl, {**(CELL if cell else {}), **fields})
    strategy = case_strategy(impl.modes, capabilities.claimed_dtypes(impl), fields)
    case = data.draw(strategy, label=label)
    capabilities.refuse(impl, case, data.clause_id)
    return case


def one_step(impl) -> dict:
    """One step of one layer in one direction from a given state: the cell clauses' pins. Without
    an initial state the step starts from zeros, which leaves W_hh to recurrence.carries_state."""
    return dict(
        seq_len=1, with_h0=capabilities.within(impl, "initial_state", True), num_layers=1, bidirectional=False
    )


def expected(case, weights=None, x=None, h0=None, lengths=None):
    """The oracle's (output, h_n) for a case, with any of its arrays replaced (h_n is (h_n, c_n) for LSTM)."""
    from ..spec import oracle

    weights = case.weights if weights is None else weights
    want = oracle.forward(
        case.config, weights, case.x if x is None else x, case.h0 if h0 is None else h0, lengths
    )
    assume(representable(case.config, weights, *want))
    return want


def tolerance(case, *values, weights=None) -> float:
    return allowed_error(
        case.config, case.seq_len, case.weights if weights is None else weights, case.x, case.h0, *values
    )


@contextlib.contextmanager
def compared_with_oracle(case, got, tol, parts, *, weights=None, lengths=None):
    """Around a clause's comparisons of ``got`` (a Result) with the oracle: a Mismatch carries what
    was compared, for the failure report's diagnosis (diagnosis.of; only the reported one is
    diagnosed). ``parts``: "output", "h_n" (the whole state) and/or "c_n"."""
    __tracebackhide__ = True
    try:
        yield
    except Mismatch as e:
        output = None if case.config.cell else got.output
        e.rnn_comparison = Comparison(case, (output, got.h_n), tol, tuple(parts), weights, lengths)
        raise


def assert_matches_oracle(impl, case, *, weights=None, parts=("output", "h_n")):
    """Run the implementation on the case and compare the chosen parts with the oracle."""
    __tracebackhide__ = True
    want_output, want_h_n = expected(case, weights)
    got = run_case(impl, case, **({} if weights is None else {"weights": weights}))
    tol = tolerance(case, want_output, want_h_n, weights=weights)
    with compared_with_oracle(case, got, tol, parts, weights=weights):
        if "output" in parts:
            assert_output_close(case.config, got.output, want_output, tol)
        if "h_n" in parts:
            assert_state_close(case.config, got.h_n, want_h_n, tol)
