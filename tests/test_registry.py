"""Every registered activation and loss, checked against independent routes: a new entry is tested
by being registered. Each rule written in an entry (derivative, stable float form, mpmath form,
fused delta, stable error term) is compared with what SymPy or mpmath derive from the entry's own
elementary definition, which relies on none of them."""

import math

import mpmath
import pytest
import sympy as sp

import derive
from derive.model.functions import Registered
from derive.model.registry import ACTIVATIONS, LOSSES
from derive.render.code.python import ModuleWriter

ELEMENTWISE = sorted(name for name, a in ACTIVATIONS.items() if not a.couples_layer)
POINTS = [-30.0, -3.5, -1.0, -0.25, 0.3, 1.0, 2.75, 30.0]  # no kink (relu's is at 0)
x = sp.Symbol("x", real=True)


def at(expr, value, digits=50):
    with mpmath.workdps(digits):
        return sp.lambdify(x, expr, modules="mpmath")(mpmath.mpf(value))


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_the_derivative_rule_is_the_derivative_of_the_definition(name):
    act = ACTIVATIONS[name]
    out = act.out(x)
    elementary = out.rewrite(sp.exp) if isinstance(out, Registered) else out
    by_sympy = sp.diff(elementary, x)  # from the elementary form: no rule of the registry involved
    rule = act.derivative(x, out).rewrite(sp.exp)
    for p in POINTS:
        assert abs(at(by_sympy, p) - at(rule, p)) < mpmath.mpf("1e-40"), (name, p)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_the_textbook_form_and_the_mpmath_form_are_the_function(name):
    act = ACTIVATIONS[name]
    out = act.out(x)
    elementary = out.rewrite(sp.exp) if isinstance(out, Registered) else out
    for p in POINTS:
        assert abs(at(act.textbook(x).rewrite(sp.exp), p) - at(elementary, p)) < mpmath.mpf("1e-40")
        if isinstance(out, Registered) and out.mp is not None:
            with mpmath.workdps(50):
                assert abs(out.mp(mpmath.mpf(p)) - at(elementary, p)) < mpmath.mpf("1e-40"), (name, p)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_the_printed_python_float_form_is_accurate(name):
    """The generated module's Python for f(x), run, against mpmath: within 4 ulp (or 1e-300), or, where
    f is ill-conditioned (gelu at -30: |x f'(x) / f(x)| is 900), f at an argument within 4 ulp of x:
    no float code can do better once it scales its argument (x / sqrt 2 is rounded)."""
    writer = ModuleWriter(derive.load().derivation)
    net = writer.network.symbol(derive.Quantity("net", "h1"))
    act = ACTIVATIONS[name]
    namespace = {"math": math}
    source = f"def f(net_h1):\n    return {writer.code(act.out(net))}\n"
    source += "".join(writer.printer.helper_sources())
    exec(source, namespace)
    elementary = act.out(x).rewrite(sp.exp) if isinstance(act.out(x), Registered) else x
    slope = act.derivative(x, act.out(x)).rewrite(sp.exp)
    for p in [*POINTS, -700.5, -699.5, 700.0]:
        exact = float(at(elementary, p, 400))  # 400 digits: 1 + erf(-21) cancels 197 of them
        backward = 4 * math.ulp(p) * abs(float(at(slope, p, 400)))
        assert abs(namespace["f"](p) - exact) <= max(4 * math.ulp(exact), backward, 1e-300), (name, p)


KINKED = sorted(name for name in ELEMENTWISE if ACTIVATIONS[name].kink is not None)


def test_the_kinked_activations_are_the_ones_with_a_kink():
    assert KINKED == ["leaky_relu", "relu"]


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_the_derivative_at_zero_is_the_limit_or_the_stated_convention(name):
    """Where the derivative jumps (a kink), the entry states its convention in ``kink_note`` as
    f'(kink) = value, which is one of the one-sided limits (PyTorch's choice); elsewhere, at 0 (where
    elu and the relu family switch branches) the left and right limits agree with the rule."""
    act = ACTIVATIONS[name]
    out = act.out(x)
    elementary = out.rewrite(sp.exp) if isinstance(out, Registered) else out
    by_sympy = sp.diff(elementary, x)
    kink = act.kink if act.kink is not None else 0
    left, right = at(by_sympy, kink - mpmath.mpf("1e-30")), at(by_sympy, kink + mpmath.mpf("1e-30"))
    with mpmath.workdps(50):
        rule = sp.lambdify(x, act.derivative(x, out).rewrite(sp.exp), modules="mpmath")(mpmath.mpf(kink))
    if act.kink is None:
        assert abs(left - right) < mpmath.mpf("1e-25") and abs(rule - right) < mpmath.mpf("1e-25"), name
    else:
        assert abs(left - right) > mpmath.mpf("1e-3"), name  # a real kink
        assert min(abs(rule - left), abs(rule - right)) < mpmath.mpf("1e-25"), name
        assert f"{name}'({kink}) = {mpmath.nstr(rule, 6)}" in act.kink_note, (name, act.kink_note)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_the_loss_derivative_is_the_derivative_of_its_term(name):
    """Symbolically where SymPy simplifies the difference to 0; a piecewise loss (huber) at points on
    both sides of every branch, with the branches' values and slopes equal where they meet."""
    loss = LOSSES[name]
    t, o = sp.symbols("t o", positive=True)
    by_sympy = sp.diff(loss.term(t, o, 3).doit(), o)
    if not loss.term(t, o, 3).has(sp.Piecewise):
        assert sp.simplify(by_sympy - loss.derivative(t, o, 3).doit()) == 0, name
    term = sp.lambdify((t, o), loss.term(t, o, 3).doit(), modules="mpmath")
    rule = sp.lambdify((t, o), loss.derivative(t, o, 3).doit().rewrite(sp.exp), modules="mpmath")
    diff = sp.lambdify((t, o), by_sympy, modules="mpmath")
    with mpmath.workdps(50):
        for tt, oo in [("0.9", "0.2"), ("0.1", "0.8"), ("0.5", "0.5"), ("0.75", "0.25"), ("3", "0.5"), ("0.25", "2.5")]:
            assert abs(rule(mpmath.mpf(tt), mpmath.mpf(oo)) - diff(mpmath.mpf(tt), mpmath.mpf(oo))) < mpmath.mpf("1e-40")
        if loss.term(t, o, 3).has(sp.Piecewise):  # where the branches meet, |t - o| = 1: continuous, C1
            for side in (1, -1):
                below, above = (mpmath.mpf(2) + side * (1 - e) for e in (mpmath.mpf("1e-30"), mpmath.mpf("-1e-30")))
                assert abs(term(2, below) - term(2, above)) < mpmath.mpf("1e-25"), name
                assert abs(rule(2, below) - rule(2, above)) < mpmath.mpf("1e-25"), name


def test_huber_is_pytorchs_definition_at_hand_worked_points():
    """torch.nn.HuberLoss(delta=1): 0.5 d^2 for |d| < 1, else |d| - 0.5 (worked by hand)."""
    loss = LOSSES["huber"]
    t, o = sp.symbols("t o", real=True)
    term = sp.lambdify((t, o), loss.term(t, o, 1).doit())
    rule = sp.lambdify((t, o), loss.derivative(t, o, 1).doit().rewrite(sp.exp))
    assert (term(1, 0.5), term(0, 3), term(3, 0), term(0, 1)) == (0.125, 2.5, 2.5, 0.5)
    assert (rule(1, 0.5), rule(0, 3), rule(3, 0), rule(0, 1)) == (-0.5, 1, -1, 1)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_fused_or_stable_form_equals_the_textbook_form(name):
    """Where a loss has a stable error term (from net) and a fused delta, both equal what the
    textbook forms give, on a network whose output activation is the one the loss requires."""
    loss = LOSSES[name]
    if loss.requires is None:
        assert loss.stable_term is None and loss.fused_delta is None
        return
    activation = loss.requires
    spec = derive.parse(
        f'name = "t"\nlayers = [2, 3]\nactivation = "{activation}"\nloss = "{name}"\nbias = "per_neuron"\n'
        "learning_rate = 0.5\nweights = [[[0.3, -0.2], [0.1, 0.4], [-0.5, 0.25]]]\nbiases = [[0.1, -0.1, 0.05]]\n"
        "[[samples]]\ninputs = [0.7, -1.2]\ntargets = [0.2, 0.3, 0.5]\n", "t.toml")
    model = derive.Model(spec)
    weights, biases = [["0.3", "-0.2"], ["0.1", "0.4"], ["-0.5", "0.25"]], ["0.1", "-0.1", "0.05"]
    with mpmath.workdps(50):
        nets = [mpmath.mpf(w1) * mpmath.mpf("0.7") + mpmath.mpf(w2) * mpmath.mpf("-1.2") + mpmath.mpf(b)
                for (w1, w2), b in zip(weights, biases, strict=True)]
        if activation == "softmax":
            exps = [mpmath.exp(n) for n in nets]
            outs = [e / mpmath.fsum(exps) for e in exps]
        else:
            outs = [1 / (1 + mpmath.exp(-n)) for n in nets]
        targets = [mpmath.mpf("0.2"), mpmath.mpf("0.3"), mpmath.mpf("0.5")]
        o, tt = sp.symbols("o t")
        term = sp.lambdify((tt, o), loss.term(tt, o, 3).doit(), modules="mpmath")
        dterm = sp.lambdify((tt, o), loss.derivative(tt, o, 3).doit(), modules="mpmath")
        total = mpmath.fsum(term(t_, o_) for t_, o_ in zip(targets, outs, strict=True))
        assert abs(model.value("E_total") - total) < mpmath.mpf("1e-40")
        for j in range(3):  # delta_j by the textbook chain rule, through the activation's Jacobian
            if activation == "softmax":
                delta = mpmath.fsum(dterm(targets[i], outs[i]) * outs[i] * ((i == j) - outs[j]) for i in range(3))
            else:
                delta = dterm(targets[j], outs[j]) * outs[j] * (1 - outs[j])
            assert abs(model.value(f"delta_o{j + 1}") - delta) < mpmath.mpf("1e-40"), (name, j)


def test_every_registered_name_is_accepted_by_the_spec():
    for name, act in ACTIVATIONS.items():
        layers = "[2, 2]" if act.output_only else "[2, 2, 2]"
        loss = next((n for n, entry in LOSSES.items() if entry.requires == name), "half_sse")
        text = (f'name = "t"\nlayers = {layers}\nactivation = "{name}"\nloss = "{loss}"\nbias = "shared"\n'
                "learning_rate = 0.5\nseed = 1\n[[samples]]\ninputs = [0.1, 0.2]\ntargets = [0.5, 0.5]\n")
        assert derive.parse(text, "t.toml").activations[-1] == name


def test_softmaxs_largest_net_is_sympys_max_without_its_pairwise_search():
    """`registry._largest` (the max subtracted in softmax's float form and the max_o temporary) skips
    SymPy's comparison of every pair only for real symbols with no sign: it is then the expression
    Max evaluates to, its arguments in the same order; anything else Max still simplifies."""
    from derive.model.registry import _largest

    nets = sp.symbols("net_o3 net_o1 net_o2 net_o10", real=True)
    for args in (nets, nets[:1], nets[::-1], (*nets, nets[0]), nets[1:3]):
        got, want = _largest(args), sp.Max(*args)
        assert got == want and got.args == want.args and type(got) is type(want), args
    positive, negative = sp.Symbol("p", positive=True), sp.Symbol("n", negative=True)
    assert _largest((positive, negative)) == positive  # a bound SymPy proves is still used
    assert _largest((sp.Integer(2), sp.Integer(5), nets[0])) == sp.Max(5, nets[0])
    assert _largest((nets[0], nets[0] + 1)) == nets[0] + 1
