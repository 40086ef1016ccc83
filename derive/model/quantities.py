"""The one quantity grammar, used by the ``[published]`` table, ``--claim`` and ``--quantity``.

``net_h1``, ``out_o2``, ``E_o1``, ``E_total`` (also ``E``), ``delta_o1``, a parameter ``w5``; a partial
derivative ``dA/dB`` (``dE_total/dw5``, ``dE/dw5``); a parameter after one step ``w5+``; anything after
N training steps ``X@N``; with several samples, a per-sample value ``X[s]`` (s from 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from derive.model import naming


class QuantityError(ValueError):
    """A quantity name that does not parse or names nothing in the network (exit status 2)."""


@dataclass(frozen=True)
class Quantity:
    text: str  # as written
    base: str  # canonical name without suffixes: "dE_total/dw5", "out_o1", "w5"
    sample: int | None = None  # from 0
    after: int | None = None  # training steps, for X@N
    updated: bool = False  # X+ : after one step

    @property
    def is_partial(self) -> bool:
        return "/" in self.base


_FORM = re.compile(r"(?P<base>[A-Za-z][A-Za-z0-9_]*(?:/[A-Za-z][A-Za-z0-9_]*)?)(?P<plus>\+)?"
                   r"(?:\[(?P<sample>\d+)\])?(?:@(?P<after>\d+))?\Z")


def _canonical(name: str) -> str:
    return naming.TOTAL if name == "E" else name


def parse(text: str) -> Quantity:
    m = _FORM.match(text.strip().replace(" ", ""))
    if not m:
        raise QuantityError(f"cannot read quantity {text!r}: write e.g. net_h1, dE_total/dw5, w5+, E_total@10000")
    base = m["base"]
    if "/" in base:
        of, wrt = base.split("/")
        if not (of.startswith("d") and wrt.startswith("d")):
            raise QuantityError(f"cannot read quantity {text!r}: a partial derivative is written dA/dB")
        base = naming.partial(_canonical(of[1:]), _canonical(wrt[1:]))
    else:
        base = _canonical(base)
    sample = int(m["sample"]) - 1 if m["sample"] else None
    if sample is not None and sample < 0:
        raise QuantityError(f"{text!r}: samples are numbered from 1")
    return Quantity(text.strip(), base, sample, int(m["after"]) if m["after"] else None, bool(m["plus"]))
