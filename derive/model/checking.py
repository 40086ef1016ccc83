"""The checks every key of a spec goes through, as one line naming the file and the key: numbers,
lists, names chosen from a table, the ``[training]`` table and the ``[published]`` numbers.
`derive.model.spec` reads the whole spec with them; the layer kinds (`derive.model.layers`) read
their tables with them."""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import NoReturn

import sympy as sp

from derive.escape import excerpt, path_text, quoted
from derive.model import optimizers, quantities, reading
from derive.model.reading import number_problem, published_problem, rational
from derive.model.reading import value_kind as _kind
from derive.model.registry import ALIASES

MAX_SAMPLES = 1000
MAX_STEPS = quantities.MAX_STEPS
MAX_MAGNITUDE = reading.MAX_MAGNITUDE  # inputs, targets, weights, biases: larger values overflow float64
TRAINING_KEYS = (
    "optimizer", "learning_rate", "momentum", "betas", "eps", "weight_decay", "batch_size", "shuffle", "steps",
    "freeze_biases", "update_order",
)


class SpecError(ValueError):
    """A problem with a network description, as one line for the user."""


class Checker:
    """One spec's checks: each problem raised as a `SpecError` naming ``source``."""

    kind = staticmethod(_kind)  # for the layer kinds' own messages (`derive.model.layers`)

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
            self.fail(f"{key} has {reading.counted(value, 'value')}, {what} {length}")
        return tuple(self.number(v, f"{key}[{j}]") for j, v in enumerate(value))

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
