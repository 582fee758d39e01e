"""Batches by a frame budget instead of a fixed number of clips, for data whose clips vary in length.

With LRS-style data (clips of 1 to 10 s) a fixed batch size either wastes memory on short clips or
runs out of it on long ones, and batches that mix lengths spend most of their frames on padding.
As Auto-AVSR and torchaudio's AVSR recipe do, clips of similar length are batched together and each
batch holds as many as fit in ``max_frames`` padded frames (clips x the longest clip's frames): what
the model's memory grows with.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Sampler

log = logging.getLogger("lipread.batching")


class EpochBatches(Sampler[list]):
    """A batch sampler that draws each pass's batches itself (:meth:`batches`), from the pass's
    number: Lightning sets it at the start of every epoch (through ``sampler.set_epoch``, where it
    looks), so a resumed run goes on with its next epoch's batches rather than the first's again."""

    epoch = 0

    @property
    def sampler(self) -> EpochBatches:
        return self  # where Lightning calls set_epoch

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self, epoch: int) -> list[list]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[list]:
        chosen = self.batches(self.epoch)
        self.epoch += 1  # for use without Lightning
        return iter(chosen)

    def __len__(self) -> int:
        return len(self.batches(self.epoch))


class FrameBudgetBatches(EpochBatches):
    """Each pass, every clip once, in batches of similar length whose padded size stays within
    ``max_frames`` (a clip longer than that alone). Lengths are sorted with up to ``jitter`` of
    random noise, so batches change from pass to pass; the batches are then shuffled. ``shard`` =
    (rank, world size) gives every rank its own batches, the same number on each."""

    def __init__(self, lengths: list[int], max_frames: int, seed: int = 0, jitter: float = 0.1,
                 shuffle: bool = True, shard: tuple[int, int] = (0, 1)):  # fmt: skip
        if max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, got {max_frames}")
        self.lengths, self.max_frames, self.seed = lengths, max_frames, seed
        self.jitter, self.shuffle, self.shard = jitter, shuffle, shard
        too_long = sum(n > max_frames for n in lengths)
        if too_long:
            log.warning("%d clips are longer than max_frames %d: each gets a batch of its own", too_long, max_frames)

    def batches(self, epoch: int) -> list[list[int]]:
        """The batches of pass ``epoch`` for this rank."""
        generator = torch.Generator().manual_seed(self.seed + epoch)
        chosen = budget_batches(self.lengths, self.max_frames, generator, self.jitter, self.shuffle)
        return rank_batches(chosen, self.shard)


def budget_batches(lengths: list[int], max_frames: int, generator: torch.Generator, jitter: float = 0.1,
                   shuffle: bool = True) -> list[list[int]]:  # fmt: skip
    """Every index of ``lengths`` once, in batches of similar length whose padded size stays within
    ``max_frames``; sorted with up to ``jitter`` of noise, and the batches in a random order
    (``generator``) unless ``shuffle`` is off."""
    noise = 1 + jitter * (torch.rand(len(lengths), generator=generator) - 0.5) if shuffle else None
    keys = [n * float(noise[i]) if noise is not None else n for i, n in enumerate(lengths)]
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in sorted(range(len(lengths)), key=lambda i: (keys[i], i)):
        n = lengths[index]
        if current and max(longest, n) * (len(current) + 1) > max_frames:
            batches.append(current)
            current, longest = [], 0
        current.append(index)
        longest = max(longest, n)
    if current:
        batches.append(current)
    if shuffle:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def rank_batches(batches: list[list[int]], shard: tuple[int, int]) -> list[list[int]]:
    """``shard`` = (rank, world size): this rank's share of every rank's ``batches`` (all ranks drew the
    same ones), the same number on each, as DDP needs."""
    rank, world = shard
    per_rank = len(batches) // world if world > 1 else len(batches)
    return batches[rank : per_rank * world : world]


def padded_frames(lengths: list[int]) -> int:
    """Frames a batch of clips of these lengths takes once padded to the longest."""
    return len(lengths) * max(lengths, default=0)


def mean_fill(batches: list[list], lengths: Sequence[int] | Callable[[Any], int]) -> float:
    """The share of padded frames that are real frames, over a pass: what bucketing buys. ``lengths``
    gives each batch item's frames (a list by index, or a function of the item)."""
    size = lengths.__getitem__ if isinstance(lengths, Sequence) else lengths
    real = sum(size(i) for b in batches for i in b)
    return real / max(1, sum(padded_frames([size(i) for i in b]) for b in batches))
