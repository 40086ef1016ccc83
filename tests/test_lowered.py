"""The lowered program (`derive.derivation.lowered`) and its one walker (`derive.render.code.walker`): the
statement kinds every loop-form target prints, the program of a deep network, and a layer kind that
contributes its own statements."""

import dataclasses
import types
import typing

import sympy as sp
from conftest import spec_text

import derive
from derive.derivation import layers as L
from derive.derivation import lowered as P
from derive.derivation.steps import ERROR, FORWARD
from derive.model.layers import KINDS
from derive.model.network import Network
from derive.render.code import c, c_loops, javascript, javascript_loops, numpy_target, python_loops, walker

PRINTERS = {P.LOOP_KINDS: (python_loops._Python, c_loops._C, numpy_target._NumPy, javascript_loops._JavaScript),
            P.STRAIGHT_KINDS: (c._Straight, javascript._Statements)}


def _deep(bias='"shared"'):
    return Network(derive.parse(spec_text(layers="[3, 4, 3, 2]", weights=None, biases=None, seed="5", bias=bias,
                                          activation='["relu", "tanh", "logistic"]',
                                          samples="[[samples]]\ninputs = [0.1, 0.2, 0.3]\ntargets = [0.2, 0.4]\n"),
                                "t.toml"))


def test_every_target_prints_every_statement_kind_of_its_form():
    assert [k.__name__ for k in P.LOOP_KINDS] == ["Units", "Affine", "Each", "Gather", "Pool", "Recur", "Scalars", "Map",
                                                  "Rows", "Let", "Total", "Propagate", "Update"]
    assert [k.__name__ for k in P.STRAIGHT_KINDS] == ["Sum", "Let", "Store"]
    assert set(typing.get_args(P.Statement)) == {*P.LOOP_KINDS, *P.STRAIGHT_KINDS}
    for kinds, printers in PRINTERS.items():
        for printer in printers:
            assert issubclass(printer, walker.Printer)
            missing = [k.__name__ for k in kinds if not hasattr(printer, k.__name__.lower())]
            assert missing == [], (printer, missing)


def test_the_straight_line_program_is_the_kernel_in_order_cut_where_the_forward_pass_and_the_error_end():
    model = derive.load()
    program = P.straight(model.derivation)
    kernel = model.derivation.kernel
    flat = [*program.forward, *program.error, *program.deltas]
    assert [getattr(s, "quantity", getattr(s, "name", None)) for s in flat] == [s.quantity for s in kernel]
    assert {s.phase for s in kernel[:len(program.forward)]} == {FORWARD}
    assert {s.phase for s in kernel[len(program.forward):len(program.forward) + len(program.error)]} == {ERROR}
    sums = [s for s in program.forward if isinstance(s, P.Sum)]
    assert [str(s.quantity) for s in sums] == ["net_h1", "net_h2", "net_o1", "net_o2"]
    assert [(s.index, str(s.quantity)) for s in flat if isinstance(s, P.Store)] == [
        (k, f"dE_total/d{p}") for k, p in enumerate(model.parameters)]


def _shape(statements):
    def one(s):
        if isinstance(s, P.Units):
            return ("Units", s.layer.index, tuple(one(b) for b in s.body))
        layer = getattr(s, "layer", None)
        layer = layer.index if isinstance(layer, L.Layer) else layer
        return (type(s).__name__, getattr(s, "vector", None), layer)
    return [one(s) for s in statements]


def test_the_program_of_a_deep_network():
    """Forward: a loop over each layer's units (net input, then the hidden activation); the output
    layer's outs, error terms and their total, its deltas; backward from the top: back and the deltas
    of the layer below before each layer's gradients (which a step in place would change)."""
    program = P.lower(_deep())
    assert (program.top, program.outputs, program.parameters) == (3, 2, 12 + 12 + 6 + 3)
    assert _shape(program.forward) == [
        ("Units", 1, (("Affine", None, 1), ("Map", "out", 1))),
        ("Units", 2, (("Affine", None, 2), ("Map", "out", 2))),
        ("Units", 3, (("Affine", None, 3),)),
        ("Map", "out", 3)]
    assert _shape(program.error) == [("Map", "error", 3), ("Total", "error", None)]
    assert _shape(program.deltas) == [("Map", "delta", 3)]
    assert _shape(program.backward) == [
        ("Propagate", None, 3), ("Map", "delta", 2), ("Update", None, 3),
        ("Propagate", None, 2), ("Map", "delta", 1), ("Update", None, 2),
        ("Update", None, 1)]
    out = program.forward[0].body[1]
    assert out.reads == ("net",) and out.expr.free_symbols == {L.NET}  # relu of this unit's net input
    assert [out.expr.float_form(sp.Integer(v)) for v in (-2, 3)] == [0, 3]
    assert program.backward[1].reads == ("back", "net", "out")


def test_a_coupled_output_layer_is_rows_and_temporaries():
    model = derive.Model(derive.parse(spec_text(activation='["tanh", "softmax"]', loss='"cross_entropy"'), "t.toml"))
    program = P.lower(model.network)
    kinds = [type(s).__name__ for s in program.forward[2:]]
    assert kinds[-1] in ("Rows", "Map") and set(kinds[:-1]) <= {"Let"}


def test_a_layer_kind_contributes_its_own_lowering(monkeypatch):
    """A kind's statements come from its registry entry (`derive.model.layers`; here a toy kind that
    marks its layer with one temporary each way); the program holds them where the kind's layers are."""
    real = L.program

    def toy_program(network):
        program = real(network)
        return dataclasses.replace(program, layers=(dataclasses.replace(program.layers[0], kind="toy"),
                                                    *program.layers[1:]))

    toy = types.SimpleNamespace(lowering=P.Lowering(lambda layer: [P.Let(f"toy{layer.index}", sp.Integer(0))],
                                                    lambda layer, below: [P.Let(f"back_toy{layer.index}",
                                                                                sp.Integer(0))]))
    monkeypatch.setattr(L, "program", toy_program)
    monkeypatch.setitem(KINDS, "toy", toy)
    program = P.lower(_deep())
    assert program.forward[0] == P.Let("toy1", sp.Integer(0)) and isinstance(program.forward[1], P.Units)
    assert program.backward[-1] == P.Let("back_toy1", sp.Integer(0))
