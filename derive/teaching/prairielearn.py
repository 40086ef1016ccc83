"""A PrairieLearn question's ``server.py``, run: ``generate(data)`` draws the variant from PrairieLearn's
variant seed with `derive exercise`'s drawing, and ``grade(data)`` marks the submission with the
grader of `derive grade` (error carried forward, conventions, the slip named).

PrairieLearn (docs/question/server.md) calls each function in a fresh worker with one ``data``
dictionary and stops it after 10 s: what grading needs (the variant's spec, the names and decimals
asked) goes in ``data["params"]``. Variant ``variant_seed`` of a question exported with ``--seed S``
is variant ``variant_seed`` of ``derive exercise --seed S``: the same numbers, answers and decimals.

A submitted answer is taken at the decimals its question asks (rounded, or padded with zeros: 0.589
asked to 4 decimals is 0.5890), as Moodle's tolerance takes it; then it is correct (score 1), right
from the student's own earlier answers (1), right under another textbook's convention that the whole
submission follows (``params["convention_credit"]``, from the question preference of that name), or
wrong (0, its feedback naming the slip that gives it). The search for slips stops after
`GRADE_SECONDS`, and the feedback says so.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from derive.model.spec import parse
from derive.render.quiz import prairielearn as html
from derive.teaching.exercise import draw, parse_asks
from derive.teaching.grade import CARRIED, CONVENTION, CORRECT, Answer, Marker

#: Seconds `grade` gives the search for slips (each wrong number's single slips first, then pairs):
#: PrairieLearn stops server.py after 10 s; a fresh worker first imports SymPy and builds the network
#: (~1 s), and the slip being tried when time is up is finished (up to ~1.5 s on a 3-4-2 network).
GRADE_SECONDS = 3.0
#: The score of a value right under another convention than the network's, unless the question's
#: ``convention_credit`` preference says otherwise.
CONVENTION_CREDIT = 0.5


def generate(data: dict, model, seed: int, asks: list[str] | None, decimals: int) -> None:
    """Variant ``data["variant_seed"]`` of ``model``'s network (a `derive.Model`) into ``data["params"]``
    and ``data["correct_answers"]``."""
    exercise = draw(model, int(data["variant_seed"]), seed, parse_asks(model, asks) if asks else None, decimals)
    variant = exercise.model
    assert variant is not None  # drawn in this process
    quantities = [q.quantity for q in exercise.questions]
    names = html.answer_names(quantities)
    preferences = data.get("preferences") or {}
    params = data.setdefault("params", {})
    params.update({
        "spec": exercise.text,
        "asked": [{"name": n, "quantity": str(q), "decimals": e.decimals}
                  for n, q, e in zip(names, quantities, exercise.questions, strict=True)],
        "decimals": {n: e.decimals for n, e in zip(names, exercise.questions, strict=True)},
        "convention_credit": float(preferences.get("convention_credit", CONVENTION_CREDIT)),
        "intro": html.intro(variant.spec),
        "diagram": html.diagram(variant),
        "given": html.given_table(variant.spec),
    })
    answers = data.setdefault("correct_answers", {})
    for name, question in zip(names, exercise.questions, strict=True):
        answers[name] = float(question.answer)


def submitted(data: dict, name: str, decimals: int) -> Decimal | None:
    """The number the student typed (its digits as typed, not the float PrairieLearn parsed it to), at
    ``decimals``; None when there is none."""
    for raw in ((data.get("raw_submitted_answers") or {}).get(name), (data.get("submitted_answers") or {}).get(name)):
        if raw is None or isinstance(raw, bool):
            continue
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            continue
        if value.is_finite():
            return value.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    return None


def grade(data: dict, model_of, seconds: float = GRADE_SECONDS) -> None:
    """``data["partial_scores"][name]`` ({"score", "feedback"}) for every asked value, ``data["score"]``
    (their mean) and ``data["feedback"]`` (each value's, and a "summary"). ``model_of`` makes a model
    of a spec (`derive.Model`)."""
    params = data["params"]
    model = model_of(parse(params["spec"], "variant.toml"))
    answers, unanswered = [], []
    for line, item in enumerate(params["asked"], start=1):
        given = submitted(data, item["name"], item["decimals"])
        if given is None:
            unanswered.append(item["name"])
            continue
        answers.append((item["name"], Answer(line, parse_asks(model, [item["quantity"]])[0], given)))
    marking = Marker(model).mark([a for _, a in answers], seconds) if answers else None
    credit = {CORRECT: 1.0, CARRIED: 1.0, CONVENTION: float(params.get("convention_credit", CONVENTION_CREDIT))}
    partial, feedback = data.setdefault("partial_scores", {}), data.setdefault("feedback", {})
    for (name, _), mark in zip(answers, marking.marks if marking else [], strict=True):
        text = "" if mark.verdict == CORRECT else mark.diagnosis
        partial[name] = {"score": credit.get(mark.verdict, 0.0), "weight": 1, "feedback": text}
        if text:
            feedback[name] = text
    for name in unanswered:
        partial[name] = {"score": 0.0, "weight": 1, "feedback": "no number given"}
    scores = [partial[item["name"]]["score"] for item in params["asked"]]
    data["score"] = sum(scores) / len(scores)
    right = sum(s == 1.0 for s in scores)
    summary = f"{right} of {len(scores)} right"
    if marking and marking.convention:
        summary += f"; your answers follow another convention: {marking.convention}"
    if marking and any(m.cut for m in marking.marks):
        summary += f"; the search for slips stopped at its time limit ({seconds:g} s)"
    feedback["summary"] = summary + "."
