"""Reading a learner's sheet: the ``quantity = value`` lines that ``derive check --claims`` reads, or a
JSON object ``{"quantity": value}`` (a programmer's dump of their own gradients reads the same way),
each quantity checked against the network (`derive.teaching.grade` marks them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from derive.check.resolve import checked
from derive.escape import excerpt, path_text, quoted
from derive.model import quantities as Q
from derive.model.reading import ReadError, published_problem, read_regular

#: A JSON number is often a float printed in full (17 digits, the last ones binary noise, and a
#: framework's float64 arithmetic is good to about 12): such numbers are judged at 12 significant digits.
FLOAT_DIGITS = 12


class SheetError(ValueError):
    """A sheet that cannot be read: one line naming the file and the line (exit status 2)."""


@dataclass(frozen=True)
class Answer:
    line: int
    quantity: Q.Quantity
    given: Decimal


def read_sheet(path: str | Path, model) -> list[Answer]:
    path = Path(path)
    try:
        text = read_regular(path).decode()
    except ReadError as exc:
        raise SheetError(f"{path_text(path)}: {exc}") from None
    except UnicodeDecodeError:
        raise SheetError(f"{path_text(path)}: cannot read: not UTF-8 text") from None
    return parse_sheet(text, path_text(path.name), model)


def parse_sheet(text: str, source: str, model) -> list[Answer]:
    """The answers of a sheet, each checked against the network (a SheetError names the line)."""
    if text.lstrip().startswith("{"):
        entries = _json_entries(text, source)
    else:
        entries = []
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            left, sep, right = line.partition("=")
            if not sep or not left.strip() or not right.strip():
                raise SheetError(f"{source}:{number}: write quantity = value, e.g. dE_total/dw5 = 0.0822")
            entries.append((number, left.strip(), right.strip()))
    answers: list[Answer] = []
    seen: dict[str, int] = {}
    for number, name, value in entries:
        try:
            quantity = checked(model, Q.parse(name))
        except Q.QuantityError as exc:
            raise SheetError(f"{source}:{number}: {exc}") from None
        try:
            given = Decimal(str(value))
        except InvalidOperation:
            raise SheetError(f"{source}:{number}: {quoted(value)} is not a number") from None
        if not given.is_finite():
            raise SheetError(f"{source}:{number}: the value must be finite")
        if problem := published_problem(given):  # 1e999999999 would end in decimal.Overflow
            raise SheetError(f"{source}:{number}: {excerpt(value)} {problem}")
        if str(quantity) in seen:
            raise SheetError(f"{source}:{number}: {quantity} is given twice (first on line {seen[str(quantity)]})")
        seen[str(quantity)] = number
        answers.append(Answer(number, quantity, given))
    if not answers:
        raise SheetError(f"{source}: no answers (write one quantity = value a line)")
    return answers


def _json_entries(text: str, source: str) -> list[tuple[int, str, object]]:
    try:
        data = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    except json.JSONDecodeError as exc:
        raise SheetError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg}") from None
    except RecursionError:  # json recurses into each nested list and object
        raise SheetError(f"{source}: lists or objects nested too deeply; a sheet is one object of numbers") from None
    if not isinstance(data, dict):
        raise SheetError(f"{source}:1: a JSON sheet is one object of \"quantity\": number")
    entries: list[tuple[int, str, object]] = []
    for name, value in data.items():
        number = text[: text.find(json.dumps(name))].count("\n") + 1
        if isinstance(value, bool) or not isinstance(value, Decimal):
            raise SheetError(f"{source}:{number}: {quoted(name)} must be a number")
        if value.is_finite() and len(value.as_tuple().digits) > FLOAT_DIGITS:
            value = Decimal(format(value, f".{FLOAT_DIGITS}g")) if value else value
        entries.append((number, name, value))
    return entries
