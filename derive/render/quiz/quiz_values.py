"""What every quiz export shows of a variant, written once: the given values (inputs, targets, every
weight and bias, the learning rate) as (name, number) rows, and numbers as plain decimals. The Moodle
quiz (`moodle`) and the Canvas package (`canvas`) both print these rows, so their numbers agree with
each other and with the variant's spec."""

from __future__ import annotations

from decimal import Decimal

from derive.model import quantities as Q
from derive.model.decimals import exact_decimal, fmt
from derive.model.network import Network


def fixed(value: Decimal) -> str:
    """A decimal written out in full (no exponent): quizzes read plain decimals."""
    return f"{value:f}"


def value_text(v) -> str:
    """A given value: exact when it is a decimal (0.15), else to 12 significant digits."""
    return exact_decimal(v, 40) or fmt(v, 12)


def given_rows(spec, network: Network | None = None) -> list[tuple[str, str]]:
    """Each sample's inputs and targets (tagged with the sample when there are several), every weight
    and bias, and the learning rate."""
    network = network or Network(spec)
    rows = []
    for s, sample in enumerate(spec.samples):
        tag = f" (sample {s + 1})" if len(spec.samples) > 1 else ""
        rows += [(f"{Q.out(i)}{tag}", value_text(v)) for i, v in zip(network.inputs, sample.inputs, strict=True)]
        rows += [(f"{Q.target(o)}{tag}", value_text(v)) for o, v in zip(network.outputs, sample.targets, strict=True)]
    rows += [(p.name, value_text(p.value)) for p in network.parameters]
    rows.append(("learning rate eta", value_text(spec.learning_rate)))
    return rows
