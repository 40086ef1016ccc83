"""Rich display in Jupyter, in the API layer (it may import the renderers; the derivation may not).

`Explained` is an `Explanation` (the same rows, steps and value, as data for code) that displays
itself: as HTML with MathML (``_repr_html_``) and as LaTeX (``_repr_latex_``), printed from its rows
by the page's and the PDF's row printers. `model_html` is a `Model`'s display: the diagram and a
summary table of every parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from derive.derivation.explain import Explanation
from derive.escape import html_text
from derive.model import quantities as Q
from derive.model.decimals import plain
from derive.model.layers import shape
from derive.model.network import Network
from derive.render.tex.latex_rows import RowPrinter as LatexRows
from derive.render.tex.latex_rows import align
from derive.render.text import explanation_lines
from derive.render.web.mathml import RowPrinter as MathRows
from derive.render.web.svg import NetworkPicture

DIGITS = 9
#: The rows' layout, scoped to the output (a notebook has none of the page's stylesheet).
STYLE = ("<style>.derive-explained .row{display:grid;grid-template-columns:max-content 1.4em auto;align-items:center}"
         ".derive-explained .lhs{text-align:right}.derive-explained .eq{text-align:center}"
         ".derive-explained .step{margin-bottom:.6em}.derive-explained .note{color:#57606a}</style>")


@dataclass(frozen=True)
class Explained(Explanation):
    network: Network = field(kw_only=True, repr=False, compare=False)

    @classmethod
    def of(cls, explanation: Explanation, network) -> Explained:
        return cls(**{f.name: getattr(explanation, f.name) for f in fields(Explanation)}, network=network)

    def __str__(self) -> str:
        """The derivation as text, as `derive gradients --quantity` prints it."""
        return "\n".join(explanation_lines(self.network, self, DIGITS))

    def _repr_html_(self) -> str:
        several = len(self.network.spec.samples) > 1

        def key(q, update):
            return str(q) if update or not several or q.is_parameter else str(q.at_sample(self.sample))

        return f'{STYLE}<div class="derive-explained">{MathRows(self.network, DIGITS, key).explanation(self)}</div>'

    def _repr_latex_(self) -> str:
        return align(LatexRows(self.network, DIGITS).rows(self.rows))


def model_html(model) -> str:
    """The diagram (values of sample 1) and every parameter's value, gradient and value after one step."""
    evaluation = model.evaluation
    totals = evaluation.totals
    picture = NetworkPicture(model.network, key=str,
                             value=lambda q: totals[q] if q in totals else evaluation.samples[0][q], digits=DIGITS)
    spec = model.spec
    rows = "".join(
        f"<tr><td>{p.name}</td><td>{plain(p.value, DIGITS)}</td><td>{plain(totals[Q.gradient(p.name)], DIGITS)}</td>"
        f"<td>{plain(totals[p.quantity.with_update()], DIGITS)}</td></tr>" for p in model.network.parameters[:200])
    more = len(model.network.parameters) - 200
    note = f"<p>… and {more} more parameters (model.gradients())</p>" if more > 0 else ""
    return (f"<div><p><strong>{html_text(spec.name)}</strong>: {html_text(spec.title)} — layers "
            f"{html_text(shape(spec))}, E_total = {plain(totals[Q.TOTAL_ERROR], DIGITS)}</p>"
            f'<div style="max-width:640px">{picture.render(f"The network {spec.name}")}</div>'
            "<table><thead><tr><th>parameter</th><th>value</th><th>∂E_total/∂·</th><th>after one step</th></tr>"
            f"</thead><tbody>{rows}</tbody></table>{note}</div>")
