"""A network with a batchnorm layer: its samples are one batch, computed in one pass.

Batch normalization in training mode couples the samples: each feature's mean and variance are taken
over the batch, so no sample's numbers stand alone. derive writes such a network as the recurrent
layers' machinery already writes a sequence: the batch is one sequence whose step t is sample t (its
inputs the samples' inputs, sample by sample; its targets their targets), every linear layer is
applied at every step with its weights shared (PyTorch's ``Linear`` on the [samples, features] tensor),
and a batchnorm layer reads the whole sequence, as an attention head does. The total error then sums
the loss over the samples, as the spec's ``reduction = "sum"`` does; everything else (the derivation,
its checks, the code targets, the page, the grader) sees an ordinary network of one sample.
"""

from __future__ import annotations

import dataclasses

import sympy as sp

from derive.escape import quoted
from derive.model import quantities as Q
from derive.model.checking import MAX_SAMPLES
from derive.model.layers import KINDS, SEQUENCE_OUTPUT, WHOLE_BATCH, Read, batch_size, kind_of, unknown_keys
from derive.model.registry import LOSSES


def given(tables) -> bool:
    """Whether a spec's ``[[layer]]`` tables hold a kind that reads the whole batch (batchnorm)."""
    return isinstance(tables, list) and any(getattr(KINDS.get(t["type"]), "batch", False) for t in tables
                                            if isinstance(t, dict) and isinstance(t.get("type"), str))


def _size(t: dict, name: str, check) -> int:
    """The batch's size, the number of samples, with what the batch's one pass does not allow refused."""
    samples = t.get("samples")
    count = len(samples) if isinstance(samples, list) else 0
    if count < 2:
        check.fail(f"a {name} layer normalizes each feature over the batch's samples, and this spec has {count} "
                   f"sample{'s' * (count != 1)}: training-mode BatchNorm needs at least two (the variance over one "
                   "is 0), as PyTorch's does: add [[samples]]")
    if t.get("reduction", "sum") != "sum":
        check.fail(f"reduction = {quoted(str(t['reduction']))} with a {name} layer is not available yet: the batch's "
                   "samples are one pass, their errors summed (reduction = \"sum\")")
    if SEQUENCE_OUTPUT in t:
        check.fail(f"{SEQUENCE_OUTPUT} is for a network with a recurrent layer; with a {name} layer every layer "
                   "is applied to every sample")
    training = t.get("training")
    if isinstance(training, dict) and training.get("batch_size", 0) != 0:
        check.fail(WHOLE_BATCH.format("training.batch_size", training["batch_size"]))
    if count > MAX_SAMPLES:
        check.fail(f"samples has {count} pairs; the limit is {MAX_SAMPLES}")
    return count


def read_layers(tables: list, shape: tuple[int, ...], t: dict, check) -> list[Read]:
    """Each ``[[layer]]`` table read by its kind: a batch kind over (samples, features), any other (a
    linear layer) on one sample's features, applied at every sample."""
    kinds = [kind_of(table, f"layer[{k}]", check) for k, table in enumerate(tables)]
    name = next(kind.name for kind in kinds if getattr(kind, "batch", False))
    samples = _size(t, name, check)
    if len(shape) != 1:
        check.fail(f"input = {list(shape)}: a network with a {name} layer reads a vector of features per sample")
    read: list[Read] = []
    for k, (table, kind) in enumerate(zip(tables, kinds, strict=True)):
        key = f"layer[{k}]"
        unknown_keys(table, key, kind.keys, check)
        if getattr(kind, "batch", False):
            r = kind.read(table, key, (samples, *shape), check)
            shape = r.layer.shape[1:]
        elif not (kind.combination or getattr(kind, "sequential", False) or getattr(kind, "sequence", False)
                  or getattr(kind, "recurrent", False)):
            r = kind.read(table, key, shape, check)
            if len(r.layer.shape) != 1:
                check.fail(f"{key}: a {kind.name} layer in a network with a {name} layer is not available yet")
            r = Read(dataclasses.replace(r.layer, steps=samples), r.activation, r.weight, r.bias)
            shape = r.layer.shape
        else:
            check.fail(f"{key}: a {kind.name} layer in a network with a {name} layer is not available yet (its "
                       f"samples are one batch, which linear and {name} layers read)")
        read.append(r)
    if getattr(kinds[-1], "batch", False):  # its y's are the outputs: derive's readout copies them
        read.append(KINDS["readout"].after(read[-1].layer, "all"))  # type: ignore[attr-defined]
    return read


def samples(t: dict, shape: tuple[int, ...], targets: tuple[int, ...], check) -> list[dict]:
    """The batch as one sample: every sample's inputs, sample by sample, and their targets alike, each
    sample checked first as the spec's samples are (`Spec.samples`: its messages name the sample)."""
    name = t.get("loss")
    loss = LOSSES.get(name) if isinstance(name, str) else None  # a spec's own loss asks no unit interval
    given = check.samples(t["samples"], (shape[-1], targets[-1]), loss is not None and loss.targets_in_unit_interval,
                          name)
    return [{"inputs": [x for s in given for x in s.inputs], "targets": [y for s in given for y in s.targets]}]


def shifted_away(network, k: int) -> set[str]:
    """The biases whose gradient is exactly 0 below batch layer ``k`` (the textbook's "a bias before
    batchnorm does nothing"): its outputs do not change when every sample's feature j moves by the same
    amount (its mean moves with it), so a bias added to feature j of every sample just below it, through no
    activation (out = net), has dE/db = sum over t of dE/dx_tj = 0 exactly. Ball arithmetic cannot decide a
    0 reached through the square roots of the variances; this is its proof (the batchnorm kind's
    ``zero_gradients``, gathered by `layers.exact_zeros`)."""
    if k < 2:  # (it reads the inputs: no bias below it)
        return set()
    x = sp.Symbol("x")
    samples, features = network.typed(k).shape_in
    read = network.exposed(k - 1)
    columns = {frozenset(read[t * features + j] for t in range(samples)) for j in range(features)}
    return {p.name for p in network.parameters if p.layer == k - 1 and p.kind == Q.BIAS
            and frozenset(p.feeds) in columns and all(network.activation(u).out(x) == x for u in p.feeds)}


def batch_inputs(spec) -> str:
    """What the generated code's inputs and targets are for a batch network, whose samples are one pass
    side by side (`layers.samples`), in words; "" for any other network."""
    batch = batch_size(spec.kinds)
    if not batch:
        return ""
    sample = spec.samples[0]
    return (f"The network normalizes over a batch of {batch} samples, so one call takes the whole batch: inputs are "
            f"its {batch} samples' {len(sample.inputs) // batch} inputs each, sample by sample (INPUTS = "
            f"{len(sample.inputs)}), targets likewise (OUTPUTS = {len(sample.targets)}), and loss is E_total of the "
            "batch.")
