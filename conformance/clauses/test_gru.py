"""GRU: one step through the sequence modules, the candidate alone and the whole update
(CONTRACT.md, "Cells"; bugs 1, 12, 13, 14)."""

from ._helpers import assert_matches_oracle, clause, draw_case, one_step


@clause("gru.candidate")
def test_gru_candidate(impl, data):
    case = draw_case(data, impl, bias=True, **one_step(impl))
    weights = {name: w.copy() for name, w in case.weights.items()}
    H = case.config.hidden_size
    for name in ("bias_ih_l0", "bias_hh_l0"):
        weights[name][H : 2 * H] = -20.0  # z = sigmoid(-40 + ...) ~ 0, so h' = n: the candidate alone
    assert_matches_oracle(impl, case, weights=weights)


@clause("gru.update")
def test_gru_update(impl, data):
    assert_matches_oracle(impl, draw_case(data, impl, **one_step(impl)))
