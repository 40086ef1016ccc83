"""The C target's plain SGD on one sample a step, deferred (`derive.render.code.c_deferred`): each
step's update kept and applied by the next step's forward pass as it reads the weights (a wide
layer's in its nets, a narrow one's in a pass before them), or by ``flush_deferred`` where no such
step follows (the end of ``train``, a batch of several samples, the step whose gradient is kept), the
samples read from aligned copies and, for a run of eight steps or more, the parameters from one.
Against the plain-Python module in loop form, whose steps are taken one after another with nothing
kept: a kept step applied twice, lost, applied late or with another step's deltas is off by a
learning rate's step, far beyond the tolerance."""

import pytest
from conftest import spec_text
from targets import _import, c_files, load_c, near, needs_cc

import derive
from derive.render.code import c_loops, targets

pytestmark = needs_cc

#: enough samples that steps of one sample take different ones; five, so batches of two end in one
COUNT = 5


def _model(bias: str, layers: list[int], activation: str, loss: str):
    n_in = layers[0]
    rows = "".join(f"[[samples]]\ninputs = [{', '.join(f'{((k * 7 + s * 3) % 11) / 10 - 0.4}' for k in range(n_in))}]\n"
                   f"targets = [{', '.join(f'{0.2 + 0.6 * ((j + s) % 2)}' for j in range(layers[-1]))}]\n"
                   for s in range(COUNT))
    text = spec_text(layers=str(layers), weights=None, biases=None, bias=f'"{bias}"', seed="5",
                     activation=activation, loss=loss, samples=rows)
    return derive.Model(derive.parse(text, "deferred.toml"))


def _modules(model, tmp_path):
    """The C binding in loop form and the Python module in loop form (no scalar derivation of the
    wide layer's weights)."""
    path = tmp_path / "loops.py"
    path.write_text(targets.render("python", None, model.network, derive.__version__, True)["gradients.py"])
    return load_c(model, tmp_path, loops=True), _import(path)


NETWORKS = {  # a wide first layer (its update in its nets; rows past a multiple of four), narrow ones after;
    # a wide layer above a narrow one (its kept input the hidden outs), of few weights: the Python module
    # trains them all in pure Python (at 256-257-3, 66,000 weights, this file took 18 s; now 2,300)
    "per_neuron": ("per_neuron", [c_loops.WIDE + 3, 6, 5, 2], '["logistic", "tanh", "logistic"]', '"half_sse"'),
    "shared": ("shared", [c_loops.WIDE + 9, 7, 3], '["tanh", "logistic"]', '"binary_cross_entropy"'),
    "none": ("none", [3, c_loops.WIDE + 1, 6], '["softplus", "logistic"]', '"mse"'),
}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_deferred_steps_are_the_python_modules(name, tmp_path):
    model = _model(*NETWORKS[name])
    source = c_files(model, True)["gradients.c"]
    assert "run_deferred(p, aligned[next]" in source and "if (pending) {" in source
    cmod, pmod = _modules(model, tmp_path)
    samples = [(list(map(float, s.inputs)), list(map(float, s.targets))) for s in model.spec.samples]
    for options in ({"batch_size": 1}, {"batch_size": 1, "shuffle": True},
                    {"batch_size": 2},  # two, two, one (kept), then two: the kept step flushed first
                    {"batch_size": 1, "reduction": "mean"},
                    {"batch_size": 1, "weight_decay": 0.01},  # not the plain step: never kept
                    {"batch_size": 1, "optimizer": "momentum"}, {"batch_size": 1, "optimizer": "adam"},
                    {"batch_size": 1, "frozen": (model.parameters[0],)}):
        for steps in (1, 2, 7, 12):  # from 8 steps on, the parameters may be moved to an aligned copy
            got = cmod.train(cmod.INITIAL, samples, steps, 0.05, **options)
            want = pmod.train(pmod.INITIAL, samples, steps, 0.05, **options)
            scale = max(1.0, *(abs(v) for v in want.values()))
            assert all(near(got[p], want[p], scale) for p in want), (options, steps)


def test_the_step_whose_gradient_is_kept_follows_the_deferred_ones(tmp_path):
    """With ``state``, the last step's gradient is returned: that step is not deferred, the ones before
    it are, and their kept update is applied before it reads the weights."""
    model = _model(*NETWORKS["per_neuron"])
    cmod, pmod = _modules(model, tmp_path)
    samples = [(list(map(float, s.inputs)), list(map(float, s.targets))) for s in model.spec.samples]
    got_state, want_state = {}, {}
    got = cmod.train(cmod.INITIAL, samples, 11, 0.05, batch_size=1, state=got_state)
    want = pmod.train(pmod.INITIAL, samples, 11, 0.05, batch_size=1, state=want_state)
    scale = max(1.0, *(abs(v) for v in want.values()))
    assert all(near(got[p], want[p], scale) for p in want)
    assert all(near(got_state["g"][p], want_state["g"][p], scale) for p in want_state["g"])
