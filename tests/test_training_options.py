"""The [training] table and `derive train`'s flags (one line, exit status 2, for every bad value), the
audit's optimizer slips (each reproduced by the independent loop with that slip), and the training
section of the LaTeX document."""

import json
import re

import independent
import independent_training as ind
import pytest
from conftest import spec_text
from hypothesis import given, settings
from hypothesis import strategies as st
from in_process import derive_cli

import derive
from derive.check import report as check_report
from derive.check.audit import parse_claim
from derive.cli import main
from derive.model import optimizers
from derive.model.decimals import plain


def _spec(training: str, **over) -> str:
    over.setdefault("learning_rate", None)
    samples = "".join(f"[[samples]]\ninputs = [{a}, {b}]\ntargets = [{c}, {d}]\n"
                      for a, b, c, d in [(0.05, 0.1, 0.01, 0.99), (0.5, -0.3, 0.2, 0.7), (-1.0, 0.4, 0.9, 0.1)])
    return spec_text(samples=samples, **over) + f"\n[training]\n{training}\n"


run = derive_cli  # main in this process: what the command prints


@pytest.mark.parametrize("training,message", [
    ('optimizer = "rmsprop"\nlearning_rate = 0.1',
     "training.optimizer = 'rmsprop' is unknown; known: sgd, momentum, nesterov, adam, adamw"),
    ('optimizer = "sgd"\nlearning_rate = 0.1\nbetas = [0.9, 0.99]',
     "training.betas = [0.9, 0.99] is an option of adam and adamw, not of optimizer 'sgd'"),
    ('optimizer = "adam"\nlearning_rate = 0.1\nmomentum = 0.5',
     "training.momentum = 0.5 is an option of momentum and nesterov, not of optimizer 'adam'"),
    ('optimizer = "momentum"\nlearning_rate = 0.1\nmomentum = 1',
     "training.momentum = 1 must be from 0 up to (not including) 1"),
    ('optimizer = "nesterov"\nlearning_rate = 0.1\nmomentum = 0', "training.momentum = 0 must be positive for nesterov"),
    ('optimizer = "adam"\nlearning_rate = 0.1\nbetas = [0.9, 1.0]',
     "training.betas = [0.9, 1] must be two numbers, each from 0 up to (not including) 1"),
    ('optimizer = "adam"\nlearning_rate = 0.1\nbetas = [0.9]', "training.betas has 1 value, betas takes 2"),
    ('optimizer = "adam"\nlearning_rate = 0.1\neps = 0', "training.eps = 0 must be positive"),
    ("learning_rate = 0.1\nweight_decay = -0.5", "training.weight_decay = -0.5 must not be negative"),
    ("learning_rate = 0.1\nbatch_size = 4", "training.batch_size = 4 is more than the 3 samples (0 is the full batch)"),
    ("learning_rate = 0.1\nbatch_size = 1.5", "training.batch_size must be a whole number, not a number"),
    ("learning_rate = 0.1\nshuffle = true",
     "training.shuffle = true needs mini-batches (batch_size of 1 or more): the full batch has no order"),
    ("learning_rate = 0.1\nshuffle = 1", "training.shuffle must be true or false, not a whole number"),
    ('optimizer = "adamw"\nlearning_rate = 0.1\nupdate_order = "in_place"',
     "training.update_order = 'in_place' is for optimizer 'sgd' only, not 'adamw' (it is a mistake of hand-written "
     "SGD, kept for teaching)"),
    ('learning_rate = 0.1\nupdate_order = "sideways"',
     "training.update_order = 'sideways' is unknown; known: simultaneous, in_place"),
    ("learning_rate = 0", "training.learning_rate must be positive"),
    ("learning_rate = 0.1\noptimiser = 'adam'", "unknown key 'training.optimiser' (did you mean 'optimizer'?)"),
    ("steps = 10", "missing key 'learning_rate' (at the top level or in [training])"),
    ("learning_rate = 0.1\nsteps = -1",
     "training.steps = -1 is out of range: it must be from 0 to 1000000 (training runs in float64)"),
])
def test_bad_training_values_are_one_line_and_exit_2(tmp_path, capsys, training, message):
    path = tmp_path / "t.toml"
    path.write_text(_spec(training))
    assert main(["gradients", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == f"derive: t.toml: {message}\n"


def test_a_key_given_twice_is_refused():
    with pytest.raises(derive.SpecError, match=r"^t.toml: learning_rate is given twice: at the top level and in "
                                               r"\[training\]$"):
        derive.parse(_spec("learning_rate = 0.1", learning_rate="0.5"), "t.toml")


def test_the_training_table_and_the_top_level_keys_agree():
    """Today's top-level learning_rate, steps and freeze_biases keep working, and mean the same."""
    top = derive.parse(spec_text(steps="7", freeze_biases="true"), "a.toml")
    table = derive.parse(spec_text(learning_rate=None) + "\n[training]\nlearning_rate = 0.5\nsteps = 7\n"
                         "freeze_biases = true\n", "b.toml")
    assert (top.learning_rate, top.steps, top.freeze_biases) == (table.learning_rate, table.steps, table.freeze_biases)
    assert top.training == table.training


def test_train_flags(tmp_path):
    out = run("train", "--optimizer", "nesterov", "--momentum", "0.5", "--no-freeze-biases", "--steps", "40",
              "--every", "10")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "mazur: nesterov (learning rate 0.5, momentum 0.5), full batch (float64)"
    assert [line.split("  ")[1] for line in lines[1:7]] == [
        "E_total before training", "E_total after the first step", "E_total after 10 steps", "E_total after 20 steps",
        "E_total after 30 steps", "E_total after 40 steps"]
    module = derive.load().module
    params, _ = ind.run(module.gradient, module.INITIAL, [([0.05, 0.1], [0.01, 0.99])], 30, optimizer="nesterov",
                        lr=0.5, momentum=0.5)
    assert float(lines[5].split()[-1]) == pytest.approx(module.loss(params, [0.05, 0.1], [0.01, 0.99]), rel=1e-8)


def test_train_json_history_and_parameters():
    data = json.loads(run("train", "--steps", "20", "--every", "5", "--json", "--optimizer", "adam",
                          "--learning-rate", "0.01", "--betas", "0.8", "0.9").stdout)
    assert [h["step"] for h in data["history"]] == [0, 5, 10, 15, 20]
    assert data["settings"] == "adam (learning rate 0.01, betas 0.8 0.9, eps 1e-08), full batch, biases frozen"
    module = derive.load().module
    params, _ = ind.run(module.gradient, module.INITIAL, [([0.05, 0.1], [0.01, 0.99])], 20, optimizer="adam", lr=0.01,
                        betas=(0.8, 0.9), frozen=("b1", "b2"))
    assert data["parameters"] == pytest.approx(params, rel=1e-12)
    assert data["history"][-1]["E_total"] == data["E_total@20"]


@pytest.mark.parametrize("args,message", [
    (["--momentum", "0.5"], "derive train: --momentum = 0.5 is an option of momentum and nesterov, not of optimizer "
                            "'sgd'"),
    (["--optimizer", "adam", "--update-order", "in_place"],
     "derive train: --update-order = 'in_place' is for optimizer 'sgd' only, not 'adam' (it is a mistake of "
     "hand-written SGD, kept for teaching)"),
    (["--batch-size", "2"], "derive train: --batch-size = 2 is more than the 1 sample (0 is the full batch)"),
    (["--optimizer", "lion"], "derive train: --optimizer = 'lion' is unknown; known: sgd, momentum, nesterov, adam, "
                              "adamw"),
    (["--betas", "0.9", "x"], "derive train: argument --betas: not a number: 'x' (see derive train --help)"),
    (["--every", "0"], "derive train: argument --every: must be from 1 to 1000000, not 0 (see derive train --help)"),
])
def test_bad_train_flags(capsys, args, message):
    assert main(["train", *args]) == 2
    assert capsys.readouterr().err == message + "\n"


# -- the audit's slips ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def adam_spec(tmp_path_factory):
    path = tmp_path_factory.mktemp("adam") / "adam.toml"
    path.write_text(_spec('optimizer = "adam"\nlearning_rate = 0.05\nweight_decay = 0.01\nbatch_size = 2\n'
                          "shuffle = true", reduction='"mean"', seed="4", weights=None, biases=None,
                          layers="[2, 3, 2]"))
    return path


@pytest.fixture(scope="module")
def adam_model(adam_spec):
    return derive.load(adam_spec)


ADAM = {"optimizer": "adam", "lr": 0.05, "weight_decay": 0.01, "batch_size": 2, "shuffle": True, "seed": 4,
        "reduction": "mean"}


@pytest.mark.parametrize("key,change", [
    ("adam_no_bias_correction", {"bias_correction": False}),
    ("adam_eps_inside_sqrt", {"eps_inside": True}),
    ("weight_decay_after_step", {"decay_after": True}),
    ("adamw_for_adam", {"optimizer": "adamw"}),
    ("full_batch_for_minibatches", {"batch_size": 0, "shuffle": False}),
    ("no_shuffle", {"shuffle": False}),
    ("batch_mean_as_sum", {"reduction": "sum"}),
])
def test_each_optimizer_slip_is_found(adam_model, key, change):
    """A claim computed by the independent loop with the slip is reproduced by that variant (w5@3, 12 digits)."""
    model = adam_model
    module = model.module
    samples = [([float(v) for v in s.inputs], [float(v) for v in s.targets]) for s in model.spec.samples]
    params, _ = ind.run(module.gradient, module.INITIAL, samples, 3, **{**ADAM, **change})
    finding = model.auditor.examine("w5@3", __import__("decimal").Decimal(f"{params['w5']:.12g}"))
    assert not finding.agrees
    assert key in [m.key for m in finding.mistakes if m.reproduces], [m.key for m in finding.mistakes]


def test_momentum_slips_are_found(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(_spec('optimizer = "momentum"\nlearning_rate = 0.3\nmomentum = 0.8'))
    model = derive.load(path)
    module = model.module
    samples = [([float(v) for v in s.inputs], [float(v) for v in s.targets]) for s in model.spec.samples]
    for key, change in [("momentum_dampening", {"dampening": True}), ("nesterov_for_momentum", {"optimizer": "nesterov"})]:
        params, _ = ind.run(module.gradient, module.INITIAL, samples, 2, **{"optimizer": "momentum", "lr": 0.3,
                                                                            "momentum": 0.8, **change})
        claim = check_report.build(model, [parse_claim(f"w2@2={params['w2']:.12g}")], 9,
                                   with_checks=False).as_dict()["claims"][0]
        assert key in [m["variant"] for m in claim["mistakes"] if m["reproduces"]]
        assert claim["derivation"][0] == "buf_w2@2 = mu * buf_w2@1 + dE_total/dw2@1"


def test_a_claim_about_state_shows_its_derivation(adam_model):
    claim = check_report.build(adam_model, [parse_claim("m_w5@2=0.5")], 9, with_checks=False).as_dict()["claims"][0]
    module = adam_model.module
    samples = [([float(v) for v in s.inputs], [float(v) for v in s.targets]) for s in adam_model.spec.samples]
    _, state = ind.run(module.gradient, module.INITIAL, samples, 2, **ADAM)
    assert claim["derivation"][0] == "m_w5@2 = beta1 * m_w5@1 + (1 - beta1) * (g_w5@2 + lambda * w5@1)"
    assert claim["derivation"][1].startswith("    = 0.9 * ")
    assert claim["derivation"][2] == f"    = {plain(state['w5']['m'], 9)}"


# -- the document -------------------------------------------------------------------------------------------
def _cells(text: str, label: str) -> list[float]:
    """The numbers of the LaTeX table row that starts with ``label`` (``$1.5 \\times 10^{-6}$`` read too)."""
    row = text[text.index(label) + len(label):].split("\\\\")[0]
    found = re.findall(r"\$(-?[\d.]+)(?: \\times 10\^\{(-?\d+)\})?\$", row)
    return [float(m) * 10.0 ** int(e or 0) for m, e in found]


def test_the_reference_document_trains_both_ways(reference):
    tex = reference.latex()
    section = tex[tex.index(r"\section{Training for 10000 steps}"):tex.index(r"\section{Errata")]
    assert r"w_{5}^{(1)} &= w_{5} - \eta \cdot \frac{\partial E_{\mathrm{total}}}{\partial w_{5}}" in section
    assert r"&= 0.4 - 0.5 \cdot 0.0821670406" in section
    assert r"\addlegendentry{biases frozen (as the spec says)}" in section
    assert r"\addlegendentry{biases trained}" in section
    _, _, first_frozen, frozen = independent.loop_train(reference.spec, 10000, freeze_biases=True)
    _, _, first_trained, trained = independent.loop_train(reference.spec, 10000)
    assert _cells(section, "$E_{\\mathrm{total}}$ after 10000 steps") == pytest.approx([frozen, trained], rel=5e-9)
    assert _cells(section, "$E_{\\mathrm{total}}$ after the first step") == pytest.approx([first_frozen, first_trained],
                                                                                         rel=5e-9)
    assert r"Frozen, keeping their values and no state: $b_{1}$, $b_{2}$." in section


def test_an_adam_document_tabulates_the_state_and_compares_batch_modes():
    model = derive.Model(derive.parse(_spec('optimizer = "adam"\nlearning_rate = 0.05\nbatch_size = 1\nsteps = 20'),
                                      "a.toml"))
    tex = model.latex()
    section = tex[tex.index(r"\section{Training for 20 steps}"):]
    assert (r"& $t$ & $g$ & $m$ & $v$ & $\hat{m}$ & $\hat{v}$ & after step $t$ \\" in section)
    for legend in ("biases trained (as the spec says)", "biases frozen", "the full batch", "online"):
        assert rf"\addlegendentry{{{legend}}}" in section
    module = model.module
    samples = [([float(v) for v in s.inputs], [float(v) for v in s.targets]) for s in model.spec.samples]
    for steps in (1, 2, 3):
        params, state = ind.run(module.gradient, module.INITIAL, samples, steps, optimizer="adam", lr=0.05,
                                batch_size=1)
        label = "$w_{5}$ & 1" if steps == 1 else f" & {steps}"
        row = section[section.index("$w_{5}$ & 1"):].split("\n")[steps - 1]
        assert row.startswith(label), row
        _, m, v, *_, after = _cells(row, label)
        assert [m, v, after] == pytest.approx([state["w5"]["m"], state["w5"]["v"], params["w5"]], rel=5e-6)
    assert r"\hat{m}_{w_{5}}^{(2)} &= \frac{m_{w_{5}}^{(2)}}{1 - \beta_{1}^{2}}" in section


TRAINING_VALUES = st.sampled_from(['"adam"', '"sgd"', '"momentum"', '"nesterov"', '"adamw"', '"x"', "0", "1", "-1", "2",
                                   "0.5", "1.5", "true", "false", "[0.9, 0.99]", "[1, 2, 3]", "[]", '"in_place"',
                                   '"simultaneous"', "{}", "1e400", "nan"])


@settings(max_examples=120, deadline=None)
@given(st.dictionaries(st.sampled_from(["optimizer", "learning_rate", "momentum", "betas", "eps", "weight_decay",
                                        "batch_size", "shuffle", "steps", "freeze_biases", "update_order", "bogus"]),
                       TRAINING_VALUES, max_size=5))
def test_any_training_table_is_read_or_refused_in_one_line(table):
    text = _spec("\n".join(f"{k} = {v}" for k, v in table.items()), learning_rate="0.5" if "learning_rate" not in
                 table else None)
    try:
        spec = derive.parse(text, "f.toml")
    except derive.SpecError as exc:
        assert str(exc).startswith("f.toml: ") and "\n" not in str(exc)
    else:
        assert spec.training.optimizer in optimizers.OPTIMIZERS and spec.training.learning_rate > 0
