"""`derive check`'s result as text for a terminal: the table of every gradient by the independent
routes, the audit of published numbers and the verdicts on claims, printed from the typed result
(`derive.check.results.CheckResult`, read by its attributes: this layer imports nothing of `check`)."""

from __future__ import annotations

import textwrap
from decimal import Decimal

from derive.escape import text_line
from derive.model import quantities as Q
from derive.model.decimals import digits_shown, fmt, plain
from derive.render.text import explanation_lines

MAX_LISTED = 4  # reproducing slips listed for one claim in text
ROUTE_NAMES = {
    "sympy_diff": "sympy.diff",
    "fd_float64": "FD float64",
    "fd_mpmath": "FD 50 digits",
    "generated": "generated",
}
UNRESOLVED = ("unresolved: the generated gradient is within its float64 error bound, but the bound passes 10% of "
              "the exact value: float64 cannot resolve it with these steps (1 - out where out rounds to 1, or terms "
              "that cancel)")
TOLERANCE = (
    "  tolerance: |route - chain rule| <= atol + rtol*|chain rule|: sympy.diff 1e-30; FD 50 digits 1e-25; "
    "FD float64 (h = 1e-6) atol 1e-8, rtol 1e-5 (atol times the largest gradient); generated rtol 1e-9 "
    "plus twice its float64 error bound there (from the magnitudes of the terms each step sums); each FD "
    "also allows its difference quotient's own rounding and truncation error (scaled by |E_total| and |p|)"
)


def mistake_value(mistake, digits: int) -> str:
    """A slip's number: as written when it is a learner's or a published one (a Decimal), else to
    ``digits`` significant digits."""
    return str(mistake.value) if isinstance(mistake.value, Decimal) else fmt(mistake.value, digits)


def derivation_lines(derived, digits: int) -> list[str]:
    """How a claimed quantity is derived (`derive.check.results.Derived`), in plain text: names,
    numbers, value; or where it comes from when it has no named step."""
    q = derived.quantity
    training = [f"{q} comes from {q.after} steps of training, {derived.training} (derive train --steps {q.after})."]
    if q.after is not None and not (q.is_parameter or q.kind == Q.STATE):
        return training
    if derived.explanation is not None:
        return explanation_lines(derived.network, derived.explanation, digits)
    if q.after is not None:
        return training
    if q.is_given:
        return [f"{q} is a value the spec gives: {plain(derived.partial, digits)}"]
    return [f"{q} is a partial derivative through the forward pass, taken by SymPy: {plain(derived.partial, digits)}"]


def as_text(result, verbose: bool = True) -> str:
    """The report. With claims, their answers come first; the table of routes and the audit follow
    in full only when ``verbose``, else as one line each."""
    claims = [line for claim in result.claims for line in ["", *claim_text(claim, result.digits)]]
    if claims and not verbose:
        return "\n".join([*claims[1:], "", *_summary(result)]) + "\n"
    lines = [*claims[1:], ""] if claims else []
    if result.checks is not None:
        lines += _checks(result.checks, result.network)
    if result.published:
        lines += _published(result)
    return "\n".join(lines).lstrip("\n") + "\n"


def _checks(c, network: str) -> list[str]:
    digits, several = c.digits, c.samples > 1
    lines = [f"{network}: every gradient by five routes, {c.checked} parameters "
             f"x {c.described}"]
    routes = [r for r in ROUTE_NAMES if any(r in row.routes or r in row.inapplicable for row in c.rows)]
    width = max(len("parameter"), *(len(row.parameter) + (4 if several else 0) for row in c.rows)) + 2
    chains = {id(row): fmt(row.chain, digits) for row in c.rows}
    value_width = max(20, *(len(chain) + 2 for chain in chains.values()))
    lines.append(f"  {'parameter':<{width}}{'chain rule':<{value_width}}"
                 + "".join(f"{ROUTE_NAMES[r]:<14}" for r in routes) + "worst/tol  result")
    for row in c.rows:
        marks = "".join(f"{_mark(row, r):<14}" for r in routes)
        lines.append(f"  {_name(row, c):<{width}}{chains[id(row)]:<{value_width}}{marks}{float(row.worst):<11.2g}"
                     f"{_result(row)}")
    for why in [*c.skipped.values(), *c.kinks]:
        lines.append(f"  note: {text_line(why)}")
    lines.append(TOLERANCE)
    whys = {why for row in c.rows for why in row.inapplicable.values()}
    if any("kink" in why for why in whys):
        lines.append("  kink: the derivative there is derive's stated convention (see the note); finite "
                     "differences average both sides and do not apply")
    if any("kink" not in why for why in whys):
        lines.append("  too coarse: float64 cannot resolve the difference quotient there (its own error estimate "
                     "passes 10% of it); the 50-digit differences do")
    unresolved = [_name(row, c) for row in c.rows if row.passed and row.unresolved]
    if unresolved:
        lines.append(f"  {UNRESOLVED}")
    failed = [row for row in c.rows if not row.passed]
    lines.append(
        "  all gradients agree by every route."
        if not failed and not unresolved
        else f"  {len(failed)} gradient(s) FAIL: {', '.join(r.parameter for r in failed)}."
        if failed
        else f"  every route agrees, but the generated code's float64 cannot resolve {len(unresolved)} "
        f"gradient(s): {', '.join(unresolved)} (unresolved, not passed)."
    )
    return lines


def _published(result) -> list[str]:
    published, digits = result.published, result.digits
    disagree = [f for f in published if not f.agrees]
    lines = ["", f"Published numbers ({text_line(result.source)}): {len(published)}, "
             f"{len(published) - len(disagree)} agree to the digits shown, {len(disagree)} disagree"]
    width = max(len(str(f.quantity)) for f in published) + 2
    for f in published:
        verdict = "agrees" if f.agrees else "DISAGREES"
        lines.append(f"  {f.quantity!s:<{width}}{f.printed!s:<16}correct {fmt(f.correct, digits):<18}{verdict}")
        if not f.agrees:
            lines += ["      " + line for line in _explanation(f, digits)]
    for note in result.published_notes:
        lines += ["", *textwrap.wrap(note, 110, initial_indent="  ", subsequent_indent="  ")]
    return lines


def _result(row) -> str:
    if not row.passed:
        return "FAIL: " + ", ".join(ROUTE_NAMES[f] for f in row.failures)
    return "unresolved" if row.unresolved else "pass"


def _name(row, checks) -> str:
    return row.parameter + (f"[{row.sample + 1}]" if checks.samples > 1 else "")


def _mark(row, route: str) -> str:
    why = row.inapplicable.get(route)
    if why:
        return "kink" if "kink" in why else "too coarse"
    if route not in row.routes:
        return "-"
    if route == "generated" and row.unresolved and row.passed:
        return "unresolved"
    return "FAIL" if route in row.failures else "ok"


def _summary(result) -> list[str]:
    """The checks and the audit in one line each (the whole report: --verbose)."""
    lines = []
    if result.checks is not None:
        c = result.checks
        failed = [r.parameter for r in c.rows if not r.passed]
        unresolved = [_name(r, c) for r in c.rows if r.passed and r.unresolved]
        verdict = "every gradient agrees by every route" if not failed else "FAILED for " + ", ".join(failed)
        if unresolved and not failed:
            verdict += f"; the generated code's float64 cannot resolve {', '.join(unresolved)}"
        lines.append(f"Checks: {verdict} ({c.checked} of {c.parameters} parameters).")
    if result.published:
        wrong = sum(not f.agrees for f in result.published)
        lines.append(f"Published numbers: {len(result.published)}, {wrong} disagree.")
    return [*lines, "(The full report: derive check --verbose.)"]


def _explanation(finding, digits: int) -> list[str]:
    reproducing = [m for m in finding.mistakes if m.reproduces]
    if reproducing:
        return [f"reproduced by {m.description} (gives {mistake_value(m, digits)})" for m in reproducing]
    if finding.unsearched:
        return [finding.unsearched]
    return ["no variant of the computation or usual slip reproduces it"]


def claim_text(claim, digits: int) -> list[str]:
    """The verdict on a claim (`derive.check.results.Claimed`), then what reproduces a wrong number,
    then how the number is derived."""
    f = claim.finding
    head = f"Your {f.quantity} = {f.printed}"
    if f.quantity.is_given:  # nothing derives it: the spec's own number, written as the spec writes it
        given = f"{f.quantity} is a value the spec gives ({plain(f.correct, digits)}), not one derive computes"
        if f.agrees:
            return [f"{head}: correct. {given}; your number agrees with it to the {digits_shown(f.printed)} you gave."]
        return [f"{head}: not correct. {given}; your number disagrees with it.",
                *("  " + line for line in diagnosis_lines(f, digits)), *([f"  ({f.unsearched}.)"] * bool(f.unsearched))]
    if f.agrees:
        return [f"{head}: correct. It agrees with {fmt(f.correct, digits)} to the {digits_shown(f.printed)} you gave."]
    lines = [f"{head}: not correct. The correct value is {fmt(f.correct, digits)}."]
    lines += ["  " + line for line in diagnosis_lines(f, digits)]
    if f.unsearched:
        lines.append(f"  ({f.unsearched}.)")
    lines.append("  How it is derived:")
    lines += ["    " + line for line in derivation_lines(claim.derived, digits)]
    return lines


def diagnosis_lines(finding, digits: int) -> list[str]:
    """What reproduces a wrong number: "exactly" only when one slip alone fits the digits given;
    several are listed, the simplest first; else the closest."""
    given = digits_shown(finding.printed)
    reproducing = [m for m in finding.mistakes if m.reproduces]
    two = " together" if reproducing and "+" in reproducing[0].key else ""
    if len(reproducing) == 1:
        m = reproducing[0]
        slips = "these two slips" if two else "this slip"
        return [f"Your number is exactly what {slips}{two} give{'s' * (not two)}: {m.description} "
                f"({mistake_value(m, digits)})."]
    if reproducing:
        significant = len(finding.printed.normalize().as_tuple().digits)
        lines = [
            f"{len(reproducing)} {'pairs of slips' if two else 'slips'} give your number to the {given} you gave"
            + (" (with few digits many fit: give more digits to tell them apart)" if significant <= 4 else "")
            + "; the simplest first:"
        ]
        lines += [f"  - {m.description} (gives {mistake_value(m, digits)})" for m in reproducing[:MAX_LISTED]]
        if len(reproducing) > MAX_LISTED:
            lines.append(f"  - and {len(reproducing) - MAX_LISTED} more (see --json)")
        return lines
    if finding.mistakes:
        return ["No usual slip, nor two together, gives exactly your number; the closest are:"] + [
            f"  - {m.description}: gives {mistake_value(m, digits)}, {fmt(m.difference(finding.printed), 3)} "
            "away from yours" for m in finding.mistakes]
    return ["No usual slip explains it; check the arithmetic of each line below."]
