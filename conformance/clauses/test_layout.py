"""Layouts: batch_first and unbatched input (CONTRACT.md, "Layouts and shapes"; bug 4)."""

from ..compare import assert_output_close, assert_state_close
from ..runner import run_case
from ..state import map_state
from . import clause, draw_case, tolerance


@clause("layout.batch_first")
def test_batch_first(impl, data):
    case = draw_case(data, impl, batch_first=False)
    time_major = run_case(impl, case)
    config = case.config.replace(batch_first=True)
    batch_first = run_case(impl, case, config=config, x=case.x.transpose(1, 0, 2))
    tol = tolerance(case, time_major.output, time_major.h_n)
    assert_output_close(config, batch_first.output, time_major.output.transpose(1, 0, 2), tol,
                        what="output with batch_first=True", against="the time-major output, transposed")
    assert_state_close(config, batch_first.h_n, time_major.h_n, tol, what="h_n with batch_first=True", against="h_n of the time-major run")


@clause("layout.unbatched")
def test_unbatched(impl, data):
    case = draw_case(data, impl, unbatched=True)
    unbatched = run_case(impl, case)
    batch_first = case.config.batch_first
    batched = run_case(impl, case, x=case.x[None] if batch_first else case.x[:, None], h0=map_state(lambda s: s[:, None], case.h0))
    tol = tolerance(case, batched.output, batched.h_n)
    want_output = batched.output[0] if batch_first else batched.output[:, 0]
    assert_output_close(case.config, unbatched.output, want_output, tol, what="unbatched output", against="a batch of one")
    assert_state_close(case.config, unbatched.h_n, map_state(lambda s: s[:, 0], batched.h_n), tol, what="unbatched h_n", against="h_n of a batch of one")
