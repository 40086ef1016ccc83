"""`derive check`: the symbolic-numeric table, the audit of published numbers and the learner's
claims, built as data (dicts) first, then printed as text or JSON."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from decimal import Decimal

from derive.check import routes
from derive.check.audit import agrees, digits_shown, parse_claim
from derive.check.resolve import Resolver
from derive.derivation import domain
from derive.escape import text_line
from derive.model import quantities as Q
from derive.model.decimals import fmt, plain
from derive.model.reading import ReadError, read_regular
from derive.render.latex import quantity_block
from derive.render.text import explanation_lines

MAX_LISTED = 4  # reproducing slips listed for one claim in text
ROUTE_NAMES = {
    "sympy_diff": "sympy.diff",
    "fd_float64": "FD float64",
    "fd_mpmath": "FD 50 digits",
    "generated": "generated",
}


def text_derivation(model, q: Q.Quantity, digits: int) -> list[str]:
    """How a quantity is derived, in plain text for a terminal: names, numbers, value."""
    if q.after is not None and not (q.is_parameter or q.kind == Q.STATE):
        return [f"{q} comes from {q.after} steps of training, {model.spec.training.describe()} "
                f"(derive train --steps {q.after})."]
    try:
        return explanation_lines(model.network, model.explain(q), digits)
    except Q.QuantityError:  # a partial derivative through the forward pass, with no named step
        if q.after is not None:
            return [f"{q} comes from {q.after} steps of training, {model.spec.training.describe()} "
                    f"(derive train --steps {q.after})."]
        return [
            f"{q} is a partial derivative through the forward pass, taken by SymPy: "
            f"{plain(Resolver(model).value(q), digits)}"
        ]


@dataclass(frozen=True)
class Verdict:
    """The answer to one claim, as `derive check --claim` prints it (``str()``), and as data: ``agrees``,
    ``correct`` (printed to the digits asked), the slips that reproduce the number, and ``as_dict()``
    (the claim's entry of ``--json``)."""

    entry: dict

    @property
    def agrees(self) -> bool:
        return self.entry["agrees"]

    @property
    def correct(self) -> str:
        return self.entry["correct"]

    @property
    def slips(self) -> list[str]:
        return [m["description"] for m in self.entry["mistakes"] if m["reproduces"]]

    def as_dict(self) -> dict:
        return dict(self.entry)

    def __str__(self) -> str:
        return "\n".join(_claim_text(self.entry))


def claim(model, quantity, value, digits: int = 9) -> Verdict:
    """The verdict on ``quantity = value``: a float (by its shortest form: 0.0822 is 0.0822), a string
    or a Decimal, read as `derive check --claim` reads its text, with the same messages."""
    q, number = parse_claim(f"{quantity}={value}", model)
    return Verdict(build(model, [(q, number)], digits, with_checks=False)["claims"][0])


def build(
    model, claims: list[tuple[Q.Quantity, Decimal]], digits: int, with_checks: bool = True, progress=None
) -> dict:
    result = {"network": model.spec.name, "digits": digits}
    if with_checks:
        report = routes.run(model, progress)
        result["checks"] = {
            "passed": report.passed,
            "unresolved": len(report.unresolved),  # gradients float64 cannot resolve in the generated code
            "parameters_checked": report.checked,
            "parameters": len(model.parameters),
            "samples": len(model.spec.samples),
            "skipped": report.skipped,
            "kinks": domain.kinks(model.derivation, model.evaluation),  # where the derivative is a convention
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
                for r in report.rows
            ],
        }
    if progress and model.spec.published:
        progress.stage(f"auditing {len(model.spec.published)} published numbers")
    result["published"] = [f.as_dict(digits) for f in model.published_findings]
    result["published_notes"] = model.published_notes(digits) if model.spec.published else []
    result["claims"] = []
    for quantity, value in claims:
        finding = model.auditor.examine(quantity, value, nearest=3, pairs=True)
        entry = finding.as_dict(digits)
        entry["derivation"] = text_derivation(model, quantity, digits)
        try:
            entry["derivation_latex"] = quantity_block(model, quantity, digits)
        except Q.QuantityError:  # a quantity with no step-by-step block (after training, a generic partial)
            entry["derivation_latex"] = None
        result["claims"].append(entry)
    return result


def exit_status(result: dict, strict: bool) -> int:
    failed = ("checks" in result and not result["checks"]["passed"]) or any(not c["agrees"] for c in result["claims"])
    if strict and any(not p["agrees"] for p in result["published"]):
        failed = True
    return 1 if failed else 0


def as_json(result: dict) -> str:
    return json.dumps(result, indent=2) + "\n"


def as_text(result: dict, model, verbose: bool = True) -> str:
    """The report. With claims, their answers come first; the table of routes and the audit follow
    in full only when ``verbose``, else as one line each."""
    claims = [line for claim in result["claims"] for line in ["", *_claim_text(claim)]]
    if claims and not verbose:
        return "\n".join([*claims[1:], "", *_summary(result)]) + "\n"
    lines = [*claims[1:], ""] if claims else []
    if "checks" in result:
        c = result["checks"]
        lines.append(f"{result['network']}: every gradient by five routes, {c['parameters_checked']} parameters "
                     f"x {c['samples']} sample{'s' if c['samples'] > 1 else ''}")
        routes = [r for r in ROUTE_NAMES if any(r in row["routes"] or r in row.get("inapplicable_routes", {})
                                                for row in c["rows"])]
        width = (
            max(len("parameter"), *(len(row["parameter"]) + (4 if c["samples"] > 1 else 0) for row in c["rows"])) + 2
        )
        value_width = max(20, *(len(row["chain_rule"]) + 2 for row in c["rows"]))
        header = (
            f"  {'parameter':<{width}}{'chain rule':<{value_width}}"
            + "".join(f"{ROUTE_NAMES[r]:<14}" for r in routes)
            + "worst/tol  result"
        )
        lines.append(header)
        for row in c["rows"]:
            name = row["parameter"] + (f"[{row['sample']}]" if c["samples"] > 1 else "")
            marks = "".join(f"{_mark(row, r):<14}" for r in routes)
            lines.append(
                f"  {name:<{width}}{row['chain_rule']:<{value_width}}{marks}{row['worst_ratio_to_tolerance']:<11.2g}"
                f"{_result(row)}"
            )
        for why in [*c["skipped"].values(), *c.get("kinks", [])]:
            lines.append(f"  note: {text_line(why)}")
        lines.append(
            "  tolerance: |route - chain rule| <= atol + rtol*|chain rule|: sympy.diff 1e-30; FD 50 digits 1e-25; "
            "FD float64 (h = 1e-6) atol 1e-8, rtol 1e-5 (atol times the largest gradient); generated rtol 1e-9 "
            "plus twice its float64 error bound there (from the magnitudes of the terms each step sums); each FD "
            "also allows its difference quotient's own rounding and truncation error (scaled by |E_total| and |p|)"
        )
        whys = {why for row in c["rows"] for why in row.get("inapplicable_routes", {}).values()}
        if any("kink" in why for why in whys):
            lines.append("  kink: the derivative there is derive's stated convention (see the note); finite "
                         "differences average both sides and do not apply")
        if any("kink" not in why for why in whys):
            lines.append("  too coarse: float64 cannot resolve the difference quotient there (its own error estimate "
                         "passes 10% of it); the 50-digit differences do")
        unresolved = [_name(row, c) for row in c["rows"] if row["passed"] and row.get("unresolved")]
        if unresolved:
            lines.append(f"  {UNRESOLVED}")
        failed = [row for row in c["rows"] if not row["passed"]]
        lines.append(
            "  all gradients agree by every route."
            if not failed and not unresolved
            else f"  {len(failed)} gradient(s) FAIL: {', '.join(r['parameter'] for r in failed)}."
            if failed
            else f"  every route agrees, but the generated code's float64 cannot resolve {len(unresolved)} "
            f"gradient(s): {', '.join(unresolved)} (unresolved, not passed)."
        )
    if result["published"]:
        disagree = [p for p in result["published"] if not p["agrees"]]
        lines += ["", f"Published numbers ({text_line(model.spec.source)}): {len(result['published'])}, "
                  f"{len(result['published']) - len(disagree)} agree to the digits shown, {len(disagree)} disagree"]
        width = max(len(p["quantity"]) for p in result["published"]) + 2
        for p in result["published"]:
            verdict = "agrees" if p["agrees"] else "DISAGREES"
            lines.append(f"  {p['quantity']:<{width}}{p['value']:<16}correct {p['correct']:<18}{verdict}")
            if not p["agrees"]:
                lines += ["      " + line for line in _explanation(p)]
        for note in result.get("published_notes", []):
            lines += ["", *textwrap.wrap(note, 110, initial_indent="  ", subsequent_indent="  ")]
    return "\n".join(lines).lstrip("\n") + "\n"


UNRESOLVED = ("unresolved: the generated gradient is within its float64 error bound, but the bound passes 10% of "
              "the exact value: float64 cannot resolve it with these steps (1 - out where out rounds to 1, or terms "
              "that cancel)")


def _result(row: dict) -> str:
    if not row["passed"]:
        return "FAIL: " + ", ".join(ROUTE_NAMES[f] for f in row["failed_routes"])
    return "unresolved" if row.get("unresolved") else "pass"


def _name(row: dict, checks: dict) -> str:
    return row["parameter"] + (f"[{row['sample']}]" if checks["samples"] > 1 else "")


def _mark(row: dict, route: str) -> str:
    why = row.get("inapplicable_routes", {}).get(route)
    if why:
        return "kink" if "kink" in why else "too coarse"
    if route not in row["routes"]:
        return "-"
    if route == "generated" and row.get("unresolved") and row["passed"]:
        return "unresolved"
    return "FAIL" if route in row["failed_routes"] else "ok"


def _summary(result: dict) -> list[str]:
    """The checks and the audit in one line each (the whole report: --verbose)."""
    lines = []
    if "checks" in result:
        c = result["checks"]
        failed = [r["parameter"] for r in c["rows"] if not r["passed"]]
        unresolved = [_name(r, c) for r in c["rows"] if r["passed"] and r.get("unresolved")]
        verdict = "every gradient agrees by every route" if not failed else "FAILED for " + ", ".join(failed)
        if unresolved and not failed:
            verdict += f"; the generated code's float64 cannot resolve {', '.join(unresolved)}"
        lines.append(f"Checks: {verdict} ({c['parameters_checked']} of {c['parameters']} parameters).")
    if result["published"]:
        wrong = sum(not p["agrees"] for p in result["published"])
        lines.append(f"Published numbers: {len(result['published'])}, {wrong} disagree.")
    return [*lines, "(The full report: derive check --verbose.)"]


def _explanation(finding: dict) -> list[str]:
    reproducing = [m for m in finding["mistakes"] if m["reproduces"]]
    if reproducing:
        return [f"reproduced by {m['description']} (gives {m['value']})" for m in reproducing]
    if finding.get("unsearched"):
        return [finding["unsearched"]]
    return ["no variant of the computation or usual slip reproduces it"]


def _claim_text(claim: dict) -> list[str]:
    """The verdict, then what reproduces a wrong number, then how the number is derived."""
    given = digits_shown(Decimal(claim["value"]))
    head = f"Your {claim['quantity']} = {claim['value']}"
    if claim["agrees"]:
        return [f"{head}: correct. It agrees with {claim['correct']} to the {given} you gave."]
    lines = [f"{head}: not correct. The correct value is {claim['correct']}."]
    lines += ["  " + line for line in diagnosis_lines(claim["mistakes"], claim["value"])]
    if claim.get("unsearched"):
        lines.append(f"  ({claim['unsearched']}.)")
    lines.append("  How it is derived:")
    lines += ["    " + line for line in claim["derivation"]]
    return lines


def diagnosis_lines(mistakes: list[dict], value: str) -> list[str]:
    """What reproduces a wrong number: "exactly" only when one slip alone fits the digits given;
    several are listed, the simplest first; else the closest."""
    given = digits_shown(Decimal(value))
    reproducing = [m for m in mistakes if m["reproduces"]]
    two = " together" if reproducing and "+" in reproducing[0]["variant"] else ""
    if len(reproducing) == 1:
        m = reproducing[0]
        slips = "these two slips" if two else "this slip"
        return [f"Your number is exactly what {slips}{two} give{'s' * (not two)}: {m['description']} ({m['value']})."]
    if reproducing:
        significant = len(Decimal(value).normalize().as_tuple().digits)
        lines = [
            f"{len(reproducing)} {'pairs of slips' if two else 'slips'} give your number to the {given} you gave"
            + (" (with few digits many fit: give more digits to tell them apart)" if significant <= 4 else "")
            + "; the simplest first:"
        ]
        lines += [f"  - {m['description']} (gives {m['value']})" for m in reproducing[:MAX_LISTED]]
        if len(reproducing) > MAX_LISTED:
            lines.append(f"  - and {len(reproducing) - MAX_LISTED} more (see --json)")
        return lines
    if mistakes:
        return ["No usual slip, nor two together, gives exactly your number; the closest are:"] + [
            f"  - {m['description']}: gives {m['value']}, {m['difference']} away from yours" for m in mistakes]
    return ["No usual slip explains it; check the arithmetic of each line below."]


def read_claims(path: str) -> list[str]:
    """A claims file: one ``quantity = value`` a line; blank lines and # comments ignored."""
    try:
        text = read_regular(path).decode()
    except UnicodeDecodeError:
        raise ReadError("cannot read: not UTF-8 text") from None
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]


__all__ = ["Verdict", "agrees", "as_json", "as_text", "build", "claim", "exit_status", "read_claims", "text_derivation"]
