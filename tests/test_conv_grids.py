"""Feature maps and kernels as grids (#25): in the LaTeX document, every map of every layer whose shape
has 3 axes (the input, each convolution's net input, output and delta per channel), every kernel and
its gradient, each cell checked against PyTorch (float64, autograd: tests/torch_reference.py builds
the network from the spec's text alone); for each filter one kernel entry's gradient written out as
the sum over the positions, shortened with ⋯ as every long sum is (derive/render/sums.py), by every
printer of a sum. On the page (Selenium): the same grids, every cell the engine's value after editing
a kernel entry and an input in them, and a kernel entry's click highlighting exactly the cells its
gradient sums over (the network's connections: `Parameter.sources` and `Parameter.feeds`)."""

from __future__ import annotations

import html
import math
import re
import tomllib
from importlib import resources

import pytest
import torch
import torch_reference as R
from browser import console_errors

import derive
from derive.model import quantities as Q
from derive.model.spec import parse
from derive.render import names, sums
from derive.render.tex.latex_document import Document
from derive.render.tex.latex_rows import RowPrinter as LatexRows
from derive.render.web.mathml import ELLIPSIS
from derive.render.web.mathml import RowPrinter as MathRows

CNN = (resources.files("derive.examples") / "cnn.toml").read_text()
EXAMPLES = {"cnn": CNN, **{name: text for text in R.EXAMPLES
                           if (name := tomllib.loads(text)["name"]) in ("stride2", "two_conv", "nonsquare_nobias")}}


def model_of(text: str, name: str = "grids"):
    return derive.Model(parse(text, f"{name}.toml"))


# -- the rule of a long sum ---------------------------------------------------------------------------
def test_a_long_sum_keeps_its_first_three_terms_and_its_last():
    assert sums.shown(5) == [0, 1, 2, 3, 4]
    assert sums.shown(6) == [0, 1, 2, None, 5]
    assert sums.shown(9) == [0, 1, 2, None, 8]
    assert sums.shown(9, keep=[5]) == [0, 1, 2, None, 5, None, 8]
    assert sums.shown(9, keep=[4]) == [0, 1, 2, 3, 4, None, 8]  # a gap of one term is written, not ⋯
    assert sums.shown(9, keep=[7]) == [0, 1, 2, None, 7, 8]
    assert sums.elided(list("abcdefg"), "…") == ["a", "b", "c", "…", "g"]


def _delta_rule(model, parameter: str):
    rows = model.explainer.chain(parameter, 0, update=False)
    return next(r for r in rows if r.note == "delta rule"), model.explainer.numbers(0)


def test_every_printer_of_a_sum_shortens_it_the_same_way():
    """A kernel entry's gradient (9 positions) and a shared bias's: the LaTeX rows (names, numbers), the
    MathML rows (names, numbers) and the page's sum over the samples write the first 3 terms, ⋯, the last."""
    model = model_of(CNN)
    network = model.network
    latex, mathml = LatexRows(network, 9), MathRows(network, 9)
    for name in ("w1", "w5", "b1"):
        p = network.parameter[name]
        assert len(p.feeds) == 9
        row, numbers = _delta_rule(model, name)
        kept = [0, 1, 2, 8]
        terms = [names.latex(Q.delta(p.feeds[j])) + (rf" \cdot {names.latex(Q.out(p.sources[j]))}"
                                                     if p.sources[j] else "") for j in kept]
        assert latex.names(row.expr) == " + ".join(terms[:3]) + r" + \cdots + " + terms[3]
        printed = latex.numbers(row.expr, numbers)
        assert printed.count(r"\cdots") == 1 and printed.count(" + ") + printed.count(" - ") == 4, printed
        keys = set(re.findall(r'data-value="([^"]+)"', mathml.numbers(row.expr, numbers, False)))
        want = {str(Q.delta(p.feeds[j])) for j in kept} | {str(Q.out(p.sources[j])) for j in kept if p.sources[j]}
        assert keys == want
        shown = html.unescape(mathml.names(row.expr))
        assert shown.count(ELLIPSIS) == 1 and shown.count("<mi>δ</mi>") == 4
    # a sum over 7 samples on the page
    table = tomllib.loads(CNN)
    sample = table["samples"][0]
    text = CNN + "".join(f"\n[[samples]]\ninputs = {sample['inputs']}\ntargets = [0.0, {k / 8}]\n" for k in range(6))
    page = model_of(text).html(check=False)
    over = html.unescape(re.search(r"<h3>Over the samples</h3><p class=\"sum\">(.*?)</p>", page).group(1))
    assert over.count(ELLIPSIS) == 1 and over.count("data-value=") == 5, over  # 3, ⋯, the last, = the total


# -- the LaTeX document: grids against PyTorch ----------------------------------------------------------
def torch_maps(text: str):
    """PyTorch's every layer's net input, output and dE_total/dnet (each (N, ...)), the input and the
    network (its modules' weight gradients filled)."""
    network, table = R.build(text)
    x = torch.stack([torch.tensor(s["inputs"], dtype=R.DTYPE) for s in table["samples"]])
    nets, outs, a = [], [], x
    for layer in network.layers:
        if layer.kind == "linear" and a.dim() > 2:
            a = a.flatten(1)
        net = layer.module(a)
        net.retain_grad()
        a = R.TORCH_ACTIVATIONS[layer.activation](net) if layer.activation else net
        nets.append(net)
        outs.append(a)
    targets = torch.tensor([s["targets"] for s in table["samples"]], dtype=R.DTYPE)
    per_sample = R.TORCH_LOSSES[network.loss](nets[-1].flatten(1), a.flatten(1), targets)
    (per_sample.mean() if network.reduction == "mean" else per_sample.sum()).backward()
    return x, nets, outs, [n.grad for n in nets], network


def tex_number(text: str) -> float:
    text = text.strip().strip("$").strip()
    if r"\times" in text:
        mantissa, exponent = text.split(r"\times 10^{")
        return float(mantissa) * 10.0 ** int(exponent.rstrip("}"))
    return float(text)


def close(got: float, want: float) -> bool:
    return math.isclose(got, want, rel_tol=1e-8, abs_tol=1e-12)


def grid_blocks(model):
    """(layer, sample, caption, rows of cells) of every grid of the document's section of maps."""
    section = next(s for s in Document(model).sections() if s.title == "Feature maps and kernels")
    layer, sample, out = None, 0, []
    for block in section.blocks:
        if block.kind == "text" and (m := re.match(r"(The input|Layer (\d+))", block.text)):
            layer, sample = int(m.group(2) or 0), 0
        elif block.kind == "text" and (m := re.match(r"Sample (\d+):", block.text)):
            sample = int(m.group(1)) - 1
        elif block.kind == "grids":
            out += [(layer, 0 if "weight[" in g["caption"] else sample, g["caption"], g["rows"])  # kernels: totals
                    for g in block.data["grids"]]
    return section, out


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_document_draws_every_map_and_kernel_as_a_grid_each_cell_pytorchs(name):
    text = EXAMPLES[name]
    model = model_of(text, name)
    x, nets, outs, deltas, network = torch_maps(text)
    samples = min(x.shape[0], 3)
    _, blocks = grid_blocks(model)
    want = {(0, s, f"channel {c + 1}"): x[s, c] for s in range(samples) for c in range(x.shape[1])}
    for k, layer in enumerate(network.layers, start=1):
        if layer.kind != "conv2d":
            continue
        for s in range(samples):
            for c in range(nets[k - 1].shape[1]):
                want[(k, s, rf"$\mathrm{{net}}$, channel {c + 1}")] = nets[k - 1][s, c].detach()
                want[(k, s, rf"$\mathrm{{out}}$, channel {c + 1}")] = outs[k - 1][s, c].detach()
                want[(k, s, rf"$\delta$, channel {c + 1}")] = deltas[k - 1][s, c]
        weight = layer.module.weight
        for o in range(weight.shape[0]):
            for c in range(weight.shape[1]):
                want[(k, 0, rf"\texttt{{weight[{o}][{c}]}}")] = weight[o, c].detach()
                want[(k, 0, rf"$\partial E_{{\mathrm{{total}}}} / \partial$\,\texttt{{weight[{o}][{c}]}}")] = \
                    weight.grad[o, c]
    got = {(k, s, caption): rows for k, s, caption, rows in blocks}
    assert sorted(got) == sorted(want) and len(blocks) == len(want)
    for key, rows in got.items():
        tensor = want[key]
        assert [len(rows), len(rows[0])] == list(tensor.shape), key
        for r, row in enumerate(rows):
            for c, cell in enumerate(row):
                if "weight[" in key[2] and "partial" not in key[2]:  # w_{n} = value: n at this place
                    name_, value = cell.strip("$").split(" = ")
                    index = int(re.search(r"\d+", name_).group())
                    p = model.network.parameter[f"w{index}"]
                    o, ch = map(int, re.findall(r"\[(\d+)\]", key[2]))
                    shape = tuple(network.layers[key[0] - 1].module.weight.shape)
                    assert p.layer == key[0] and p.index == ((o * shape[1] + ch) * shape[2] + r) * shape[3] + c
                    cell = value
                assert close(tex_number(cell), float(tensor[r, c])), (name, key, r, c, cell, float(tensor[r, c]))


@pytest.mark.parametrize("name", EXAMPLES)
def test_each_filters_kernel_entry_gradient_is_written_as_the_sum_over_the_positions(name):
    """For each filter of each convolution: one kernel entry (and its bias) summed over the positions
    in the delta rule's form, shortened past 5 terms, its value PyTorch's."""
    text = EXAMPLES[name]
    model = model_of(text, name)
    printer = LatexRows(model.network, 9)
    *_, network = torch_maps(text)
    section, _ = grid_blocks(model)
    aligns = [b.rows for b in section.blocks if b.kind == "align"]
    for k, layer in enumerate(network.layers, start=1):
        if layer.kind != "conv2d":
            continue
        weight = layer.module.weight
        per_filter = math.prod(weight.shape[1:])
        for o in range(weight.shape[0]):
            entries = [p for p in model.network.parameters if p.layer == k and p.kind == Q.WEIGHT
                       and p.index // per_filter == o]
            lhs = {printer.name(Q.gradient(p.name)): p for p in entries}
            shown = [rows for rows in aligns if rows[0][0] in lhs]
            assert len(shown) == min(len(model.spec.samples), 3), (name, k, o)
            p = lhs[shown[0][0][0]]
            terms = [names.latex(Q.delta(n)) + rf" \cdot {names.latex(Q.out(i))}"
                     for n, i in zip(p.feeds, p.sources, strict=True)]
            written = sums.elided(terms, r"\cdots")
            assert shown[0][0][1] == " + ".join(written)
            assert (len(terms) > sums.LIMIT) == (r"\cdots" in shown[0][1][1])
            if len(model.spec.samples) == 1:
                assert close(tex_number(shown[0][-1][1]), float(weight.grad.flatten()[p.index]))


@pytest.mark.skipif(not __import__("shutil").which("pdflatex"), reason="no pdflatex")
def test_the_cnn_document_compiles(tmp_path):
    from derive.render.tex import pdf

    source = model_of(CNN, "cnn").latex()
    assert r"\section{Feature maps and kernels}" in source
    pdf.compile_pdf(source, tmp_path / "cnn.pdf")
    assert (tmp_path / "cnn.pdf").stat().st_size > 10_000


# -- the page ---------------------------------------------------------------------------------------------
HIGHLIGHTED = """
return Array.from(document.querySelectorAll('.grid td.on-path')).map(td => td.id);
"""
GRID_CELLS = """
const out = [];
document.querySelectorAll('.grid [data-value]').forEach(e => out.push([e.dataset.value, e.textContent]));
document.querySelectorAll('.grid input[data-edit]').forEach(e => out.push([e.dataset.edit, e.value]));
return out;
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("grid-pages")
    out = {}
    for name in ("cnn", "two_conv"):
        path = folder / f"{name}.html"
        path.write_text(model_of(EXAMPLES[name], name).html(check=False))
        out[name] = path
    return out


def _click(driver, name: str):
    driver.execute_script(
        "document.querySelector('.grid button.pick[data-parameter=\"' + arguments[0] + '\"]').click()", name)


@pytest.mark.parametrize("name", ["cnn", "two_conv"])
def test_clicking_a_kernel_entry_highlights_exactly_the_cells_its_gradient_sums_over(chrome, pages, name):
    chrome.get(pages[name].as_uri())
    assert chrome.execute_script("return document.body.dataset.ready") == "true"
    network = model_of(EXAMPLES[name], name).network
    samples = len(tomllib.loads(EXAMPLES[name])["samples"])
    buttons = chrome.execute_script(
        "return Array.from(document.querySelectorAll('.grid button.pick')).map(b => b.dataset.parameter)")
    conv = [p.name for p in network.parameters if network.typed(p.layer).kind == "conv2d"]
    assert sorted(buttons) == sorted(conv)
    for parameter in buttons:
        _click(chrome, parameter)
        assert chrome.execute_script("return document.body.dataset.selected") == parameter
        assert chrome.execute_script(
            "return !!document.querySelector('#derivation-body [data-derives=\"' + arguments[0] + '\"]')",
            str(Q.gradient(parameter)))
        ids = chrome.execute_script(HIGHLIGHTED)
        p = network.parameter[parameter]
        want = {f"entry-{parameter}"}
        for s in range(samples):
            want |= {f"cell-{s}-out-{n}" for n in p.sources if n is not None}
            want |= {f"cell-{s}-delta-{n}" for n in p.feeds}
        assert sorted(ids) == sorted(want), parameter
    assert console_errors(chrome) == []


def _edited_text(text: str, edits: dict) -> str:
    """The spec's text with a kernel entry (name -> (layer, o, c, y, x)) and an input changed."""
    table = tomllib.loads(text)
    for where, value in edits.items():
        if where[0] == "weight":
            _, k, o, c, y, x = where
            table["layer"][k]["weight"][o][c][y][x] = value
        else:
            _, s, c, y, x = where
            table["samples"][s]["inputs"][c][y][x] = value
    return R.spec_toml(table["name"], table["input"], table["layer"], table["samples"], table.get("loss", "half_sse"),
                       str(table.get("learning_rate", 0.1)))


@pytest.mark.parametrize("name", ["cnn", "two_conv"])
def test_every_grid_cell_after_editing_a_kernel_entry_and_an_input_is_the_engines(chrome, pages, name):
    chrome.get(pages[name].as_uri())
    text = EXAMPLES[name]
    network = model_of(text, name).network
    several = len(tomllib.loads(text)["samples"]) > 1
    w2 = network.parameter["w2"]  # filter 0, channel 0, row 0, column 1
    input_key = "i6" + ("[1]" if several else "")  # channel 0, row 1, column 1 of a 4-wide or 6-wide map
    width = network.typed(1).shape_in[2]
    edits = {}
    for key, value, where in (("w2", -0.35, ("weight", 0, 0, 0, 0, 1)),
                              (input_key, 0.45, ("input", 0, 0, 5 // width, 5 % width))):
        box = chrome.find_element("css selector", f'.grid input[data-edit="{key}"]')
        box.clear()
        box.send_keys(f"{value}\n")
        edits[where] = value
        model = model_of(_edited_text(text, edits), name)
        cells = chrome.execute_script(GRID_CELLS)
        assert len(cells) > 40
        for k, shown in cells:
            want = float(model.value(k))
            assert close(float(shown.replace("\u2212", "-")), want), (name, key, k, shown, want)
    assert w2.index == 1
    assert chrome.execute_script("return document.querySelectorAll('.grid .stale').length") == 0
    assert console_errors(chrome) == []


def test_the_grids_at_phone_width_keep_their_text_readable_and_scroll_inside_their_box(phone, tmp_path):
    """A 1x12x12 input: its grid is wider than the phone, and scrolls inside its box; no text of the
    grids below 11 CSS px, and the page itself not wider than the phone."""
    from test_browser_layout import SMALLEST, TEXT_SIZES

    spec = R.spec_toml("wide", [1, 12, 12], [R._conv(2, 1, 3, "relu", 1), R._linear(2, 200, "logistic", 2)],
                       [R._sample((1, 12, 12), 3, [0.0, 1.0])])
    path = tmp_path / "wide.html"
    path.write_text(model_of(spec, "wide").html(check=False))
    phone.get(path.as_uri())
    assert phone.execute_script("return document.documentElement.scrollWidth") <= 390
    boxes = phone.execute_script("return Array.from(document.querySelectorAll('#maps-heading ~ .scroll, "
                                 "section .scroll')).filter(b => b.querySelector('.grid'))"
                                 ".map(b => [b.scrollWidth, b.clientWidth, getComputedStyle(b).overflowX])")
    assert boxes and any(w > c for w, c, _ in boxes) and all(o == "auto" for *_, o in boxes)
    sizes = [(size, tag, t) for size, tag, t in phone.execute_script(TEXT_SIZES)]
    small = [s for s in sizes if s[0] < SMALLEST]
    assert not small, small[:5]


def test_a_convolution_units_long_net_input_is_shortened_keeping_the_term_its_derivative_picks():
    """3 channels under a 2x3 kernel: 18 terms. Its definition's rows (names, numbers) are shortened; the
    row ∂/∂w (net) keeps w's term wherever it stands, in LaTeX and in MathML."""
    model = model_of(EXAMPLES["nonsquare_nobias"], "nonsquare_nobias")
    network = model.network
    latex, mathml = LatexRows(network, 9), MathRows(network, 9)
    unit = next(n for n in network.layers[1] if len(network.net_terms[n]) == 18)
    names_row, numbers_row, _ = [latex.row(r) for r in model.explainer.definition(Q.net(unit))]
    assert names_row[1].count(r"\cdots") == 1 and names_row[1].count(" + ") == 4
    assert numbers_row[1].count(r"\cdots") == 1
    middle = network.net_terms[unit][9].parameter
    differentiate = model.explainer.factor(Q.partial(Q.net(unit), Q.parameter(middle)))[0]
    _, rhs = latex.row(differentiate)
    assert rhs.count(r"\cdots") == 2 and names.latex(Q.parameter(middle)) in rhs.split(r"\left(", 1)[1]
    shown = html.unescape(mathml.row(differentiate, differentiate.lhs))
    number = Q.parameter_parts(middle)[1]
    assert shown.count(ELLIPSIS) == 2 and f"<mi>w</mi><mn>{number}</mn>" in shown
