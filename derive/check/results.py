"""What `derive check` finds, as typed data: the table of routes (`Checks`), the audit of published
numbers (`derive.check.audit.Finding`), the verdicts on claims (`Claimed`), all in one `CheckResult`.

They hold values, not text: printing them is the renderers' (`derive.render.check_text` as text,
`derive.render.web.html_tables` on the page, `derive.render.tex.latex` for a claim's derivation); ``as_dict``
is the ``--json`` form, whose strings are printed by those same renderers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from derive.check import routes
from derive.check.audit import Finding
from derive.model import quantities as Q
from derive.model.decimals import fmt
from derive.render.check_text import derivation_lines
from derive.render.tex.latex import quantity_block


@dataclass(frozen=True)
class Checks:
    """Every gradient by the independent routes (`derive.check.routes.run`), with what the table says
    around it: the network's size, where a derivative is a convention (``kinks``)."""

    report: routes.Report
    parameters: int
    samples: int  # the passes of the step (a batch is one)
    kinks: list[str]
    digits: int
    described: str  # the samples as every output says them ("3 samples, one batch"; `layers.samples`)

    @property
    def rows(self) -> list[routes.Row]:
        return self.report.rows

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def checked(self) -> int:
        return self.report.checked

    @property
    def skipped(self) -> dict[str, str]:
        return self.report.skipped

    def as_dict(self) -> dict:
        digits = self.digits
        return {
            "passed": self.passed,
            "unresolved": len(self.report.unresolved),  # gradients float64 cannot resolve in the generated code
            "parameters_checked": self.checked,
            "parameters": self.parameters,
            "samples": self.samples,  # the passes of the step, as the rows' "sample" counts them
            "described": self.described,  # the samples in every output's words ("3 samples, one batch")
            "skipped": self.skipped,
            "kinks": self.kinks,  # where the derivative is a convention
            "tolerances": {
                route: {"atol_per_scale": str(a), "rtol": str(r)} for route, (a, r) in routes.TOLERANCE.items()
            },
            "rows": [
                {
                    "parameter": r.parameter,
                    "sample": r.sample + 1,
                    "chain_rule": fmt(r.chain, digits),
                    "routes": {k: fmt(v, digits) for k, v in r.routes.items()},
                    "worst_ratio_to_tolerance": float(r.worst),
                    "passed": r.passed,
                    "failed_routes": r.failures,
                    "inapplicable_routes": r.inapplicable,  # route -> why (a kink), instead of a value
                    "unresolved": r.unresolved or None,  # why float64 cannot resolve it in the generated code
                }
                for r in self.rows
            ],
        }


@dataclass(frozen=True)
class Derived:
    """How a claimed quantity is derived: its ``explanation`` (`derive.derivation.explain`), or None
    when it has no named step: after ``training`` steps, or a partial derivative taken by SymPy whose
    value is ``partial``."""

    quantity: Q.Quantity
    network: object = field(repr=False, compare=False)
    explanation: object = None
    training: str = ""  # the spec's training settings, described
    partial: object = None


@dataclass(frozen=True)
class Claimed:
    """A learner's number: the audit's finding (correct value, the slips that reproduce it) and how
    the quantity is derived."""

    finding: Finding
    derived: Derived

    def as_dict(self, digits: int) -> dict:
        entry = self.finding.as_dict(digits)
        entry["derivation"] = derivation_lines(self.derived, digits)
        explanation = self.derived.explanation  # a quantity with no step-by-step block: None
        entry["derivation_latex"] = (None if explanation is None
                                     else quantity_block(self.derived.network, explanation, digits))
        return entry


@dataclass(frozen=True)
class CheckResult:
    """All of one `derive check`: ``checks`` (None when not run), the audit, the claims."""

    network: str
    source: str  # the spec's file, as the audit's heading names it
    digits: int
    checks: Checks | None
    published: list[Finding]
    published_notes: list[str]
    claims: list[Claimed]

    @property
    def passed(self) -> bool:
        """No gradient fails a route and every claim agrees."""
        return (self.checks is None or self.checks.passed) and all(c.finding.agrees for c in self.claims)

    def exit_status(self, strict: bool) -> int:
        """1 when a check fails or a claim is wrong (with ``strict``, a published number too), else 0."""
        failed = not self.passed or (strict and any(not f.agrees for f in self.published))
        return 1 if failed else 0

    def as_dict(self) -> dict:
        result: dict = {"network": self.network, "digits": self.digits}
        if self.checks is not None:
            result["checks"] = self.checks.as_dict()
        result["published"] = [f.as_dict(self.digits) for f in self.published]
        result["published_notes"] = list(self.published_notes)
        result["claims"] = [c.as_dict(self.digits) for c in self.claims]
        return result

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2) + "\n"
