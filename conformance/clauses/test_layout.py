"""Layouts: batch_first and unbatched input (CONTRACT.md, "Layouts and shapes"; bug 4)."""

from ..compare import assert_output_close, assert_state_close
from ..runner import run_case
from ..spec import layout
from ..state import map_state
from ._helpers import clause, draw_case, tolerance


@clause("layout.batch_first")
def test_layout_batch_first(impl, data):
    case = draw_case(data, impl, batch_first=False)
    time_major = run_case(impl, case)
    config = case.config.replace(batch_first=True)
    batch_first = run_case(impl, case, config=config, x=layout.from_time_major(config, case.x))
    tol = tolerance(case, time_major.output, time_major.h_n)
    assert_output_close(
        config,
        batch_first.output,
        layout.from_time_major(config, time_major.output),
        tol,
        what="output with batch_first=True",
        against="the time-major output, transposed",
    )
    assert_state_close(
        config,
        batch_first.h_n,
        time_major.h_n,
        tol,
        what="h_n with batch_first=True",
        against="h_n of the time-major run",
    )


@clause("layout.unbatched")
def test_layout_unbatched(impl, data):
    case = draw_case(data, impl, unbatched=True)
    unbatched = run_case(impl, case)
    c = case.config
    x = layout.from_time_major(c, layout.to_time_major(c, case.x))
    batched = run_case(impl, case, x=x, h0=map_state(layout.state_batch_of_one, case.h0))
    tol = tolerance(case, batched.output, batched.h_n)
    want_output = layout.to_time_major(c, batched.output)[:, 0]
    assert_output_close(
        c, unbatched.output, want_output, tol, what="unbatched output", against="a batch of one"
    )
    assert_state_close(
        case.config,
        unbatched.h_n,
        map_state(lambda s: s[:, 0], batched.h_n),
        tol,
        what="unbatched h_n",
        against="h_n of a batch of one",
    )
