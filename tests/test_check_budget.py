"""The check's costly routes take on what they can do in seconds (derive/check/budget.py): sympy.diff
of the nested error is skipped past 4 levels of units (a recurrent layer over 4 steps took minutes at
11 parameters), and finite differences check fewer parameters where each one's passes recompute many
units (a recurrent weight moves every step), an even spread; dense networks as before."""

import pytest

import derive
from derive.check import budget, routes


def _rnn(steps: int, hidden: int = 2) -> derive.Model:
    rows = ", ".join(f"[{(t % 3) / 2 - 0.5}]" for t in range(steps))
    text = (f'name = "deep"\ninput = [{steps}, 1]\nloss = "half_sse"\nlearning_rate = 0.1\nseed = 2\n\n'
            f'[[layer]]\ntype = "rnn"\nhidden_size = {hidden}\n\n[[layer]]\ntype = "linear"\nout_features = 1\n\n'
            f"[[samples]]\ninputs = [{rows}]\ntargets = [{rows}]\n")
    return derive.Model(derive.parse(text, "deep.toml"))


def test_the_depth_counts_a_level_a_layer_and_a_step():
    assert budget.depth(derive.load("derive/examples/mazur.toml").network) == 2
    for steps in (1, 3, 4):
        assert budget.depth(_rnn(steps).network) == steps + 1


class _SympyDiffTaken(Exception):
    pass


def test_sympy_diff_is_skipped_past_four_levels_and_says_why(monkeypatch):
    report = routes.run(_rnn(4))
    assert report.skipped["sympy_diff"] == ("skipped: its units are nested 5 levels deep (> 4); the nested "
                                            "expression's derivative doubles with each level")
    # at 4 levels the route is taken: stopped at its first derivative (the whole check of a 3-step
    # recurrent network, sympy.diff included, passes in tests/test_rnn.py's every-command test)
    def taken(*_):
        raise _SympyDiffTaken

    monkeypatch.setattr(routes, "_sympy_derivative", taken)
    with pytest.raises(_SympyDiffTaken):
        routes.run(_rnn(3))


def test_reach_counts_the_units_a_parameter_moves():
    model = derive.load("derive/examples/mazur.toml")
    moved = budget.reach(model.network)
    assert moved["w1"] == 3 and moved["w5"] == 1 and moved["b1"] == 4  # h1, o1, o2; o1; h1, h2, o1, o2
    rnn = _rnn(3)
    moved = budget.reach(rnn.network)
    # W_ih[0][0] moves h_t,1 at every step (h1, h3, h5), through W_hh every later unit (h4, h6), and every
    # output: all but h2, step 1's second unit
    assert moved["w1"] == 8


def test_finite_differences_check_fewer_parameters_where_each_moves_more(monkeypatch):
    dense = derive.load("derive/examples/mazur.toml")
    assert budget.chosen(dense) == dense.parameters
    model = _rnn(6, hidden=4)
    assert budget.chosen(model) == model.parameters
    monkeypatch.setattr(budget, "FD_WORK", 200)
    picked = budget.chosen(model)
    moved = budget.reach(model.network)
    assert 1 <= len(picked) < len(model.parameters) and sum(moved[p] for p in picked) <= 200
    step = len(model.parameters) / len(picked)
    assert picked == [model.parameters[int(i * step)] for i in range(len(picked))]
