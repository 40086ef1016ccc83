"""Validate the generated module's ``train`` against PyTorch's ``torch.optim`` (when PyTorch is
installed; it is not a dependency of derive): every optimizer, with and without weight decay, on the
full batch, online and in shuffled mini-batches, with biases frozen and trained, for networks of
logistic layers and the half squared error. PyTorch takes its gradients by autograd in float64 and
the batches in derive's order (`derive.model.optimizers.batch`), so the two runs take the same steps;
prints the largest relative difference of any parameter after the run.

    python benchmarks/validate_torch_optim.py [--steps 50]
"""

from __future__ import annotations

import argparse
import itertools
import sys

try:
    import torch
except ImportError:
    sys.exit("validate_torch_optim.py: PyTorch is not installed (pip install torch), nothing to compare")

import derive
from derive.model import optimizers

THREE_SAMPLES = """name = "three"
layers = [2, 3, 2]
activation = "logistic"
loss = "half_sse"
bias = "per_neuron"
learning_rate = 0.5
seed = 4
reduction = "mean"
[[samples]]
inputs = [0.05, 0.1]
targets = [0.01, 0.99]
[[samples]]
inputs = [0.5, -0.3]
targets = [0.2, 0.7]
[[samples]]
inputs = [-1.0, 0.4]
targets = [0.9, 0.1]
"""


def torch_network(model):
    """The spec's weights and biases as float64 leaf tensors, and a forward pass over them."""
    spec = model.spec
    weights = [torch.tensor([[float(v) for v in row] for row in m], dtype=torch.float64, requires_grad=True)
               for m in spec.weights]
    biases = [torch.tensor([float(v) for v in layer], dtype=torch.float64, requires_grad=True) for layer in spec.biases]

    def loss(batch, mean):
        total = 0
        for s in batch:
            out = torch.tensor([float(v) for v in s.inputs], dtype=torch.float64)
            for w, b in zip(weights, biases):
                out = torch.sigmoid(w @ out + b)  # a shared bias (one value) broadcasts over the layer
            total = total + 0.5 * ((torch.tensor([float(t) for t in s.targets], dtype=torch.float64) - out) ** 2).sum()
        return total / len(batch) if mean else total

    return weights, biases, loss


def torch_run(model, settings, steps):
    weights, biases, loss = torch_network(model)
    trained = weights + ([] if settings.freeze_biases else biases)
    lr, wd = float(settings.learning_rate), float(settings.weight_decay)
    if settings.optimizer in ("sgd", "momentum", "nesterov"):
        mu = 0.0 if settings.optimizer == "sgd" else float(settings.momentum)
        opt = torch.optim.SGD(trained, lr=lr, momentum=mu, nesterov=settings.optimizer == "nesterov", weight_decay=wd)
    else:
        kind = torch.optim.Adam if settings.optimizer == "adam" else torch.optim.AdamW
        opt = kind(trained, lr=lr, betas=tuple(float(b) for b in settings.betas), eps=float(settings.eps),
                   weight_decay=wd)
    samples = model.spec.samples
    for t in range(1, steps + 1):
        batch = [samples[i] for i in optimizers.batch(settings, t, len(samples))]
        opt.zero_grad()
        loss(batch, model.spec.reduction == "mean").backward()
        opt.step()
    values = [v for w in weights for v in w.detach().flatten().tolist()]
    values += [v for b in biases for v in b.detach().tolist()]
    return dict(zip(model.parameters, values, strict=True))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args(argv)
    worst = (0.0, "")
    for model in [derive.load(), derive.Model(derive.parse(THREE_SAMPLES, "three.toml"))]:
        count = len(model.spec.samples)
        batches = [(0, False)] + ([(1, False), (2, True)] if count > 1 else [])
        for optimizer, decay, (size, shuffle), freeze in itertools.product(
                optimizers.OPTIMIZERS, (0, 0.01), batches, (True, False)):
            lr = 0.5 if optimizer in ("sgd", "momentum", "nesterov") else 0.05
            settings = model.settings(optimizer=optimizer, learning_rate=lr, weight_decay=decay, batch_size=size,
                                      shuffle=shuffle, freeze_biases=freeze)
            ours = model.train(args.steps, settings=settings, history=False).parameters
            theirs = torch_run(model, settings, args.steps)
            difference = max(abs(ours[p] - theirs[p]) / max(abs(theirs[p]), 1e-300) for p in ours)
            case = f"{model.spec.name}: {settings.describe()}"
            print(f"{difference:9.2e}  {case}")
            worst = max(worst, (difference, case))
    print(f"\nlargest relative difference after {args.steps} steps: {worst[0]:.2e} ({worst[1]}); "
          f"torch {torch.__version__}")


if __name__ == "__main__":
    main()
