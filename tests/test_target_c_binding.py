"""The C binding's forms of parameters, inputs and targets: a dict, a Named (what it returns for a
mapping), any mapping, a list, a tuple, any iterable, a vector, a NumPy array, an array.array. Every
form gives exactly (==) the numbers of a ctypes vector built here by hand (the path the fast paths
replace); buffers are read where they lie and updated in place (their address is what the C gets);
anything but C-contiguous float64 of the right length is one clear error."""

import array
import copy
import ctypes
import json
import pickle
import types
from collections import defaultdict

import numpy
import pytest
from conftest import spec_text
from networks import ZOO
from targets import load_c, needs_cc

import derive

pytestmark = needs_cc


ONE = spec_text(name='"one"', layers="[1, 1]", bias='"none"', weights="[[[0.5]]]", biases=None,
                samples="[[samples]]\ninputs = [0.3]\ntargets = [0.7]\n")  # a single parameter


@pytest.fixture(scope="module", params=["reference", "deep_tanh_relu", "one parameter"])
def net(request, tmp_path_factory):
    """A C module, its spec's first sample, and its parameters as a hand-built ctypes vector."""
    if request.param == "reference":
        model = derive.load()
    else:
        model = derive.Model(derive.parse(ZOO.get(request.param, ONE), "net.toml"))
    cmod = load_c(model, tmp_path_factory.mktemp("binding"))
    sample = model.spec.samples[0]
    x, t = [float(v) for v in sample.inputs], [float(v) for v in sample.targets]
    return cmod, x, t, [float(cmod.INITIAL[p]) for p in cmod.PARAMETERS]


def by_hand(cmod, values):
    return (ctypes.c_double * len(values))(*values)


def expected(cmod, values, x, t):
    """forward, loss, gradient, train_step and 3 steps of adam, each on a fresh hand-built vector."""
    state = {}
    trained = cmod.train(by_hand(cmod, values), [(x, t)], 3, 0.1, optimizer="adam", state=state)
    return (cmod.forward(by_hand(cmod, values), x), cmod.loss(by_hand(cmod, values), x, t),
            cmod.gradient(by_hand(cmod, values), x, t), cmod.train_step(by_hand(cmod, values), x, t)[:],
            trained[:], state)


PARAMS = {
    "dict": lambda m, v: dict(zip(m.PARAMETERS, v, strict=True)),
    "Named": lambda m, v: m.Named(by_hand(m, v)),
    "mapping proxy": lambda m, v: types.MappingProxyType(dict(zip(m.PARAMETERS, v, strict=True))),
    "list": lambda m, v: list(v),
    "tuple": lambda m, v: tuple(v),
    "iterable": lambda m, v: iter(v),
    "numpy": lambda m, v: numpy.array(v),
    "array.array": lambda m, v: array.array("d", v),
}
SAMPLES = {
    "list": list,
    "tuple": tuple,
    "numpy": numpy.array,
    "read-only numpy": lambda v: numpy.frombuffer(numpy.array(v).tobytes()),
    "array.array": lambda v: array.array("d", v),
}


def as_list(cmod, result):
    """A result's numbers in PARAMETERS order, checking its type for the form of params given."""
    if isinstance(result, cmod.Named):
        assert list(result) == list(cmod.PARAMETERS)
        return [result[p] for p in cmod.PARAMETERS]
    return result.tolist() if hasattr(result, "tolist") else list(result)


@pytest.mark.parametrize("sample_form", sorted(SAMPLES))
@pytest.mark.parametrize("form", sorted(PARAMS))
def test_every_form_gives_the_numbers_of_a_vector(net, form, sample_form):
    cmod, x, t, values = net
    forward, loss, gradient, step, trained, state = expected(cmod, values, x, t)
    make, xs, ts = PARAMS[form], SAMPLES[sample_form](x), SAMPLES[sample_form](t)
    mapping = form in ("dict", "Named", "mapping proxy")
    assert cmod.forward(make(cmod, values), xs) == forward
    assert cmod.loss(make(cmod, values), xs, ts) == loss
    g = cmod.gradient(make(cmod, values), xs, ts)
    assert type(g) is (cmod.Named if mapping else list) and as_list(cmod, g) == gradient
    params = make(cmod, values)
    result = cmod.train_step(params, xs, ts)
    assert as_list(cmod, result) == step
    assert type(result) is {"numpy": numpy.ndarray, "array.array": array.array}.get(
        form, cmod.Named if mapping else list)
    if form in ("numpy", "array.array"):
        assert result is params  # updated in place
    elif form == "Named":
        assert as_list(cmod, params) == values  # a Named given is left as it was: the result is new
    got_state, params = {}, make(cmod, values)
    result = cmod.train(params, [(xs, ts)], 3, 0.1, optimizer="adam", state=got_state)
    assert as_list(cmod, result) == trained and got_state == state
    assert (result is params) == (form in ("numpy", "array.array"))
    assert cmod.vector(make(cmod, values))[:] == values


def test_a_buffer_is_what_the_c_reads_and_writes(net, monkeypatch):
    """The C gets the address of a NumPy array's own memory, for params, inputs and targets alike."""
    cmod, x, t, values = net
    p, xs, ts = numpy.array(values), numpy.array(x), numpy.array(t)
    real = cmod._c()  # the library's functions
    seen = []

    def spy(name):
        def call(*args):
            seen.append((name, [ctypes.addressof(a) for a in args[:3]]))
            return getattr(real, name)(*args)
        return call

    monkeypatch.setattr(cmod, "_fn", types.SimpleNamespace(**{n: spy(n) for n in ("forward", "loss", "gradient")}))
    monkeypatch.setattr(cmod, "_c_train_step", spy("train_step"))
    cmod.forward(p, xs)
    cmod.loss(p, xs, ts)
    cmod.gradient(p, xs, ts)
    assert cmod.train_step(p, xs, ts) is p
    monkeypatch.undo()
    addresses = [a.ctypes.data for a in (p, xs, ts)]
    assert seen == [("forward", [*addresses[:2], ctypes.addressof(cmod._OUT)]), ("loss", addresses),
                    ("gradient", addresses), ("train_step", addresses)]
    assert p.tolist() == cmod.train_step(by_hand(cmod, values), x, t)[:] != values


def test_the_fast_path_of_a_vector_calls_the_c_with_its_own_buffers(net):
    cmod, x, t, values = net
    vector = by_hand(cmod, values)
    assert cmod.train_step(vector, x, t) is vector
    assert cmod.train_step(vector, x, t, 0.25) is vector
    want = cmod.train_step(cmod.train_step(by_hand(cmod, values), tuple(x), tuple(t)), tuple(x), tuple(t), 0.25)
    assert vector[:] == want[:]


def messages(cmod, x, t):
    n = len(cmod.PARAMETERS)
    inputs, outputs = len(x), len(t)
    good = numpy.array([float(cmod.INITIAL[p]) for p in cmod.PARAMETERS])
    not_double = "expected float64 values (a C double), got a buffer of format 'f'"
    strided = ("the buffer is not C-contiguous (e.g. a slice with a step): copy it first, "
               "e.g. numpy.ascontiguousarray")
    frozen = numpy.frombuffer(good.tobytes())
    return {
        "params too short": (lambda f: f(good[:-1]), f"params: expected {n} values in PARAMETERS order, got {n - 1}"),
        "params float32": (lambda f: f(good.astype(numpy.float32)), f"params: {not_double}"),
        "params int64": (lambda f: f(numpy.arange(n)), "params: expected float64 values (a C double), got a "
                                                       "buffer of format 'l'"),
        "params bytes": (lambda f: f(bytes(8 * n)), "params: expected float64 values (a C double), got a buffer "
                                                    "of format 'B'"),
        "params strided": (lambda f: f(numpy.repeat(good, 2)[::2]), f"params: {strided}"),
        "inputs too long": (lambda f: f(good, numpy.zeros(inputs + 1)),
                            f"inputs: expected {inputs} values, got {inputs + 1}"),
        "inputs float32": (lambda f: f(good, numpy.zeros(inputs, numpy.float32)), f"inputs: {not_double}"),
        "inputs strided": (lambda f: f(good, numpy.zeros(2 * inputs)[::2]), f"inputs: {strided}"),
        "targets too short": (lambda f: f(good, x, numpy.zeros(outputs - 1)),
                              f"targets: expected {outputs} values, got {outputs - 1}"),
        "targets float32": (lambda f: f(good, x, numpy.zeros(outputs, numpy.float32)), f"targets: {not_double}"),
        "a read-only array to update": (lambda f: f(frozen, x, t) if f.__name__.startswith("train") else
                                        f(frozen[:-1]),
                                        "params: the buffer is read-only and cannot be updated in place: "
                                        "pass a writable one (or a mapping or a list, for a new result)"),
    }


@pytest.mark.parametrize("function", ["forward", "loss", "gradient", "train_step", "train"])
def test_a_bad_buffer_is_one_clear_error(net, function):
    cmod, x, t, _ = net
    n = len(cmod.PARAMETERS)
    call = {
        "forward": lambda p, xs=x, ts=t: cmod.forward(p, xs),
        "loss": lambda p, xs=x, ts=t: cmod.loss(p, xs, ts),
        "gradient": lambda p, xs=x, ts=t: cmod.gradient(p, xs, ts),
        "train_step": lambda p, xs=x, ts=t: cmod.train_step(p, xs, ts),
        "train": lambda p, xs=x, ts=t: cmod.train(p, [(xs, ts)], 2),
    }[function]
    call.__name__ = function
    for case, (run, message) in messages(cmod, x, t).items():
        if function == "forward" and case.startswith("targets"):
            continue
        if case.endswith("strided") and {"params": n, "inputs": len(x)}[case.split()[0]] == 1:
            continue  # one value with a step is contiguous still
        if function == "train" and case.startswith(("inputs", "targets")):
            message = message.replace(":", " of sample 1:", 1)
        if case == "a read-only array to update" and not function.startswith("train"):
            message = f"params: expected {n} values in PARAMETERS order, got {n - 1}"
        with pytest.raises(ValueError) as info:
            run(call)
        assert str(info.value) == message, case


def test_the_general_path_words_what_the_fast_ones_refuse(net):
    """A dict, a list or a tuple the one-call packing refuses (a missing name, a wrong length, not a
    number) and a mapping whose missing names do not raise: the errors of the general path."""
    cmod, x, t, values = net
    n = len(cmod.PARAMETERS)
    first, *rest = cmod.PARAMETERS
    cases = [
        (dict.fromkeys(rest, 0.1), ValueError, f"params: missing {first}"),
        (defaultdict(float, dict.fromkeys(rest, 0.1)), ValueError, f"params: missing {first}"),
        (values[:-1], ValueError, f"params: expected {n} values in PARAMETERS order, got {n - 1}"),
        ((*tuple(values), 1.0), ValueError, f"params: expected {n} values in PARAMETERS order, got {n + 1}"),
        (["0.1", *values[1:]], TypeError, "must be real number, not str"),
        ({**dict(zip(cmod.PARAMETERS, values, strict=True)), first: None}, TypeError, "must be real number, not NoneType"),
    ]
    for function in (lambda p: cmod.gradient(p, x, t), lambda p: cmod.train_step(p, x, t), cmod.vector):
        for params, error, message in cases:
            with pytest.raises(error) as info:
                function(params)
            assert str(info.value) == message
    vector = by_hand(cmod, values)
    for xs, ts, message in [([*x, 0.0], t, f"inputs: expected {len(x)} values, got {len(x) + 1}"),
                            (x, t[:-1], f"targets: expected {len(t)} values, got {len(t) - 1}")]:
        with pytest.raises(ValueError) as info:
            cmod.train_step(vector, xs, ts)
        assert str(info.value) == message
    assert vector[:] == values
    named = dict(zip(cmod.PARAMETERS, values, strict=True))
    assert cmod.gradient({**named, "extra": 1.0}, x, t) == cmod.gradient(named, x, t)  # other names: ignored


def test_named_is_a_mapping_over_its_own_vector(net):
    cmod, x, t, values = net
    params = dict(zip(cmod.PARAMETERS, values, strict=True))
    g = cmod.gradient(params, x, t)
    plain = dict(zip(cmod.PARAMETERS, cmod.gradient(values, x, t), strict=True))
    assert isinstance(g, cmod.Named) and g == plain and plain == g and dict(g) == plain and type(dict(g)) is dict
    assert list(g) == list(g.keys()) == list(cmod.PARAMETERS) and len(g) == len(plain)
    assert list(g.values()) == list(plain.values()) and list(g.items()) == list(plain.items())
    assert {**g} == plain and json.loads(json.dumps(dict(g))) == plain
    assert repr(g) == f"Named({plain!r})"
    assert cmod.PARAMETERS[0] in g and "nothing" not in g and g.get("nothing") is None
    assert pickle.loads(pickle.dumps(g)) == plain
    twin = copy.deepcopy(g)
    assert twin == g and twin.vector is not g.vector and copy.copy(g).vector is not g.vector
    first = cmod.PARAMETERS[0]
    twin[first] = 0.5
    assert twin.vector[0] == 0.5 and g[first] == plain[first] and twin != g
    with pytest.raises(KeyError):
        twin["nothing"] = 1.0
    with pytest.raises(TypeError):
        del twin[first]
    stepped = cmod.train_step(params, x, t)
    again = cmod.train_step(stepped, x, t)
    assert again is not stepped and again.vector is not stepped.vector
    assert dict(again) == dict(cmod.train_step(dict(stepped), x, t))
    assert cmod.train(params, [(x, t)], 2, frozen=()) == again
    assert params == dict(zip(cmod.PARAMETERS, values, strict=True))  # the caller's dict is never written


ODD_SAMPLES = {  # a list's items as ctypes converts them (PyFloat_AsDouble), or what it refuses
    "floats": lambda v: [float(x) for x in v],
    "ints and bools": lambda v: [int(x > 0.5) if k % 2 else bool(x > 0.5) for k, x in enumerate(v)],
    "numpy scalars": lambda v: [numpy.float64(x) for x in v],
    "a str": lambda v: [str(v[0]), *v[1:]],
    "a None": lambda v: [*v[:-1], None],
    "a complex": lambda v: [complex(v[0], 1), *v[1:]],
    "an int too large": lambda v: [10**400, *v[1:]],
    "one too many": lambda v: [*v, 0.5],
    "one too few": lambda v: v[:-1],
    "empty": lambda v: [],
}


@pytest.mark.parametrize("which", ["inputs", "targets"])
@pytest.mark.parametrize("odd", sorted(ODD_SAMPLES))
def test_the_vector_fast_path_takes_and_refuses_what_the_general_path_does(net, odd, which):
    """train_step on a vector with lists (the fast path: a list's items stored one by one up to
    `c.UNPACKED` values) against the same lists as tuples (the general path, ctypes' conversion): the
    same numbers, or the same error with the same message, and the vector untouched by a refused call."""
    cmod, x, t, values = net
    xs, ts = (ODD_SAMPLES[odd](x), t) if which == "inputs" else (x, ODD_SAMPLES[odd](t))
    fast, general = by_hand(cmod, values), by_hand(cmod, values)
    outcomes = []
    for vector, args in ((fast, (xs, ts)), (general, (tuple(xs), tuple(ts)))):
        try:
            assert cmod.train_step(vector, *args) is vector
            outcomes.append(vector[:])
        except Exception as error:  # (the error itself is what is compared)
            assert vector[:] == values
            outcomes.append((type(error), str(error)))
    assert outcomes[0] == outcomes[1]
    if odd == "floats":
        assert outcomes[0] != values  # the step was taken
