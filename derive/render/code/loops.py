"""The loop form shared by the C, Python and NumPy targets: a network as layers (matrix form), above
a size where straight-line code stops paying (see benchmarks/bench_targets.py)."""

from __future__ import annotations

from derive.derivation import layers as L
from derive.model import layers as kinds

#: parameters above which C and Python code is written in loop form. Measured (C, per training step): at
#: 403 parameters straight-line is a little faster (1.0 vs 1.2 us); at 1,732 loops are (3.3 vs 5.9 us) and
#: straight-line takes 9 s to compile (0.4 s in loops); 8,320 straight-line parameters take 112 s.
LOOP_THRESHOLD = 1000
#: terms of the net inputs above which code is written in loop form whatever the parameters: a weight
#: shared by many units (a kernel at every position, W_hh at every step) makes straight-line code long
#: for few parameters (an rnn of 417 parameters over 20 steps: 8,340 terms, 42 s for gcc to compile its
#: straight-line C, 0.25 s in loops). A dense network has as many terms as parameters: its form is as before.
TERMS_THRESHOLD = 2 * LOOP_THRESHOLD


def _lowered(network, k: int) -> bool:
    """Whether layer k's kind has its loop form (`Kind.lowering`) here: where it reads some of the
    layer below's units only (an LSTM's hidden states), a kind whose lowering reads through those
    positions (`reads_positions`: a linear layer's table, a unit-by-unit lowering)."""
    kind = network.kind(k)
    if kind.lowering is None:
        return False
    return k == 1 or getattr(kind, "reads_positions", False) or (
        kinds.exposed(network.typed(k - 1)) == tuple(range(len(network.layers[k - 1]))))


def lowerable(network) -> bool:
    """Whether every layer has its loop form (else the code is straight-line at every size)."""
    return all(_lowered(network, k) for k in range(1, network.depth + 1))


def unlowered(network) -> str | None:
    """Why the network has no loop form, in words (None: every layer has one)."""
    for k in range(1, network.depth + 1):
        if not _lowered(network, k):
            kind = network.kind(k)
            if kind.lowering is None:
                return f"{kind.name} layers do not have yet"
            return (f"layer {k} ({kind.name}) does not have where it reads only some of the units of layer {k - 1} "
                    f"({network.kind(k - 1).name}: its hidden states, without its gates or initial state)")
    return None


def loop_form(network) -> bool:
    """Whether the code is written in loop form: above a size (where every kind has one)."""
    return lowerable(network) and (len(network.parameters) > LOOP_THRESHOLD
                                   or sum(map(len, network.net_terms.values())) > TERMS_THRESHOLD)


def symbol_names(table: dict, rows: dict):
    """How a layer program's symbols print in loop form: the layer-wide ones (net, out, target, the
    back-propagated vector) by ``table``, one neuron's entry by ``rows`` (``z1[3]``), others by name."""

    def name_of(symbol):
        if symbol in table:
            return table[symbol]
        entry = L.index_of(symbol)
        return f"{rows[entry[0]]}[{entry[1]}]" if entry else symbol.name

    return name_of
