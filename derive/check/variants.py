"""The usual variants of the computation and the usual slips, each a way to get a (wrong) number.

Each `Variant` builds a `Resolver` that computes every quantity that way, so a published or claimed
number can be explained by the variant(s) that reproduce it to the digits it shows:

- evaluation variants rewrite the derivation's steps (the article's way, factor by factor): every
  intermediate rounded to the printed digits, a weight used in place of another, a chain-rule factor
  left out, the 1/2 of the loss dropped, a sign error in dE/dout, a hidden layer computed with another
  activation (`derive.check.activation_variants`);
- training variants change how steps are taken: the training option ``update_order = "in_place"``
  (each layer updated as soon as its gradients are known, the deltas below taken through the updated
  weights: its steps and its first step's values, from the engine's one rule), biases updated or
  frozen, a step count off by one, and the optimizers' own slips (`derive.check.optimizer_variants`);
- value variants: the number's sign flipped, an update with + instead of -.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import mpmath
import sympy as sp

from derive.check.activation_variants import activation_swaps
from derive.check.optimizer_variants import optimizer_variants
from derive.check.resolve import Resolver, default_trainer
from derive.derivation.evaluate import evaluate
from derive.derivation.exact_training import Snapshot
from derive.derivation.steps import DISPLAY, ERROR, FORWARD, GRADIENTS, HIDDEN_DELTAS, OUTPUT_DELTAS, Derivation
from derive.model import layers as kinds
from derive.model import quantities as Q
from derive.model.decimals import round_sig
from derive.model.network import Network
from derive.model.optimizers import IN_PLACE, PLAIN

SWAP_LIMIT = 40  # parameters; above it, the quadratic search over weight pairs is skipped


@dataclass(frozen=True)
class Variant:
    """One way to get a number. An evaluation variant also carries its ``transform`` (step, model) ->
    expression, or its ``round_to``, so that two slips can be combined (`derive.check.pairs`) and a
    slip can be tried on a learner's own earlier numbers (`derive.check.carried`)."""

    key: str
    description: str
    build: Callable[[], Resolver]
    transform: Callable | None = None
    round_to: Callable | None = None
    whole: bool = False  # a way of computing everything (in-place training) though it has no transform
    usual: bool = False  # a layer kind's usual slip (`derive.model.layers`): ranked among the common ones


def _usual(variant: Variant) -> Variant:
    return dataclasses.replace(variant, usual=True)


def _eval(model, key: str, description: str, transform=None, round_to=None) -> Variant:
    return Variant(key, description, lambda: _evaluation_variant(model, transform, round_to), transform, round_to)


# -- evaluation variants ---------------------------------------------------------------------------
def _article_way(step, model):
    """Backward steps from their named factors (dE/dout · dout/dnet), as a hand calculation goes."""
    return step.compute if step.phase in (FORWARD, ERROR) else step.formula


def _evaluation_variant(model, transform=None, round_to=None) -> Resolver:
    base = transform or _article_way
    evaluation = evaluate(model.derivation, transform=lambda s: base(s, model), round_to=round_to)
    return _OneStepResolver(model, evaluation)


class _OneStepResolver(Resolver):
    """A variant of the derivation trains one step with its own gradients (E_total@1); longer runs
    are left to the training variants."""

    def __init__(self, model, evaluation):
        one_step = Snapshot(1, {p.name: evaluation.totals[p.quantity.with_update()] for p in model.network.parameters},
                            {})
        super().__init__(model, evaluation, lambda steps: one_step if steps == 1 else _skip())


class _Skip(Exception):
    pass


def _skip():
    raise _Skip


def _rounder(digits: int, decimals: bool):
    """Round as a hand calculation does: half up, after clearing the binary noise of 60 digits."""
    def rounded(v):
        d = round_sig(v, 40)
        quantum = Decimal(1).scaleb(-digits if decimals else d.adjusted() - digits + 1)
        return mpmath.mpf(str(d.quantize(quantum, rounding=ROUND_HALF_UP)))
    return rounded


def _replace_in(phases, mapping):
    def transform(step, model):
        expr = _article_way(step, model)
        return expr.xreplace(mapping) if step.phase in phases else expr
    return transform


def _evaluation_variants(model) -> list[Variant]:
    network, derivation = model.network, model.derivation
    sym = network.symbol
    out = []
    for digits in range(9, 2, -1):
        out.append(_eval(model, f"rounded_{digits}_decimals",
                         f"every intermediate value rounded to {digits} decimal places before it is used",
                         round_to=_rounder(digits, True)))
        out.append(_eval(model, f"rounded_{digits}_significant",
                         f"every intermediate value rounded to {digits} significant digits before it is used",
                         round_to=_rounder(digits, False)))
    L = len(network.layers) - 1
    backward = (DISPLAY, OUTPUT_DELTAS, HIDDEN_DELTAS, GRADIENTS)
    by_layer = {}
    for layer, neurons in enumerate(network.layers[1:], start=1):
        factors = {sym(Q.partial(Q.out(n), Q.net(n))): sp.S.One for n in neurons
                   if Q.partial(Q.out(n), Q.net(n)) in derivation.step}
        by_layer[layer] = factors
    if by_layer.get(L):
        out.append(_eval(model, "no_output_activation_derivative",
                         "the activation's derivative dout/dnet left out of the output deltas",
                         _replace_in((OUTPUT_DELTAS,), by_layer[L])))
    hidden = {k: v for layer, f in by_layer.items() if layer < L for k, v in f.items()}
    if hidden:
        out.append(_eval(model, "no_hidden_activation_derivative",
                         "the activation's derivative dout/dnet left out of the hidden deltas",
                         _replace_in((HIDDEN_DELTAS,), hidden)))
    if hidden and by_layer.get(L):
        every = {**hidden, **by_layer[L]}
        out.append(_eval(model, "no_activation_derivative", "the activation's derivative dout/dnet left out everywhere",
                         _replace_in((OUTPUT_DELTAS, HIDDEN_DELTAS), every)))
    sources = {sym(t.factor): sp.S.One for terms in network.net_terms.values() for t in terms if t.factor}
    out.append(_eval(model, "no_dnet_dw",
                     "the factor dnet/dw (the input the weight multiplies) left out of the weight gradients",
                     _replace_in((GRADIENTS,), sources)))
    for at, where in ((0, "first"), (-1, "last")):
        shared = {Q.gradient(p.name): sym(Q.delta(p.feeds[at])) * sym(Q.out(p.sources[at]))
                  for p in network.parameters if p.kind == Q.WEIGHT and p.shared and p.sources[at] is not None}
        if shared:
            def one_position(step, model, shared=shared):
                return shared[step.quantity] if step.quantity in shared else _article_way(step, model)
            out.append(_eval(model, "shared_weight_one_position" if at == 0 else "shared_weight_last_position",
                             f"a shared weight's gradient (a kernel entry's, a recurrent layer's) taken at its {where} "
                             "position (step) only, not summed over every position it is used at", one_position))
    d_out = {Q.partial(Q.TOTAL_ERROR, Q.out(o)) for o in network.outputs}
    d_out = {q for q in d_out if q in derivation.step}
    if d_out:
        def flip(step, model):
            expr = _article_way(step, model)
            return -expr if step.quantity in d_out else expr
        out.append(_eval(model, "sign_dE_dout",
                         "the sign of dE/dout flipped: (target - out) written for -(target - out)", flip))
    scaled = frozenset({Q.error(o) for o in network.outputs} | d_out)
    for slip in network.loss.slips:  # the loss's own slips: its error terms off by a factor
        def scale(step, model, factor=slip.factor):
            expr = _article_way(step, model)
            return factor * expr if step.quantity in scaled else expr
        out.append(_eval(model, slip.key, slip.description, scale))
    if L > 1:
        for o in network.outputs:
            keep = sym(Q.delta(o))
            def one_path(step, model, keep=keep):
                expr = _article_way(step, model)
                q = step.quantity
                if step.phase == HIDDEN_DELTAS and q.is_partial and q.of == Q.TOTAL_ERROR and step.layer == L - 1:
                    return sp.Add(*(t for t in sp.Add.make_args(expr) if t.has(keep)))
                return expr

            out.append(_eval(model, f"one_path_{o}",
                             f"a hidden output's gradient taken through {o} only, the other outputs' paths left out",
                             one_path))
    for k in range(1, L + 1):  # the layer kinds' own slips
        for slip in network.kind(k).slips(network.typed(k), [p for p in network.parameters if p.layer == k]):
            if slip.connections:
                out.append(_usual(_eval(model, slip.key, slip.description, _forward_as(network, k, slip.connections))))
                continue
            if slip.inputs:
                taken = {sym(Q.out(a)): sym(Q.out(b)) for a, b in slip.inputs}
                out.append(_usual(_eval(model, slip.key, slip.description, _gradients_of(k, taken))))
                continue
            mapping = {sym(Q.parameter(name)): sym(Q.parameter(value)) if isinstance(value, str) else sp.Integer(value)
                       for name, value in slip.replace.items()}
            out.append(_usual(_eval(model, slip.key, slip.description,
                                    _replace_in(backward if slip.backward else (FORWARD,), mapping))))
    out += [_usual(v) for v in _local_slips(model)]
    if len(model.parameters) <= SWAP_LIMIT:
        weights = [p for p in network.parameters if p.kind == Q.WEIGHT]
        for a in weights:
            for b in weights:
                if a is b or a.layer != b.layer:
                    continue
                mapping = {sym(a.quantity): sym(b.quantity)}
                if a.layer > 1:
                    out.append(_eval(model, f"swap_backward_{a.name}_{b.name}",
                                     f"{b.name} used in place of {a.name} in the backward pass",
                                     _replace_in(backward, mapping)))
                out.append(_eval(model, f"swap_forward_{a.name}_{b.name}",
                                 f"{b.name} used in place of {a.name} in the forward pass",
                                 _replace_in((FORWARD,), mapping)))
    return out


def _gradients_of(k: int, mapping):
    """A transform: ``mapping`` applied in layer k's weight gradients only."""
    def transform(step, model):
        expr = _article_way(step, model)
        return expr.xreplace(mapping) if step.phase == GRADIENTS and step.layer == k else expr
    return transform


def _forward_as(network, k: int, connections):
    """A transform: layer k's net inputs summed over the slip's ``connections`` (per unit: (input,
    weight entry) pairs and its bias's entry), unit j of the slip's layer in place of the layer's unit j."""
    sym = network.symbol
    weights = {p.index: sym(p.quantity) for p in network.parameters if p.layer == k and p.kind == Q.WEIGHT}
    biases = {p.index: sym(p.quantity) for p in network.parameters if p.layer == k and p.kind == Q.BIAS}
    below = network.layers[k - 1]
    nets = {Q.net(unit): sp.Add(*(weights[e] * sym(Q.out(below[i])) for i, e in reads), biases.get(b, 0))
            for unit, (reads, b) in zip(network.layers[k], connections, strict=False)}  # the fewer units

    def transform(step, model):
        return nets[step.quantity] if step.quantity in nets else _article_way(step, model)
    return transform


def _local_slips(model) -> list[Variant]:
    """The slips of each layer without parameters (pooling, `derive.model.layers.Combination.slips`):
    its local partials dnet/dout, each a factor of its own, taken as the slip takes them."""
    network, out = model.network, []
    for k in range(1, network.depth + 1):
        combination = network.kind(k).combination
        for slip in combination.slips if combination is not None else ():
            local = {}
            for unit in network.layers[k]:
                window = [network.symbol(t.factor) for t in network.net_terms[unit] if t.factor is not None]
                for i, t in enumerate(network.net_terms[unit]):
                    local[Q.partial(Q.net(unit), t.factor)] = slip.partial(window, i)

            def taken(step, model, local=local):
                return local.get(step.quantity) if step.quantity in local else _article_way(step, model)
            out.append(_eval(model, f"{slip.key}_{k}", f"layer {k}: {slip.description}", taken))
    return out + _path_slips(model)


def _path_slips(model) -> list[Variant]:
    """The slips of each kind whose units multiply other units' outs (`derive.model.layers.PathSlip`):
    the local partials dnet/dout along the slip's paths taken as 0."""
    network, out = model.network, []
    for k in range(1, network.depth + 1):
        slips = getattr(network.kind(k), "path_slips", ())
        typed, position = network.typed(k), {n: j for j, n in enumerate(network.layers[k])}
        part = {n: kinds.step_part(typed, j)[0] for n, j in position.items()} if slips else {}
        for slip in slips:
            scale = slip.factor(typed) if slip.factor is not None else sp.S.Zero
            local = {Q.partial(Q.net(unit), t.factor): t.coefficient * scale for unit in network.layers[k]
                     for t in network.net_terms[unit] if t.factor is not None
                     and (part[unit], part.get(t.factor.name, kinds.BELOW)) in slip.paths
                     and (slip.where is None or slip.where(typed, position[unit], position.get(t.factor.name, -1)))}
            if not local:
                continue

            def taken(step, model, local=local):
                return local.get(step.quantity) if step.quantity in local else _article_way(step, model)
            out.append(_eval(model, f"{slip.key}_{k}", f"layer {k}: {slip.description}", taken))
    return out + _setting_slips(model)


def _setting_slips(model) -> list[Variant]:
    """The slips of a kind whose forward pass a learner takes otherwise (`setting_slips`: a batch variance
    taken unbiased, eps dropped): the network with that layer's settings so, derived and evaluated as any."""
    network, out = model.network, []
    for k in range(1, network.depth + 1):
        for key, description, settings in getattr(network.kind(k), "setting_slips", ()):
            out.append(Variant(f"{key}_{k}", f"layer {k}: {description}",
                               functools.partial(_settings_taken, model, k, dict(settings))))
    return out


def _settings_taken(model, k: int, settings: dict) -> Resolver:
    typed = model.network.typed(k)
    taken = dataclasses.replace(typed, settings=tuple((n, settings.get(n, v)) for n, v in typed.settings))
    spec = dataclasses.replace(model.spec, kinds=tuple(taken if t is typed else t for t in model.spec.kinds))
    return _OneStepResolver(model, evaluate(Derivation(Network(spec))))


# -- training variants -----------------------------------------------------------------------------
IN_PLACE_DESCRIPTION = (
    'update_order = "in_place": each layer\'s weights updated as soon as their gradients are known, so the '
    "deltas of the layer below go through the updated weights (within one step, the forward values unchanged)"
)


def _in_place(model, freeze: bool) -> Resolver:
    """The training option `IN_PLACE` (one rule, the engine's): its steps, and the values of the first
    step (the deltas through the updated weights, the gradients and ``w1+`` from them)."""
    settings = model.spec.training.configured({"freeze_biases": freeze, "update_order": IN_PLACE})
    trainer = default_trainer(model, settings)
    first = trainer(1).parameters
    evaluation = evaluate(model.derivation, backward=first)
    for p in model.network.parameters:
        evaluation.totals[p.quantity.with_update()] = first[p.name]
    return Resolver(model, evaluation, trainer)


class _OffByOne(Resolver):
    def __init__(self, model, delta: int):
        base = default_trainer(model)
        super().__init__(model, trainer=lambda steps: base(steps + delta) if steps + delta >= 0 else _skip())


def _training_variants(model) -> list[Variant]:
    frozen = model.spec.freeze_biases
    toggled = "biases updated too" if frozen else "biases frozen (weights only)"
    settings = model.spec.training
    out = [Variant("biases_toggled", toggled, lambda: Resolver(
        model, trainer=default_trainer(model, settings.configured({"freeze_biases": not frozen}))))]
    if settings.optimizer == PLAIN:
        out += [
            Variant("in_place", IN_PLACE_DESCRIPTION, lambda: _in_place(model, frozen), whole=True),
            Variant("in_place_biases_toggled", f"{IN_PLACE_DESCRIPTION}; and {toggled}",
                    lambda: _in_place(model, not frozen), whole=True),
        ]
    return [
        *out,
        Variant("one_step_fewer", "one training step fewer (a step count off by one)", lambda: _OffByOne(model, -1)),
        Variant("one_step_more", "one training step more (a step count off by one)", lambda: _OffByOne(model, +1)),
        *(Variant(key, description, build) for key, description, build in optimizer_variants(model)),
    ]


# -- value variants --------------------------------------------------------------------------------
class _Negated(Resolver):
    def value(self, quantity):
        return -super().value(quantity)


class _PlusUpdate(Resolver):
    def value(self, quantity):
        q = quantity
        if not (isinstance(q, Q.Quantity) and q.updated and q.after is None):
            raise _Skip
        totals = self.evaluation.totals
        rate = mpmath.mpf(float(self.model.spec.learning_rate))
        return totals[q.base] + rate * totals[Q.gradient(q.name)]


def _activation_variants(model) -> list[Variant]:
    return [_eval(model, key, description, lambda step, model, r=rewrite: r(step, _article_way(step, model)))
            for key, description, rewrite in activation_swaps(model)]


def variants(model) -> list[Variant]:
    """Every variant, the most common slips first (the audit ranks reproducing ones in this order)."""
    return _evaluation_variants(model) + _activation_variants(model) + _training_variants(model) + [
        Variant("sign_flipped", "the sign of the result flipped", lambda: _Negated(model)),
        Variant("plus_update", "the update taken with + instead of -: w + eta dE/dw", lambda: _PlusUpdate(model)),
    ]


SKIP = (_Skip,)
