"""`derive check`: the symbolic-numeric table, the audit of published numbers and the learner's
claims, computed as typed data (`derive.check.results`); the renderers print it
(`derive.render.check_text`, the page), ``as_dict`` is its ``--json``."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from derive import workers
from derive.check import routes
from derive.check.audit import agrees, parse_claim
from derive.check.resolve import Resolver
from derive.check.results import CheckResult, Checks, Claimed, Derived
from derive.derivation import domain
from derive.model import layers
from derive.model import quantities as Q
from derive.model.reading import ReadError, read_regular
from derive.render.check_text import as_text, claim_text


def derived(model, q: Q.Quantity) -> Derived:
    """How a quantity is derived, as data: its explanation, or (with no named step) the training it
    comes from, or its value as a partial derivative through the forward pass taken by SymPy."""
    try:
        explanation = model.explainer.explain(q)
    except Q.QuantityError:  # after training, or a partial derivative through the forward pass
        explanation = None
    partial = None
    if explanation is None and q.after is None:
        partial = Resolver(model).value(q)
    return Derived(q, model.network, explanation, model.spec.training.describe(), partial)


@dataclass(frozen=True)
class Verdict:
    """The answer to one claim, as `derive check --claim` prints it (``str()``), and as data: ``agrees``,
    ``correct`` (printed to the digits asked), the slips that reproduce the number, and ``as_dict()``
    (the claim's entry of ``--json``)."""

    claim: Claimed
    digits: int = 9

    @property
    def entry(self) -> dict:
        return self.claim.as_dict(self.digits)

    @property
    def agrees(self) -> bool:
        return self.claim.finding.agrees

    @property
    def correct(self) -> str:
        return self.entry["correct"]

    @property
    def slips(self) -> list[str]:
        return [m.description for m in self.claim.finding.mistakes if m.reproduces]

    def as_dict(self) -> dict:
        return self.entry

    def __str__(self) -> str:
        return "\n".join(claim_text(self.claim, self.digits))


def claim(model, quantity, value, digits: int = 9) -> Verdict:
    """The verdict on ``quantity = value``: a float (by its shortest form: 0.0822 is 0.0822), a string
    or a Decimal, read as `derive check --claim` reads its text, with the same messages."""
    q, number = parse_claim(f"{quantity}={value}", model)
    return Verdict(build(model, [(q, number)], digits, with_checks=False).claims[0], digits)


def checks(model, digits: int, progress=None, routed: routes.Report | None = None) -> Checks:
    """Every gradient by the independent routes (`derive.check.routes.run`, unless ``routed`` is its
    result, computed beside)."""
    report = routes.run(model, progress) if routed is None else routed
    return Checks(report, len(model.parameters), len(model.spec.samples),
                  domain.kinks(model.derivation, model.evaluation), digits, layers.samples(model.spec))


def beside(model, digits: int) -> workers.Pending:
    """`build`'s result without claims, its routes computed from now on in a forked child while this
    process goes on (the page of a large network is printed meanwhile): ``result()`` waits for it."""
    return _Beside(model, digits)


class _Beside(workers.Pending):
    def __init__(self, model, digits: int):
        super().__init__(routes.run, model)
        self.model, self.digits = model, digits

    def result(self) -> CheckResult:
        model = self.model
        return build(model, [], self.digits, routed=routes.adopted(model, super().result()))


def build(
    model, claims: list[tuple[Q.Quantity, Decimal]], digits: int, with_checks: bool = True, progress=None,
    routed: routes.Report | None = None,
) -> CheckResult:
    """The check of a model: its routes (unless not ``with_checks``; ``routed``: their result, computed
    beside), its audit, the ``claims``."""
    table = checks(model, digits, progress, routed) if with_checks else None
    if progress and model.spec.published:
        progress.stage(f"auditing {len(model.spec.published)} published numbers")
    findings = model.published_findings
    notes = model.published_notes(digits) if model.spec.published else []
    claimed = [Claimed(model.auditor.examine(quantity, value, nearest=3, pairs=True), derived(model, quantity))
               for quantity, value in claims]
    return CheckResult(model.spec.name, model.spec.source, digits, table, list(findings), notes, claimed)


def exit_status(result: CheckResult, strict: bool) -> int:
    return result.exit_status(strict)


def as_json(result: CheckResult) -> str:
    return result.as_json()


def read_claims(path: str) -> list[str]:
    """A claims file: one ``quantity = value`` a line; blank lines and # comments ignored."""
    try:
        text = read_regular(path).decode()
    except UnicodeDecodeError:
        raise ReadError("cannot read: not UTF-8 text") from None
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]


__all__ = ["CheckResult", "Verdict", "agrees", "as_json", "as_text", "build", "checks", "claim", "derived",
           "exit_status", "read_claims"]
