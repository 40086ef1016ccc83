"""Helpers to write, compile and import the C and NumPy targets in tests."""

import collections
import hashlib
import importlib.util
import itertools
import os
import shutil
from pathlib import Path

import pytest
from generated_module import floats

import derive
from derive.render.code import c, numpy_target, targets

_count = itertools.count()
needs_cc = pytest.mark.skipif(not shutil.which("cc") and not shutil.which("gcc") and not os.environ.get("DERIVE_REQUIRE_CC"),
                              reason="no C compiler here (CI sets DERIVE_REQUIRE_CC: there it fails)")


def _import(path):
    spec = importlib.util.spec_from_file_location(f"{path.stem}_{next(_count)}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def c_files(model, loops=None) -> dict[str, str]:
    loops = targets.loops(targets.TARGETS["c"], model.network) if loops is None else loops
    return targets.render("c", None if loops else model.derivation, model.network, derive.__version__, loops)


#: Each library this test process built, by its file name (the digest of its source, header and flags,
#: and the machine's): a later module of the same source starts from a copy of it instead of compiling
#: the same bytes again (the C compiler is most of the time of these tests).
_BUILT: dict[str, Path] = {}


def _shared(tmp_path: Path) -> Path | None:
    """The run's temporary folder above each pytest-xdist worker's own (``popen-gw<n>``), where a worker
    leaves each library it built for the others (two files compile the same zoo on two workers), by
    the same file name; None without workers (then `_BUILT` alone)."""
    return next((folder.parent for folder in tmp_path.parents if folder.name.startswith("popen-gw")), None)


def _leave(built: Path, shared: Path | None) -> None:
    """``built`` copied into ``shared`` under its own name, whole or not at all (written aside, then renamed)."""
    if shared is None or (shared / built.name).exists():
        return
    aside = shared / f".{built.name}.{os.getpid()}"
    shutil.copyfile(built, aside)
    os.replace(aside, shared / built.name)


#: The flags a test's library is built with unless it asks for the shipped ones: the binding's own
#: (`c.FLAGS`) at a lower level than -O3 (the compiler is most of the time of the C tests), the one that
#: gives the same numbers, bit for bit, on every network of tests/test_target_c.py's zoo (its zoo test
#: builds both and compares them; its own library is the shipped build, as a user's is). The flags keep
#: IEEE arithmetic (-ffp-contract=off, no -ffast-math), so every operation is rounded in the order the
#: source writes it at any level, except an ``omp simd`` sum: -O1 vectorizes the loop form's as -O3 does
#: (a quarter of -O3's time), and -O0 adds it term by term (other last bits). A source without one (the
#: straight-line form) is built at -O0, in 57% of -O1's time (the zoo's 16 straight-line sources: 1.9 s
#: against 3.3 s).
TEST_FLAGS = tuple("-O1" if flag == "-O3" else flag for flag in c.FLAGS)
STRAIGHT_FLAGS = tuple("-O0" if flag == "-O3" else flag for flag in c.FLAGS)  # a source without an omp simd sum


def flags_for(source: str) -> tuple[str, ...]:
    """`TEST_FLAGS` for ``source``, `STRAIGHT_FLAGS` when it has no ``omp simd`` sum to vectorize."""
    return TEST_FLAGS if "omp simd" in source else STRAIGHT_FLAGS


def _with_test_flags(module) -> None:
    """``module`` (a binding) builds its library with the flags `flags_for` gives its source: its digest,
    which names the library and guards the source, is taken over the same source and header with them."""
    here = Path(module.__file__).parent
    source = (here / c.SOURCE).read_bytes()
    flags = flags_for(source.decode())
    text = source + (here / c.HEADER).read_bytes() + " ".join(flags).encode()
    module.FLAGS, module.DIGEST = flags, hashlib.sha256(text).hexdigest()[:16]


def load_c(model, tmp_path, loops=None, files=None, shipped=False):
    """The C target's binding, imported from a folder of its own; compiled on first use, as a user's
    is, unless this process or another worker of the run built the same source already (`_BUILT`,
    `_shared`: then a copy of that library, the compiler's output for the same bytes and flags).
    ``files``: `c_files` of the model in that form, when the caller has them already. ``shipped``: built
    with the binding's own flags (-O3), else with `flags_for` its source (the same numbers, sooner)."""
    folder = tmp_path / f"c_{next(_count)}"
    folder.mkdir()
    for name, text in (files or c_files(model, loops)).items():
        (folder / name).write_text(text)
    module = _import(folder / c.BINDING)
    if not shipped:
        _with_test_flags(module)
    compile_it = module.build
    shared = _shared(tmp_path)

    def build():
        target = module.library_path()
        earlier = [_BUILT.get(target.name), shared / target.name if shared is not None else None]
        copy = next((path for path in earlier if path is not None and path.exists()), None)
        if not target.exists() and copy is not None:
            shutil.copyfile(copy, target)
        built = compile_it()
        _BUILT.setdefault(built.name, built)
        _leave(built, shared)
        return built

    module.build = build  # the binding's _bind looks it up when first called
    return module


def load_numpy(model, tmp_path):
    path = tmp_path / f"np_{next(_count)}.py"
    path.write_text(numpy_target.render(model.network, derive.__version__))
    return _import(path)


RTOL = 1e-12


def near(a, b, scale=1.0):
    return abs(a - b) <= RTOL * max(abs(b), 1e-300) + RTOL * scale


def same_as_python(model, cmod, pmod):
    """forward, loss, gradient and train_step agree with the plain-Python module and the engine."""
    for s, sample in enumerate(model.spec.samples):
        x, t = floats(sample.inputs), floats(sample.targets)
        assert all(near(a, b) for a, b in zip(cmod.forward(cmod.INITIAL, x), pmod.forward(pmod.INITIAL, x), strict=True))
        assert near(cmod.loss(cmod.INITIAL, x, t), pmod.loss(pmod.INITIAL, x, t))
        g, gp = cmod.gradient(cmod.INITIAL, x, t), pmod.gradient(pmod.INITIAL, x, t)
        scale = max(1.0, *(abs(v) for v in gp.values()))
        assert list(g) == list(gp)
        for p in gp:
            assert near(g[p], gp[p], scale), p
            assert near(g[p], float(model.value(f"dE_total/d{p}", s)), scale), p
        step, stepp = cmod.train_step(cmod.INITIAL, x, t), pmod.train_step(pmod.INITIAL, x, t)
        assert all(near(step[p], stepp[p], scale) for p in stepp)


def same_bits(model, shipped, fast):
    """Two builds of one source (`load_c` with and without ``shipped``) give the same float64 bits for
    forward, loss, gradient, train_step and 3 steps of adam on every sample."""
    def bits(values):
        return [(k, values[k].hex()) for k in values] if hasattr(values, "keys") else [v.hex() for v in values]

    for sample in model.spec.samples:
        x, t = floats(sample.inputs), floats(sample.targets)
        for name in ("forward", "loss", "gradient", "train_step"):
            args = (x,) if name == "forward" else (x, t)
            a, b = getattr(shipped, name)(shipped.INITIAL, *args), getattr(fast, name)(fast.INITIAL, *args)
            assert bits([a] if name == "loss" else a) == bits([b] if name == "loss" else b), name
        a = shipped.train(shipped.INITIAL, [(x, t)] * 2, 3, 0.05, optimizer="adam")
        assert bits(a) == bits(fast.train(fast.INITIAL, [(x, t)] * 2, 3, 0.05, optimizer="adam"))


TRAINING = [
    {"optimizer": "sgd", "frozen": ()},
    {"optimizer": "sgd", "weight_decay": 0.01},
    {"optimizer": "momentum", "momentum": 0.8, "frozen": ()},
    {"optimizer": "nesterov", "weight_decay": 0.001},
    {"optimizer": "adam", "betas": (0.8, 0.99), "eps": 1e-6},
    {"optimizer": "adamw", "weight_decay": 0.05, "frozen": ()},
    {"optimizer": "adam", "batch_size": 1, "shuffle": True, "seed": 7, "reduction": "mean"},
    {"optimizer": "sgd", "batch_size": 2, "reduction": "mean"},
]


#: The Python module's source of the latest models (the objects: a kind's tests share a model per spec) in
#: each form, as `python_source` rendered it: a kind's tests render the straight-line form for its own
#: check and as the C module's reference, the same text each time. The model is kept beside it, so its id
#: is not reused; the oldest beyond `_KEPT` are let go (a worker runs many files: their models not kept).
_PYTHON: collections.OrderedDict[tuple[int, bool], tuple[object, str]] = collections.OrderedDict()
_KEPT = 32  # a kind's networks (at most 9) in both forms, with room


def python_source(model, loops: bool = False) -> str:
    """``gradients.py`` of the plain-Python target for ``model`` in the form asked (rendered once per model)."""
    key = (id(model), loops)
    if key not in _PYTHON:
        text = targets.render("python", model.derivation, model.network, derive.__version__, loops)["gradients.py"]
        _PYTHON[key] = (model, text)
        while len(_PYTHON) > _KEPT:
            _PYTHON.popitem(last=False)
    _PYTHON.move_to_end(key)
    return _PYTHON[key][1]


def python_and_numpy_are_the_engine(model, tmp_path, abs_: float = 1e-15):
    """The Python module in both forms, sample by sample, and the NumPy module over every sample,
    give every gradient of the engine (rel 1e-12, abs ``abs_``: 1e-15 unless a kind's gradients cancel)."""
    for loops in (False, True):
        path = tmp_path / f"g{loops}.py"
        path.write_text(python_source(model, loops))
        module = _import(path)
        for s, sample in enumerate(model.spec.samples):
            g = module.gradient(module.INITIAL, floats(sample.inputs), floats(sample.targets))
            for p in model.parameters:
                assert g[p] == pytest.approx(float(model.value(f"dE_total/d{p}", s)), rel=1e-12, abs=abs_), p
    numpy_module = load_numpy(model, tmp_path)
    g = numpy_module.gradient(numpy_module.INITIAL, [floats(s.inputs) for s in model.spec.samples],
                              [floats(s.targets) for s in model.spec.samples])
    exact = model.gradients()
    for p in model.parameters:
        assert float(g[p]) == pytest.approx(float(exact[p]), rel=1e-12, abs=abs_), p


def c_is_the_python_and_the_engine(model, tmp_path, loops):
    """The C module in the form asked agrees with the straight-line Python module and the engine."""
    python = tmp_path / "g.py"
    python.write_text(python_source(model))
    same_as_python(model, load_c(model, tmp_path, loops), _import(python))


def module_trains_as_the_formulas_say(model, optimizer):
    """10 steps of the generated train (every sample, batches of one, shuffled) with ``optimizer`` against
    the independent loop of the formulas, over the module's gradient (itself the engine's): every
    parameter to 1e-12, and moved."""
    import independent_training as ind

    module = model.module
    samples = [(floats(s.inputs), floats(s.targets)) for s in model.spec.samples]
    options = {"momentum": 0.8, "betas": (0.85, 0.99), "eps": 1e-6, "weight_decay": 0.01, "batch_size": 1,
               "shuffle": True, "seed": 3}
    got = module.train(module.INITIAL, samples, 10, 0.05, optimizer=optimizer, **options)
    want, _ = ind.run(module.gradient, module.INITIAL, samples, 10, optimizer=optimizer, lr=0.05, frozen=(),
                      reduction=model.spec.reduction, layer_of=module.PARAMETER_LAYER, in_place=False, **options)
    for name in module.PARAMETERS:
        assert got[name] == pytest.approx(want[name], rel=1e-12, abs=1e-15), name
        assert got[name] != module.INITIAL[name]
