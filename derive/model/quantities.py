"""Every name derive uses, as small frozen values with one parser (`parse`) and one formatter (`str`).

Neurons: inputs ``i1..``, outputs ``o1..``; with one hidden layer its neurons are ``h1..`` (the
article's names); with several, hidden layer ``l`` (counted from 1) holds ``h{l}_1, h{l}_2, ..``.
Parameters: weights ``w1..`` and biases ``b1..``.

Quantities, the user's grammar (tables, the ``[published]`` table, ``--claim``, ``--quantity``, the
Python API): ``net_h1``, ``out_o2``, ``target_o1``, ``E_o1``, ``E_total`` (also ``E``), ``delta_o1``
(δ = ∂E_total/∂net), an input ``i1``, a parameter ``w5``/``b1``; a partial derivative ``dA/dB``
(``dE_total/dw5``, ``dE/dw5``); a parameter after one step ``w5+``; anything after N training steps
``X@N``; with several samples, a per-sample value ``X[s]`` (s from 1). The optimizer's state after N
steps (`derive.model.optimizers`): ``g_w5@N`` (the gradient of step N's batch loss), ``buf_w5@N``
(the momentum buffer), ``m_w5@N``, ``v_w5@N``, the bias-corrected ``mhat_w5@N``, ``vhat_w5@N`` and
the step they make, ``update_w5@N`` (Adam).

Nothing outside this module takes a name apart: code asks a `Quantity` for its ``kind``, ``name``,
``of``/``wrt``, ``sample``, ``after`` and ``updated``, and `neuron_parts` for a neuron's layer.
"""

from __future__ import annotations

import difflib
import functools
import re
from dataclasses import dataclass, field, replace

from derive.escape import quoted
from derive.model.modes import Described

IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")



class Kind(Described):
    """The kinds of value a `Quantity` names (every kind but PARTIAL names one value of one sample)."""

    INPUT = "input", "an input of a sample"
    NET = "net", "a neuron's net input"
    OUT = "out", "a neuron's output"
    TARGET = "target", "an output's target"
    ERROR = "error", "an output's error"
    TOTAL = "total", "the total error"
    DELTA = "delta", "a neuron's delta, the derivative of the total error by its net input"
    WEIGHT = "weight", "a weight"
    BIAS = "bias", "a bias"
    TEMPORARY = "temporary", "a value a stable form computes on the way"
    PARTIAL = "partial", "a partial derivative"
    RATE = "rate", "the learning rate"
    STATE = "state", "an optimizer's state of one parameter"
    HYPERPARAMETER = "hyperparameter", "a setting of the optimizer"


INPUT, NET, OUT, TARGET, ERROR, TOTAL, DELTA, WEIGHT, BIAS, TEMPORARY, PARTIAL, RATE, STATE, HYPERPARAMETER = Kind
_PREFIX = {NET: "net_", OUT: "out_", TARGET: "target_", ERROR: "E_", DELTA: "delta_"}
_NEURON = re.compile(r"(?P<letter>[ioh])(?:(?P<layer>\d+)_)?(?P<index>\d+)\Z")
_PARAMETER = re.compile(r"(?P<letter>[wb])(?P<index>\d+)\Z")
_STATE = re.compile(r"(?P<slot>[a-z]+)_(?P<parameter>[wb]\d+)\Z")  # a slot of `optimizers.SLOTS`, ``m_w5``
_SUFFIXES = re.compile(r"(?P<base>[^+\[@]+)(?P<plus>\+)?(?:\[(?P<sample>\d+)\])?(?:@(?P<after>\d+))?\Z")
MAX_QUANTITY = 100  # characters of a quantity's name
MAX_STEPS = 1_000_000  # training steps (of a spec's steps, of E_total@N, of --steps): float64 makes no more sense
EXAMPLES = "net_h1, out_o1, E_o1, E_total, delta_o1, w5, dE_total/dw5, dout_o1/dnet_o1, w5+, E_total@10000, m_w5@1"


class QuantityError(ValueError):
    """A quantity name that does not parse or names nothing in the network (exit status 2)."""


@dataclass(frozen=True, eq=False)
class Quantity:
    """One value: ``kind`` and ``name`` (a neuron, a parameter, a temporary's name), or for a partial
    derivative ``of`` and ``wrt``, or for optimizer state the slot ``name`` of parameter ``of``;
    optionally one ``sample`` (from 0), the value ``after`` N training steps, or a parameter
    ``updated`` by one step. Equal, and hashed, by its canonical text."""

    kind: Kind
    name: str = ""
    of: Quantity | None = None
    wrt: Quantity | None = None
    sample: int | None = None
    after: int | None = None
    updated: bool = False
    latex_label: str | None = None  # a temporary's LaTeX, given by the registry entry that makes it
    text: str = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "text", _format(self))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Quantity({self.text!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Quantity) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __lt__(self, other: Quantity) -> bool:
        return self.text < other.text

    # -- structure ------------------------------------------------------------------------------
    @property
    def base(self) -> Quantity:
        """The same value with no sample, step count or update marker."""
        if self.sample is None and self.after is None and not self.updated:
            return self
        return replace(self, sample=None, after=None, updated=False)

    @property
    def subject(self) -> Quantity:
        """``of``, where the kind has one: A of a partial derivative dA/dB, the parameter of optimizer state."""
        if self.of is None:
            raise AttributeError(f"{self.text} has no 'of'")
        return self.of

    @property
    def variable(self) -> Quantity:
        """``wrt`` of a partial derivative: B of dA/dB."""
        if self.wrt is None:
            raise AttributeError(f"{self.text} has no 'wrt'")
        return self.wrt

    @property
    def is_parameter(self) -> bool:
        return self.kind in (WEIGHT, BIAS)

    @property
    def is_given(self) -> bool:
        """A value the spec gives, not one derive computes: an input, a target, a weight or bias before
        any step (not ``w1+``, not ``w1@1``)."""
        if self.updated or self.after:
            return False
        return self.kind in (INPUT, TARGET, WEIGHT, BIAS)

    @property
    def is_partial(self) -> bool:
        return self.kind == PARTIAL

    @property
    def neuron(self) -> str | None:
        """The neuron a neuron quantity (net, out, target, error, delta, input) belongs to."""
        return self.name if self.kind in (INPUT, *_PREFIX) else None

    def at_sample(self, sample: int | None) -> Quantity:
        return replace(self, sample=sample)

    def after_steps(self, steps: int | None) -> Quantity:
        return replace(self, after=steps)

    def with_update(self) -> Quantity:
        # (what replace(self, updated=True) makes, without its look at the fields: asked 25,450 times)
        return Quantity(self.kind, self.name, self.of, self.wrt, self.sample, self.after, True, self.latex_label)

    @property
    def subjects(self) -> list[str]:
        """The neurons and parameters the quantity names, in order (dE_o1/dout_h1: o1, h1)."""
        if self.kind == PARTIAL:
            return list(dict.fromkeys(self.subject.subjects + self.variable.subjects))
        if self.kind == STATE:
            return self.subject.subjects
        return [self.name] if self.name and self.kind not in (TEMPORARY, HYPERPARAMETER) else []

    def renamed(self, old: str, new: str) -> Quantity:
        """The same quantity with neuron or parameter ``old`` replaced by ``new`` (on both sides of dA/dB)."""
        if self.kind == PARTIAL:
            return replace(self, of=self.subject.renamed(old, new), wrt=self.variable.renamed(old, new))
        if self.kind == STATE:
            return replace(self, of=self.subject.renamed(old, new))
        return replace(self, name=new) if self.name == old and self.kind not in (TEMPORARY, HYPERPARAMETER) else self


def _format(q: Quantity) -> str:
    if q.kind == PARTIAL:
        text = f"d{q.of}/d{q.wrt}"
    elif q.kind == TOTAL:
        text = "E_total"
    elif q.kind == RATE:
        text = "eta"
    elif q.kind == STATE:
        text = f"{q.name}_{q.of}"
    elif q.kind in _PREFIX:
        text = _PREFIX[q.kind] + q.name
    else:
        text = q.name
    if q.updated:
        text += "+"
    if q.sample is not None:
        text += f"[{q.sample + 1}]"
    if q.after is not None:
        text += f"@{q.after}"
    return text


# -- constructors: the only way code makes names --------------------------------------------------
#: A quantity is immutable and equal by its text, so each constructor hands out one object per name:
#: a 784-32-10 network asks for its 25,450 parameters' quantities half a million times.
_kept = functools.lru_cache(maxsize=1 << 18)


@_kept
def net(neuron: str) -> Quantity:
    return Quantity(NET, neuron)


@_kept
def out(neuron: str) -> Quantity:
    """The value a neuron passes on; an input neuron's output is the input itself."""
    return Quantity(INPUT, neuron) if neuron_parts(neuron)[0] == "i" else Quantity(OUT, neuron)


@_kept
def target(output: str) -> Quantity:
    return Quantity(TARGET, output)


@_kept
def error(output: str) -> Quantity:
    return Quantity(ERROR, output)


@_kept
def delta(neuron: str) -> Quantity:
    return Quantity(DELTA, neuron)


TOTAL_ERROR = Quantity(TOTAL)
LEARNING_RATE = Quantity(RATE)  # eta, in update rules


@_kept
def parameter(name: str) -> Quantity:
    return Quantity(WEIGHT if name.startswith("w") else BIAS, name)


def partial(of: Quantity, wrt: Quantity) -> Quantity:
    if of.latex_label is None and wrt.latex_label is None:  # (a temporary's LaTeX is not in its text)
        return _partial(of, wrt)
    return Quantity(PARTIAL, of=of, wrt=wrt)


@_kept
def _partial(of: Quantity, wrt: Quantity) -> Quantity:
    return Quantity(PARTIAL, of=of, wrt=wrt)


@_kept
def gradient(name: str) -> Quantity:
    """dE_total/d<parameter>."""
    return partial(TOTAL_ERROR, parameter(name))


def state(slot: str, parameter_name: str) -> Quantity:
    """Optimizer state of one parameter (``m_w5``); a value only after N steps (``m_w5@1``)."""
    return Quantity(STATE, slot, of=parameter(parameter_name))


def hyperparameter(name: str, latex: str) -> Quantity:
    """A setting of the optimizer in update rules (beta1, eps); printed, never parsed."""
    return Quantity(HYPERPARAMETER, name, latex_label=latex)


def temporary(name: str, latex: str) -> Quantity:
    """A value the stable forms compute on the way (a log-sum-exp, a sum of targets)."""
    return Quantity(TEMPORARY, name, latex_label=latex)


# -- neurons and parameters -------------------------------------------------------------------------
def neuron_names(layers: list[int]) -> list[list[str]]:
    """Names of the neurons of every layer, input layer first."""
    hidden = len(layers) - 2
    names = [[f"i{j}" for j in range(1, layers[0] + 1)]]
    for h in range(1, hidden + 1):
        prefix = "h" if hidden == 1 else f"h{h}_"
        names.append([f"{prefix}{j}" for j in range(1, layers[h] + 1)])
    names.append([f"o{j}" for j in range(1, layers[-1] + 1)])
    return names


def neuron_parts(neuron: str) -> tuple[str, int | None, int]:
    """``h2_3`` -> ("h", 2, 3); ``o1`` -> ("o", None, 1)."""
    m = _NEURON.match(neuron)
    if not m:
        raise QuantityError(f"{quoted(neuron)} is not a neuron name (i1, h1, h2_1, o1)")
    return m["letter"], int(m["layer"]) if m["layer"] else None, int(m["index"])


def parameter_parts(name: str) -> tuple[str, int]:
    """``w5`` -> ("w", 5)."""
    m = _PARAMETER.match(name)
    if m is None:
        raise QuantityError(f"{quoted(name)} is not a parameter name (w1, b1)")
    return m["letter"], int(m["index"])


def weight_name(number: int) -> str:
    return f"w{number}"


def bias_name(number: int) -> str:
    return f"b{number}"


def _slots() -> dict:
    """The optimizer state a quantity can name (``m`` of ``m_w5@1``): the optimizers' registry's."""
    from derive.model.optimizers import SLOTS  # it names its hyperparameters as quantities

    return SLOTS


# -- the parser ---------------------------------------------------------------------------------
def _value(text: str, whole: str) -> Quantity:
    if text in ("E", "E_total"):
        return TOTAL_ERROR
    if _PARAMETER.match(text):
        return parameter(text)
    if (m := _STATE.match(text)) and m["slot"] in _slots():
        return state(m["slot"], m["parameter"])
    if _NEURON.match(text):
        if text.startswith("i"):
            return Quantity(INPUT, text)
        raise QuantityError(f"cannot read quantity {whole}: {text} is a neuron; name one of its values, "
                            f"e.g. net_{text} or out_{text}")
    for kind, prefix in _PREFIX.items():
        if text.startswith(prefix) and _NEURON.match(text[len(prefix):]):
            return Quantity(kind, text[len(prefix):])
    raise QuantityError(f"cannot read quantity {whole}: write e.g. {EXAMPLES}")


def parse(text: str) -> Quantity:
    """A quantity from the user's grammar (spaces ignored)."""
    whole = text.strip()
    if len(whole) > MAX_QUANTITY:  # 5,000 digits in E_total@N are no step count, and no message
        raise QuantityError(f"cannot read quantity {quoted(whole)}: a quantity is at most {MAX_QUANTITY} "
                            "characters")
    compact = whole.replace(" ", "")
    whole = quoted(whole)
    m = _SUFFIXES.match(compact)
    if not m or not compact:
        raise QuantityError(f"cannot read quantity {whole}: write e.g. {EXAMPLES}")
    base = m["base"]
    if "/" in base:
        of, _, wrt = base.partition("/")
        if not (of.startswith("d") and wrt.startswith("d")) or "/" in wrt:
            raise QuantityError(f"cannot read quantity {whole}: a partial derivative is written dA/dB")
        q = partial(_value(of[1:], whole), _value(wrt[1:], whole))
        if STATE in (q.subject.kind, q.variable.kind):
            raise QuantityError(f"cannot read quantity {whole}: optimizer state has no partial derivatives")
    else:
        q = _value(base, whole)
    if m["plus"] and not q.is_parameter:
        raise QuantityError(f"{whole}: only a parameter has a value after one step (like w5+)")
    if q.kind == STATE and m["sample"]:
        raise QuantityError(f"{whole}: optimizer state is one value for all the samples: write {q}@N")
    if q.kind == STATE and m["after"] is None:
        raise QuantityError(f"{whole}: optimizer state is a value after N steps: write {q}@N, e.g. {q}@1")
    sample = int(m["sample"]) - 1 if m["sample"] else None
    if sample is not None and sample < 0:
        raise QuantityError(f"{whole}: samples are numbered from 1")
    after = int(m["after"]) if m["after"] else None
    if after is not None and after > MAX_STEPS:
        raise QuantityError(f"{whole}: at most {MAX_STEPS} training steps (training runs in float64)")
    return replace(q, sample=sample, after=after, updated=bool(m["plus"]))


def after(steps: int) -> str:
    """``after 1 step``, ``after 2 steps``: the words every output writes behind a trained value."""
    return f"after {steps} step{'s' if steps != 1 else ''}"


def suggestion(text: str, known: list[str]) -> str:
    """`` (did you mean 'X'?)`` for a misspelled name (and a word on case where only the case is wrong),
    or an empty string."""
    same = [k for k in known if k.lower() == text.lower()]
    if same:
        return f" (did you mean {same[0]!r}? names are case-sensitive)"
    near = difflib.get_close_matches(text, known, n=1, cutoff=0.6)
    return f" (did you mean {near[0]!r}?)" if near else ""
