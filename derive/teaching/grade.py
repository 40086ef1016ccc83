"""Marking a learner's sheet as a teacher does: each number right, right from their own earlier
numbers (error carried forward), right under another textbook's convention, or wrong, with the
slip (or the two slips) that reproduces it.

A sheet is read by `derive.teaching.sheet` (``quantity = value`` lines, or a JSON object). A convention
is chosen for the whole sheet, not per number: the combination that explains the most of its
numbers, when it explains more than the network's own convention does; under it, a number right
only under another convention is a slip.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property

import mpmath

from derive.check.audit import Tried, agrees, confusion_key, confusions, digits_shown, rank, truncated
from derive.check.carried import CarriedForward, Program, fmt_decimal, read_rate, to_mp, within
from derive.check.pairs import compose, rounding_keys
from derive.check.variants import SKIP
from derive.derivation.evaluate import PRECISION
from derive.model import quantities as Q
from derive.model.decimals import fmt
from derive.model.optimizers import PLAIN
from derive.teaching.conventions import own_world, worlds
from derive.teaching.sheet import Answer
from derive.teaching.sheet import SheetError as SheetError  # the grader's callers import them from here
from derive.teaching.sheet import parse_sheet as parse_sheet
from derive.teaching.sheet import read_sheet as read_sheet

CORRECT, CARRIED, CONVENTION, WRONG = "correct", "carried_forward", "convention", "wrong"
RIGHT = (CORRECT, CARRIED, CONVENTION)
NEAREST = 3
#: A convention is a way of working, seen in several numbers: one number that only another
#: convention makes right is more likely a slip (its sign flipped) than a convention.
MIN_EXPLAINED = 2
#: A number right under the network's own convention on a sheet that follows another throughout.
OTHER_CONVENTION = ("own_convention", "written in the network's own convention, not in the sheet's (which every "
                    "other number follows)")


@dataclass
class Slip:
    key: str
    description: str
    value: object

    def as_dict(self) -> dict:
        value = str(self.value) if isinstance(self.value, Decimal) else fmt(self.value, 9)
        return {"slip": self.key, "description": self.description, "value": value}


@dataclass(eq=False)
class Mark:
    answer: Answer
    verdict: str
    correct: object
    diagnosis: str = ""
    slips: list[Slip] = field(default_factory=list)  # what reproduces a wrong number, simplest first
    exact: bool = False  # one slip alone fits the digits given
    cut: bool = False  # the time limit stopped the search for slips (or pairs of them) before all were tried

    def as_dict(self, digits: int = 9) -> dict:
        return {
            "quantity": str(self.answer.quantity),
            "given": str(self.answer.given),
            "line": self.answer.line,
            "verdict": self.verdict,
            "correct": fmt(self.correct, digits),
            "diagnosis": self.diagnosis,
            "slips": [s.as_dict() for s in self.slips],
            "search_cut": self.cut,  # the time limit stopped the search for slips before all were tried
        }


@dataclass
class Marking:
    marks: list[Mark]
    convention: str | None  # the sheet's convention, when another than the network's own

    @property
    def score(self) -> dict:
        counts = {v: sum(m.verdict == v for m in self.marks) for v in (*RIGHT, WRONG)}
        return {"right": sum(counts[v] for v in RIGHT), "of": len(self.marks), **counts}

    def as_dict(self, digits: int = 9) -> dict:
        """`derive grade --json`: each answer (its verdict, the correct value to ``digits``, the slips),
        the score and the sheet's convention."""
        return {"answers": [m.as_dict(digits) for m in self.marks], "score": self.score, "convention": self.convention}

    def as_json(self, digits: int = 9) -> str:
        return json.dumps(self.as_dict(digits), indent=2) + "\n"


# -- marking ------------------------------------------------------------------------------------------
class Marker:
    """Marks sheets against one model (its program and slips built once)."""

    def __init__(self, model):
        self.model = model
        self.program = Program(model)

    @cached_property
    def worlds(self):
        """Every combination of other conventions (built only for a sheet with a wrong number)."""
        return worlds(self.model)

    @cached_property
    def own_world(self):
        return own_world(self.model)

    def mark(self, answers: list[Answer], seconds: float | None = None) -> Marking:
        """The marks. ``seconds`` bounds the search for slips: every number is marked correct, carried
        forward, convention or wrong, then the single slips of each wrong number are tried, then
        pairs, number by number, until ``seconds`` after marking began; a number whose slips were not
        all tried says so (`Mark.cut`). Without it every pair is tried (minutes on a 3-4-2 network)."""
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.seconds = seconds
        program = self.program
        keys = {a: program.key(a.quantity) for a in answers}
        given = {k: a.given for a, k in keys.items() if k is not None}
        cf = CarriedForward(program, given)
        self._under: dict[str, CarriedForward] = {}  # slip key -> the sheet's numbers carried forward under it
        marks = []
        for a in answers:
            correct = self.model.value(a.quantity)
            key = keys[a]
            if agrees(correct, a.given):
                marks.append(Mark(a, CORRECT, correct))
            elif key is not None and cf.carries(key, a.given):
                marks.append(Mark(a, CARRIED, correct, "right from your own earlier numbers"))
            else:
                marks.append(Mark(a, WRONG, correct))
        convention = None
        if any(m.verdict == WRONG for m in marks):
            convention = self._convention(marks, keys)
        right = [c.answer for c in marks if c.verdict == CORRECT]
        wrong = [m for m in marks if m.verdict == WRONG and not m.slips]
        singles = {}
        for m in wrong:  # every wrong number's single slips, then pairs, while time allows
            if self._late():
                break
            singles[m] = self._singles(m, keys[m.answer], cf, right)
        for m in wrong:
            if m in singles:
                self._diagnose(m, keys[m.answer], cf, right, *singles[m])
            else:
                m.cut = True
                m.diagnosis = f"not searched for slips: the time limit ({self.seconds:g} s) came first"
        return Marking(marks, convention)

    def _convention(self, marks: list[Mark], keys: dict) -> str | None:
        """The combination of conventions that explains the most of the sheet (`World.explains`),
        when it explains more than the network's own does (the simplest such, on a tie). A convention
        is the whole sheet's: under it, a number it explains is marked CONVENTION (or correct, when it
        is the network's own value too), one it gives from the learner's other numbers is carried
        forward, and one right only under another convention is a slip."""
        keyed = [m for m in marks if keys[m.answer] is not None]
        answers = [(keys[m.answer], m.answer.quantity, m.answer.given) for m in keyed]
        own = self.own_world.explains(answers)
        best, best_right = None, own
        for world in self.worlds:
            right = world.explains(answers)
            if len(right) > len(best_right) and len(right.keys() - own.keys()) >= MIN_EXPLAINED:
                best, best_right = world, right
        if best is None:
            return None
        carried = best.carried(answers)
        for i, m in enumerate(keyed):
            if i in best_right:  # a number right under it directly is marked so, not "carried forward"
                how = best_right[i]
                if m.verdict == WRONG or (m.verdict == CARRIED and not how):
                    m.verdict = CONVENTION
                    m.diagnosis = f"right under the sheet's convention{how}: {best.name}"
            elif i in carried:
                if m.verdict != CARRIED:
                    m.verdict = CARRIED
                    m.diagnosis = "right from your own earlier numbers, under the sheet's convention"
            elif m.verdict != WRONG:
                m.verdict = WRONG
                m.slips = [Slip(OTHER_CONVENTION[0], OTHER_CONVENTION[1], m.answer.given)]
                m.exact = True
                m.diagnosis = f"exactly what this slip gives: {OTHER_CONVENTION[1]}"
        return best.name

    # -- what reproduces a wrong number ---------------------------------------------------------------
    def _late(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def _singles(self, mark: Mark, key, cf: CarriedForward, right: list[Answer]) -> tuple:
        """The single slips that reproduce a wrong number, and the audit's finding (its nearest slips)."""
        a = mark.answer
        slips = self._at_this_step(a, key, cf, pairs=False) if key is not None else []
        finding = self.model.auditor.examine(a.quantity, a.given, nearest=NEAREST)
        found = {s.key for s in slips}
        slips += [Slip(m.key, m.description, m.value) for m in finding.reproducing
                  if m.key not in found and self._consistent(m.key, right, a.given)]
        return slips, finding

    def _diagnose(self, mark: Mark, key, cf: CarriedForward, right: list[Answer], slips: list, finding) -> None:
        a = mark.answer
        if not slips and key is not None:
            slips = self._at_this_step(a, key, cf, pairs=True)
            mark.cut = slips.cut
        if not slips and not mark.cut:
            pairs = self.model.auditor.examine(a.quantity, a.given, nearest=NEAREST, pairs=True, deadline=self.deadline)
            mark.cut = pairs.cut
            slips = [Slip(m.key, m.description, m.value) for m in pairs.reproducing
                     if self._consistent(m.key, right, a.given)]
        own = rounding_keys(a.given)
        slips.sort(key=lambda s: rank(s.key.removeprefix("own_"), own, self.model.auditor.usual))
        mark.slips = slips
        mark.exact = len(slips) == 1 and not mark.cut
        if len(slips) == 1:
            mark.diagnosis = f"exactly what this slip gives: {slips[0].description}"
        elif slips:
            mark.diagnosis = (f"{len(slips)} slips fit the {digits_shown(a.given)} given; the simplest: "
                              f"{slips[0].description}")
        else:
            near = ", or ".join(f"{m.description} ({fmt(m.value, 9)})" for m in finding.mistakes)
            mark.diagnosis = ("no usual slip reproduces it, nor the pairs of slips tried" if mark.cut
                              else "no usual slip, nor two together, reproduces it")
            if near:
                mark.diagnosis += f"; the closest: {near}"
        if mark.cut:
            mark.diagnosis += (f"; pairs of slips were searched for {self.seconds:g} s, the time limit, "
                               "and not all were tried")

    def _consistent(self, key: str, right: list[Answer], printed: Decimal) -> bool:
        """Could the learner have made this slip of the whole computation, given the numbers of
        theirs that are right? (Flipping dE/dout flips a delta they got right: not that slip.)"""
        auditor = self.model.auditor
        variant = next((v for v in (auditor.pairs(printed) if "+" in key else auditor.variants) if v.key == key), None)
        if variant is None:  # truncation, a neighbour's value: a slip of this number only
            return True
        resolver = auditor.resolver(variant)
        for other in right:
            try:
                if not agrees(resolver.value(other.quantity), other.given):
                    return False
            except (*SKIP, Q.QuantityError, ArithmeticError, ValueError):
                continue
        return True

    def _at_this_step(self, a: Answer, key, cf: CarriedForward, pairs: bool) -> Tried:
        """Slips made on the way from the learner's last written numbers to this one: each slip's
        rewrite applied to this step and to the steps they did not write down."""
        plain = cf.expected(key)
        if not plain:  # no hand formula gives a value from the learner's numbers (1 / (1 - out) at out = 1)
            return Tried()
        printed = a.given
        differs = abs(plain[0][0] - self.model.value(a.quantity)) > plain[0][1] + 1e-30
        own = ", from your own earlier numbers" if differs else ""
        out = []
        value = plain[0][0]
        if own and truncated(value, printed) == printed and not within(printed, *plain[0]):
            out.append(Slip("own_truncated", f"your own numbers give {fmt(value, 9)}, cut off after the "
                            f"{digits_shown(printed)} you gave instead of rounded", printed))
        edits = [v for v in self.model.auditor.variants if v.transform is not None]
        if pairs:
            tried = [(f"{x.key}+{y.key}", f"{x.description}; and {y.description}", self._composed(x, y))
                     for i, x in enumerate(edits) for y in edits[i + 1:]]
        else:
            tried = [(v.key, v.description, v.transform) for v in edits]
        out = Tried(out)
        for slip_key, description, transform in tried:
            if pairs and self._late():
                out.cut = True
                break
            for v, w in self._carried_under(slip_key, transform, cf).expected(key):
                if within(printed, v, w) and all(abs(v - p) > 1e-30 for p, _ in plain):
                    out.append(Slip(slip_key, description + own, v))
                    break
        if not pairs:
            out += self._value_slips(a, key, cf, plain, own)
        return out

    def _carried_under(self, slip_key: str, transform, cf: CarriedForward) -> CarriedForward:
        """The sheet's numbers carried forward under one slip, made once per sheet: every wrong number
        of the sheet recomputes the same steps the learner did not write, under the same slip."""
        if slip_key not in self._under:
            self._under[slip_key] = CarriedForward(self.program, cf.given, transform)
        return self._under[slip_key]

    def _composed(self, first, second):
        """Two slips' transforms, one after the other, composed once per pair of slips: the program's
        hand formulas under a transform are kept by the transform (`Program.alternatives`)."""
        composed: dict[tuple[str, str], object] = self.__dict__.setdefault("_compositions", {})
        if (first.key, second.key) not in composed:
            composed[first.key, second.key] = compose(first.transform, second.transform)
        return composed[first.key, second.key]

    def _rate_slip(self, a: Answer, key, cf: CarriedForward, own: str) -> list[Slip]:
        """A wrong learning rate, read off the update and the gradient the learner works with (from
        the parameter's given value first, when they wrote it otherwise: that was a slip of its own)."""
        spec, training = self.model.spec, self.model.spec.training
        if training.optimizer != PLAIN or training.weight_decay or (spec.freeze_biases and key.kind == Q.BIAS):
            return []
        parameter = Q.parameter(key.name)
        given = (to_mp(self.program.exact(parameter)), mpmath.mpf(0))
        starts = [given, cf.current(parameter)] if cf.current(parameter) != given else [given]
        gradient = cf.current(Q.gradient(key.name))
        rate = Decimal(int(spec.learning_rate.p)) / int(spec.learning_rate.q)
        for start in starts:
            used = read_rate(a.given, start, gradient)
            if used is None or used in (0, rate, -rate):  # no update at all; right; the update with + (named above)
                continue
            shown = fmt_decimal(used)
            with mpmath.workdps(PRECISION):
                value = start[0] - to_mp(used) * gradient[0]
            return [Slip(f"learning_rate_{shown}", f"the learning rate {shown} used instead of {fmt_decimal(rate)}: "
                         f"w - {shown} dE/dw" + own, value)]
        return []

    def _value_slips(self, a: Answer, key, cf: CarriedForward, plain, own: str) -> list[Slip]:
        out = []
        value, width = plain[0]
        if within(a.given, -value, width) and abs(value) > 1e-30:
            out.append(Slip("sign_flipped", "the sign of the result flipped" + own, -value))
        if key.updated:
            start, _ = cf.current(Q.parameter(key.name))
            plus = 2 * start - value
            if within(a.given, plus, width):
                out.append(Slip("plus_update", "the update taken with + instead of -: w + eta dE/dw" + own, plus))
            out += self._rate_slip(a, key, cf, own)
        for other, description in confusions(self.model, a.quantity):
            other_key = self.program.key(other)
            if other_key is not None and other_key != key:
                v, w = cf.current(other_key)
                if within(a.given, v, w) and not within(a.given, value, width):
                    out.append(Slip(confusion_key(other), description, v))
        return out
