"""An optimizer with a slot of its own reaches the C target through the registry's table alone: the
templates print ``train``'s state arrays, its check for a missing one, the header's prototype and
the binding's arguments from `derive.model.optimizers` (tests/test_architecture.py checks that no
template names a slot)."""

import pytest
import sympy as sp
from generated_module import floats
from targets import c_files, load_c, needs_cc

from derive.model import optimizers

pytestmark = needs_cc

#: the heavy ball without friction: z <- z + g, p <- p - eta z; momentum with mu = 1 and no weight
#: decay in other words, with a slot (z) no optimizer of the registry has
Z = sp.Symbol("z", real=True)
HEAVY = optimizers.Optimizer("heavy", "heavy ball", (), ("z",), (
    ("z", sp.Add(Z, optimizers.G, evaluate=False)),
    (optimizers.PARAMETER, sp.Add(optimizers.P, -optimizers.ETA * Z, evaluate=False)),
))


@pytest.fixture
def heavy(monkeypatch):
    monkeypatch.setitem(optimizers.SLOTS, "z", optimizers.Slot("z", Z, "z", "z", html="z"))
    monkeypatch.setitem(optimizers.SLOT, "z", Z)
    monkeypatch.setitem(optimizers.OPTIMIZERS, "heavy", HEAVY)


@pytest.mark.parametrize("loops", [False, True], ids=["straight", "loops"])
def test_an_optimizer_with_a_new_slot_trains_in_c(heavy, reference, loops, tmp_path):
    files = c_files(reference, loops)
    assert "double *s_buf, double *s_m, double *s_v, double *s_z, double *last_g)" in files["gradients.c"]
    assert "double *s_buf, double *s_m, double *s_v, double *s_z, double *last_g);" in files["gradients.h"]
    assert "(kept[optimizer] == 3 && !s_z)" in files["gradients.c"]
    assert "s_m and s_v (adam, adamw) or s_z (heavy) is NULL" in files["gradients.h"]
    net = load_c(reference, tmp_path, loops, files)
    samples = [(floats(s.inputs), floats(s.targets)) for s in reference.spec.samples]
    heavy_state, momentum_state = {}, {}
    got = net.train(net.INITIAL, samples, 25, 0.1, optimizer="heavy", weight_decay=0.0, state=heavy_state)
    want = net.train(net.INITIAL, samples, 25, 0.1, optimizer="momentum", momentum=1.0, weight_decay=0.0,
                     state=momentum_state)
    assert got == want  # the same operations on the same doubles: equal bit for bit
    assert heavy_state["z"] == momentum_state["buf"] and heavy_state["step"] == 25
    assert set(heavy_state) == {"z", "g", "step"}
