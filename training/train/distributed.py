"""torchrun integration: process group from the environment, and the data sampler every rank shares.

torchrun sets RANK, WORLD_SIZE and LOCAL_RANK (multi-node too: --nnodes, --node_rank, --rdzv_*);
a plain `python -m _train.train` is world size 1 with no process group. Draws that define the result
are made for the global batch (the loop, the sampler below); each rank seeds its own noise (process_seed).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator, Literal

import torch
import torch.distributed as dist

Device = Literal["auto", "cpu", "cuda"]  # auto: cuda when one is visible (the trainer's --device choices)


@dataclass(frozen=True)
class DistInfo:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def uses_cuda(device: Device) -> bool:
    """Whether the trainer's --device choice runs on CUDA (auto: when a CUDA device is visible)."""
    return torch.cuda.is_available() if device == "auto" else device == "cuda"


def init_distributed(device: Device = "auto") -> DistInfo:
    """Join the torchrun process group (NCCL on GPU, gloo on CPU) or run as a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = uses_cuda(device)
    if use_cuda and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for but no CUDA device is visible")
    dev = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return DistInfo(rank=rank, world_size=world, local_rank=local_rank, device=dev)


class GlobalBatchSampler(torch.utils.data.Sampler):
    """Endless (index, epoch) keys: one seeded permutation per epoch, cut into global batches, and each
    rank takes its contiguous slice of every global batch. So the samples of a global batch do not
    depend on the number of ranks, and a resumed run starts exactly at global batch `start_batch`."""

    def __init__(self, n_items: int, global_batch: int, rank: int, world_size: int, seed: int, start_batch: int = 0):
        if global_batch % world_size:
            raise ValueError(f"batch {global_batch} is not divisible by the {world_size} processes")
        self.n, self.batch, self.seed = n_items, global_batch, seed
        self.per_rank = global_batch // world_size
        self.offset = rank * self.per_rank
        self.start = start_batch * global_batch

    def _permutation(self, epoch: int) -> torch.Tensor:
        return torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch))

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position = self.start
        epoch, perm = -1, None
        while True:
            for k in range(self.offset, self.offset + self.per_rank):
                e, i = divmod(position + k, self.n)
                if e != epoch:
                    epoch, perm = e, self._permutation(e)
                yield int(perm[i]), e
            position += self.batch


def process_seed(seed: int, rank: int, step: int) -> int:
    """The seed of one rank's own randomness at one training step (synthesis noise inputs, ray jitter):
    different on every rank and every step, and the same when a run is repeated or resumed, on any rank
    (a snapshot holds rank 0's RNG state only, so a running stream could not be restored on the others)."""
    return ((seed * 1_000_003 + step) * 65_536 + rank) % 2**63
