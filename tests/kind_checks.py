"""The checks every layer kind's test file runs on its own networks, written once: the matrix route
against the scalar derivation, the grader naming one of the kind's slips on a sheet, a spec refused with
one line, and every command on the kind's built-in example."""

import json

import derive
from derive.cli import main
from derive.model import quantities as Q


def matrix_route_is_the_engine(model) -> None:
    """The matrix form, a route of its own: every net, out and delta of every sample and every gradient
    are the scalar derivation's to 1e-45."""
    import mpmath

    from derive.derivation import matrix

    form, values = model.matrix_form, model.evaluation.samples
    close = mpmath.mpf("1e-45")
    with mpmath.workdps(60):
        for e in form.entries:
            if e.matrix in (matrix.NETS, matrix.OUTS, matrix.DELTAS) and e.layer:
                layer = form.layers[e.layer - 1]
                source = {matrix.NETS: layer.nets, matrix.OUTS: layer.outs, matrix.DELTAS: layer.deltas}[e.matrix]
                for s in range(form.samples):
                    want = values[s][e.quantity]
                    assert abs(source[e.row - 1, s] - want) <= close * (1 + abs(want)), e.quantity
        for p, value in form.gradients.items():
            scalar = model.evaluation.totals[Q.gradient(p)]
            assert abs(value - scalar) <= close * (1 + abs(scalar)), p


def grader_names(model, text: str, slip: str, quantity: str, tmp_path, capsys) -> None:
    """A learner's ``quantity`` computed with ``slip`` (the engine's variant): the grader marks it wrong and
    names that slip."""
    from derive.check import variants

    wrong = next(v for v in variants.variants(model) if v.key == slip).build().value(model.quantity(quantity))
    spec, sheet = tmp_path / "spec.toml", tmp_path / "sheet.txt"
    spec.write_text(text)
    sheet.write_text(f"{quantity} = {float(wrong):.10f}\n")
    assert main(["grade", str(spec), str(sheet), "--json", "--time-limit", "300"]) == 1
    answer = json.loads(capsys.readouterr().out)["answers"][0]
    assert answer["verdict"] == "wrong" and slip in [s["slip"] for s in answer["slips"]]


def refused(text: str, name: str, tmp_path, capsys) -> str:
    """``derive gradients`` on the spec ``text`` (written as ``name``): exit 2; what it wrote to stderr."""
    spec = tmp_path / name
    spec.write_text(text)
    assert main(["gradients", str(spec)]) == 2
    return capsys.readouterr().err


def every_command_takes(like: str, ask: str, tmp_path, capsys) -> list:
    """derive init --like ``like``, then check (every route agrees), train, codegen for every target, and an
    exercise of 2 variants asking ``ask``: the variants' specs, written back and read again."""
    from derive.render.code import targets

    spec = tmp_path / f"{like}.toml"
    assert main(["init", str(spec), "--like", like]) == 0
    capsys.readouterr()
    assert main(["check", str(spec), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["checks"]["passed"] is True
    assert main(["train", str(spec), "--steps", "3", "--optimizer", "adam"]) == 0
    for name in targets.TARGETS:
        assert main(["codegen", str(spec), "--target", name, "-o", str(tmp_path / f"code_{name}")]) == 0, name
    assert main(["exercise", str(spec), "--variants", "2", "--ask", ask, "-o", str(tmp_path / "x"), "--no-pdf"]) == 0
    capsys.readouterr()
    paths = sorted((tmp_path / "x").rglob("variant-*.toml"))
    assert len(paths) == 2
    return [(path, derive.load(path).spec) for path in paths]
