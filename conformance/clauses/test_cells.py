"""Cells: one step of each kind from a random h_0, batched over rows (CONTRACT.md, "Cells")."""

from . import assert_matches_oracle, clause, draw_case

ONE_STEP = dict(seq_len=1, with_h0=True, num_layers=1, bidirectional=False)


@clause("cell.elman")
def test_elman_step(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, **ONE_STEP))


@clause("gru.candidate")
def test_gru_candidate(impl, data):
    case = draw_case(data, impl, bias=True, **ONE_STEP)
    weights = case.weights
    H = case.config.hidden_size
    for name in ("bias_ih_l0", "bias_hh_l0"):
        weights[name][H : 2 * H] = -20.0  # z = sigmoid(-40 + ...) ~ 0, so h' = n: the candidate alone
    assert_matches_oracle(impl, case, weights=weights)


@clause("gru.update")
def test_gru_step(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, **ONE_STEP))
