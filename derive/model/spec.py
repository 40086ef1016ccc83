"""Parse and validate a network description (TOML) into a `Spec` of exact numbers.

Every problem becomes one `SpecError` line naming the file, the key and what is wrong; the CLI prints
it and exits with status 2. Decimal numbers are read as exact rationals (``0.15`` is 3/20), so that
every value printed later is correctly rounded rather than float noise.
"""

from __future__ import annotations

import difflib
import hashlib
import random
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import NoReturn

import sympy as sp

from derive.escape import excerpt, path_text, quoted
from derive.model import layers as layer_form
from derive.model import optimizers, quantities, reading, seeded
from derive.model.custom import NO_SCOPE, Scope
from derive.model.modes import BiasMode
from derive.model.reading import ReadError, number_problem, published_problem, rational, read_regular
from derive.model.reading import value_kind as _kind
from derive.model.registry import ACTIVATIONS, ALIASES, LOSSES

# Limits, and why: the derivation keeps a few SymPy expressions per parameter and per neuron, so
# memory and time grow with the parameter count; past these sizes a run takes minutes and gigabytes,
# which is never what a learner wants, and is almost always a typo.
MAX_LAYERS = 16
MAX_WIDTH = 4096
MAX_PARAMETERS = 100_000
MAX_SAMPLES = 1000
MAX_STEPS = quantities.MAX_STEPS
MAX_MAGNITUDE = reading.MAX_MAGNITUDE  # inputs, targets, weights, biases: larger values overflow float64
MAX_NAME = 64
NESTED = "lists or tables nested too deeply; a network description nests at most four levels"
MAX_TITLE = 200

KEYS = (
    "name", "title", "layers", "activation", "loss", "bias", "learning_rate", "steps", "weights",
    "biases", "samples", "reduction", "seed", "published", "freeze_biases", "training", "activations", "losses",
    "layer", "input",
)
REQUIRED = ("name", "layers", "activation", "loss", "bias", "samples")  # and learning_rate, here or in [training]
TRAINING_KEYS = (
    "optimizer", "learning_rate", "momentum", "betas", "eps", "weight_decay", "batch_size", "shuffle", "steps",
    "freeze_biases", "update_order",
)
DEFAULT_EXAMPLE = "mazur.toml"


class SpecError(ValueError):
    """A problem with a network description, as one line for the user."""


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
    kinds: tuple[str, ...] = ()  # each non-input layer's kind (`derive.model.layers`); () : every one linear


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


class _Validator:
    kind = staticmethod(_kind)  # for the layer kinds' own messages (`derive.model.layers`)
    max_width = MAX_WIDTH

    def __init__(self, source: str):
        self.source = source

    def fail(self, message: str) -> NoReturn:
        raise SpecError(f"{path_text(self.source)}: {message}")

    # -- scalar helpers ---------------------------------------------------------------------------
    def string(self, value, key: str) -> str:
        if not isinstance(value, str):
            self.fail(f"{key} must be a string, not {_kind(value)}")
        return value

    def integer(self, value, key: str, low: int, high: int, why: str = "") -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{key} must be a whole number, not {_kind(value)}")
        if not low <= value <= high:
            self.fail(f"{key} = {excerpt(value)} is out of range: it must be from {low} to {high}{why}")
        return value

    def number(self, value, key: str) -> sp.Rational:
        if isinstance(value, sp.Rational):  # read and checked already (a [[layer]] table's tensor)
            return value
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            self.fail(f"{key} must be a number, not {_kind(value)}")
        if isinstance(value, Decimal) and not value.is_finite():
            self.fail(f"{key} is {value}: every number must be finite")
        if problem := number_problem(value, MAX_MAGNITUDE):
            self.fail(f"{key} = {excerpt(value)} {problem}")
        return rational(value)

    def vector(self, value, key: str, length: int, what: str) -> tuple[sp.Rational, ...]:
        if not isinstance(value, list):
            self.fail(f"{key} must be a list of numbers, not {_kind(value)}")
        if len(value) != length:
            self.fail(f"{key} has {len(value)} values, {what} {length}")
        return tuple(self.number(v, f"{key}[{j}]") for j, v in enumerate(value))

    # -- the whole spec ---------------------------------------------------------------------------
    def spec(self, t: dict, digest: str) -> Spec:
        for key in t:
            if key not in KEYS:
                near = difflib.get_close_matches(key, KEYS, n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else f"; known keys: {', '.join(KEYS)}"
                self.fail(f"unknown key '{excerpt(key)}'{hint}")
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
        layers = self.layers(t["layers"])
        functions = self.functions(t.get("activations", {}), t.get("losses", {}))
        activations = self.activations(t["activation"], len(layers) - 1, functions, "kinds" in t)
        loss = self.choice(t["loss"], "loss", [*LOSSES, *functions.loss_names])
        if functions.loss(loss).requires and activations[-1] != functions.loss(loss).requires:
            self.fail(
                f"loss = '{loss}' needs {functions.loss(loss).requires} outputs, "
                f"but the output layer's activation is '{activations[-1]}'"
            )
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
            biases = self.biases(t["biases"], layers, bias)
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

    def training_table(self, t: dict) -> dict:
        """The ``[training]`` table's keys, each known and not also given at the top level."""
        table = t.get("training", {})
        if not isinstance(table, dict):
            self.fail(f"training must be a table ([training]), not {_kind(table)}")
        for key in table:
            if key not in TRAINING_KEYS:
                near = difflib.get_close_matches(key, TRAINING_KEYS, n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else f"; known keys: {', '.join(TRAINING_KEYS)}"
                self.fail(f"unknown key 'training.{excerpt(key)}'{hint}")
            if key in t:
                self.fail(f"{key} is given twice: at the top level and in [training]")
        return table

    def training(self, table: dict, base: optimizers.Settings, samples: int) -> optimizers.Settings:
        """The ``[training]`` table read into `optimizers.Settings`: types here, ranges and which
        optimizer takes which option in `optimizers.configure` (shared with ``derive train``'s flags)."""
        given: dict[str, object] = {}
        for key, value in table.items():
            where = f"training.{key}"
            if key in ("optimizer", "update_order"):
                given[key] = self.string(value, where)
            elif key in ("shuffle", "freeze_biases"):
                if not isinstance(value, bool):
                    self.fail(f"{where} must be true or false, not {_kind(value)}")
                given[key] = value
            elif key == "betas":
                given[key] = self.vector(value, where, 2, "betas takes")
            elif key == "batch_size":
                given[key] = self.integer(value, where, 0, MAX_SAMPLES, " (0 is the full batch)")
            elif key == "steps":
                table[key] = self.integer(value, where, 0, MAX_STEPS, " (training runs in float64)")
            else:
                given[key] = self.number(value, where)
        try:
            return optimizers.configure(given, base, lambda key: f"training.{key}", samples)
        except optimizers.OptionError as exc:
            self.fail(str(exc))

    def choice(self, value, key: str, options) -> str:
        self.string(value, key)  # first: a list is no key of the alias table
        activation = key.startswith("activation") or key.endswith(".activation")
        value = ALIASES.get(value, value) if activation else value
        if value not in options:
            known = list(options) + (list(ALIASES) if activation else [])
            own = {"activation": " (or define your own under [activations])", "loss": " (or define your own "
                   "under [losses])"}.get("activation" if activation else key.split("[")[0], "")
            hint = quantities.suggestion(value, known)
            self.fail(f"{key} = {quoted(value)} is unknown{hint}; known: {', '.join(known)}{own}")
        return value

    def functions(self, activations, losses) -> Scope:
        """The spec's own functions (`derive.model.custom.scope_of`), a problem as this spec's line."""
        from derive.model.custom import scope_of
        from derive.model.formula import FormulaError

        try:
            return scope_of(activations, losses)
        except FormulaError as exc:
            self.fail(str(exc))

    def layers(self, value) -> tuple[int, ...]:
        if not isinstance(value, list):
            self.fail(f"layers must be a list of neuron counts, not {_kind(value)}")
        if not 2 <= len(value) <= MAX_LAYERS:
            self.fail(f"layers has {len(value)} entries: a network has from 2 to {MAX_LAYERS} layers")
        layers = tuple(
            self.integer(n, f"layers[{k}]", 1, MAX_WIDTH, " neurons (a wider layer is almost always a typo)")
            for k, n in enumerate(value)
        )
        count = sum(layers[k] * layers[k - 1] + layers[k] for k in range(1, len(layers)))
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
                self.fail(f"activation has {len(value)} names, the network has {count} non-input layers")
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
            self.fail(f"weights has {len(value)} matrices, the network has {len(layers) - 1} non-input layers")
        out = []
        for k, matrix in enumerate(value):
            if not isinstance(matrix, list):
                self.fail(f"weights[{k}] must be a matrix (a list of rows), not {_kind(matrix)}")
            if len(matrix) != layers[k + 1]:
                self.fail(f"weights[{k}] has {len(matrix)} rows, layer {k + 1} has {layers[k + 1]} neurons")
            out.append(tuple(
                self.vector(row, f"weights[{k}][{j}]", layers[k], f"layer {k} has")
                for j, row in enumerate(matrix)
            ))
        return tuple(out)

    def biases(self, value, layers, mode: str) -> tuple:
        if not isinstance(value, list):
            self.fail(f"biases must be a list with one entry per non-input layer, not {_kind(value)}")
        if len(value) != len(layers) - 1:
            self.fail(f"biases has {len(value)} entries, the network has {len(layers) - 1} non-input layers")
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

    def published(self, value) -> tuple:
        if not isinstance(value, dict):
            self.fail(f"published must be a table of quantity = number, not {_kind(value)}")
        out = []
        for quantity, number in value.items():
            key = f"published.{quoted(quantity)}"
            if isinstance(number, bool) or not isinstance(number, int | Decimal):
                self.fail(f"{key} must be a number, not {_kind(number)}")
            if not Decimal(number).is_finite():
                self.fail(f"{key} is {number}: every number must be finite")
            if problem := published_problem(number):
                self.fail(f"{key} = {excerpt(number)} {problem}")
            try:
                parsed = quantities.parse(quantity)
            except quantities.QuantityError as exc:
                self.fail(f"{key}: {exc}")
            out.append((parsed, Decimal(number)))
        return tuple(out)
