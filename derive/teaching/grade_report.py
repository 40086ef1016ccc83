"""`derive grade`: a marked sheet as a table for the terminal (its JSON is `Marking.as_json`)."""

from __future__ import annotations

from derive.escape import text_line
from derive.model.decimals import fmt
from derive.teaching.grade import CARRIED, CONVENTION, CORRECT, WRONG, Marking

LABEL = {CORRECT: "correct", CARRIED: "carried forward", CONVENTION: "convention", WRONG: "WRONG"}


def as_text(marking: Marking, network: str, source: str, digits: int = 9) -> str:
    """One row per answer (line, quantity, given, correct, verdict), the reason under any number
    that is not simply correct, and the score."""
    rows = [(str(m.answer.line), str(m.answer.quantity), str(m.answer.given), fmt(m.correct, digits),
             LABEL[m.verdict]) for m in marking.marks]
    header = ("line", "quantity", "given", "correct", "verdict")
    widths = [max(len(r[i]) for r in [header, *rows]) + 2 for i in range(4)]
    lines = [f"{text_line(source)}: {len(rows)} answers, marked against network {network}"]
    if marking.convention:
        lines.append(f"  The sheet follows another convention: {marking.convention}.")
    lines.append("  " + "".join(h.ljust(w) for h, w in zip(header, widths, strict=False)) + header[-1])
    for m, row in zip(marking.marks, rows, strict=True):
        lines.append("  " + "".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + row[-1])
        if m.verdict != CORRECT:
            reason = m.diagnosis
            if m.verdict == CONVENTION and marking.convention:
                reason = reason.split(": ", 1)[0]  # the convention is named once, above
            lines.append(f"      {reason}")
            if m.verdict == WRONG and len(m.slips) > 1:
                lines += [f"        also: {s.description}" for s in m.slips[1:4]]
    score = marking.score
    parts = [f"{score[v]} {LABEL[v].lower()}" for v in (CORRECT, CARRIED, CONVENTION, WRONG) if score[v]]
    lines.append(f"Score: {score['right']} of {score['of']} ({', '.join(parts)})")
    return "\n".join(lines) + "\n"


def exit_status(marking: Marking) -> int:
    return 1 if marking.score[WRONG] else 0
