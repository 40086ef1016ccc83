"""How a long sum is written: the one rule every printer of a sum follows (the LaTeX document's
rows, the page's and the notebook's MathML, a sum over the samples).

A sum of more than `LIMIT` terms (a convolution unit's net input, a shared kernel entry's gradient
summed over every position, a shared bias's gradient) is written as its first `HEAD` terms, ⋯, and
its last `TAIL` terms, then the row below gives its value: ``a + b + c + ⋯ + z``. A term the row is
about (the one a derivative picks out of a net input) is kept wherever it stands.
"""

from __future__ import annotations

LIMIT = 5  # terms written in full; a longer sum is shortened
HEAD, TAIL = 3, 1  # terms kept at its start and at its end


def shown(count: int, keep=()) -> list[int | None]:
    """The positions of a sum's ``count`` terms that a printer writes, in order, with None where ⋯
    stands for the terms left out; ``keep``: positions written wherever they stand. A gap of one term
    is written, not replaced by ⋯."""
    if count <= LIMIT:
        return list(range(count))
    kept = sorted({*range(min(HEAD, count)), *range(max(count - TAIL, 0), count), *(k for k in keep if 0 <= k < count)})
    out: list[int | None] = []
    previous = -1
    for k in kept:
        if k - previous == 2:
            out.append(k - 1)
        elif k - previous > 2:
            out.append(None)
        out.append(k)
        previous = k
    return out


def elided(items: list, ellipsis) -> list:
    """``items`` (a sum's terms, printed) as they are written: `shown`'s terms, ``ellipsis`` for ⋯."""
    return [ellipsis if k is None else items[k] for k in shown(len(items))]
