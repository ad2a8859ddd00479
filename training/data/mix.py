"""Several data roots as one training set (synthetic + real characters), each drawn with its weight.

An epoch has as many slots as the roots have items together; root r owns round(w_r x slots) of them.
A root's slots walk through its items in seeded cycles (a new permutation each time it wraps), so a
small root with a large weight repeats its characters and a large root with a small weight shows a
different part of itself every epoch. The training sampler permutes the slots, as it permutes the
items of one root; everything depends on (seed, epoch, slot) only, so resumed and distributed runs
agree, as with one root (training/train/distributed.py).
"""
from __future__ import annotations

import bisect
from typing import Sequence

import torch

from training.data.checks import DatasetError
from training.data.dataset import NovaHumanDataset


def parse_weights(text: str, n_roots: int) -> tuple[float, ...]:
    """'0.7,0.3' -> (0.7, 0.3), checked against the number of roots; '' -> () (by size)."""
    if not text:
        return ()
    try:
        weights = tuple(float(w) for w in text.split(","))
    except ValueError:
        raise ValueError(f"--data-weights {text!r}: expected comma-separated numbers, one per --data") from None
    if len(weights) != n_roots:
        raise ValueError(f"--data-weights {text!r}: {len(weights)} weights for {n_roots} data roots")
    if any(w < 0 for w in weights) or not sum(weights) > 0:
        raise ValueError(f"--data-weights {text!r}: weights must be >= 0 with a positive sum")
    return weights


class MixedDataset(torch.utils.data.Dataset):
    """Items of several datasets by weight; keys are (slot, epoch) from the training sampler.

    Args:
        datasets: one dataset per root (all serving the same sizes and views).
        weights: one per dataset (any positive scale), or () for each root's share of the items.
        seed: the cycle permutations' seed.
    """

    def __init__(self, datasets: Sequence[NovaHumanDataset], weights: Sequence[float], seed: int):
        if not datasets:
            raise DatasetError("no data roots given")
        sizes = [len(d) for d in datasets]
        weights = list(weights) or sizes
        if len(weights) != len(datasets):
            raise ValueError(f"{len(weights)} weights for {len(datasets)} data roots")
        total = sum(sizes)
        # slots per root: largest remainders, so they sum to the total; a positive weight gets at least one
        share = [total * w / sum(weights) for w in weights]
        slots = [max(int(s), 1 if w > 0 else 0) for s, w in zip(share, weights)]
        for k in sorted(range(len(slots)), key=lambda k: int(share[k]) - share[k])[: max(total - sum(slots), 0)]:
            slots[k] += 1
        self.datasets, self.sizes, self.slots, self.seed = list(datasets), sizes, slots, seed
        self.starts = [sum(slots[:k]) for k in range(len(slots))]

    def __len__(self) -> int:
        return sum(self.slots)

    def locate(self, slot: int, epoch: int) -> tuple[int, int]:
        """(root index, item index in that root) of a slot in an epoch."""
        root = bisect.bisect_right(self.starts, slot) - 1  # a zero-slot root shares its start with the next
        position = epoch * self.slots[root] + slot - self.starts[root]
        cycle, offset = divmod(position, self.sizes[root])
        order = torch.randperm(self.sizes[root], generator=torch.Generator().manual_seed(
            (self.seed * 1_000_003 + root) * 100_003 + cycle))
        return root, int(order[offset])

    def __getitem__(self, key: int | tuple[int, int]) -> dict:
        slot, epoch = key if isinstance(key, tuple) else (key, 0)
        root, index = self.locate(slot, epoch)
        return self.datasets[root][index, epoch]
