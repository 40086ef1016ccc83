"""How a training step's batch is drawn: the full batch, consecutive mini-batches in spec order, or
an order redrawn each epoch by a shuffle every language reproduces (`derive.model.optimizers` holds
the settings; these are its batches)."""

from __future__ import annotations


def epoch_order(seed: int, epoch: int, count: int) -> list[int]:
    """The samples' order in an epoch (from 0) when shuffling: Fisher-Yates, from the last place
    down, each place i swapped with place next() mod (i + 1), next() being SplitMix64 started at
    seed XOR (epoch * 0x9E3779B97F4A7C15) mod 2^64. (derive copies it into every generated module.)"""
    mask = 0xFFFFFFFFFFFFFFFF
    state = (seed ^ (epoch * 0x9E3779B97F4A7C15)) & mask
    order = list(range(count))
    for i in range(count - 1, 0, -1):
        state = (state + 0x9E3779B97F4A7C15) & mask
        z = ((state ^ (state >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        j = (z ^ (z >> 31)) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return order


def batch_size_of(settings, count: int) -> int:
    return count if settings.batch_size == 0 else min(settings.batch_size, count)


def batch(settings, step: int, count: int) -> list[int]:
    """The samples (from 0) step ``step`` (from 1) trains on."""
    size = batch_size_of(settings, count)
    epoch, index = divmod(step - 1, -(-count // size))
    order = epoch_order(settings.seed, epoch, count) if settings.shuffle else list(range(count))
    return order[index * size:(index + 1) * size]
