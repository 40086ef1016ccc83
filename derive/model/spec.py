"""Parse and validate a network description (TOML) into a `Spec` of exact numbers.

Every problem becomes one `SpecError` line naming the file, the key and what is wrong; the CLI prints
it and exits with status 2. Decimal numbers are read as exact rationals (``0.15`` is 3/20), so that
every value printed later is correctly rounded rather than float noise.
"""

from __future__ import annotations

import difflib
import hashlib
import math
import random
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path

import sympy as sp

from derive.escape import excerpt, path_text, quoted
from derive.model import layers as layer_form
from derive.model import optimizers, quantities, reading, seeded
from derive.model.checking import MAX_SAMPLES, MAX_STEPS, Checker, SpecError
from derive.model.custom import NO_SCOPE, Scope
from derive.model.modes import BiasMode
from derive.model.reading import ReadError, read_regular
from derive.model.reading import value_kind as _kind
from derive.model.registry import ACTIVATIONS, LOSSES

# Limits, and why: the derivation keeps a few SymPy expressions per parameter and per neuron, so
# memory and time grow with the parameter count; past these sizes a run takes minutes and gigabytes,
# which is never what a learner wants, and is almost always a typo.
MAX_LAYERS = 16
MAX_WIDTH = 4096
MAX_PARAMETERS = 100_000
MAX_NAME = 64
NESTED = "lists or tables nested too deeply; a network description nests at most four levels"
MAX_TITLE = 200

KEYS = (
    "name", "title", "layers", "activation", "loss", "bias", "learning_rate", "steps", "weights",
    "biases", "samples", "reduction", "seed", "published", "freeze_biases", "training", "activations", "losses",
    "layer", "input", "sequence_output",
)
REQUIRED = ("name", "layers", "activation", "loss", "bias", "samples")  # and learning_rate, here or in [training]
DEFAULT_EXAMPLE = "mazur.toml"


@dataclass(frozen=True)
class Sample:
    inputs: tuple[sp.Rational, ...]
    targets: tuple[sp.Rational, ...]


@dataclass(frozen=True)
class Spec:
    name: str
    title: str
    layers: tuple[int, ...]
    activations: tuple[str, ...]  # one canonical name per non-input layer
    loss: str
    bias: BiasMode
    learning_rate: sp.Rational
    steps: int | None
    weights: tuple[tuple[tuple[sp.Rational, ...], ...], ...]  # [layer-1][unit][its kind's edges: each source]
    biases: tuple[tuple[sp.Rational, ...], ...]  # [layer-1] -> one value or one per neuron
    samples: tuple[Sample, ...]
    reduction: str  # "sum" | "mean"
    freeze_biases: bool  # training updates the weights only (the reference article's procedure)
    seed: int | None
    published: tuple[tuple[quantities.Quantity, Decimal], ...]  # (quantity, number as written), in file order
    source: str  # the file name, as shown in messages and generated headers
    digest: str  # sha256 of the file's bytes
    functions: Scope = NO_SCOPE  # the spec's own activations and losses ([activations], [losses])
    # how training steps are taken (learning_rate, freeze_biases too)
    training: optimizers.Settings = field(kw_only=True)
    kinds: tuple = ()  # each non-input layer as its [[layer]] table gives it (`derive.model.layers.Typed`); () : linear


def load(path: str | Path | None = None) -> Spec:
    """Read a spec file; with no path, the built-in reference example."""
    if path is None:
        data = resources.files("derive.examples").joinpath(DEFAULT_EXAMPLE).read_bytes()
        return parse(data, DEFAULT_EXAMPLE)
    path = Path(path)
    try:
        data = read_regular(path)
    except ReadError as exc:
        raise SpecError(f"{path_text(path)}: {exc}") from None
    return parse(data, path.name)


def parse(data: bytes | str, source: str = "<spec>") -> Spec:
    raw = data.encode() if isinstance(data, str) else data
    try:
        table = tomllib.loads(raw.decode("utf-8"), parse_float=Decimal)
    except UnicodeDecodeError:
        raise SpecError(f"{path_text(source)}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        shown = reading.syntax_error(str(exc), raw.decode("utf-8"))
        raise SpecError(f"{path_text(source)}: TOML syntax error: {shown}") from None
    except ValueError:  # tomllib's int() of more than 4300 digits
        raise SpecError(f"{path_text(source)}: a whole number with thousands of digits; at most 50 are used") from None
    except RecursionError:  # tomllib recurses into each nested list and inline table
        raise SpecError(f"{path_text(source)}: {NESTED}") from None
    return _Validator(source).spec(table, hashlib.sha256(raw).hexdigest())


class _Validator(Checker):
    max_width = MAX_WIDTH

    # -- the whole spec ---------------------------------------------------------------------------
    def spec(self, t: dict, digest: str) -> Spec:
        for key in t:
            if key not in KEYS:
                near = difflib.get_close_matches(key, KEYS, n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else f"; known keys: {', '.join(KEYS)}"
                self.fail(f"unknown key '{excerpt(key)}'{hint}")
        if "sequence_output" in t and "layer" not in t:
            self.fail("sequence_output is for a network with a recurrent layer, given as [[layer]] tables")
        t = layer_form.translate(t, self) if "layer" in t else t
        for key in REQUIRED:
            if key not in t:
                self.fail(f"missing key '{key}'")
        name = self.string(t["name"], "name")
        if not quantities.IDENTIFIER.match(name) or len(name) > MAX_NAME:
            self.fail(f"name {quoted(name)} is not an identifier: letters, digits and underscores, "
                      f"starting with a letter, at most {MAX_NAME} characters")
        title = self.string(t.get("title", name), "title")
        if len(title) > MAX_TITLE:  # free text: every output escapes it for its own language
            self.fail(f"title must be at most {MAX_TITLE} characters")
        layers = self.layers(t["layers"], t.get("kinds", ()))
        functions = self.functions(t.get("activations", {}), t.get("losses", {}))
        activations = self.activations(t["activation"], len(layers) - 1, functions, "kinds" in t)
        loss = self.choice(t["loss"], "loss", [*LOSSES, *functions.loss_names])
        requires = functions.loss(loss).requires
        if requires and activations[-1] != requires:
            outputs = layer_form.read_out(t.get("kinds", ()), requires)
            if outputs:
                self.fail(f"loss = '{loss}' needs {requires} outputs of their own, and {outputs}")
            self.fail(f"loss = '{loss}' needs {requires} outputs, but the output layer's activation is "
                      f"'{activations[-1]}'")
        self.per_step(t.get("kinds", ()), functions, activations[-1], loss)
        for k, typed in enumerate(t.get("kinds", ())):  # a block's own activations (a residual's layers')
            for key, inner in layer_form.named_activations(typed):
                self.choice(inner, f"layer[{k}].{key}", [*ACTIVATIONS, *functions.activation_names])
                entry = functions.activation(inner)
                if entry.couples_layer or entry.output_only:
                    self.fail(f"layer[{k}].{key} = '{inner}' is for a network's output layer: a block's layers "
                              "take an elementwise activation")
        bias = BiasMode(self.choice(t["bias"], "bias", [m.value for m in BiasMode]))
        reduction = self.choice(t.get("reduction", "sum"), "reduction", ("sum", "mean"))
        table = self.training_table(t)
        if "learning_rate" not in t and "learning_rate" not in table:
            self.fail("missing key 'learning_rate' (at the top level or in [training])")
        rate_key = "learning_rate" if "learning_rate" in t else "training.learning_rate"
        learning_rate = self.number(t.get("learning_rate", table.get("learning_rate")), rate_key)
        if learning_rate <= 0:
            self.fail(f"{rate_key} must be positive")
        steps = None
        if "steps" in t:
            steps = self.integer(t["steps"], "steps", 0, MAX_STEPS, " (training runs in float64)")
        seed = None
        if "seed" in t:
            seed = self.integer(t["seed"], "seed", 0, 2**63 - 1)
        rng = random.Random(seed)
        if "weights" in t:
            weights = t["weights"] if "kinds" in t else self.weights(t["weights"], layers)  # kinds: read by them
        elif seed is None:
            self.fail("missing key 'weights' (give the weights, or a seed = N to fill them reproducibly)")
        else:
            weights = seeded.weights(rng, layers)
        if bias == BiasMode.NONE:
            if "biases" in t:
                self.fail("biases is given, but bias = 'none' means the network has no biases (remove the key)")
            biases = tuple(() for _ in layers[1:])
        elif "biases" in t:
            biases = tuple(map(tuple, t["biases"])) if "kinds" in t else self.biases(t["biases"], layers, bias)
        elif seed is None:
            self.fail("missing key 'biases' (give the biases, or a seed = N to fill them reproducibly)")
        else:
            biases = seeded.biases(rng, layers, bias)
        samples = self.samples(t["samples"], layers, functions.loss(loss).targets_in_unit_interval, loss)
        published = self.published(t.get("published", {}))
        freeze = t.get("freeze_biases", False)
        if not isinstance(freeze, bool):
            self.fail(f"freeze_biases must be true or false, not {_kind(freeze)}")
        training = self.training(table, optimizers.Settings(learning_rate, seed=seed or 0, freeze_biases=freeze),
                                 len(samples))
        steps = table.get("steps", steps)
        return Spec(
            name, title, layers, activations, loss, bias, training.learning_rate, steps, weights, biases,
            samples, reduction, training.freeze_biases, seed, published, self.source, digest, functions,
            training=training, kinds=tuple(t.get("kinds", ())),
        )

    def per_step(self, kinds, functions, activation: str, loss: str) -> None:
        """An output layer applied at every step of a sequence: its loss sums over the steps and its
        activation works unit by unit (one over the whole layer, softmax, would mix the steps; a loss
        that divides by the number of outputs would divide by the steps too)."""
        if not kinds or not kinds[-1].steps:
            return
        t, o = sp.Symbol("t"), sp.Symbol("o")
        where, instead = layer_form.stepped_outputs(kinds)
        if functions.activation(activation).couples_layer:
            self.fail(f"activation '{activation}' of the output layer couples its units, which here are {where}: "
                      f"give an elementwise activation{instead}")
        if functions.loss(loss).term(t, o, 1) != functions.loss(loss).term(t, o, 2):
            self.fail(f"loss = '{loss}' divides by the number of outputs, which here are {where}: give a loss "
                      f"summed over the outputs{instead}")

    def functions(self, activations, losses) -> Scope:
        """The spec's own functions (`derive.model.custom.scope_of`), a problem as this spec's line."""
        from derive.model.custom import scope_of
        from derive.model.formula import FormulaError

        try:
            return scope_of(activations, losses)
        except FormulaError as exc:
            self.fail(str(exc))

    def layers(self, value, kinds=()) -> tuple[int, ...]:
        """The widths; with ``kinds`` (the ``[[layer]]`` tables, read), the parameters counted are
        their kinds' (a convolution's kernels, none for pooling), not a dense network's."""
        if not isinstance(value, list):
            self.fail(f"layers must be a list of neuron counts, not {_kind(value)}")
        if not 2 <= len(value) <= MAX_LAYERS:
            self.fail(f"layers has {reading.counted(value, 'entry', 'entries')}: a network has from 2 to "
                      f"{MAX_LAYERS} layers")
        layers = tuple(
            self.integer(n, f"layers[{k}]", 1, MAX_WIDTH, " neurons (a wider layer is almost always a typo)")
            for k, n in enumerate(value)
        )
        count = sum(layers[k] * layers[k - 1] + layers[k] for k in range(1, len(layers)))
        if kinds:
            kind = layer_form.KINDS
            count = sum(sum(map(math.prod, layer_form.tensors(t))) + len(kind[t.kind].bias_units(t)) for t in kinds)
        if count > MAX_PARAMETERS:
            self.fail(
                f"layers {list(layers)} give {count} parameters; the limit is {MAX_PARAMETERS} "
                "(symbolic derivation of more takes minutes and gigabytes)"
            )
        return layers

    def activations(self, value, count: int, functions: Scope = NO_SCOPE, tables: bool = False) -> tuple[str, ...]:
        known = [*ACTIVATIONS, *functions.activation_names]
        if isinstance(value, list):
            if len(value) != count:
                self.fail(f"activation has {reading.counted(value, 'name')}, the network has {count} non-input layers")
            keys = [f"layer[{k}].activation" if tables else f"activation[{k}]" for k in range(count)]
            names = [self.choice(v, keys[k], known) for k, v in enumerate(value)]
        elif isinstance(value, str):
            names = [self.choice(value, "activation", known)] * count
        else:
            self.fail(f"activation must be a name or a list of names, not {_kind(value)}")
        for k, a in enumerate(names[:-1], start=1):
            if functions.activation(a).output_only:
                self.fail(f"activation '{a}' is for the output layer only, not layer {k}")
        return tuple(names)

    def weights(self, value, layers) -> tuple:
        if not isinstance(value, list):
            self.fail(f"weights must be a list of matrices, not {_kind(value)}")
        if len(value) != len(layers) - 1:
            self.fail(f"weights has {reading.counted(value, 'matrix', 'matrices')}, the network has "
                      f"{len(layers) - 1} non-input layers")
        out = []
        for k, matrix in enumerate(value):
            if not isinstance(matrix, list):
                self.fail(f"weights[{k}] must be a matrix (a list of rows), not {_kind(matrix)}")
            if len(matrix) != layers[k + 1]:
                self.fail(f"weights[{k}] has {reading.counted(matrix, 'row')}, layer {k + 1} has "
                          f"{layers[k + 1]} neurons")
            out.append(tuple(
                self.vector(row, f"weights[{k}][{j}]", layers[k], f"layer {k} has")
                for j, row in enumerate(matrix)
            ))
        return tuple(out)

    def biases(self, value, layers, mode: str) -> tuple:
        if not isinstance(value, list):
            self.fail(f"biases must be a list with one entry per non-input layer, not {_kind(value)}")
        if len(value) != len(layers) - 1:
            self.fail(f"biases has {reading.counted(value, 'entry', 'entries')}, the network has "
                      f"{len(layers) - 1} non-input layers")
        out = []
        for k, entry in enumerate(value):
            if mode == BiasMode.SHARED:
                out.append(self.vector(entry, f"biases[{k}]", 1, "bias = 'shared' takes"))
            else:
                out.append(self.vector(entry, f"biases[{k}]", layers[k + 1], f"bias = 'per_neuron': layer {k + 1} has"))
        return tuple(out)

    def samples(self, value, layers, unit_targets: bool, loss: str) -> tuple[Sample, ...]:
        if not isinstance(value, list) or not value:
            self.fail("samples must be one or more [[samples]] tables")
        if len(value) > MAX_SAMPLES:
            self.fail(f"samples has {len(value)} pairs; the limit is {MAX_SAMPLES}")
        out = []
        for s, table in enumerate(value):
            key = f"samples[{s}]"
            if not isinstance(table, dict):
                self.fail(f"{key} must be a table with inputs and targets, not {_kind(table)}")
            for extra in table.keys() - {"inputs", "targets"}:
                self.fail(f"{key}: unknown key '{excerpt(extra)}' (a sample has inputs and targets)")
            for needed in ("inputs", "targets"):
                if needed not in table:
                    self.fail(f"{key}: missing key '{needed}'")
            inputs = self.vector(table["inputs"], f"{key}.inputs", layers[0], "the input layer has")
            targets = self.vector(table["targets"], f"{key}.targets", layers[-1], "the output layer has")
            if unit_targets:
                for j, t in enumerate(targets):
                    if not 0 <= t <= 1:
                        self.fail(f"{key}.targets[{j}] = {t} is outside [0, 1], which {loss} needs")
            out.append(Sample(inputs, targets))
        return tuple(out)
