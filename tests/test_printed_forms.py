"""Printed forms a reader meets: a number as a function's argument, a minus before a product that
starts with a number, one number format per table column, and one description of the bias mode."""

import re

import pytest
from conftest import spec_text

import derive
from derive.render.tex.latex_rows import column
from derive.render.text import explanation_lines

TANH_BCE = spec_text(activation='["tanh", "logistic"]', loss='"binary_cross_entropy"', biases="[[-0.9], [0.1]]",
                     samples="[[samples]]\ninputs = [0.05, -2.10]\ntargets = [0, 1]\n")
SOFTMAX_CE = spec_text(activation='["tanh", "softmax"]', loss='"cross_entropy"', biases="[[-0.9], [0.1]]",
                       samples="[[samples]]\ninputs = [0.05, -2.10]\ntargets = [0, 1]\n")


def shown(model, q):
    """The numbers line of a quantity's derivation in text, LaTeX and MathML (tags dropped)."""
    explained = model.explain(q)
    text = explanation_lines(model.network, explained, 9)[1].strip()
    latex = model.latex_quantity(q).splitlines()[2]
    mathml = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", explained._repr_html_().split("</style>")[1]))
    return text, latex, mathml.replace("&#8722;", "−").replace("&#xB7;", "·")


def test_a_negative_number_as_a_functions_argument_has_one_pair_of_parentheses():
    text, latex, mathml = shown(derive.Model(derive.parse(TANH_BCE)), "out_h1")
    assert text == "= tanh(-1.3125)"
    assert latex == r" &= \tanh{\left(-1.3125 \right)} \\"
    assert "tanh ( −1.3125 )" in mathml and "( (" not in mathml


def test_a_negative_operand_keeps_its_parentheses():
    model = derive.Model(derive.parse(TANH_BCE))
    text, latex, _ = shown(model, "net_o1")
    assert "(-0.864906618)" in text and r"\left(-0.864906618\right)" in latex


def test_a_minus_before_a_product_that_starts_with_a_number():
    """−0 · ln(0.544) reads as minus zero: −(0 · ln(0.544))."""
    text, latex, mathml = shown(derive.Model(derive.parse(SOFTMAX_CE)), "E_o1")
    assert text == "= -(0 * log(0.544213407))"
    assert latex == r" &= - \left(0 \cdot \ln{\left(0.544213407 \right)}\right) \\"
    assert "= − ( 0 · ln ( 0.544213407 ) ) =" in mathml


@pytest.mark.parametrize(("values", "expected"), [
    ([0.291027774, 3.51018778e-05, 4.35532107e-06], ["0.291027774", "0.0000351018778", "0.00000435532107"]),
    ([0.5, 1e-12], [r"5.00000000 \times 10^{-1}", r"1.00000000 \times 10^{-12}"]),
    ([0.5, 0.25], ["0.5", "0.25"]),
    ([0, 4.35532107e-06, 0.75], ["0", "0.00000435532107", "0.750000000"]),
])
def test_a_column_has_one_number_format(values, expected):
    assert column(values, 9) == expected


def test_the_reference_documents_training_table_has_one_format_per_column(reference):
    latex = reference.latex()
    table = latex[latex.index("side by side"):]
    rows = [line for line in table.splitlines() if "after 10000 steps" in line or "after the first step" in line][:4]
    for k in (1, 2):  # each run's column
        cells = [row.split("&")[k].strip().rstrip("\\").strip() for row in rows]
        assert len({r"\times" in c for c in cells}) == 1, cells


@pytest.mark.parametrize(("bias", "words"), [("shared", "one bias per layer, shared by its neurons"),
                                             ("per_neuron", "one bias per neuron"), ("none", "no biases")])
def test_one_description_of_the_bias_mode_in_every_output(bias, words):
    biases = {"shared": "[[0.35], [0.60]]", "per_neuron": "[[0.35, 0.4], [0.60, 0.5]]", "none": None}[bias]
    model = derive.Model(derive.parse(spec_text(bias=f'"{bias}"', biases=biases)))
    page = model.html()
    assert f"{words}; learning rate" in page
    assert words in model.latex()
    others = {"one bias per layer", "one bias per neuron", "no biases"} - {words.split(",")[0]}
    assert not any(o in page for o in others)


def test_a_sum_too_wide_for_the_page_is_broken_at_its_terms():
    """The layernorm example's dE/dx_1 sums three products of parenthesized numbers, about 90 glyphs: the
    document breaks it after two terms, the third on an indented line of its own (it ran past the margin);
    every term is kept, in order, and a sum that fits (the 2-2-2 article's) is one line."""
    import derive
    from derive.render.tex.latex import document
    from derive.render.tex.latex_lines import LINE_GLYPHS, broken, glyphs

    tex = document(derive.load("derive/examples/layernorm.toml"), derive.__version__)
    assert ("&= \\left(-0.00813245869\\right) \\cdot \\left(-1.29534254\\right) + \\left(-0.0251093175\\right) \\cdot "
            "\\left(-1.29534254\\right) \\\\\n&\\quad + \\left(-0.0541561707\\right) \\cdot \\left(-1.29534254\\right) \\\\"
            ) in tex
    wide = " + ".join([r"\left(-0.123456789\right) \cdot \frac{\partial \mathrm{net}_{h_{12}}}{\partial b_{3}}"] * 7)
    lines = broken(wide)
    assert len(lines) > 1 and " ".join(lines) == wide
    assert all(glyphs(line) <= LINE_GLYPHS for line in lines)
    assert broken(r"\delta_{o_{1}} \cdot w_{5} + \delta_{o_{2}} \cdot w_{7}") == [r"\delta_{o_{1}} \cdot w_{5} + "
                                                                                   r"\delta_{o_{2}} \cdot w_{7}"]


def test_a_product_or_a_parenthesized_sum_too_wide_is_broken_too():
    """The attention example's a(1 - a) at its numbers, a product of two softmax calls, ran 122 pt past the
    margin: it breaks at its dot; d/dout (a sum of five products) breaks inside its parentheses, each line's
    closed and opened with the null delimiter (LaTeX balances \\left and \\right per line); one factor with no
    sum inside stays whole."""
    from derive.render.tex.latex_lines import broken

    call = r"\operatorname{softmax}_{1}\left(0.0282842712, 0.510884649, \left(-0.259861742\right)\right)"
    assert broken(rf"\left(1 - {call}\right) \cdot {call}") == [rf"\left(1 - {call}\right)", rf"\cdot {call}"]
    products = [rf"\mathrm{{out}}_{{h_{{{30 + k}}}}} \cdot \mathrm{{out}}_{{h_{{{10 + k}}}}}" for k in range(5)]
    lines = broken(r"\frac{\partial}{\partial \mathrm{out}_{h_{18}}} \left(" + " + ".join(products) + r"\right)")
    assert len(lines) == 2 and lines[0].endswith(r" \right.") and lines[1].startswith(r"\left. + ")
    assert all(line.count(r"\left") == line.count(r"\right") for line in lines)
    single = r"\sqrt{" + "x" * 80 + "}"
    assert broken(single) == [single]


def test_a_fractions_numerator_too_wide_is_stacked_in_lines():
    """The batch variance at its numbers, (x_1 - mu)^2 + (x_2 - mu)^2 + (x_3 - mu)^2 over 3, ran 124 pt past
    the margin: its numerator's terms are set in lines of an array over the same denominator (each further line
    indented), every term kept in order; a fraction that fits, or one with something beside it, is as it is."""
    from derive.render.tex.latex_lines import LINE_GLYPHS, broken, glyphs

    terms = [rf"\left(0.{k}60534393 - 0.385462850\right)^{{2}}" for k in range(1, 4)]
    wide = r"\frac{" + " + ".join(terms) + "}{3}"
    (stacked,) = broken(wide)
    body = stacked.removeprefix(r"\frac{\begin{array}{l} ").removesuffix(r" \end{array}}{3}")
    lines = body.split(r" \\ ")
    assert lines == [f"{terms[0]} + {terms[1]}", rf"\quad + {terms[2]}"]
    assert all(glyphs(line) <= LINE_GLYPHS for line in lines)
    narrow = r"\frac{" + " + ".join(terms[:1]) + "}{3}"
    assert broken(narrow) == [narrow]
    beside = wide + r" \cdot w_{1}"
    assert broken(beside) == [wide, r"\cdot w_{1}"]


def test_the_table_of_scalar_names_has_as_many_columns_as_the_page_holds():
    """Its four columns of "w_10 = W^(3)_2,12 (and 2 more)" ran 47 pt past the margin in the batchnorm
    example's document: three there; the article's network keeps four."""
    from derive.render.tex import latex_matrix

    def columns(model):
        (section,) = [s for s in latex_matrix.sections(model, 9) if "scalar names" in s.title]
        (table,) = [b for b in section.blocks if b.kind == "table"]
        return {len(row) for row in table.rows} | {len(table.columns)}

    assert columns(derive.load("derive/examples/batchnorm.toml")) == {3}
    assert columns(derive.load()) == {4}
