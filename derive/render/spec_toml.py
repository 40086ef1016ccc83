"""A spec written back as TOML: the exercises' variant specs, and `derive init`'s commented starting
point. Every number is written exactly (the spec's numbers are exact decimals); the title, the only
free text, goes through `escape.toml_string`. No ``[published]`` table is ever written: those are
one article's numbers, which a new network's audit would find wrong."""

from __future__ import annotations

from importlib import resources

from derive.escape import toml_string
from derive.model import layers as kinds
from derive.model.decimals import exact_decimal, fmt
from derive.model.modes import BiasMode
from derive.model.quantities import IDENTIFIER
from derive.model.registry import ACTIVATIONS, ALIASES, LOSSES
from derive.model.spec import parse

#: What each key means, for a spec someone is going to edit (`derive init`).
COMMENTS = {
    "name": "identifier: letters, digits, underscore; names the output folder generated/<name>/",
    "title": "free text, optional",
    "layers": "neuron counts, input layer first",
    "bias": "; ".join(f'"{mode}": {mode.description}' for mode in BiasMode),
    "learning_rate": "eta of the update w+ = w - eta * dE_total/dw",
    "steps": "optional: how many training steps to report (derive train, the LaTeX document)",
    "reduction": 'with several samples: "sum" (default) or "mean" of their errors',
    "freeze_biases": "optional: train the weights only",
    "weights": "one matrix per non-input layer: row = destination neuron, column = source neuron",
    "biases": "per layer: [one value] (shared) or one value per neuron (per_neuron)",
    "samples": "one or more training pairs; add [[samples]] tables for more",
    "input": "the input's shape: a number of features, [steps, features], or [channels, height, width]",
    "sequence_output": "after the recurrent layer: \"all\" (the layers after it at every step, a target row per "
                       "step) or \"last\" (at the last step only)",
    "layer": f"one [[layer]] table a layer, PyTorch's names and layouts (type = {' or '.join(kinds.given_kinds())})",
}


def _registry_comments() -> dict[str, str]:
    """The activations and losses a spec may name, from the registry (never a list of our own)."""
    aliases = {name: [a for a, n in ALIASES.items() if n == name] for name in ACTIVATIONS}
    activations = ", ".join(f"{n} ({', '.join(aliases[n])})" if aliases[n] else n for n in ACTIVATIONS)
    return {"activation": f"{activations}; or a list, one per non-input layer",
            "loss": "one of\n" + "\n".join(f"#   {n}: {entry.description}" for n, entry in LOSSES.items())}


def number(value) -> str:
    return exact_decimal(value, 40) or fmt(value, 17)


def vector(values) -> str:
    return "[" + ", ".join(number(v) for v in values) + "]"


def _toml(value) -> str:
    """A value of a ``[[layer]]`` table: a count, a name, a list of counts, or a tensor of exact numbers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if not isinstance(value, list | tuple):  # an exact number (a normalization's eps)
        return number(value)
    if value and isinstance(value[0], list | tuple):
        return "[" + ", ".join(_toml(row) for row in value) + "]"
    if value and isinstance(value[0], int) and not isinstance(value[0], bool):  # a pair of counts
        return "[" + ", ".join(map(str, value)) + "]"
    return vector(value)


def _layer_tables(spec) -> list[str]:
    """The layers as ``[[layer]]`` tables, each written by its kind (`derive.model.layers`)."""
    lines = []
    for k, layer in enumerate(spec.kinds):
        kind = kinds.KINDS[layer.kind]
        if getattr(kind, "implicit", False):  # derive's readout of a last recurrent layer: no table gives it
            continue
        bias = list(spec.biases[k]) if spec.bias != BiasMode.NONE else None
        own = hasattr(kind, "block_kind")  # a block of layers: each of its tables writes its own bias
        given = (spec.activations[k], spec.weights[k], bias) if own else (spec.activations[k], spec.weights[k])
        table = {"type": layer.kind, **kind.table(layer, *given)}
        if kind.bias_units(layer) and not own:  # not a layer without parameters (pooling)
            table["bias"] = bias if bias is not None else "none"
        inner = {key: value for key, value in table.items() if isinstance(value, list) and value
                 and isinstance(value[0], dict)}  # a block's layers: [[layer.block]] tables after the layer's keys
        lines += ["", "[[layer]]", *(f"{key} = {_toml(value)}" for key, value in table.items() if key not in inner)]
        for key, tables in inner.items():
            for t in tables:
                lines += ["", f"[[layer.{key}]]", *(f"{k} = {_toml(v)}" for k, v in t.items())]
    return lines


def _samples(spec) -> list[tuple]:
    """Each sample's inputs and targets, shaped as the spec gives them; a batch (`derive.model.layers.batch`,
    one sample within) as the samples it was given as, one per step."""
    batch = kinds.batch_size(spec.kinds)
    if batch:
        (sample,) = spec.samples
        return list(zip(kinds.nest(sample.inputs, (batch, len(sample.inputs) // batch)),
                        kinds.nest(sample.targets, (batch, len(sample.targets) // batch)), strict=True))
    if not spec.kinds:
        return [(sample.inputs, sample.targets) for sample in spec.samples]
    return [(kinds.nest(sample.inputs, spec.kinds[0].shape_in), kinds.nest(sample.targets, kinds.target_shape(
        spec.kinds))) for sample in spec.samples]


def spec_toml(spec, header: str = "", comments: bool = False, name: str | None = None,
              title: str | None = None) -> str:
    """The spec as TOML that `derive.model.spec.parse` reads back to the same network (with another
    ``name`` and ``title`` when given)."""
    activation = (toml_string(spec.activations[0]) if len(set(spec.activations)) == 1
                  else "[" + ", ".join(toml_string(a) for a in spec.activations) + "]")
    keys = [
        ("name", toml_string(name or spec.name)),
        ("title", toml_string(title if title is not None else spec.title)),
        ("layers", "[" + ", ".join(map(str, spec.layers)) + "]"),
        ("activation", activation),
        ("loss", toml_string(spec.loss)),
        ("bias", toml_string(spec.bias)),
        ("learning_rate", number(spec.learning_rate)),
    ]
    if spec.kinds:  # given as [[layer]] tables: written back as such, after the top-level keys
        first = spec.kinds[0]  # a batch kind's reads the batch, [samples, features]: the input is one sample's
        shape = first.shape_in[1:] if getattr(kinds.KINDS[first.kind], "batch", False) else first.shape_in
        keys = [k for k in keys if k[0] not in kinds.REPLACED] + [("input", _toml(shape) if len(shape) > 1 else
                                                                    str(shape[0]))]
        sequence = kinds.sequence_output(spec.kinds)
        if sequence is not None and not kinds.batch_size(spec.kinds):  # a batch's samples: no sequence key
            keys.append((kinds.SEQUENCE_OUTPUT, toml_string(sequence)))
    if spec.steps is not None:
        keys.append(("steps", str(spec.steps)))
    if len(spec.samples) > 1 or spec.reduction != "sum":
        keys.append(("reduction", toml_string(spec.reduction)))
    if spec.freeze_biases:
        keys.append(("freeze_biases", "true"))
    if not spec.kinds:
        matrices = ",\n           ".join("[" + ", ".join(vector(row) for row in m) + "]" for m in spec.weights)
        keys.append(("weights", f"[{matrices}]"))
    if spec.bias != BiasMode.NONE and not spec.kinds:  # a bias-free spec has no biases key (the parser refuses one)
        keys.append(("biases", "[" + ", ".join(vector(b) for b in spec.biases) + "]"))
    lines = [header.rstrip("\n")] if header else []
    explained = COMMENTS | _registry_comments()
    for key, value in keys:
        if comments:
            lines.append(f"# {key}: {explained[key]}")
        lines.append(f"{key} = {value}")
    if spec.kinds:
        lines += [""] + ([f"# {COMMENTS['layer']}"] if comments else []) + _layer_tables(spec)[1:]
    for s, (inputs, targets) in enumerate(_samples(spec)):
        lines.append("")
        if comments and s == 0:
            lines.append(f"# {COMMENTS['samples']}")
        lines += ["[[samples]]", f"inputs = {_toml(inputs)}", f"targets = {_toml(targets)}"]
    for table, entries in (("activations", spec.functions.activations), ("losses", spec.functions.losses)):
        if entries:  # the spec's own functions, by formula (their names are identifiers)
            lines += ["", f"[{table}]", *(f"{e.name} = {toml_string(e.description)}" for e in entries)]
    return "\n".join(lines) + "\n"


def examples() -> list[str]:
    """The names of the built-in example networks (``derive init --like NAME``)."""
    return sorted(p.name.removesuffix(".toml") for p in resources.files("derive.examples").iterdir()
                  if p.name.endswith(".toml"))


def starter(like: str, stem: str) -> str:
    """A commented spec to start from: the example's network, named after the file when the file's
    name is an identifier; no ``[published]`` table (the example's numbers are not the new network's)."""
    spec = parse(resources.files("derive.examples").joinpath(f"{like}.toml").read_bytes(), f"{like}.toml")
    name = stem if IDENTIFIER.match(stem) and len(stem) <= 64 else spec.name
    header = (f"# A network for backprop-derive, started from the built-in example {like}: edit the numbers.\n"
              "# Check it with `derive gradients FILE`; the README's 'Network description' explains every key.\n")
    return spec_toml(spec, header, comments=True, name=name)
