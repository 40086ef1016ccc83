"""Layer kinds: a network given as ``[[layer]]`` tables, each of a registered kind (PyTorch's names,
hyperparameters and tensor layouts, `torch.nn`).

A kind is one module holding what is particular to it (`derive.model.layers.kind.Kind`): its keys
and their messages, its shapes, its connections (which input each unit reads through which entry of
its weight tensor: the forward pass, from which the derivation, its backward pass in the textbook's
form, the diagram, the matrix form, the checks and the grader's general slips all follow), its
lowering for the code targets in loop form, how it is written back as a ``[[layer]]`` table, and its
own slips. Registering it (`register`) is all that makes a spec's ``type = ...`` reach it. The kinds
of the package: ``linear`` (`torch.nn.Linear`), ``conv2d`` (`torch.nn.Conv2d`), ``maxpool2d`` and
``avgpool2d`` (`torch.nn.MaxPool2d`, `torch.nn.AvgPool2d`); the ``[[layer]]``
tables of a dense network are read into the same `Spec` as ``layers = [...]`` gives, so both forms
give the same derivation and the same outputs.

A spec's weights are kept per layer as its kind's tensor, nested as PyTorch's (``Spec.weights[k - 1]``:
a matrix [out][in], a kernel [out][in][kh][kw]); its biases as one vector per layer; each parameter
is one entry of them, numbered in row-major order (`Parameter.index`).
"""

from __future__ import annotations

import dataclasses
import math
import random

from derive.escape import quoted
from derive.model import quantities, seeded

# re-exported: what a kind module needs
from derive.model.layers.kind import (  # noqa: F401
    BELOW,
    Combination,
    Kind,
    LocalSlip,
    PathSlip,
    Read,
    Slip,
    Typed,
    flat,
    like,
    nest,
    read_bias,
    shape_of,
    tensor,
    unknown_keys,
    unravel,
)
from derive.model.modes import BiasMode

#: The top-level keys of the ``layers = [...]`` form, which the ``[[layer]]`` form replaces.
REPLACED = ("layers", "activation", "weights", "biases", "bias")
STEPPED_BIAS = "unit, shared by the steps"  # `biases`: a layer unrolled over a sequence's steps
BATCH_BIAS = "neuron, shared by the batch's samples"  # a layer applied to every sample of a batch
#: a batch_size asked of a batchnorm network (its training option or its spec's), refused
WHOLE_BATCH = ("{} = {} with a batchnorm layer is not available yet: its batch is every sample, one pass "
               "(batch_size = 0)")
SEQUENCE_OUTPUT = "sequence_output"  # after the last recurrent layer: "all" its steps, or the "last"
MAX_AXES = 3  # an input is features, or (channels, height, width)


KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    KINDS[kind.name] = kind
    return kind


def given_kinds() -> list[str]:
    """The kinds a ``[[layer]]`` table may name (not derive's own readout of a last recurrent layer)."""
    return [name for name, kind in KINDS.items() if not getattr(kind, "implicit", False)]


def kind_of(table, key: str, check) -> Kind:
    if not isinstance(table, dict):
        check.fail(f"{key} must be a table ([[layer]]), not {check.kind(table)}")
    given = given_kinds()
    if "type" not in table:
        check.fail(f"{key}: missing key 'type' (one of {', '.join(given)})")
    name = check.string(table["type"], f"{key}.type")
    if name not in given:
        check.fail(f"{key}.type = {quoted(name)} is unknown{quantities.suggestion(name, given)}; "
                   f"known: {', '.join(given)}")
    return KINDS[name]


def input_shape(value, check) -> tuple[int, ...]:
    """``input``: a number of features, or a shape such as [channels, height, width]."""
    if not isinstance(value, list):
        return (check.integer(value, "input", 1, check.max_width, " features"),)
    if not 1 <= len(value) <= MAX_AXES:
        check.fail(f"input has {len(value)} axes: give a number of features or [channels, height, width]")
    shape = tuple(check.integer(n, f"input[{k}]", 1, check.max_width) for k, n in enumerate(value))
    if math.prod(shape) > check.max_width:
        check.fail(f"input {list(shape)} has {math.prod(shape)} values; the limit is {check.max_width}")
    return shape


def _samples(samples, shape: tuple[int, ...], targets: tuple[int, ...], check) -> object:
    """The samples with their inputs, shaped as ``input``, flattened in PyTorch's order (channel, row,
    column), and their targets shaped as ``targets`` (one row per step, after a recurrent layer with
    sequence_output = "all"), checked; anything else is the spec's own checks' to refuse."""
    if not isinstance(samples, list):
        return samples
    axes = ("input[0]", "input[1]", "input[2]")
    read = []
    for j, s in enumerate(samples):
        if isinstance(s, dict) and "inputs" in s and len(shape) > 1:
            inputs = tensor(s["inputs"], f"samples[{j}].inputs", shape, axes[:len(shape)], check)
            s = {**s, "inputs": list(flat(inputs))}
        given = s.get("targets") if isinstance(s, dict) else None
        flat_row = targets[0] == 1 and isinstance(given, list) and not any(isinstance(v, list) for v in given)
        if given is not None and len(targets) > 1 and not flat_row:  # "last": one row, or the row's numbers
            rows = "steps (one row of targets per step)" if targets[0] > 1 else "rows (the last step's targets)"
            s = {**s, "targets": list(flat(tensor(s["targets"], f"samples[{j}].targets", targets,
                                                  (rows, "outputs per step"), check)))}
        read.append(s)
    return read


def _target_shape(read: list[Read]) -> tuple[int, ...]:
    return target_shape(tuple(r.layer for r in read))


def target_shape(layers: tuple[Typed, ...]) -> tuple[int, ...]:
    """A sample's targets' shape: one row per step where the output layer is applied at every step."""
    top = layers[-1]
    if top.steps:
        return top.steps, top.width
    return (1, top.units) if sequence_output(layers) else (top.units,)


def gives_sequence(layer: Typed) -> bool:
    """Whether a layer's outputs are a sequence the layers above read step by step (``sequence_output``):
    a recurrent layer's, an attention head's (``sequence``)."""
    return _sequence_kind(KINDS[layer.kind])


def _sequence_kind(kind: Kind) -> bool:
    return getattr(kind, "recurrent", False) or getattr(kind, "sequence", False)


def sequence_output(layers: tuple[Typed, ...]) -> str | None:
    """How the layers after the last recurrent one read its sequence ("all", "last"; None: no recurrent
    layer), as ``sequence_output`` gives it."""
    if not any(gives_sequence(t) for t in layers):
        return None
    return "last" if any(t.offset for t in layers) else "all"


def _read_layers(layers: list, shape: tuple[int, ...], t: dict, check) -> list[Read]:
    """Each ``[[layer]]`` table read by its kind, given the shape the layer below gives. After the last
    recurrent layer, its sequence is read as ``sequence_output`` says: each later layer applied at
    every step ("all"), or the layers after it reading its last step only ("last")."""
    kinds = [kind_of(table, f"layer[{k}]", check) for k, table in enumerate(layers)]
    last = max((k for k, kind in enumerate(kinds) if _sequence_kind(kind)), default=None)
    mode = t.get(SEQUENCE_OUTPUT, "all")
    if not isinstance(mode, str):
        check.fail(f"{SEQUENCE_OUTPUT} must be \"all\" or \"last\", not {check.kind(mode)}")
    if SEQUENCE_OUTPUT in t and last is None:
        check.fail(f"{SEQUENCE_OUTPUT} is for a network with a recurrent layer (rnn), and this one has none")
    if mode not in ("all", "last"):
        check.fail(f"{SEQUENCE_OUTPUT} = {quoted(str(mode))} is unknown: \"all\" (the layers after the recurrent "
                   f"one at every step) or \"last\" (at the last step only)")
    read: list[Read] = []
    steps = offset = 0
    for k, (table, kind) in enumerate(zip(layers, kinds, strict=True)):
        key = f"layer[{k}]"
        unknown_keys(table, key, kind.keys, check)
        r = kind.read(table, key, shape, check)
        if (steps or offset) and getattr(kind, "sequential", False):
            check.fail(f"{key}: a {kind.name} layer over a sequence's steps (after a recurrent or attention layer) "
                       f"is not available yet; with {SEQUENCE_OUTPUT} = \"last\", put it after a {Linear.name} layer "
                       "of the last step")
        if steps or offset:
            r = Read(dataclasses.replace(r.layer, steps=steps, offset=offset), r.activation, r.weight, r.bias)
            offset = 0
        read.append(r)
        shape = r.layer.shape
        if k == len(layers) - 1 and (k == last or r.layer.internal):
            # its exposed units (a recurrent layer's hidden states) are the outputs: derive's readout copies them
            read.append(KINDS["readout"].after(r.layer, mode))  # type: ignore[attr-defined]
            break
        if k == last:
            shape = shape[1:]
            if mode == "all":
                steps = r.layer.shape[0]
            else:
                offset = (r.layer.shape[0] - 1) * r.layer.shape[1]
    return read


def batch_size(layers: tuple[Typed, ...]) -> int:
    """The samples a network's one pass holds (a batchnorm's: `derive.model.layers.batch`); 0 for any other."""
    return next((t.shape_in[0] for t in layers if getattr(KINDS[t.kind], "batch", False)), 0)


def samples(spec) -> str:
    """How many samples a spec's one step takes, as every output says it: "2 samples"; a batch's, "3 samples,
    one batch" (one pass, its one sample within)."""
    batch = batch_size(spec.kinds)
    count = batch or len(spec.samples)
    return f"{count} sample{'s' * (count != 1)}{', one batch' if batch else ''}"


def stepped_outputs(layers: tuple[Typed, ...]) -> tuple[str, str]:
    """Where an output layer applied at every step has its units, in words, and the other way to give it."""
    if batch_size(layers):
        return "every sample's of the batch (one pass, for the batchnorm layer)", ""
    return "every step's (sequence_output = \"all\")", ", or sequence_output = \"last\""


def read_out(layers: tuple[Typed, ...], activation: str) -> str | None:
    """Where the outputs are a last recurrent layer's hidden states (copied by derive's readout, out =
    net), how to give them ``activation`` of their own; None for any other network."""
    if not layers or not getattr(KINDS[layers[-1].kind], "implicit", False):
        return None
    what = "hidden states" if recurrent(layers[-2]) else "outputs"
    return (f"the outputs here are the last {layers[-2].kind} layer's {what}: add a [[layer]] of type "
            f"{Linear.name} with activation = \"{activation}\"")


def unrolled(spec) -> list[tuple[int, int]] | None:
    """For a network with a recurrent layer, each layer's (input first) steps and units per step: a
    sequence's [steps, features], a layer applied at every step's (steps, its width), one at the last
    step's (1, its width); None for a network without a recurrent layer."""
    if sequence_output(spec.kinds) is None or any(gives_sequence(t) and not recurrent(t) for t in spec.kinds):
        return None  # an attention head's units are no step's alone: drawn as a layer of units
    shapes = [spec.kinds[0].shape_in, *(t.shape if recurrent(t) else (max(t.steps, 1), t.width) for t in spec.kinds)]
    return [(shape[0], shape[1]) for shape in shapes]


def recurrent(layer: Typed) -> bool:
    """Whether a layer's units read its own earlier units (a recurrent kind's ``recurrent``)."""
    return getattr(KINDS[layer.kind], "recurrent", False)


def sequential(layer: Typed) -> bool:
    """Whether a layer's units read its own earlier units, so are computed one after the other (nets
    and outs unit by unit, deltas last first): a recurrent layer's, and a kind's whose nodes read its
    own (a normalization's xhat reads its mean and variance: ``sequential``)."""
    kind = KINDS[layer.kind]
    return getattr(kind, "recurrent", False) or getattr(kind, "sequential", False)


def exposed(layer: Typed) -> tuple[int, ...]:
    """The positions, among a layer's units, of those the layer above reads, in the order it reads them
    (an LSTM's hidden states, step by step, not its gates and cell states); every unit for the others."""
    kind = KINDS[layer.kind]
    return kind.exposed(layer) if hasattr(kind, "exposed") else tuple(range(layer.units))


def unit_activations(layer: Typed, activation: str) -> tuple[str, ...] | None:
    """Each unit's activation where a kind's units differ (an LSTM's gates, cell states and hidden
    states: `Kind.unit_activations`); None where every unit applies the layer's ``activation``."""
    kind = KINDS[layer.kind]
    return kind.unit_activations(layer, activation) if hasattr(kind, "unit_activations") else None


def named_activations(layer: Typed) -> list[tuple[str, str]]:
    """The activations a layer's table names inside it (a residual block's layers'), each with its key."""
    kind = KINDS[layer.kind]
    return kind.named_activations(layer) if hasattr(kind, "named_activations") else []


def initial_units(layer: Typed) -> int:
    """The units of a recurrent layer before its first step (an initial state given: h_0, and an LSTM's
    c_0), first among its units; 0 for every other layer."""
    kind = KINDS[layer.kind]
    return kind.initial_units(layer) if hasattr(kind, "initial_units") else 0


def step_part(layer: Typed, position: int) -> tuple[str, int, int]:
    """A recurrent layer's unit at ``position``, as the textbooks name it: (its part, "h" for a hidden
    state, an LSTM's "i", "f", "g", "o", "c" too; its step, from 1; its unit within the part, from 1)."""
    kind = KINDS[layer.kind]
    if hasattr(kind, "part"):
        return kind.part(layer, position)
    step, j = divmod(position, layer.shape[1])
    return "h", step + 1, j + 1


def tensors(layer: Typed) -> tuple[tuple[int, ...], ...]:
    """The shapes of a layer's weight tensors: its kind's one ``weight``, or its several (a recurrent
    layer's W_ih and W_hh), its parameters numbered through them in order."""
    kind = KINDS[layer.kind]
    return kind.tensors(layer) if hasattr(kind, "tensors") else (kind.weight_shape(layer),)


def _drawn(rng: random.Random, layer: Typed) -> tuple:
    """A layer's weights drawn from the seed, each tensor's entries scaled by its fan-in."""
    drawn = tuple(nest(tuple(seeded.value(rng, math.prod(s[1:])) for _ in range(math.prod(s))), s)
                  for s in tensors(layer))
    return drawn if hasattr(KINDS[layer.kind], "tensors") else drawn[0]


def connections(layer: Typed) -> tuple[tuple[tuple[int, int], ...], ...]:
    """Each unit's (input, weight entry) pairs (`Kind.connections`), over the steps it is applied at
    (step t's units read step t of the layer below), or from the step it reads (``offset``). An input
    past the layer below's units is one of the layer's own (a recurrent layer's earlier step)."""
    one = KINDS[layer.kind].connections(layer)
    if not layer.steps:
        return tuple(tuple((i + layer.offset, e) for i, e in reads) for reads in one)
    return tuple(tuple((i + t * layer.width_in, e) for i, e in reads) for t in range(layer.steps) for reads in one)


def bias_units(layer: Typed) -> tuple[tuple[int, ...], ...]:
    """For each entry of a layer's bias vector, its units (`Kind.bias_units`), over its steps."""
    one = KINDS[layer.kind].bias_units(layer)
    return tuple(tuple(j + t * layer.width for t in range(max(layer.steps, 1)) for j in units) for units in one)


def translate(t: dict, check) -> dict:
    """The spec's table with its ``[[layer]]`` tables read into the ``layers = [...]`` form's keys
    (every value checked here, with messages naming ``layer[k]....``); the rest of the spec as given;
    ``kinds``: each layer as read (`Typed`). Tensors left out are drawn from ``seed`` as the other form
    draws them (every weight, then every bias, layer by layer, each scaled by its fan-in), so the same
    seed gives the same numbers in both forms."""
    for key in REPLACED:
        if key in t:
            check.fail(f"{key} and [[layer]] are two ways of giving the layers: give one "
                       f"([[layer]] tables hold type, out_features, activation, weight and bias)")
    if "input" not in t:
        check.fail("missing key 'input' (the number of input features, for [[layer]] tables)")
    shape = input_shape(t["input"], check)
    layers = t["layer"]
    if not isinstance(layers, list) or not layers:
        check.fail("layer must be one or more [[layer]] tables")
    in_batch = batch.given(layers)  # a batchnorm's network: its samples one pass (`derive.model.layers.batch`)
    read = (batch.read_layers if in_batch else _read_layers)(layers, shape, t, check)
    biased = [r for r in read if r.bias != ()] or read  # a layer without parameters has none to give
    none = biased[0].bias is BiasMode.NONE
    if any((r.bias is BiasMode.NONE) != none for r in biased):
        check.fail("some [[layer]] tables have bias = \"none\" and others biases: a network's layers "
                   "have biases alike")
    rng = random.Random(t.get("seed"))
    drawn = "seed" in t and isinstance(t["seed"], int) and not isinstance(t["seed"], bool)
    out = {k: v for k, v in t.items() if k not in ("layer", "input", SEQUENCE_OUTPUT)}
    out["layers"] = [read[0].layer.width_in * max(read[0].layer.steps, 1), *(r.layer.units for r in read)]
    out["activation"] = [r.activation for r in read]
    out["bias"] = str(BiasMode.NONE if none else BiasMode.PER_NEURON)
    out["samples"] = (batch.samples(t, read[0].layer.shape_in, _target_shape(read), check) if in_batch else
                      _samples(t.get("samples"), read[0].layer.shape_in, _target_shape(read), check))
    keys = [getattr(KINDS[r.layer.kind], "given_at", (getattr(KINDS[r.layer.kind], "tensor_names", ("weight",))[0],
                                                      "bias")) for r in read]  # its first weight tensor, its bias
    missing = next((f"layer[{k}].{keys[k][0] if r.weight is None else keys[k][1]}" for k, r in enumerate(read)
                    if r.weight is None or r.bias is None), None)
    if missing and not drawn:
        check.fail(f"missing key '{missing}' (give it, or a seed = N to fill it reproducibly)")
    shapes = [KINDS[r.layer.kind].weight_shape(r.layer) for r in read]
    out["weights"] = tuple(r.weight or _drawn(rng, r.layer) for r in read)
    if not none:
        out["biases"] = [list(r.bias or (seeded.value(rng, math.prod(s[1:])) for _ in KINDS[r.layer.kind].bias_units(
            r.layer))) for r, s in zip(read, shapes, strict=True)]
    out["kinds"] = tuple(r.layer for r in read)
    return out


def typed(spec, layer: int) -> Typed:
    """Layer ``layer`` (from 1) of ``spec`` as read; a ``layers = [...]`` spec's layers are linear."""
    if spec.kinds:
        return spec.kinds[layer - 1]
    return Typed(Linear.name, (spec.layers[layer - 1],), (spec.layers[layer],))


def shape(spec, sep: str = "-") -> str:
    """The layers' widths (the units each gives the layer above), "2-2-2", and the kind of every layer
    that is not linear, as every output describes the network: "3-3-3-2 (layer 2: layernorm)"."""
    batch = batch_size(spec.kinds)  # a batch's widths are one sample's
    widths = [spec.layers[0] // max(batch, 1), *(t.width * max(t.steps, 1) // max(batch, 1) for t in spec.kinds)
              ] if spec.kinds else spec.layers
    text = sep.join(map(str, widths))  # the units a layer gives (an LSTM's h, not its gates)
    other = [f"layer {k}: {t.kind}" for k, t in enumerate(spec.kinds, start=1) if t.kind != Linear.name]
    other += [f"a batch of {batch} samples"] if batch else []
    return f"{text} ({', '.join(other)})" if other else text


def activations(spec) -> str:
    """Each layer's activation, as every output describes them: "layer 1: relu, layer 2: none
    (maxpool2d), layer 3: logistic" (a layer without parameters has none: its out is its net)."""
    parts = []
    for k, activation in enumerate(spec.activations, start=1):
        kind = typed(spec, k).kind
        words = getattr(KINDS[kind], "activation_words", None)  # a kind whose units differ (an LSTM's)
        words = words(typed(spec, k)) if callable(words) else words  # or differ by its table (a residual's)
        parts.append(f"layer {k}: none ({kind})" if KINDS[kind].combination is not None else
                     f"layer {k}: {words or activation}")
    return ", ".join(parts)


def biases(spec) -> str:
    """How the network's biases are laid out, as every output describes them: the bias mode's words,
    and the layers whose biases are each shared by several units, in their kind's words (`shared_bias`:
    a convolution's one per output channel; a layer unrolled over steps, one per unit for every step)."""
    groups: dict[str, list[str]] = {}
    for k, t in enumerate(spec.kinds, start=1):
        if any(len(units) > 1 for units in bias_units(t)):
            words = (BATCH_BIAS if batch_size(spec.kinds) else STEPPED_BIAS) if t.steps else getattr(
                KINDS[t.kind], "shared_bias", STEPPED_BIAS)
            groups.setdefault(words, []).append(str(k))
    if spec.bias != BiasMode.PER_NEURON or not groups:
        return spec.bias.description
    said = [f"in layer{'s' if len(ks) > 1 else ''} {' and '.join(ks)} one per {words}" for words, ks in groups.items()]
    return f"{spec.bias.description}, but {'; '.join(said)}"


def place(spec, parameter) -> dict:
    """Where ``parameter`` sits: ``{"layer": k, "tensor": "weight", "index": [j, i]}``, PyTorch's
    ``model[k].weight[j, i]`` (``k`` counts the layers from 0, as the ``[[layer]]`` tables; inside a
    residual block ``[k, j]``, ``model[k].block[j].weight[...]``)."""
    layer = typed(spec, parameter.layer)
    if hasattr(KINDS[layer.kind], "place"):  # a block of layers: [k, j], the block's layer j; biases by name
        inner, tensor_name, index = KINDS[layer.kind].place(  # type: ignore[attr-defined]
            layer, parameter.kind == quantities.WEIGHT, parameter.index)
        return {"layer": [parameter.layer - 1, *inner] if inner else parameter.layer - 1, "tensor": tensor_name,
                "index": index}
    if parameter.kind == quantities.WEIGHT:
        names = getattr(KINDS[layer.kind], "tensor_names", ("weight",))
        index = parameter.index
        for name, shape in zip(names, tensors(layer), strict=True):
            if index < math.prod(shape):
                return {"layer": parameter.layer - 1, "tensor": name, "index": unravel(index, shape)}
            index -= math.prod(shape)
        raise AssertionError(f"{parameter.name} is past layer {parameter.layer}'s weights")
    return {"layer": parameter.layer - 1, "tensor": "bias", "index": [parameter.index]}


from derive.model.layers import attention, batchnorm, conv2d, layernorm, linear, lstm, pool2d, readout, residual, rnn  # noqa: E402,F401,I001  (registers the kinds)
from derive.model.layers import batch  # noqa: E402
from derive.model.layers.linear import Linear  # noqa: E402


def exact_zeros(network) -> frozenset[str]:
    """The parameters whose gradient is exactly 0 by the network's structure, each layer kind's
    (``zero_gradients``: a bias just below a batchnorm, attention's key biases). Ball arithmetic cannot
    decide a 0 reached through square roots or a softmax; these are its proofs, which
    `derive.derivation.decided` takes as exact."""
    found: set[str] = set()
    for k in range(1, network.depth + 1):
        hook = getattr(network.kind(k), "zero_gradients", None)
        if hook is not None:
            found |= hook(network, k)
    return frozenset(found)
