"""The spec's named modes and derive's other kinds, each a string enum with the one description every
output prints.

A `Described` member is a ``str`` (``BiasMode.SHARED == "shared"``, ``f"{mode}"`` is ``shared``, and
JSON writes it as the string), so the spec's text, the generated code and every ``--json`` stay as
they were; what it adds is its ``description``, written here once."""

from __future__ import annotations

from enum import StrEnum


class Described(StrEnum):
    """A string enum whose members are written ``NAME = "value", "description"``."""

    description: str

    def __new__(cls, value: str, description: str = ""):
        member = str.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member


class BiasMode(Described):
    """bias = "...": how a layer's neurons get their biases."""

    SHARED = "shared", "one bias per layer, shared by its neurons"
    PER_NEURON = "per_neuron", "one bias per neuron"
    NONE = "none", "no biases"
