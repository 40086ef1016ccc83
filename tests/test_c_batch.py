"""The C target's batched kernel (`derive.render.code.c_batch`): ``train`` on a batch of more than one
sample takes the batch's gradient as blocked matrix products (plain SGD on a batch of one block: the
update fused into them), in both forms of the source; against
the plain-Python module's ``train`` on every network of the zoo, with batches that span several
blocks and end in a partial group of samples."""

import pytest
from conftest import spec_text
from generated_module import floats, load
from networks import EXTREME, TODAY, ZOO
from targets import _import, c_files, load_c, near, needs_cc

import derive
from derive.render.code import c_batch, targets

pytestmark = needs_cc

#: more than two blocks of samples, the last one not a whole group
COUNT = 2 * c_batch.BLOCK + c_batch.GROUP + 1


def _samples(model):
    """COUNT samples: the spec's own, their inputs moved a little each time (the same targets)."""
    spec = model.spec.samples
    return [([v + 0.01 * (k % 7) - 0.02 * (i % 3) for i, v in enumerate(floats(spec[k % len(spec)].inputs))],
             floats(spec[k % len(spec)].targets)) for k in range(COUNT)]


@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
@pytest.mark.parametrize("name", sorted({**ZOO, **TODAY, **EXTREME}))
def test_batched_train_is_the_python_modules(name, loops, tmp_path):
    model = derive.Model(derive.parse({**ZOO, **TODAY, **EXTREME}[name], f"{name}.toml"))
    assert "run_batch(" in c_files(model, loops)["gradients.c"]  # every network of the zoo is dense
    cmod, pmod = load_c(model, tmp_path, loops), load(model, tmp_path)[0]
    samples = _samples(model)
    for options in ({"optimizer": "sgd"}, {"optimizer": "sgd", "batch_size": c_batch.BLOCK},  # fused: one block
                    {"optimizer": "sgd", "batch_size": 7},  # fused, a partial tile; the last batch of one sample
                    {"optimizer": "momentum", "batch_size": c_batch.BLOCK},  # one block, not fused: acc, then its loop
                    {"optimizer": "sgd", "batch_size": c_batch.BLOCK, "weight_decay": 0.01},  # not fused
                    {"optimizer": "sgd", "batch_size": 7, "reduction": "mean"},
                    {"optimizer": "adam", "batch_size": c_batch.BLOCK + 3, "reduction": "mean"},
                    {"optimizer": "sgd", "frozen": (model.parameters[0],), "batch_size": 5, "shuffle": True}):
        got = cmod.train(cmod.INITIAL, samples, 3, 0.01, **options)
        want = pmod.train(pmod.INITIAL, samples, 3, 0.01, **options)
        scale = max(1.0, *(abs(v) for v in want.values()))
        assert all(near(got[p], want[p], scale) for p in want), options


def test_the_batched_gradient_is_the_sum_over_the_batch(reference, tmp_path):
    """last_g of one full-batch step is the sum of the samples' gradients (the engine's, per sample)."""
    cmod = load_c(reference, tmp_path, loops=True)
    samples = [(floats(s.inputs), floats(s.targets)) for s in reference.spec.samples] * COUNT
    state = {}
    cmod.train(cmod.INITIAL, samples, 1, 0.0, state=state)
    assert state["g"]
    for p in state["g"]:  # the parameters trained (the spec may freeze some)
        want = COUNT * sum(float(reference.value(f"dE_total/d{p}", s)) for s in range(len(reference.spec.samples)))
        assert near(state["g"][p], want, abs(want)), p


@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_the_step_whose_gradient_is_kept_follows_fused_ones(reference, loops, tmp_path):
    """With ``state``, the last step's gradient is returned: that step of one block is not fused (its
    gradient into acc, then the optimizer's loop), the ones before it are; all as the Python module's."""
    cmod, pmod = load_c(reference, tmp_path, loops), load(reference, tmp_path)[0]
    samples = _samples(reference)[:c_batch.BLOCK - 1]
    got_state, want_state = {}, {}
    got = cmod.train(cmod.INITIAL, samples, 4, 0.01, state=got_state)
    want = pmod.train(pmod.INITIAL, samples, 4, 0.01, state=want_state)
    scale = max(1.0, *(abs(v) for v in want.values()))
    assert all(near(got[p], want[p], scale) for p in want)
    assert all(near(got_state["g"][p], want_state["g"][p], scale) for p in want_state["g"])


def test_a_layer_wider_than_a_chunk(tmp_path):
    """A first layer of more inputs than `c_batch.CHUNK` and more weights than `c_batch.L2_HALF` bytes
    (its products taken in chunks, the sums of the chunks added) and an odd number of units: the loop
    form's batched train is the Python module's."""
    n_in = c_batch.CHUNK + 45
    hidden = c_batch.L2_HALF // (8 * n_in) + 2  # more weights than half of L2: chunked
    hidden += 1 - hidden % 2  # odd
    text = spec_text(layers=f"[{n_in}, {hidden}, 2]", weights=None, biases=None, bias='"per_neuron"', seed="3",
                     samples="[[samples]]\ninputs = [" + ", ".join(f"{(k % 11) / 10}" for k in range(n_in))
                     + "]\ntargets = [0.2, 0.7]\n")
    model = derive.Model(derive.parse(text, "wide.toml"))
    assert f"i0 += {c_batch.CHUNK})" in c_files(model, True)["gradients.c"]
    path = tmp_path / "loops.py"  # the Python module in loop form: no scalar derivation of 33,000 weights
    path.write_text(targets.render("python", None, model.network, derive.__version__, True)["gradients.py"])
    cmod, pmod = load_c(model, tmp_path, loops=True), _import(path)
    x, t = floats(model.spec.samples[0].inputs), floats(model.spec.samples[0].targets)
    samples = [([v * (1 + 0.1 * (s % 5)) for v in x], t) for s in range(2 * c_batch.GROUP + 1)]
    for options in ({}, {"batch_size": c_batch.GROUP + 1, "reduction": "mean"}):
        got = cmod.train(cmod.INITIAL, samples, 1, 0.01, **options)
        want = pmod.train(pmod.INITIAL, samples, 1, 0.01, **options)
        scale = max(1.0, *(abs(v) for v in want.values()))
        assert all(near(got[p], want[p], scale) for p in want)
