"""Typed modes: every output describes a bias mode in the words of its enum member, and no other
mode's words; the spec's named modes are enums whose members are the spec's strings."""

import json
import re

import pytest
from conftest import spec_text

import derive
from derive.model.modes import BiasMode
from derive.render import spec_toml, worksheet
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
    for output, text in _outputs(model).items():
        assert mode.description in text, f"the {output} does not say {mode.description!r} for bias = {mode!r}"
        for other in BiasMode:
            if other is not mode:
                assert other.description not in text, f"the {output} says {other.description!r} for bias = {mode!r}"


def test_the_starter_spec_lists_every_bias_mode_with_its_description():
    comment = next(line for line in spec_toml.starter("mazur", "x").splitlines() if line.startswith("# bias:"))
    assert comment == "# bias: " + "; ".join(f'"{m}": {m.description}' for m in BiasMode)


def test_a_mode_is_its_string_in_comparisons_text_and_json():
    assert all(_model(m).spec.bias is m for m in BiasMode)  # the spec reads the enum
    assert BiasMode("per_neuron") is BiasMode.PER_NEURON and BiasMode.NONE == "none"
    assert f"{BiasMode.SHARED}" == "shared" and json.dumps([BiasMode.NONE]) == '["none"]'
    assert all(re.fullmatch(r"[a-z_]+", m) and m.description for m in BiasMode)
