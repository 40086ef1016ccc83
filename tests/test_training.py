"""Training as people do it (issue 15): optimizers, batches, shuffling, weight decay, frozen biases
and the update order, in the generated module's loop, the 60-digit engine and the quantity grammar,
each against an independent implementation of the formulas (tests/independent_training.py)."""

import math

import independent
import independent_training as ind
import mpmath
import pytest
from conftest import spec_text
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from networks import ZOO, random_specs

import derive
from derive.derivation.exact_training import ExactTraining
from derive.model import optimizers, quantities
from derive.render.code.python import compile_module

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adam", "adamw"]


def _close(a, b, rel=1e-12):
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-15)


def _samples(model):
    return [([float(v) for v in s.inputs], [float(v) for v in s.targets]) for s in model.spec.samples]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=random_specs(max_samples=5), optimizer=st.sampled_from(OPTIMIZERS), batch=st.integers(0, 5),
       shuffle=st.booleans(), decay=st.sampled_from([0.0, 0.01]), freeze=st.booleans(), in_place=st.booleans(),
       seed=st.integers(0, 2**63 - 1), lr=st.sampled_from([0.001, 0.05, 0.3]))
def test_the_module_trains_as_the_formulas_say(text, optimizer, batch, shuffle, decay, freeze, in_place, seed, lr):
    """20 steps of the generated train against the independent loop, to 1e-12 relative."""
    model = derive.Model(derive.parse(text, "random.toml"))
    module = model.module
    samples = _samples(model)
    in_place = in_place and optimizer == "sgd"
    frozen = module.BIASES if freeze else ()
    options = {"optimizer": optimizer, "weight_decay": decay, "batch_size": batch, "shuffle": shuffle, "seed": seed,
               "frozen": frozen, "update_order": "in_place" if in_place else "simultaneous",
               "momentum": 0.8, "betas": (0.85, 0.99), "eps": 1e-6}
    got = module.train(module.INITIAL, samples, 20, lr, **options)
    want, _ = ind.run(module.gradient, module.INITIAL, samples, 20, optimizer=optimizer, lr=lr, momentum=0.8,
                      betas=(0.85, 0.99), eps=1e-6, weight_decay=decay, batch_size=batch, shuffle=shuffle, seed=seed,
                      frozen=frozen, reduction=model.spec.reduction, layer_of=module.PARAMETER_LAYER,
                      in_place=in_place)
    # A parameter whose exact gradient is zero by symmetry (a softmax layer's shared bias) has a float
    # gradient of pure rounding noise, which Adam divides by about eps: up to lr * noise / eps a step.
    first = [module.gradient(module.INITIAL, x, y) for x, y in samples]
    noise = {n for n in module.PARAMETERS if max(abs(g[n]) for g in first) < 1e-13}
    for name in module.PARAMETERS:
        if optimizer.startswith("adam") and name in noise:
            assert abs(got[name] - want[name]) <= 20 * lr * 1e-16 / 1e-6, (name, got[name], want[name])
        else:
            assert _close(got[name], want[name]), (name, got[name], want[name])
    for name in frozen:
        assert got[name] == module.INITIAL[name]


def test_a_run_in_chunks_is_the_same_run():
    """The state dict carries step count, buffers and the batch position from call to call."""
    model = derive.Model(derive.parse(ZOO["bce_mean"], "bce_mean.toml"))
    module, samples = model.module, _samples(model)
    for optimizer in OPTIMIZERS:
        options = {"optimizer": optimizer, "batch_size": 1, "shuffle": True, "seed": 5}
        whole = module.train(module.INITIAL, samples, 9, **options)
        state = {}
        params = module.train(module.INITIAL, samples, 4, state=state, **options)
        params = module.train(params, samples, 5, state=state, **options)
        assert params == whole and state["step"] == 9


def test_the_shuffle_is_the_documented_one():
    module = derive.load().module
    for seed, epoch, n in [(0, 0, 5), (1, 0, 5), (1, 1, 5), (2**63 - 1, 7, 13), (123456789, 3, 1000)]:
        order = ind.shuffled(seed, epoch, n)
        assert sorted(order) == list(range(n))
        assert optimizers.epoch_order(seed, epoch, n) == order == module.epoch_order(seed, epoch, n)
    assert ind.shuffled(1, 0, 8) != ind.shuffled(1, 1, 8)


def test_batches_follow_the_schedule():
    base = optimizers.Settings(optimizers.exact(0.1))
    for size, shuffle in [(0, False), (1, False), (2, False), (2, True), (3, True)]:
        s = base.configured({"batch_size": size, "shuffle": shuffle, "seed": 9})
        for step in range(1, 12):
            assert optimizers.batch(s, step, 5) == ind.batches_of_step(step, 5, size, shuffle, 9)


def _model(**training):
    table = "\n".join(f"{k} = {v}" for k, v in training.items())
    return derive.Model(derive.parse(spec_text(
        learning_rate=None, seed="4", weights=None, biases=None, layers="[2, 3, 2]", reduction='"mean"',
        samples="".join(f"[[samples]]\ninputs = [{a}, {b}]\ntargets = [{c}, {d}]\n"
                        for a, b, c, d in [(0.05, 0.1, 0.01, 0.99), (0.5, -0.3, 0.2, 0.7), (-1.0, 0.4, 0.9, 0.1)]),
    ) + f"\n[training]\n{table}\n", "t.toml"))


@pytest.fixture(scope="module")
def adam_model():
    return _model(optimizer='"adam"', learning_rate=0.05, weight_decay=0.01, batch_size=2, shuffle="true")


def test_the_exact_engine_against_the_module(adam_model):
    """The first 10 steps at 60 digits against the float loop, parameters and state, every optimizer."""
    for optimizer, order in [*((o, "simultaneous") for o in OPTIMIZERS), ("sgd", "in_place")]:
        settings_ = adam_model.settings(optimizer=optimizer, freeze_biases=optimizer == "momentum", update_order=order)
        exact = ExactTraining(adam_model.derivation, settings_)
        run = adam_model.train(10, settings=settings_, history=False)
        snapshot = exact.snapshot(10)
        for name, value in run.parameters.items():
            assert _close(float(snapshot.parameters[name]), value, 1e-11), (optimizer, name)
        for slot in settings_.entry.state:
            for name, value in run.state[slot].items():
                assert _close(float(snapshot.state[slot][name]), value, 1e-10), (optimizer, slot, name)


def test_state_quantities_against_the_independent_loop(adam_model):
    module = adam_model.module
    kwargs = {"optimizer": "adam", "lr": 0.05, "weight_decay": 0.01, "batch_size": 2, "shuffle": True, "seed": 4,
              "reduction": "mean"}
    for steps in (1, 2, 3, 12):
        params, state = ind.run(module.gradient, module.INITIAL, _samples(adam_model), steps, **kwargs)
        assert float(adam_model.value(f"w5@{steps}")) == pytest.approx(params["w5"], rel=1e-12)
        assert float(adam_model.value(f"m_w5@{steps}")) == pytest.approx(state["w5"]["m"], rel=1e-10)
        assert float(adam_model.value(f"v_b1@{steps}")) == pytest.approx(state["b1"]["v"], rel=1e-10)
        vhat = state["w5"]["v"] / (1 - 0.999**steps)
        assert float(adam_model.value(f"vhat_w5@{steps}")) == pytest.approx(vhat, rel=1e-10)
    # w5+ is the first step of the spec's optimizer on its first batch
    assert adam_model.value("w5+") == adam_model.value("w5@1")


def test_one_exact_step_by_finite_differences():
    """Adam's first step from independent 60-digit finite-difference gradients (the full batch)."""
    model = _model(optimizer='"adamw"', learning_rate=0.01, weight_decay=0.1)
    g = independent.gradient(model.spec)
    p = independent.parameters(model.spec)
    with mpmath.workdps(60):
        lr, wd, b1, b2, eps = (mpmath.mpf(x) for x in ("0.01", "0.1", "0.9", "0.999", "1e-8"))
        m, v = (1 - b1) * g["w5"], (1 - b2) * g["w5"] ** 2
        want = p["w5"] * (1 - lr * wd) - lr * (m / (1 - b1)) / (mpmath.sqrt(v / (1 - b2)) + eps)
        assert abs(model.value("w5@1") - want) < mpmath.mpf("1e-25")
        assert abs(model.value("m_w5@1") - m) < mpmath.mpf("1e-25")


@pytest.mark.parametrize("text,message", [
    ("m_w5", "'m_w5': optimizer state is a value after N steps: write m_w5@N, e.g. m_w5@1"),
    ("m_w5[1]@2", "'m_w5[1]@2': optimizer state is one value for all the samples: write m_w5@N"),
    ("dm_w5/dw5", "cannot read quantity 'dm_w5/dw5': optimizer state has no partial derivatives"),
])
def test_state_quantities_parse_and_refuse(text, message):
    with pytest.raises(derive.QuantityError) as err:
        quantities.parse(text)
    assert str(err.value) == message


def test_state_quantities_format_and_errors(reference, adam_model):
    for text in ("m_w5@1", "vhat_b2@10", "g_w1@3", "buf_w8@0", "update_w5@2"):
        assert str(quantities.parse(text)) == text
    with pytest.raises(derive.QuantityError, match=r"^m_w5@1: optimizer 'sgd' has no m \(its state: g\)$"):
        reference.value("m_w5@1")
    with pytest.raises(derive.QuantityError, match=r"b1 is frozen \(freeze_biases\), so it has no optimizer state"):
        reference.value("g_b1@1")
    with pytest.raises(derive.QuantityError, match=r"unknown quantity 'm_w99@1'"):
        adam_model.value("m_w99@1")
    assert adam_model.value("m_w5@0") == 0
    with pytest.raises(derive.QuantityError, match=r"^buf_w5@1: optimizer 'adam' has no buf \(its state: g, m, v, "
                                                   r"mhat, vhat, update\)$"):
        adam_model.value("buf_w5@1")
    assert float(reference.value("g_w5@1")) == pytest.approx(float(independent.gradient(reference.spec)["w5"]))


def test_the_module_honours_the_specs_frozen_biases(reference):
    """The issue: train() once ignored freeze_biases (4.36e-6 where derive train gives 3.51e-5)."""
    module = reference.module
    params = module.train(module.INITIAL, [([0.05, 0.10], [0.01, 0.99])], 10000)
    _, _, _, error = independent.loop_train(reference.spec, 10000, freeze_biases=True)
    assert module.loss(params, [0.05, 0.10], [0.01, 0.99]) == pytest.approx(error, rel=1e-9)
    assert (params["b1"], params["b2"]) == (0.35, 0.6)


def test_in_place_only_with_sgd():
    module = derive.load().module
    with pytest.raises(ValueError, match="update_order 'in_place' is for optimizer 'sgd' only"):
        module.train(module.INITIAL, [([0.05, 0.10], [0.01, 0.99])], 1, optimizer="adam", update_order="in_place")


def test_a_variant_module_carries_its_rules():
    """The audit compiles modules with a slip's rules (here Adam without bias correction)."""
    model = derive.load()
    entry = optimizers.OPTIMIZERS["adam"].replaced("mhat", optimizers.M).replaced("vhat", optimizers.V)
    module = compile_module(model.derivation, derive.__version__, {"adam": entry})
    samples = [([0.05, 0.10], [0.01, 0.99])]
    got = module.train(module.INITIAL, samples, 3, 0.01, optimizer="adam")
    want, _ = ind.run(module.gradient, module.INITIAL, samples, 3, optimizer="adam", lr=0.01, frozen=("b1", "b2"),
                      bias_correction=False)
    correct = model.module.train(module.INITIAL, samples, 3, 0.01, optimizer="adam")
    for name in module.PARAMETERS:
        assert _close(got[name], want[name])
    assert got["w5"] != pytest.approx(correct["w5"], rel=1e-6)



@pytest.mark.parametrize("form", [int, float, str, lambda v: __import__("decimal").Decimal(f"{v}.0")])
@pytest.mark.parametrize(("option", "optimizer", "value"),
                         [("learning_rate", "sgd", 2), ("momentum", "momentum", 0), ("eps", "adam", 1),
                          ("weight_decay", "adamw", 3)])
def test_a_number_option_from_python_is_exact_whether_int_float_text_or_decimal(option, optimizer, value, form):
    """Every number option of `Model.settings` (and so of `Model.train`) takes an int as it takes a
    float, text or a Decimal: the number, exactly (an int used to end in AttributeError: 'int' ...
    'is_finite')."""
    import sympy as sp

    settings = derive.load().settings(optimizer=optimizer, **{option: form(value)})
    assert getattr(settings, option) == sp.Integer(value)
    assert optimizers.exact(form(value)) == sp.Integer(value)
