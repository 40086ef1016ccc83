"""`derive grade --json` is `Marking.as_dict` (as `derive check --json` is `CheckResult.as_dict`): one
source, the same JSON as before it was moved there, byte for byte."""

import json

import pytest
from conftest import ROOT
from test_grade import HAN_KAMBER, HAN_KAMBER_SHEET

import derive
from derive.cli import main
from derive.model.decimals import fmt
from derive.teaching.grade import CARRIED, CONVENTION, CORRECT, WRONG

SHEETS = {"one_slip": (None, (ROOT / "examples" / "sheets" / "one_slip.txt").read_text()),
          "han_kamber": (HAN_KAMBER, HAN_KAMBER_SHEET)}


def _by_hand(marking, digits: int) -> dict:
    """The JSON's contract, written out from the marks' own fields."""
    answers = []
    for m in marking.marks:
        slips = [{"slip": s.key, "description": s.description,
                  "value": str(s.value) if type(s.value).__name__ == "Decimal" else fmt(s.value, 9)} for s in m.slips]
        answers.append({"quantity": str(m.answer.quantity), "given": str(m.answer.given), "line": m.answer.line,
                        "verdict": m.verdict, "correct": fmt(m.correct, digits), "diagnosis": m.diagnosis,
                        "slips": slips, "search_cut": m.cut})
    counts = {v: sum(m.verdict == v for m in marking.marks) for v in (CORRECT, CARRIED, CONVENTION, WRONG)}
    score = {"right": counts[CORRECT] + counts[CARRIED] + counts[CONVENTION], "of": len(marking.marks), **counts}
    return {"answers": answers, "score": score, "convention": marking.convention}


@pytest.mark.parametrize("digits", [9, 4])
@pytest.mark.parametrize("name", list(SHEETS))
def test_grade_json_is_the_marking_s_dict(tmp_path, capsys, name, digits):
    spec_text, sheet_text = SHEETS[name]
    sheet = tmp_path / "sheet.txt"
    sheet.write_text(sheet_text)
    args = [str(sheet)]
    if spec_text is not None:
        (tmp_path / "spec.toml").write_text(spec_text)
        args = [str(tmp_path / "spec.toml"), *args]
    model = derive.Model(derive.parse(spec_text, "spec.toml")) if spec_text else derive.load()
    marking = derive.grade(model, sheet)
    assert marking.as_dict(digits) == _by_hand(marking, digits)
    status = main(["grade", *args, "--json", "--digits", str(digits)])
    out = capsys.readouterr().out
    assert out == json.dumps(_by_hand(marking, digits), indent=2) + "\n"
    assert out == json.dumps(marking.as_dict(digits), indent=2) + "\n"
    assert status == (1 if marking.score[WRONG] else 0)
    assert {m.verdict for m in marking.marks} >= ({CORRECT, WRONG} if name == "one_slip" else {CORRECT, CONVENTION})
