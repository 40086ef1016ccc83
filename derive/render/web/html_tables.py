"""The web page's tables: every neuron's values, the parameters (editable), the inputs and targets
(editable), the check of every gradient by independent routes, the audit of published numbers and
the training run. Each number is an element with ``data-value`` that the page's script redraws;
every text from outside is escaped by `derive.escape`."""

from __future__ import annotations

from derive.derivation.exact_training import example_parameter, state_table
from derive.escape import html_text
from derive.model import quantities as Q
from derive.model.decimals import fmt
from derive.model.optimizers import SLOTS
from derive.render import names
from derive.render.web import plot
from derive.render.web.mathml import RowPrinter, math

ROUTE_NAMES = {"sympy_diff": "sympy.diff", "fd_float64": "differences, float64", "fd_mpmath": "differences, 50 digits",
               "generated": "generated code"}


STEPS_SHOWN = 2  # steps of one parameter's update derived row by row, as in the PDF
STATE_STEPS, STATE_DIGITS = 3, 6  # the optimizer-state table: its steps and significant digits

SHOWN_ROWS = 200  # rows of a table in the page's markup; the rest waits, as text, until asked for
CHUNK_ROWS = 500


def raw_text(kind: str, markup: str, **attributes) -> str:
    """Markup kept as the text of a ``<script type="text/html">``: the browser does not even parse it
    until the page's script asks for it (a large network's table rows, its derivations), so a page of
    thousands of rows opens fast. Our markup escapes every text, so it holds no ``</script``."""
    if "</script" in markup.lower():
        raise ValueError("markup for a raw-text element holds '</script'")
    attrs = "".join(f' {k.replace("_", "-")}="{html_text(v)}"' for k, v in attributes.items())
    return f'<script type="text/html" class="{kind}"{attrs}>{markup}</script>'


def _table(header: list[str], rows: list[list[str]], css: str = "", what: str = "rows") -> str:
    head = "".join(f'<th scope="col">{h}</th>' for h in header)
    lines = ["<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows]
    body = "".join(lines[:SHOWN_ROWS])
    more = ""
    if len(lines) > SHOWN_ROWS:
        chunks = [lines[k:k + CHUNK_ROWS] for k in range(SHOWN_ROWS, len(lines), CHUNK_ROWS)]
        more = "".join(raw_text("rows", "".join(c)) for c in chunks)
        more += (f'<p><button type="button" class="more">Show {min(CHUNK_ROWS, len(lines) - SHOWN_ROWS)} more '
                 f'{html_text(what)} (of {len(lines)})</button></p>')
    return (f'<div class="scroll" data-table><table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            f"</table>{more}</div>")


def edit_box(key: str, value) -> str:
    """An editable number: the page's script reads it (``data-edit``: a parameter's name, or an input's or
    target's key)."""
    return f'<input data-edit="{html_text(key)}" value="{float(value)!r}" aria-label="{html_text(key)}">'


class Tables:
    def __init__(self, page):
        self.page = page
        self.model = page.model
        self.network = page.network
        self.digits = page.digits
        self.names = RowPrinter(self.network, self.digits)

    def name(self, q: Q.Quantity) -> str:
        return math(self.names.quantity(q, inline=True))

    def neurons(self) -> str:
        """Per sample: every neuron's net input, output and delta; on a large network's page, not those
        of a layer the feature maps draw for the sample (each value once)."""
        parts = []
        grids = self.page.grids
        for s, values in enumerate(self.model.evaluation.samples):
            rows = []
            mapped = sorted(grids.drawn - {0}) if self.page.large and s < grids.samples else []
            for k, layer in enumerate(self.network.layers[1:], start=1):
                if k in mapped:
                    continue
                for n in layer:
                    rows.append([str(k), html_text(n)] + [self.page.number(q, values[q], s)
                                                          for q in (Q.net(n), Q.out(n), Q.delta(n))])
            errors = [f"{self.name(Q.error(o))} = {self.page.number(Q.error(o), values[Q.error(o)], s)}"
                      for o in self.network.outputs]
            errors.append(f"{self.name(Q.TOTAL_ERROR)} = "
                          f"{self.page.number(Q.TOTAL_ERROR, values[Q.TOTAL_ERROR], s)}")
            heading = f"<h3>Sample {s + 1}</h3>" if self.page.several else ""
            if mapped:
                layers = ("layers " if len(mapped) > 1 else "layer ") + " and ".join(str(k) for k in mapped)
                heading += (f'<p class="hint">The net inputs, outputs and deltas of {layers} are in the feature '
                            "maps above.</p>")
            parts.append(heading + _table(["layer", "neuron", "net", "out", "δ"], rows, "numbers")
                         + f'<p class="errors">{"; ".join(errors)}</p>')
        return "".join(parts)

    def parameters(self) -> str:
        """Every weight and bias: its value (editable), its gradient and its value after one step."""
        rows = []
        for p in self.network.parameters:
            shown, more = names.edges(p)
            where = (", ".join([*(f"{s} → {n}" for s, n in shown), *([f"{more} more"] if more else [])])
                     if p.kind == Q.WEIGHT else ", ".join(p.feeds))
            selectable = p.name in self.page.derivable
            name = (f'<button type="button" class="pick" data-parameter="{p.name}">{p.name}</button>' if selectable
                    else html_text(p.name))
            rows.append([name, html_text(where), edit_box(p.name, p.value),
                         self.page.total(Q.gradient(p.name)), self.page.total(p.quantity.with_update())])
        return _table(["parameter", "edge", "value", "∂E_total/∂·", "after one step"], rows, "numbers params",
                      "parameters")

    def samples(self) -> str:
        """Every input and target of every sample, editable."""
        rows = []
        for s, sample in enumerate(self.model.spec.samples):
            tag = f" (sample {s + 1})" if self.page.several else ""
            cells = [edit_box(self.page.key(Q.out(i), s), v) + f" {html_text(i)}" for i, v in
                     zip(self.network.inputs, sample.inputs, strict=True)]
            targets = [edit_box(self.page.key(Q.target(o), s), v) + f" target {html_text(o)}" for o, v in
                       zip(self.network.outputs, sample.targets, strict=True)]
            rows.append([f"inputs{tag}", " ".join(cells)])
            rows.append([f"targets{tag}", " ".join(targets)])
        return _table(["", "values"], rows, "samples")

    def check(self) -> str:
        """The check's table (`derive.check.results.Checks`): each gradient by every independent route."""
        checks = self.page.check.checks if self.page.check is not None else None
        if not checks:
            return ""
        digits = checks.digits
        routes = [r for r in ROUTE_NAMES if any(r in row.routes for row in checks.rows)]
        rows = []
        failed = [row for row in checks.rows if not row.passed]
        listed = failed + [row for row in checks.rows if row.passed][:max(0, SHOWN_ROWS - len(failed))]
        for row in listed:
            sample = f"[{row.sample + 1}]" if self.page.several else ""
            rows.append([html_text(row.parameter + sample), fmt(row.chain, digits)]
                        + [html_text(fmt(row.routes[r], digits) if r in row.routes else "—") for r in routes]
                        + ["agrees" if row.passed else '<strong class="bad">FAILS</strong>'])
        summary = (f"{checks.checked} of {checks.parameters} parameters checked; "
                   + ("every gradient agrees by every route." if checks.passed else "some gradients FAIL."))
        if len(listed) < len(checks.rows):
            summary += (f" The table lists {len(listed)} of its {len(checks.rows)} rows (every failure first); "
                        "derive check prints them all.")
        header = ["parameter", "chain rule (60 digits)"] + [ROUTE_NAMES[r] for r in routes] + [""]
        return f"<p>{html_text(summary)}</p>" + _table(header, rows, "numbers check")

    def audit(self) -> str:
        """The audit of the spec's published numbers (the errata table), with what reproduces each wrong one."""
        if not self.page.findings:
            return ""
        rows = []
        for f in self.page.findings:
            why = ""
            if not f.agrees:
                reproducing = [m for m in f.mistakes if m.reproduces]
                why = ("; or ".join(f"{html_text(m.description)} ({fmt(m.value, self.digits)})" for m in reproducing)
                       if reproducing else "no variant of the computation or usual slip reproduces it")
            verdict = "agrees" if f.agrees else '<strong class="bad">wrong</strong>'
            rows.append([self.name(f.quantity), html_text(str(f.printed)), fmt(f.correct, self.digits), verdict, why])
        wrong = sum(not f.agrees for f in self.page.findings)
        intro = (f"The spec carries {len(self.page.findings)} published numbers: {len(self.page.findings) - wrong} "
                 f"agree with the correct computation to the digits they show, {wrong} do not.")
        notes = "".join(f"<p>{html_text(note)}</p>" for note in self.page.notes)
        return f"<p>{html_text(intro)}</p>" + _table(["quantity", "published", "correct", "", "reproduced by"], rows,
                                                      "audit") + notes

    def training(self) -> str:
        """The training section's body, from the same data as the PDF's: the optimizer's update of one
        parameter derived with numbers (60-digit rows of the first steps), the optimizer's state over
        the first steps, then each group of runs side by side (float64): loss curves and a table."""
        if not self.page.comparisons:
            return ""
        model, network = self.page.model, self.page.network
        exact, settings = model.exact_training, model.spec.training
        name = example_parameter(network)
        static = RowPrinter(network, self.digits, key=lambda q, update: None,  # exact numbers: not redrawn
                            superscript_steps=True)
        before = f"Training: {settings.describe()}. The update rule of {settings.entry.description} for one parameter, "
        after = (", with numbers, computed at 60 digits from the spec's values (not your edits); the runs below "
                 "are float64.")
        after += " A value after step t is written x⁽ᵗ⁾; each step uses " + (
            "the gradient of the total error at the parameters after the step before." if exact.full_batch
            else "the gradient of its batch's loss.")
        parts = [f"<p>{html_text(before)}{math(static.quantity(Q.parameter(name)))}{html_text(after)}</p>"]
        for t in range(1, STEPS_SHOWN + 1):
            parts.append(f'<p>Step {t}:</p><div class="derivation">{static.rows(exact.rows(name, t))}</div>')
        table = state_table(exact, STATE_STEPS)
        header = ["", "step", *(SLOTS[s].html for s in table.slots), "after the step"]
        rows = [[math(static.quantity(Q.parameter(n))) if t == 1 else "", str(t),
                 *(fmt(v, STATE_DIGITS) for v in values), fmt(value, STATE_DIGITS)]
                for n, t, values, value in table.rows]
        intro = (f"The optimizer's state for every trained parameter over the first {STATE_STEPS} steps "
                 f"(g: the step's batch gradient). ")
        if table.frozen:
            intro += "Frozen, keeping their values and no state: " + ", ".join(table.frozen) + "."
        parts.append(f"<p>{html_text(intro)}</p>" + _table(header, rows, "numbers"))
        for group in self.page.comparisons:
            labels = [label for label, _ in group]
            steps = group[0][1].steps
            parts.append(f"<p>{html_text(' and '.join(labels).capitalize())}, side by side ({steps} steps each):</p>")
            parts.append(f'<div class="scroll">{plot.loss_curves(group, "E_total during training")}</div>')
            rows = [[html_text(label), str(run.steps), fmt(run.error_before, self.digits),
                     fmt(run.error_after_first, self.digits), fmt(run.error, self.digits),
                     "; ".join(", ".join(fmt(v, self.digits) for v in outs) for outs in run.outputs)]
                    for label, run in group]
            parts.append(_table(["run", "steps", "E_total before", "after the first step", "after the last",
                                 "outputs after"], rows, "numbers"))
        return "".join(parts)
