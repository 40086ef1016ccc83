"""Layer kinds: a network given as ``[[layer]]`` tables, each of a registered kind (PyTorch's names,
hyperparameters and tensor layouts, `torch.nn`).

A kind is one module holding what is particular to it: its keys and their messages, its shape, its
edges (which input each of its weights multiplies: the forward pass, from which the derivation, its
backward pass in the textbook's form, the diagram, the checks and the grader's slips all follow), its
tensors and where each parameter sits in them (``layer``, ``tensor``, ``index``, as PyTorch indexes
``model[layer].tensor[index]``), its lowering for the code targets in loop form, and how it is
written back as a ``[[layer]]`` table. Registering it (`register`) is all that makes a spec's
``type = ...`` reach it. The kinds of the package: ``linear`` (`derive.model.layers.linear`,
`torch.nn.Linear`); the ``[[layer]]`` tables of a dense network are read into the same `Spec` as
``layers = [...]`` gives, so both forms give the same derivation and the same outputs.

A spec's weights are kept as each kind lays them out: for every unit of a layer, the weights of its
edges in the kind's order (``Spec.weights[layer - 1][unit]``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from derive.escape import excerpt, quoted
from derive.model import quantities, seeded
from derive.model.modes import BiasMode
from derive.model.program import Lowering

#: The top-level keys of the ``layers = [...]`` form, which the ``[[layer]]`` form replaces.
REPLACED = ("layers", "activation", "weights", "biases", "bias")


@dataclass(frozen=True)
class Read:
    """One ``[[layer]]`` table, read: its width, activation, and the tensors it gives (None: not
    given, drawn from the seed)."""

    kind: str
    width: int
    activation: str
    weight: tuple | None  # per unit, the weights of its edges in the kind's order (`Kind.edges`)
    bias: tuple | BiasMode | None  # [out]; BiasMode.NONE for none


@dataclass(frozen=True)
class Slip:
    """A slip learners make with a layer kind, for the grader and the audit to try: the layer's
    parameters ``replace``d by values (name -> value) in its backward pass (or its forward pass)."""

    key: str
    description: str
    replace: dict[str, int]
    backward: bool = True


class Kind(Protocol):
    name: str
    keys: tuple[str, ...]
    lowering: Lowering  # its statements for the code targets in loop form

    def read(self, table: dict, key: str, width_in: int, check) -> Read: ...

    def edges(self, width_in: int, width: int) -> tuple[tuple[int, ...], ...]:
        """For each unit, the inputs its weights multiply (indices of the layer below's units), in the
        order the weights are numbered and stored."""
        ...

    def place(self, layer: int, parameter) -> dict: ...

    def table(self, width: int, activation: str, weight: tuple) -> dict:
        """The keys of its ``[[layer]]`` table that give this layer (but ``type`` and ``bias``)."""
        ...

    def slips(self, parameters: list) -> list[Slip]:
        """Its usual slips, given its layer's parameters (`Network.parameters`); the slips of every
        layer (a weight used for another, a factor left out) are `derive.check.variants`'s."""
        ...


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


def unknown_keys(table: dict, key: str, keys: tuple[str, ...], check) -> None:
    for k in table:
        if k not in keys:
            hint = quantities.suggestion(k, list(keys)) or f"; a {table.get('type')} layer has {', '.join(keys)}"
            check.fail(f"{key}: unknown key '{excerpt(k)}'{hint}")


def read_bias(table: dict, key: str, width: int, what: str, check) -> tuple | BiasMode | None:
    """A layer's ``bias``: a list of ``width`` numbers (``what`` names that width), "none", or not
    given (None: drawn from the seed)."""
    if table.get("bias") == "none":
        return BiasMode.NONE
    if "bias" not in table:
        return None
    if isinstance(table["bias"], str):
        check.fail(f"{key}.bias = {quoted(table['bias'])} is unknown: give a list of {what} numbers, or \"none\"")
    return check.vector(table["bias"], f"{key}.bias", width, f"{what} is")


def kind_of(table, key: str, check) -> Kind:
    if not isinstance(table, dict):
        check.fail(f"{key} must be a table ([[layer]]), not {check.kind(table)}")
    if "type" not in table:
        check.fail(f"{key}: missing key 'type' (one of {', '.join(KINDS)})")
    name = check.string(table["type"], f"{key}.type")
    if name not in KINDS:
        check.fail(f"{key}.type = {quoted(name)} is unknown{quantities.suggestion(name, list(KINDS))}; "
                   f"known: {', '.join(KINDS)}")
    return KINDS[name]


def translate(t: dict, check) -> dict:
    """The spec's table with its ``[[layer]]`` tables read into the ``layers = [...]`` form's keys
    (every value checked here, with messages naming ``layer[k]....``); the rest of the spec as given.
    Tensors left out are drawn from ``seed`` as the other form draws them (every weight, then every
    bias, layer by layer), so the same seed gives the same numbers in both forms."""
    for key in REPLACED:
        if key in t:
            check.fail(f"{key} and [[layer]] are two ways of giving the layers: give one "
                       f"([[layer]] tables hold type, out_features, activation, weight and bias)")
    if "input" not in t:
        check.fail("missing key 'input' (the number of input features, for [[layer]] tables)")
    if isinstance(t["input"], list):
        check.fail("input = [...]: a shaped input needs a layer kind that reads one; linear layers take "
                   "a number of features (input = 2)")
    width = check.integer(t["input"], "input", 1, check.max_width, " features")
    layers = t["layer"]
    if not isinstance(layers, list) or not layers:
        check.fail("layer must be one or more [[layer]] tables")
    read = []
    for k, table in enumerate(layers):
        key = f"layer[{k}]"
        kind = kind_of(table, key, check)
        unknown_keys(table, key, kind.keys, check)
        read.append(kind.read(table, key, width, check))
        width = read[-1].width
    none = read[0].bias is BiasMode.NONE
    if any((r.bias is BiasMode.NONE) != none for r in read):
        check.fail("some [[layer]] tables have bias = \"none\" and others biases: a network's layers "
                   "have biases alike")
    sizes = [t["input"], *(r.width for r in read)]
    rng = random.Random(t.get("seed"))
    drawn = "seed" in t and isinstance(t["seed"], int) and not isinstance(t["seed"], bool)
    out = {k: v for k, v in t.items() if k not in ("layer", "input")}
    out["layers"] = sizes
    out["activation"] = [r.activation for r in read]
    out["bias"] = str(BiasMode.NONE if none else BiasMode.PER_NEURON)
    missing = next((f"layer[{k}].{'weight' if r.weight is None else 'bias'}" for k, r in enumerate(read)
                    if r.weight is None or r.bias is None), None)
    if missing and not drawn:
        check.fail(f"missing key '{missing}' (give it, or a seed = N to fill it reproducibly)")
    edges = [KINDS[r.kind].edges(sizes[k], r.width) for k, r in enumerate(read)]
    weights = [r.weight or tuple(tuple(seeded.value(rng, len(unit)) for _ in unit) for unit in edges[k])
               for k, r in enumerate(read)]
    out["weights"] = tuple(tuple(tuple(row) for row in w) for w in weights)
    if not none:
        biases = [r.bias or tuple(seeded.value(rng, len(unit)) for unit in edges[k]) for k, r in enumerate(read)]
        out["biases"] = [list(b) for b in biases]
    out["kinds"] = [r.kind for r in read]
    return out


def of(kinds: tuple[str, ...], layer: int) -> Kind:
    """The kind of layer ``layer`` (from 1) of a spec whose layers have ``kinds`` (() : all linear)."""
    return KINDS[kinds[layer - 1] if kinds else "linear"]


def shape(spec, sep: str = "-") -> str:
    """The layers' widths, "2-2-2", and the kind of every layer that is not linear, as every output
    describes the network: "2-2-2-2 (layer 2: scale)"."""
    text = sep.join(map(str, spec.layers))
    other = [f"layer {k}: {name}" for k, name in enumerate(spec.kinds, start=1) if name != Linear.name]
    return f"{text} ({', '.join(other)})" if other else text


def place(kinds: tuple[str, ...], parameter) -> dict:
    """Where ``parameter`` sits: ``{"layer": k, "tensor": "weight", "index": [j, i]}``, PyTorch's
    ``model[k].weight[j, i]`` (``k`` counts the layers from 0, as the ``[[layer]]`` tables)."""
    return {"layer": parameter.layer - 1, **of(kinds, parameter.layer).place(parameter.layer - 1, parameter)}


from derive.model.layers import linear  # noqa: E402,F401  (registers the kinds)
from derive.model.layers.linear import Linear  # noqa: E402
