"""Initial values drawn reproducibly from a spec's ``seed``, for the weights and biases it leaves out."""

from __future__ import annotations

import math
import random

import sympy as sp

from derive.model.modes import BiasMode


def value(rng: random.Random, fan_in: int) -> sp.Rational:
    """A reproducible initial value, uniform in ±1/sqrt(fan_in), as an exact 4-decimal number."""
    bound = 1 / math.sqrt(fan_in)
    return sp.Rational(round(rng.uniform(-bound, bound) * 10_000), 10_000)


def weights(rng, layers):
    return tuple(
        tuple(tuple(value(rng, layers[k]) for _ in range(layers[k])) for _ in range(layers[k + 1]))
        for k in range(len(layers) - 1)
    )


def biases(rng, layers, mode):
    return tuple(
        tuple(value(rng, layers[k]) for _ in range(1 if mode == BiasMode.SHARED else layers[k + 1]))
        for k in range(len(layers) - 1)
    )
