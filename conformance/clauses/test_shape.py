"""Output and state shapes (CONTRACT.md, "Layouts and shapes"); their dtypes are test_dtype.py's."""

from ..compare import assert_shape
from ..runner import run_case
from ..state import STATE_NAMES, parts
from ._helpers import clause, draw_case, expected


@clause("shape.output")
def test_shape_output(impl, data):
    case = draw_case(data, impl)
    got = run_case(impl, case)
    want_output, want_h_n = expected(case)
    c = case.config
    assert_shape(
        got.output,
        want_output.shape,
        what="output",
        why=f"(L={case.seq_len}, N={case.batch}, D*H={c.directions * c.h_out}, batch_first={c.batch_first})",
    )
    for name, got_part, want_part in zip(STATE_NAMES, parts(got.h_n), parts(want_h_n)):
        assert_shape(
            got_part,
            want_part.shape,
            what=name,
            why=f"({name} is (num_layers*D, N, {'H' if name == 'c_n' else 'H_out'}) whatever batch_first "
            "says)",
        )
