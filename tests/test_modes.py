"""Typed modes: every output describes a bias mode in the words of its enum member, and no other
mode's words; the spec's named modes are enums whose members are the spec's strings."""

import json
import re
from xml.dom import minidom

import pytest
from conftest import spec_text

import derive
from derive.cli import main
from derive.derivation.explain import RowKind
from derive.derivation.layers import program
from derive.derivation.steps import Phase
from derive.model import optimizers
from derive.model import quantities as Q
from derive.model.modes import BiasMode
from derive.render import names, spec_toml, text
from derive.render.tex import worksheet
from derive.render.web import mathml
from derive.version import __version__

BIASES = {BiasMode.SHARED: "[[0.35], [0.60]]", BiasMode.PER_NEURON: "[[0.35, 0.30], [0.60, 0.65]]",
          BiasMode.NONE: None}


def _model(mode: BiasMode) -> derive.Model:
    return derive.Model(derive.parse(spec_text(bias=f'"{mode}"', biases=BIASES[mode])))


def _outputs(model) -> dict[str, str]:
    """Every output that describes the network in words."""
    return {"latex": model.latex(), "page": model.html(), "worksheet": worksheet.sheet(model, [], 0, __version__)}


@pytest.mark.parametrize("mode", list(BiasMode), ids=str)
def test_every_output_describes_the_bias_mode_as_its_enum_does(mode):
    model = _model(mode)
    for output, printed in _outputs(model).items():
        assert mode.description in printed, f"the {output} does not say {mode.description!r} for bias = {mode!r}"
        for other in BiasMode:
            if other is not mode:
                assert other.description not in printed, f"the {output} says {other.description!r} for bias = {mode!r}"


def test_the_starter_spec_lists_every_bias_mode_with_its_description():
    comment = next(line for line in spec_toml.starter("mazur", "x").splitlines() if line.startswith("# bias:"))
    assert comment == "# bias: " + "; ".join(f'"{m}": {m.description}' for m in BiasMode)


def test_a_mode_is_its_string_in_comparisons_text_and_json():
    assert all(_model(m).spec.bias is m for m in BiasMode)  # the spec reads the enum
    assert BiasMode("per_neuron") is BiasMode.PER_NEURON and BiasMode.NONE == "none"
    assert f"{BiasMode.SHARED}" == "shared" and json.dumps([BiasMode.NONE]) == '["none"]'
    assert all(re.fullmatch(r"[a-z_]+", m) and m.description for m in BiasMode)


ENUMS = [BiasMode, Phase, RowKind, Q.Kind]


@pytest.mark.parametrize("enum", ENUMS, ids=lambda e: e.__name__)
def test_every_member_has_one_description_of_its_own(enum):
    descriptions = [m.description for m in enum]
    assert all(d and d == d.strip() for d in descriptions), enum
    assert len(set(descriptions)) == len(descriptions), f"{enum.__name__}: two members described alike"
    assert all(isinstance(m, str) and enum(m.value) is m for m in enum)


def test_the_derivation_and_its_explanations_carry_the_enums_not_bare_strings():
    model = derive.Model(derive.parse(spec_text(bias='"per_neuron"', biases=BIASES[BiasMode.PER_NEURON])))
    steps = model.derivation.steps
    assert {type(s.phase) for s in steps} == {Phase} and {s.phase for s in steps} == set(Phase)
    assert {type(s.quantity.kind) for s in steps} == {Q.Kind}
    rows = [r for p in model.parameters for r in model.explain(Q.gradient(p)).rows]
    assert {type(r.kind) for r in rows} == {RowKind} and {r.kind for r in rows} == set(RowKind)
    assert {type(layer.bias) for layer in program(model.network).layers} == {BiasMode}


def test_the_text_report_names_its_sections_by_the_phases_descriptions():
    model = derive.Model(derive.parse(spec_text()))
    report = text.text(model, 9, model.after_training())
    for phase in (Phase.FORWARD, Phase.ERROR):
        assert re.search(rf"^{phase.description}$", report, re.MULTILINE), phase


def test_derive_exercise_makes_a_bias_free_network_s_sheets_which_say_so(tmp_path):
    """A bias-free network's exercises (their worksheet is where it was described as one bias per
    neuron) could not be made: drawing the variants' biases took the range of no values."""
    spec = tmp_path / "nobias.toml"
    spec.write_text(spec_text(bias='"none"', biases=None))
    out = tmp_path / "out"
    assert main(["exercise", str(spec), "--variants", "1", "--no-pdf", "--quiet", "-o", str(out)]) == 0
    sheets = sorted(out.rglob("*sheet*.tex"))
    assert sheets and all(BiasMode.NONE.description in s.read_text() for s in sheets)
    assert all(BiasMode.PER_NEURON.description not in s.read_text() and r"\mathrm{out}_i + b" not in s.read_text()
               for s in sheets)


@pytest.mark.parametrize("slot", list(optimizers.SLOTS.values()), ids=str)
def test_every_printer_writes_a_slot_from_its_one_record(slot):
    """Each slot of every optimizer (and the batch gradient g) printed as LaTeX, MathML and text."""
    assert slot.name in {optimizers.GRADIENT.name} | {s for o in optimizers.OPTIMIZERS.values() for s in o.slots}
    q = Q.state(slot.name, "w5")
    assert names.latex(q) == f"{slot.latex}_{{w_{{5}}}}"
    node = mathml.name(minidom.Document(), q)
    letter = node.firstChild if not slot.accent else node.firstChild.firstChild
    assert letter.firstChild.data == slot.letter
    assert (node.firstChild.lastChild.firstChild.data if slot.accent else "") == slot.accent
    assert str(q.after_steps(1)) == f"{slot.name}_w5@1" and Q.parse(f"{slot.name}_w5@1") == q.after_steps(1)
