"""The gradients table, built as rows (data) first, then printed as text or JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass

from derive.model import naming
from derive.derivation.evaluate import Evaluation
from derive.model.decimals import fmt


@dataclass(frozen=True)
class Row:
    section: str
    quantity: str
    value: object  # high-precision value


def rows(evaluation: Evaluation) -> list[Row]:
    """Every net and out, error term, E_total, delta, gradient and one-step parameter, in that order."""
    derivation = evaluation.derivation
    network = derivation.network
    several = len(evaluation.samples) > 1
    out = []
    for s, values in enumerate(evaluation.samples):
        label = lambda q: naming.per_sample(q, s + 1) if several else q
        suffix = f" (sample {s + 1})" if several else ""
        for step in derivation.steps:
            if step.phase == "forward" and step.quantity != naming.LOGSUMEXP:
                out.append(Row(f"forward pass{suffix}", label(step.quantity), values[step.quantity]))
        for step in derivation.steps:
            if step.phase == "error":
                out.append(Row(f"error{suffix}", label(step.quantity), values[step.quantity]))
        for n in [n for layer in reversed(network.layers[1:]) for n in layer]:
            out.append(Row(f"backward pass: deltas{suffix}", label(naming.delta(n)), values[naming.delta(n)]))
    totals = evaluation.totals
    reduction = f" ({network.spec.reduction} over {len(evaluation.samples)} samples)" if several else ""
    if several:
        out.append(Row(f"total error{reduction}", naming.TOTAL, totals[naming.TOTAL]))
    for p in network.parameters:
        g = naming.partial(naming.TOTAL, p.name)
        out.append(Row(f"gradients{reduction}", g, totals[g]))
    rate = fmt(network.spec.learning_rate, 9).rstrip("0").rstrip(".")
    for p in network.parameters:
        out.append(Row(f"after one step (learning rate {rate})", naming.updated(p.name), totals[naming.updated(p.name)]))
    return out


def text(evaluation: Evaluation, digits: int) -> str:
    spec = evaluation.derivation.network.spec
    table = rows(evaluation)
    width = max(len(r.quantity) for r in table) + 2
    lines = [
        f"{spec.name}: {spec.title}",
        (
            f"layers {'-'.join(map(str, spec.layers))}, activation {', '.join(spec.activations)}, "
            f"loss {spec.loss}, bias {spec.bias}; values to {digits} significant digits"
        ),
    ]
    section = None
    for r in table:
        if r.section != section:
            section = r.section
            lines += ["", section]
        lines.append(f"  {r.quantity:<{width}}{fmt(r.value, digits)}")
    return "\n".join(lines) + "\n"


def as_json(evaluation: Evaluation, digits: int) -> str:
    spec = evaluation.derivation.network.spec
    return json.dumps(
        {
            "network": spec.name,
            "title": spec.title,
            "digits": digits,
            "quantities": [
                {"section": r.section, "quantity": r.quantity, "value": float(r.value), "text": fmt(r.value, digits)}
                for r in rows(evaluation)
            ],
        },
        indent=2,
    ) + "\n"
