"""`derive exercise --lms prairielearn`: the question folder as PrairieLearn reads it, and its server.py
run as PrairieLearn runs it (docs/question/server.md: each phase in a fresh Python with the course's
serverFilesCourse on the path, one `data` dictionary, no python-flint in the image)."""

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import mpmath
import pytest
from conftest import ROOT

from derive import Model, load_spec, parse
from derive.cli import main
from derive.prairielearn import files, question_uuid
from derive.teaching.exercise import DECIMALS, draw

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "infoQuestion.json").read_text())
NET_342 = textwrap.dedent("""\
    name = "net342"
    title = "A 3-4-2 network"
    layers = [3, 4, 2]
    activation = "logistic"
    loss = "half_sse"
    bias = "shared"
    learning_rate = 0.5
    weights = [[[0.15, 0.20, 0.25], [0.30, 0.35, 0.40], [0.45, 0.50, 0.55], [0.60, 0.65, 0.70]],
               [[0.40, 0.45, 0.50, 0.55], [0.60, 0.65, 0.70, 0.75]]]
    biases = [[0.35], [0.60]]

    [[samples]]
    inputs = [0.05, 0.10, 0.15]
    targets = [0.01, 0.99]
""")
# Runs one or more phases of server.py, each on its own copy of `data`, as PrairieLearn's worker does;
# python-flint is made unimportable, as in PrairieLearn's image.
HARNESS = textwrap.dedent("""\
    import copy, importlib.util, json, sys, time
    sys.modules["flint"] = None
    question, course = sys.argv[1], sys.argv[2]
    sys.path.insert(0, course)
    spec = importlib.util.spec_from_file_location("server", question + "/server.py")
    server = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(server)
    results = []
    for phase, data in json.load(sys.stdin):
        data = copy.deepcopy(data)
        started = time.process_time()
        getattr(server, phase)(data)
        data["_cpu_seconds"] = time.process_time() - started
        results.append(data)
    json.dump({"results": results, "derive": sys.modules["derive"].__file__, "cpu": time.process_time()}, sys.stdout)
""")


def run_server(folder: Path, name: str, jobs: list) -> dict:
    """The phases ``jobs`` ([(phase, data)]) of the question ``name`` written under ``folder``."""
    harness = folder / "harness.py"
    harness.write_text(HARNESS)
    root = folder / "prairielearn"
    out = subprocess.run([sys.executable, "-I", str(harness), str(root / "questions" / name),
                          str(root / "serverFilesCourse")], input=json.dumps(jobs), capture_output=True,
                         text=True, cwd=root / "questions" / name, timeout=300)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["derive"] == str(root / "serverFilesCourse" / "derive" / "__init__.py")  # the copy, not ours
    return result


def new_data(seed: int) -> dict:
    return {"variant_seed": seed, "params": {}, "correct_answers": {}, "options": {}}


def submission(generated: dict, raw: dict) -> dict:
    data = json.loads(json.dumps(generated))
    data.pop("_cpu_seconds", None)
    data.update(raw_submitted_answers=raw, submitted_answers={n: float(v) for n, v in raw.items()},
                partial_scores={}, feedback={}, format_errors={})
    return data


def typed(value, decimals: int) -> str:
    return str(Decimal(str(value)).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP))


@pytest.fixture(scope="module")
def mazur(tmp_path_factory):
    """The reference network exported with seed 5, and `derive exercise`'s own variants 1-3 of it."""
    folder = tmp_path_factory.mktemp("mazur")
    spec = ROOT / "derive" / "examples" / "mazur.toml"
    assert main(["exercise", str(spec), "--variants", "3", "--seed", "5", "--no-pdf", "-o", str(folder),
                 "--lms", "moodle,prairielearn"]) == 0
    return folder


@pytest.fixture(scope="module")
def net342(tmp_path_factory):
    folder = tmp_path_factory.mktemp("net342")
    model = Model(parse(NET_342, "net342.toml"))
    for path, content in files(model, [], 3).items():  # what derive exercise stages, written here
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(content)
    return folder, model


def test_info_json_is_valid_for_prairielearn(mazur):
    question = mazur / "prairielearn" / "questions" / "mazur"
    info = json.loads((question / "info.json").read_text())
    jsonschema.validate(info, SCHEMA)
    assert info["type"] == "v3" and info["topic"] == "Backpropagation" and "mazur" in info["tags"]
    spec = load_spec(ROOT / "derive" / "examples" / "mazur.toml")
    assert info["uuid"] == question_uuid(spec, 5, None, DECIMALS)  # stable: the same spec and seed
    assert question_uuid(spec, 6, None, DECIMALS) != info["uuid"]
    with pytest.raises(jsonschema.ValidationError):  # the schema can fail: a v3 question needs its uuid
        jsonschema.validate({k: v for k, v in info.items() if k != "uuid"}, SCHEMA)


class _Inputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.inputs = []

    def handle_starttag(self, tag, attrs):
        if tag == "pl-number-input":
            self.inputs.append(dict(attrs))


def test_generate_draws_derive_exercises_variants(mazur):
    """Variant N of the question is variant N of `derive exercise` with the export's seed: the same
    numbers, answers and decimals (answers.csv), drawn in a Python without python-flint."""
    result = run_server(mazur, "mazur", [("generate", new_data(n)) for n in (1, 2, 3)])
    rows = [line.split(",") for line in (mazur / "answers.csv").read_text().splitlines()
            if line and not line.startswith(("#", "variant"))]
    parser = _Inputs()
    parser.feed((mazur / "prairielearn" / "questions" / "mazur" / "question.html").read_text())
    names = [i["answers-name"] for i in parser.inputs]
    for number, data in enumerate(result["results"], start=1):
        expected = [(q, Decimal(a), int(d)) for v, q, a, d, *_ in rows if int(v) == number]
        assert names == list(data["correct_answers"])  # every input's name is an answer's, in order
        got = [(item["quantity"], Decimal(typed(data["correct_answers"][item["name"]], item["decimals"])),
                item["decimals"]) for item in data["params"]["asked"]]
        assert got == expected
        variant = tomllib.loads((mazur / f"variant-{number:02d}.toml").read_text())
        assert tomllib.loads(data["params"]["spec"])["weights"] == variant["weights"]
        assert all(i["comparison"] == "decdig" and i["digits"] == f"{{{{params.decimals.{i['answers-name']}}}}}"
                   for i in parser.inputs)
        assert data["params"]["given"].count("<tr>") == 4 + 8 + 2 + 1  # inputs, targets; weights; biases; eta
        assert ">?</tspan>" in data["params"]["diagram"] and "0.7514" not in data["params"]["diagram"]


def _logistic(x):
    return 1 / (1 + mpmath.exp(-x))


def hand_sheet(spec_text: str, decimals: dict, slip: Decimal = Decimal(0)) -> dict:
    """A learner's sheet for a one-hidden-layer logistic, half-SSE, shared-bias network, worked as by
    hand from the spec's numbers (each value rounded to its decimals and used so rounded), with
    ``slip`` added to net_h2: an early arithmetic slip carried forward."""
    spec = tomllib.loads(spec_text)
    (w1, w2), (b1, b2) = spec["weights"], [b[0] for b in spec["biases"]]
    x, t = spec["samples"][0]["inputs"], spec["samples"][0]["targets"]
    eta = mpmath.mpf(str(spec["learning_rate"]))
    sheet = {}

    def put(name, value):
        sheet[name] = Decimal(typed(mpmath.nstr(value, 40, strip_zeros=False), decimals[name]))
        return mpmath.mpf(str(sheet[name]))

    with mpmath.workdps(40):
        hidden = len(w1)
        nets = [sum(mpmath.mpf(str(w)) * mpmath.mpf(str(v)) for w, v in zip(row, x, strict=True)) + mpmath.mpf(str(b1))
                for row in w1]
        nets[1] += mpmath.mpf(str(slip))
        nets = [put(f"net_h{j + 1}", n) for j, n in enumerate(nets)]
        outs = [put(f"out_h{j + 1}", _logistic(n)) for j, n in enumerate(nets)]
        onets = [put(f"net_o{k + 1}", sum(mpmath.mpf(str(w)) * o for w, o in zip(row, outs, strict=True)) + mpmath.mpf(str(b2)))
                 for k, row in enumerate(w2)]
        oouts = [put(f"out_o{k + 1}", _logistic(n)) for k, n in enumerate(onets)]
        put("E_total", sum((mpmath.mpf(str(tk)) - o) ** 2 / 2 for tk, o in zip(t, oouts, strict=True)))
        deltas = [put(f"delta_o{k + 1}", (o - mpmath.mpf(str(tk))) * o * (1 - o)) for k, (o, tk) in
                  enumerate(zip(oouts, t, strict=True))]
        hd = [sum(d * mpmath.mpf(str(row[j])) for d, row in zip(deltas, w2, strict=True)) * outs[j] * (1 - outs[j])
              for j in range(hidden)]
        g1 = put("dE_total_dw1", hd[0] * mpmath.mpf(str(x[0])))
        put(f"dE_total_dw{hidden * len(x) + 1}", deltas[0] * outs[0])
        put("dE_total_db1", sum(hd))
        put("dE_total_db2", sum(deltas))
        put("w1_updated", mpmath.mpf(str(w1[0][0])) - eta * g1)
    return sheet


def test_grade_scores_a_correct_sheet_1_and_an_early_slip_carried_forward(net342):
    folder, _ = net342
    generated = run_server(folder, "net342", [("generate", new_data(2))])["results"][0]
    decimals = generated["params"]["decimals"]
    right = {n: typed(v, decimals[n]) for n, v in generated["correct_answers"].items()}
    slipped = hand_sheet(generated["params"]["spec"], decimals, Decimal("0.1000"))  # a digit wrong
    assert set(slipped) == set(right)
    changed = [n for n in right if Decimal(right[n]) != slipped[n]]
    assert changed[:2] == ["net_h2", "out_h2"] and len(changed) >= 12  # the slip runs on through the sheet
    graded = run_server(folder, "net342", [
        ("grade", submission(generated, right)),
        ("grade", submission(generated, {n: str(v) for n, v in slipped.items()})),
        ("grade", submission(generated, {n: typed(Decimal(v) * Decimal("1.37"), decimals[n]) for n, v in right.items()})),
    ])
    ok, carried, nonsense = graded["results"]
    assert ok["score"] == 1 and {p["score"] for p in ok["partial_scores"].values()} == {1}
    assert ok["feedback"] == {"summary": "20 of 20 right."}
    scores = {n: p["score"] for n, p in carried["partial_scores"].items()}
    assert scores.pop("net_h2") == 0 and set(scores.values()) == {1}
    assert carried["score"] == pytest.approx(19 / 20)
    assert carried["partial_scores"]["out_h2"]["feedback"] == "right from your own earlier numbers"
    assert carried["feedback"]["net_h2"].startswith("no usual slip")
    # pairs of slips were searched only as long as the question allows, and the feedback says so
    assert "pairs of slips were searched for 3 s, the time limit" in carried["feedback"]["net_h2"]
    assert carried["_cpu_seconds"] < 8, carried["_cpu_seconds"]  # PrairieLearn stops server.py at 10 s
    # Every answer wrong (each 1.37 times the right one): searching each one's single slips took 6 s of
    # processor time here; the search stops at the time limit and says so.
    assert nonsense["_cpu_seconds"] < 8, nonsense["_cpu_seconds"]
    assert nonsense["feedback"]["summary"].endswith(" of 20 right; the search for slips stopped at its time limit (3 s).")
    # dE_total/db2 = delta_o1 + delta_o2 holds for the student's own (scaled) deltas: carried forward
    assert {n for n, p in nonsense["partial_scores"].items() if p["score"]} == {"dE_total_db2"}
    assert all(p["feedback"].startswith(("no usual slip", "exactly what", "not searched for slips: the time limit "
                                          "(3 s) came first")) or "slips fit" in p["feedback"]
               for n, p in nonsense["partial_scores"].items() if n != "dE_total_db2")


def test_grade_names_the_update_taken_with_plus(net342):
    folder, _ = net342
    generated = run_server(folder, "net342", [("generate", new_data(4))])["results"][0]
    decimals = generated["params"]["decimals"]
    raw = {n: typed(v, decimals[n]) for n, v in generated["correct_answers"].items()}
    spec = tomllib.loads(generated["params"]["spec"])
    w1, eta = Decimal(str(spec["weights"][0][0][0])), Decimal(str(spec["learning_rate"]))
    gradient = Decimal(raw["dE_total_dw1"])
    raw["w1_updated"] = typed(w1 + eta * gradient, decimals["w1_updated"])
    assert raw["w1_updated"] != typed(generated["correct_answers"]["w1_updated"], decimals["w1_updated"])
    graded = run_server(folder, "net342", [("grade", submission(generated, raw))])["results"][0]
    part = graded["partial_scores"]["w1_updated"]
    assert part["score"] == 0
    assert part["feedback"] == "exactly what this slip gives: the update taken with + instead of -: w + eta dE/dw"
    assert graded["feedback"]["w1_updated"] == part["feedback"]
    assert graded["score"] == pytest.approx(19 / 20)


def test_derive_grade_bounds_its_search_for_pairs_of_slips(net342, tmp_path, capsys):
    """An arithmetic slip no single slip explains: `derive grade` searched every pair of slips for
    minutes on this network; with a time limit it stops and says so, single slips all tried."""
    import time

    _, model = net342
    variant = tmp_path / "variant.toml"
    variant.write_text(draw(model, 1, 7, None, DECIMALS).text)
    sheet = tmp_path / "sheet.txt"
    sheet.write_text("out_h2 = 0.5971\nnet_o1 = 1.8306\n")  # out_h2 is 0.5951: two digits swapped
    started = time.monotonic()
    assert main(["grade", str(variant), str(sheet), "--json", "--time-limit", "1"]) == 1
    assert time.monotonic() - started < 60
    wrong, right = json.loads(capsys.readouterr().out)["answers"]
    assert right["verdict"] == "correct" and not right["search_cut"]
    assert wrong["verdict"] == "wrong" and wrong["search_cut"] and not wrong["slips"]
    assert wrong["diagnosis"].startswith("no usual slip reproduces it, nor the pairs of slips tried")
    assert wrong["diagnosis"].endswith("; pairs of slips were searched for 1 s, the time limit, and not all were tried")


def test_an_unknown_lms_is_one_line(tmp_path, capsys):
    assert main(["exercise", "--lms", "moodle,blackboard", "--no-pdf", "-o", str(tmp_path)]) == 2
    assert capsys.readouterr().err == ("derive exercise: --lms: unknown LMS 'blackboard'; known: moodle, canvas, "
                                       "prairielearn\n")
    assert not any(tmp_path.iterdir())


FLINTLESS = textwrap.dedent("""\
    import json, sys
    sys.modules["flint"] = None  # as in PrairieLearn's image
    import mpmath
    from derive import Model, parse
    out = {}
    for name, text in json.load(sys.stdin).items():
        evaluation = Model(parse(text, name + ".toml")).evaluation
        values = {**{f"{q}[{s}]": v for s, sample in enumerate(evaluation.samples) for q, v in sample.items()},
                  **{f"{q}": v for q, v in evaluation.totals.items()}}
        out[name] = {q: mpmath.nstr(v, 40) for q, v in values.items()}
    json.dump(out, sys.stdout)
""")


def test_without_python_flint_every_value_agrees_with_the_proven_one():
    """Every network of the zoo (every activation and loss, bias mode, several samples, the user's own
    functions), every value of one step: mpmath at 60 digits, the route PrairieLearn's image takes
    (no python-flint), against the balls' proven digits, to 25 significant digits."""
    from networks import ZOO

    run = subprocess.run([sys.executable, "-c", FLINTLESS], input=json.dumps(ZOO), capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    flintless = json.loads(run.stdout)
    compared = 0
    for name, text in ZOO.items():
        evaluation = Model(parse(text, name + ".toml")).evaluation
        proven = {**{f"{q}[{s}]": v for s, sample in enumerate(evaluation.samples) for q, v in sample.items()},
                  **{f"{q}": v for q, v in evaluation.totals.items()}}
        assert set(proven) == set(flintless[name]), name
        for q, value in proven.items():
            with mpmath.workdps(60):
                other, value = mpmath.mpf(flintless[name][q]), +value
            if not mpmath.isfinite(value):  # a display factor at a saturated neuron
                assert str(other) == str(mpmath.mpf(value)), (name, q)
                continue
            with mpmath.workdps(60):
                assert abs(other - value) <= mpmath.mpf(10) ** -25 * max(1, abs(value)), (name, q, value, other)
            compared += 1
    assert compared > 500


def test_a_variant_seed_up_to_2_to_the_32_makes_a_valid_variant_of_a_long_named_network():
    text = (ROOT / "derive" / "examples" / "mazur.toml").read_text().replace('name = "mazur"', f'name = "{"n" * 64}"')
    text = text.replace('title = "A 2-2-2 network, step by step"', f'title = "{"t" * 200}"')
    model = Model(parse(text, "long.toml"))
    exercise = draw(model, 2**32 - 1, 1, None, DECIMALS)
    assert exercise.spec.name == "n" * 52 + "_v4294967295" and len(exercise.spec.title) == 200
    assert draw(model, 7, 1, None, DECIMALS).spec.name == "n" * 58 + "_v07"  # derive exercise's names as before


def test_every_variant_asks_what_question_html_has_inputs_for(tmp_path):
    """A softmax over one output: every variant gives out_o1 = 1, E_total = delta_o1 = 0, which
    `derive exercise` leaves out; the question's inputs and each generated variant's answers are the
    same names, without those."""
    from test_canvas import ONE_OUTPUT

    spec = tmp_path / "one.toml"
    spec.write_text(ONE_OUTPUT)
    assert main(["exercise", str(spec), "--variants", "2", "--no-pdf", "-o", str(tmp_path), "--quiet",
                 "--lms", "prairielearn"]) == 0
    question = tmp_path / "prairielearn" / "questions" / "t"
    names = re.findall(r'answers-name="([^"]+)"', (question / "question.html").read_text())
    result = run_server(tmp_path, "t", [("generate", new_data(1)), ("generate", new_data(2))])
    for data in result["results"]:
        assert sorted(data["correct_answers"]) == sorted(names)
    asked = [a["quantity"] for a in result["results"][0]["params"]["asked"]]
    assert not {"out_o1", "E_total", "delta_o1"} & set(asked) and asked
