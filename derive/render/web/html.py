"""The derivation as one self-contained, interactive web page (``derive html``).

Everything is inline (styles, scripts, the SVG pictures, the MathML), and a Content-Security-Policy
that allows only the page's own scripts (by hash) and no connection at all, so opening the page sends
no request anywhere. The page is printed from the same data as the PDF: the diagram from the one
layout (`derive.render.web.svg`), each parameter's derivation from the explanation rows
(`derive.derivation.explain.Explainer.walkthrough`, printed by `derive.render.web.mathml`), the check and
the audit from their reports, and the live numbers from the derivation's steps printed as
JavaScript (`derive.render.code.javascript`). Every printed number is exact (correctly rounded); after an
edit the page recomputes them in float64, and says so.

A large network gets a usable page: the diagram draws at most a few neurons a layer (the layout
elides the rest) and the page embeds the derivations of the parameters the diagram draws, each built
only for that page, instead of thousands of them; of a step a derivation takes for many units (a
kernel entry's, at each of 676 positions) it embeds the first few and the last, with a note; the
table of every neuron leaves out what the feature maps show; and above LOOP_THRESHOLD parameters the
script is in loop form (`derive.render.code.javascript_loops`). Issue #25's 1x28x28 convolution, max
pooling and linear network (6,810 parameters): 17.5 MB before, 4.6 MB.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter

from derive.derivation import lowered
from derive.derivation.evaluate import training_settings
from derive.derivation.steps import DISPLAY
from derive.escape import html_text, script_json
from derive.model import optimizers
from derive.model import quantities as Q
from derive.model.decimals import plain
from derive.model.layers import activations, biases, shape
from derive.model.layers import samples as sample_count
from derive.render import sums
from derive.render.code import javascript, javascript_loops
from derive.render.code.header import header
from derive.render.code.loops import loop_form
from derive.render.look import css_variables
from derive.render.templating import environment
from derive.render.web import html_grids, html_tables
from derive.render.web.mathml import ELLIPSIS, RowPrinter, math
from derive.render.web.svg import NetworkPicture

EMBED_LIMIT = 200  # parameters: up to this many, every derivation is embedded; above it, the drawn ones
EMBED_SAMPLES = 20  # samples whose step-by-step walkthroughs the page embeds (1000 of them took a minute)
RUN_LIMIT, RUN_SHOWN = 8, 3  # above EMBED_LIMIT: a run of the same step for more units than this is elided
RUNTIME = "page.js"  # the page's own script, in templates/


def _family(subject) -> str:
    """A group's subject without its numbers: the groups of one step for consecutive units are alike."""
    return re.sub(r"\d+", "#", str(subject))


def _hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


class Page:
    """The page of one model. ``check``: the check's result (`derive.check.results.CheckResult`);
    ``comparisons``: groups of (label, TrainingRun) to compare (`derive.Model.training_comparisons`);
    ``findings``: the audit of published numbers, ``notes`` what it says across them."""

    def __init__(self, model, version: str, digits: int = 9, check=None, comparisons=(), findings=(), notes=()):
        self.model = model
        self.network = model.network
        self.spec = model.spec
        self.version = version
        self.digits = digits
        self.check = check
        self.comparisons = list(comparisons)
        self.findings = list(findings)
        self.notes = list(notes)  # the audit's notes across the published numbers
        self.several = len(self.spec.samples) > 1
        totals = model.evaluation.totals
        self.printed: set[str] = set()  # the data-value keys of the numbers the page prints (`keyed`)
        self.picture = NetworkPicture(
            self.network,
            key=lambda q: self.keyed(str(q) if q in totals else self.key(q, 0)),
            value=lambda q: totals[q] if q in totals else model.evaluation.samples[0][q],
            digits=digits,
        )
        self.derivable = set(self.selectable())
        self.grids = html_grids.Grids(self)
        self.pieces: list[str] = []
        self._piece_index: dict = {}

    @property
    def large(self) -> bool:
        """A network of more than `EMBED_LIMIT` parameters: the page embeds the derivations of the
        drawn parameters, elides long runs of one step, and prints each value of a feature map once."""
        return len(self.network.parameters) > EMBED_LIMIT

    # -- names of values on the page -----------------------------------------------------------
    def key(self, q: Q.Quantity, sample: int, update: bool = False) -> str:
        """The ``data-value`` of a number: the quantity of one sample (``net_h1[2]``) when there are
        several, else its plain name; a parameter, the learning rate and a parameter's update rows
        (the totals over the samples) by their plain names."""
        if update or not self.several or q.is_parameter or q.kind == Q.RATE or q.updated:
            return str(q)
        return str(q.at_sample(sample))

    def keyed(self, key: str) -> str:
        """The key of a number being printed with ``data-value``, noted: the page's script computes
        the values it prints (`shown`)."""
        self.printed.add(key)
        return key

    def number(self, q: Q.Quantity, value, sample: int = 0) -> str:
        return f'<span data-value="{html_text(self.keyed(self.key(q, sample)))}">{plain(value, self.digits)}</span>'

    def total(self, q: Q.Quantity) -> str:
        value = plain(self.model.evaluation.totals[q], self.digits)
        return f'<span data-value="{html_text(self.keyed(str(q)))}">{value}</span>'

    # -- derivations -----------------------------------------------------------------------------
    def selectable(self) -> list[str]:
        """The parameters whose derivations the page embeds: all of them, or the diagram's."""
        if not self.large:
            return [p.name for p in self.network.parameters]
        drawn = {e.parameter for e in self.picture.diagram.edges} | {b.parameter for b in self.picture.diagram.biases}
        return [p.name for p in self.network.parameters if p.name in drawn]

    def piece(self, key, make) -> int:
        """The index of a piece of derivation markup in the page's table, made once: a step shared by
        several parameters' derivations (a hidden neuron's dE/dout) is stored once."""
        if key not in self._piece_index:
            self._piece_index[key] = len(self.pieces)
            self.pieces.append(make())
        return self._piece_index[key]

    def printer(self, sample: int) -> RowPrinter:
        return RowPrinter(self.network, self.digits, key=lambda q, update: self.keyed(self.key(q, sample, update)))

    def derivation(self, parameter: str) -> list[int]:
        """A parameter's derivation, as the indices of its pieces: its walkthrough for every sample and,
        with several samples, the sum over them and the update."""
        explainer, ids = self.model.explainer, []
        count = len(self.spec.samples)
        for s in range(min(count, EMBED_SAMPLES)):
            printer = self.printer(s)
            if self.several:
                ids.append(self.piece(("sample", s), lambda s=s: f"<h3>Sample {s + 1}</h3>"))
            for item in self._runs(list(printer.groups(explainer.walkthrough(parameter, s).rows))):
                if isinstance(item, list):  # a note where steps are left out
                    ids.append(self.piece(("elided", *(str(x) for note in item for x in note)),
                                          lambda item=item: self._elided(item)))
                else:
                    subject, rows = item
                    ids.append(self.piece((str(subject), s), lambda p=printer, q=subject, r=rows: p.group(q, r)))
        if count > EMBED_SAMPLES:
            ids.append(self.piece(("more samples",), lambda: (
                f"<p>Samples {EMBED_SAMPLES + 1} to {count} take the same steps with their own numbers "
                f"(the page shows the first {EMBED_SAMPLES}; every value is in the tables below and in "
                "gradients.txt).</p>")))
        if self.several:
            ids.append(self.piece(("sum", parameter), lambda: self._over_samples(parameter)))
        return ids

    def _runs(self, groups: list) -> list:
        """The groups to embed, and the notes where some are left out: above `EMBED_LIMIT` parameters,
        of a step taken for more than `RUN_LIMIT` units (its subjects alike but for the numbers in their
        names: dE_total/dout_h1_1, dE_total/dout_h1_2, ...), the first `RUN_SHOWN` and the last; a note
        (a list of (first left out, last left out, how many)) where the others were."""
        if not self.large:
            return groups
        families = [_family(subject) for subject, _ in groups]
        total, seen = Counter(families), Counter[str]()
        left: dict[str, list] = {}
        for (subject, _), family in zip(groups, families, strict=True):
            seen[family] += 1
            if total[family] > RUN_LIMIT and RUN_SHOWN < seen[family] < total[family]:
                left.setdefault(family, []).append(subject)
        dropped = {str(subject) for run in left.values() for subject in run}
        out: list = []
        for group, family in zip(groups, families, strict=True):
            if str(group[0]) not in dropped:
                out.append(group)
            elif str(group[0]) == str((run := left[family])[0]):
                note = (run[0], run[-1], len(run))
                if out and isinstance(out[-1], list):
                    out[-1].append(note)
                else:
                    out.append([note])
        return out

    def _elided(self, notes: list) -> str:
        said = "; ".join(f"{html_text(str(first))} to {html_text(str(last))} ({count} steps)"
                         for first, last, count in notes)
        return (f'<p class="elided">… and the same steps for the units between: {said}. This page shows the '
                f"first {RUN_SHOWN} and the last of a step taken for more than {RUN_LIMIT} units; every unit's "
                "net input, output and delta is in the feature maps or the table of every neuron.</p>")

    def _over_samples(self, parameter: str) -> str:
        g = Q.gradient(parameter)
        terms = " + ".join(sums.elided([self.number(g, values[g], s) for s, values
                                        in enumerate(self.model.evaluation.samples)], ELLIPSIS))
        scale = f"1/{len(self.spec.samples)} · (" if self.spec.reduction == "mean" else "("
        printer = self.printer(0)
        return (f'<h3>Over the samples</h3><p class="sum">{math(printer.quantity(g))} = {scale}{terms}) = '
                f"{self.total(g)}</p>{printer.rows(self.model.explainer.update(parameter))}")

    # -- the page's data for its script --------------------------------------------------------
    def shown(self) -> set[str]:
        """The display steps (the article's named factors) whose values the page prints (`keyed` as
        they were printed): the page's script computes these and every kernel step, not the thousands
        of others of a large network."""
        keys = self.printed
        n = len(self.spec.samples)
        return {str(s.quantity) for s in self.model.derivation.steps
                if s.phase == DISPLAY and any(self.key(s.quantity, k) in keys for k in range(n))}

    def data(self, quantities: list[Q.Quantity]) -> dict:
        network, spec = self.network, self.spec
        index = {str(q): k for k, q in enumerate(quantities)}
        n = len(spec.samples)
        samples = [{"inputs": [float(v) for v in s.inputs], "targets": [float(v) for v in s.targets]}
                   for s in spec.samples]
        edits = {}  # inputs and targets; a parameter is edited by its own name
        input_keys, target_keys = [], []
        for s in range(n):
            input_keys.append([self.key(Q.out(i), s) for i in network.inputs])
            target_keys.append([self.key(Q.target(o), s) for o in network.outputs])
            edits.update({k: ["input", s, j] for j, k in enumerate(input_keys[-1])})
            edits.update({k: ["target", s, j] for j, k in enumerate(target_keys[-1])})
        selectable = self.selectable()
        settings = training_settings(spec)
        first = optimizers.batch(settings, 1, n)
        return {
            "digits": self.digits,
            "scale": 1.0 / n if spec.reduction == "mean" else 1.0,
            "params": {p.name: float(p.value) for p in network.parameters},
            "samples": samples,
            "sampleKeys": [[self.key(q, s) for q in quantities] for s in range(n)] if self.several else None,
            "inputKeys": input_keys,
            "targetKeys": target_keys,
            "errorKey": str(Q.TOTAL_ERROR),
            "error": index[str(Q.TOTAL_ERROR)],
            "updates": [self._update(p, settings, index, len(first) < n) for p in network.parameters],
            "batch": first,  # the samples of the first step's batch, and the scale of its loss
            "batchScale": 1.0 / len(first) if spec.reduction == "mean" else 1.0,
            "edits": edits,
            "derivations": self.derivations,
            "paths": {p: self.picture.path(p) + self.grids.path(p) for p in selectable},
            "first": self._first(selectable),
        }

    @staticmethod
    def _update(p, settings, index: dict, batched: bool) -> dict:
        """A parameter's first step for the script (``firstStep``): its gradient's index in ``QUANTITIES``,
        the keys of its new value, of its batch gradient (on mini-batches) and of each slot the rules
        assign; a frozen parameter has no slot and keeps its value."""
        trained = settings.trains(p)
        batch_gradient = str(Q.state(optimizers.GRADIENT.name, p.name).after_steps(1)) if batched else None
        return {"gradient": index[str(Q.gradient(p.name))], "after": str(p.quantity.with_update()),
                "trained": trained, "batchGradient": batch_gradient,
                "slots": {s: str(Q.state(s, p.name).after_steps(1)) for s in settings.entry.slots} if trained else {}}

    def caption(self) -> str:
        return (f"The network {self.spec.name}: {len(self.network.parameters)} parameters. Select a weight or bias "
                "(click it, or Tab to it and press Enter) to see its derivation.")

    def _first(self, selectable: list[str]) -> str:
        """The parameter selected when the page opens: the first weight into the output layer (the
        article's w5), if the page can show it."""
        last = [p.name for p in self.network.parameters if p.kind == Q.WEIGHT and p.layer == self.network.depth]
        return next((p for p in last if p in selectable), selectable[0])

    def script(self, shown: set[str]) -> tuple[str, list[Q.Quantity]]:
        """The page's script (straight-line; in loop form for a network of more than
        `derive.render.code.loops.LOOP_THRESHOLD` parameters) and its ``QUANTITIES``."""
        derivation = self.model.derivation
        program = lowered.lower(self.network) if loop_form(self.network) else None  # lowered once, passed down
        listed = javascript_loops.quantities(derivation, shown, program) if program is not None else None
        if listed is not None:
            return javascript_loops.render(derivation, shown, program), listed
        return javascript.render(derivation, shown), [s.quantity for s in javascript.steps(derivation, shown)]

    # -- the page ------------------------------------------------------------------------------
    def render(self, pending=None) -> str:
        """The page; ``pending``: the check's result, computing meanwhile in another process (its
        ``result()``, `derive.workers.Pending`), asked for last: its table is the only part that reads it."""
        spec, network = self.spec, self.network
        self.derivations = {p: self.derivation(p) for p in self.selectable()}
        tables = html_tables.Tables(self)
        printed = {name: getattr(tables, name)() for name in ("parameters", "samples", "neurons", "audit", "training")}
        printed["grids"] = self.grids.render()
        diagram = self.picture.render(self.caption())
        shown = self.shown()
        code, quantities = self.script(shown)
        if pending is not None:
            self.check = pending.result()
        printed["check"] = tables.check()
        env = environment()
        assert env.loader is not None  # environment() loads from the templates folder
        runtime = env.loader.get_source(env, RUNTIME)[0]
        data = script_json(self.data(quantities))
        described = (f"Layers {html_text(shape(spec))}; activations {html_text(activations(spec))}; loss {spec.loss}; "
                     f"{biases(spec)}; learning rate "
                     f"{plain(spec.learning_rate, self.digits)}; {len(network.parameters)} parameters, "
                     f"{sample_count(spec)}.")
        context = {
            "header": header("html", spec, self.version, "html", about=True),
            "title": html_text(spec.title),
            "name": html_text(spec.name),
            "described": html_text(described),
            "source": html_text(spec.source),
            "version": html_text(self.version),
            "digits": self.digits,
            "diagram": diagram,
            "elided": len(self.selectable()) < len(network.parameters),
            "shown_parameters": len(self.selectable()),
            "several": self.several,
            "tables": printed,
            "pieces": [html_tables.raw_text("piece", p, id=f"piece-{k}") for k, p in enumerate(self.pieces)],
            "code": code,
            "runtime": runtime,
            "data": data,
            "script_hashes": " ".join(_hash(s) for s in (code, runtime)),
            "palette": css_variables(),
        }
        return environment().get_template("page.html.j2").render(context)
