"""PyTorch's answer for a recurrent spec (issue #26), read from the spec's TOML text alone: the
reference derive's ``type = "rnn"`` layer is checked against.

Each ``rnn`` table is a `torch.nn.RNN`, each ``lstm`` table a `torch.nn.LSTM` (one layer, batch first, float64) whose ``bias_ih_l0`` is the
spec's one bias vector and whose ``bias_hh_l0`` is held at zero (the textbooks' one bias per unit);
its ``activation`` is torch's ``nonlinearity``. The layers after the last recurrent one (none: its hidden states are the outputs) are
`torch.nn.Linear` applied to every step's hidden state (``sequence_output = "all"``: PyTorch's Linear
on a (steps, features) tensor) or to the last step's (``"last"``). The loss sums over every output of
a sample (every step's, with "all"). Nothing of derive is imported here; torch_reference's loss and
activation tables and its `derive_gradients` (the one call of derive, by its command line) are reused.
"""

from __future__ import annotations

import itertools
import math
import tomllib

import torch
from torch_reference import DTYPE, TORCH_ACTIVATIONS, TORCH_LOSSES, SpecNotBuilt, place

RECURRENT = ("rnn", "lstm")  # torch.nn.RNN; torch.nn.LSTM (its gates' rows i, f, g, o, as derive's)
SEQUENCE = (*RECURRENT, "attention")  # the layers whose outputs are a sequence


class Attention(torch.nn.Module):
    """One head of scaled dot-product self-attention written with torch.softmax (batch first): q, k, v
    = x W^T (+ b), a = softmax(q k^T / sqrt(d)) over the last axis (future steps masked out when causal),
    y = a v."""

    def __init__(self, table: dict, features: int):
        super().__init__()
        d = table["d"]
        for name in ("q", "k", "v"):
            setattr(self, f"weight_{name}", torch.nn.Parameter(_tensor(table[f"weight_{name}"], (d, features))))
            if f"bias_{name}" in table:
                setattr(self, f"bias_{name}", torch.nn.Parameter(_tensor(table[f"bias_{name}"], (d,))))
        self.d, self.causal, self.biased = d, table.get("causal", False), "bias_q" in table

    def tensors(self) -> list[tuple[str, torch.Tensor]]:
        names = [f"weight_{n}" for n in "qkv"] + ([f"bias_{n}" for n in "qkv"] if self.biased else [])
        return [(name, getattr(self, name)) for name in names]

    def forward(self, x):
        def project(name):
            out = x @ getattr(self, f"weight_{name}").T
            return out + getattr(self, f"bias_{name}") if self.biased else out
        q, k, v = project("q"), project("k"), project("v")
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d)
        if self.causal:
            steps = x.shape[-2]
            scores = scores.masked_fill(torch.ones(steps, steps, dtype=torch.bool).triu(1), float("-inf"))
        return torch.softmax(scores, dim=-1) @ v


def _tensor(values, shape) -> torch.Tensor:
    t = torch.tensor(values, dtype=DTYPE)
    if tuple(t.shape) != tuple(shape):
        raise SpecNotBuilt(f"shape {list(t.shape)}, the layer needs {list(shape)}")
    return t


def _initial(table: dict, kind: str, samples: int) -> tuple:
    """The recurrent module's initial state argument: none (zeros), h_0, or (h_0, c_0), per sample."""
    hidden = table["hidden_size"]
    h0 = table.get("initial_state", [0.0] * hidden)
    if "initial_state" not in table and "initial_cell" not in table:
        return ()
    h = torch.tensor([h0] * samples, dtype=DTYPE).unsqueeze(0)  # (layers, samples, hidden)
    if kind == "rnn":
        return (h,)
    return ((h, torch.tensor([table.get("initial_cell", [0.0] * hidden)] * samples, dtype=DTYPE).unsqueeze(0)),)


def build(text: str):
    """(the torch modules with their activations, in the tables' order; the parsed table; every
    parameter's place and tensor)."""
    table = tomllib.loads(text)
    features = table["input"][1]
    modules, places = [], []
    for k, t in enumerate(table["layer"]):
        bias = t.get("bias") != "none"
        if t["type"] == "attention":
            module = Attention(t, features)
            tensors = module.tensors()
            features = t["d"]
            modules.append(("attention", module, None))
        elif t["type"] in RECURRENT:
            module = (torch.nn.RNN(features, t["hidden_size"], nonlinearity=t.get("activation", "tanh"),
                                   bias=bias, batch_first=True, dtype=DTYPE) if t["type"] == "rnn" else
                      torch.nn.LSTM(features, t["hidden_size"], bias=bias, batch_first=True, dtype=DTYPE))
            with torch.no_grad():
                module.weight_ih_l0.copy_(_tensor(t["weight_ih"], module.weight_ih_l0.shape))
                module.weight_hh_l0.copy_(_tensor(t["weight_hh"], module.weight_hh_l0.shape))
                if bias:
                    module.bias_ih_l0.copy_(_tensor(t["bias"], module.bias_ih_l0.shape))
                    module.bias_hh_l0.zero_()
                    module.bias_hh_l0.requires_grad_(False)
            tensors = [("weight_ih", module.weight_ih_l0), ("weight_hh", module.weight_hh_l0)]
            tensors += [("bias", module.bias_ih_l0)] if bias else []
            features = t["hidden_size"]
            modules.append((t["type"], module, None))
        else:
            module = torch.nn.Linear(features, t["out_features"], bias=bias, dtype=DTYPE)
            with torch.no_grad():
                module.weight.copy_(_tensor(t["weight"], module.weight.shape))
                if bias:
                    module.bias.copy_(_tensor(t["bias"], module.bias.shape))
            tensors = [("weight", module.weight)] + ([("bias", module.bias)] if bias else [])
            features = t["out_features"]
            modules.append(("linear", module, t.get("activation", "identity")))
        places += [(place(k, name, index), tensor) for name, tensor in tensors
                   for index in itertools.product(*map(range, tensor.shape))]
    return modules, table, places


def reference(text: str) -> dict:
    """E_total and every parameter's gradient at its place, by autograd in float64."""
    modules, table, places = build(text)
    x = torch.tensor([s["inputs"] for s in table["samples"]], dtype=DTYPE)  # (N, steps, features)
    last = max(k for k, (kind, _, _) in enumerate(modules) if kind in SEQUENCE)
    a = x
    for k, (kind, module, activation) in enumerate(modules):
        if kind in SEQUENCE:
            a = module(a) if kind == "attention" else module(a, *_initial(table["layer"][k], kind, a.shape[0]))[0]
            if k == last and table.get("sequence_output", "all") == "last":
                a = a[:, -1]
            net = a  # a last recurrent layer's hidden states are the outputs (identity)
        else:
            net = module(a)
            a = TORCH_ACTIVATIONS[activation](net)
    targets = torch.tensor([s["targets"] for s in table["samples"]], dtype=DTYPE).reshape(a.shape)
    per_sample = TORCH_LOSSES[table.get("loss", "half_sse")](net.flatten(1), a.flatten(1), targets.flatten(1))
    e_total = per_sample.mean() if table.get("reduction") == "mean" else per_sample.sum()
    e_total.backward()
    return {"e_total": e_total.item(), "gradients": {p: tensor.grad[p[2]].item() for p, tensor in places}}


def assert_agrees(reference_: dict, got: dict, rel: float = 1e-12, abs_: float = 1e-15) -> None:
    """derive's gradients (`torch_reference.derive_gradients`) are PyTorch's, place by place."""
    assert got["gradients"].keys() == reference_["gradients"].keys(), (
        sorted(got["gradients"].keys() ^ reference_["gradients"].keys())[:5])
    assert math.isclose(got["e_total"], reference_["e_total"], rel_tol=rel, abs_tol=abs_)
    for p, want in reference_["gradients"].items():
        assert math.isclose(got["gradients"][p], want, rel_tol=rel, abs_tol=abs_), (p, got["gradients"][p], want)


def unrolled(text: str, truncated: bool = False) -> dict:
    """One rnn layer and the layers after it unrolled by hand in torch (a spec of one sample): each
    step's z_t (its dE/dz_t kept), h_t and x_t, and every parameter's gradient by autograd; with
    ``truncated``, h_(t-1) is detached where W_hh multiplies it (backpropagation through time cut after
    one step)."""
    modules, table, places = build(text)
    (_, rnn, _), rest = modules[0], modules[1:]
    activation = TORCH_ACTIVATIONS[table["layer"][0].get("activation", "tanh")]
    x = torch.tensor(table["samples"][0]["inputs"], dtype=DTYPE)
    bias = rnn.bias_ih_l0 if rnn.bias else 0.0
    zs, hs, h = [], [], None
    for t in range(x.shape[0]):
        z = x[t] @ rnn.weight_ih_l0.T + bias
        if h is not None:
            z = z + (h.detach() if truncated else h) @ rnn.weight_hh_l0.T
        z.retain_grad()
        h = activation(z)
        zs.append(z)
        hs.append(h)
    a = torch.stack(hs) if table.get("sequence_output", "all") == "all" else hs[-1]
    net = a  # the outputs, where the recurrent layer is the last
    for _, module, name in rest:
        net = module(a)
        a = TORCH_ACTIVATIONS[name](net)
    targets = torch.tensor(table["samples"][0]["targets"], dtype=DTYPE).reshape(a.shape)
    e_total = TORCH_LOSSES[table.get("loss", "half_sse")](net.reshape(1, -1), a.reshape(1, -1),
                                                          targets.reshape(1, -1)).sum()
    e_total.backward()
    return {"deltas": [z.grad.detach() for z in zs], "hidden": [v.detach() for v in hs], "inputs": x,
            "gradients": {p: tensor.grad[p[2]].item() for p, tensor in places}}


def lstm_unrolled(text: str, truncated: bool = False, forget_path: bool = True) -> dict:
    """One lstm layer and the layers after it unrolled by hand in torch (a spec of one sample), with
    torch.nn.LSTM's equations and gate order (i, f, g, o): every parameter's gradient by autograd, each
    step's gates' dE/dz (4 hidden) and hidden state; with
    ``truncated``, h_(t-1) is detached where W_hh multiplies it (backpropagation through time cut after
    one step); without ``forget_path``, c_(t-1) is detached in f_t c_(t-1) (the forget gate's path from
    c_t back to c_(t-1) left out)."""
    modules, table, places = build(text)
    (_, lstm, _), rest = modules[0], modules[1:]
    x = torch.tensor(table["samples"][0]["inputs"], dtype=DTYPE)
    bias = lstm.bias_ih_l0 if lstm.bias else 0.0
    hs, zs, h, c = [], [], None, None
    for t in range(x.shape[0]):
        z = x[t] @ lstm.weight_ih_l0.T + bias
        if h is not None:
            z = z + (h.detach() if truncated else h) @ lstm.weight_hh_l0.T
        z.retain_grad()
        zs.append(z)
        i, f, g, o = z.chunk(4)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = i * g if c is None else f * (c if forget_path else c.detach()) + i * g
        h = o * torch.tanh(c)
        hs.append(h)
    a = torch.stack(hs) if table.get("sequence_output", "all") == "all" else hs[-1]
    net = a  # the outputs, where the recurrent layer is the last
    for _, module, name in rest:
        net = module(a)
        a = TORCH_ACTIVATIONS[name](net)
    targets = torch.tensor(table["samples"][0]["targets"], dtype=DTYPE).reshape(a.shape)
    e_total = TORCH_LOSSES[table.get("loss", "half_sse")](net.reshape(1, -1), a.reshape(1, -1),
                                                          targets.reshape(1, -1)).sum()
    e_total.backward()
    return {"e_total": e_total.item(), "gradients": {p: tensor.grad[p[2]].item() for p, tensor in places},
            "deltas": [z.grad.detach() for z in zs], "hidden": [v.detach() for v in hs]}
