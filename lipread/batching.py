"""Batches by a frame budget instead of a fixed number of clips, for data whose clips vary in length.

With LRS-style data (clips of 1 to 10 s) a fixed batch size either wastes memory on short clips or
runs out of it on long ones, and batches that mix lengths spend most of their frames on padding.
As Auto-AVSR and torchaudio's AVSR recipe do, clips of similar length are batched together and each
batch holds as many as fit in ``max_frames`` padded frames (clips x the longest clip's frames): what
the model's memory grows with.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

log = logging.getLogger("lipread.batching")


class FrameBudgetBatches(Sampler[list[int]]):
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
        self.epoch = 0
        too_long = sum(n > max_frames for n in lengths)
        if too_long:
            log.warning("%d clips are longer than max_frames %d: each gets a batch of its own", too_long, max_frames)

    def batches(self, epoch: int) -> list[list[int]]:
        """The batches of pass ``epoch`` for this rank."""
        generator = torch.Generator().manual_seed(self.seed + epoch)
        noise = 1 + self.jitter * (torch.rand(len(self.lengths), generator=generator) - 0.5) if self.shuffle else None
        keys = [n * float(noise[i]) if noise is not None else n for i, n in enumerate(self.lengths)]
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0
        for index in sorted(range(len(self.lengths)), key=lambda i: (keys[i], i)):
            n = self.lengths[index]
            if current and max(longest, n) * (len(current) + 1) > self.max_frames:
                batches.append(current)
                current, longest = [], 0
            current.append(index)
            longest = max(longest, n)
        if current:
            batches.append(current)
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        rank, world = self.shard
        per_rank = len(batches) // world if world > 1 else len(batches)
        return batches[rank : per_rank * world : world]

    def __iter__(self) -> Iterator[list[int]]:
        chosen = self.batches(self.epoch)
        self.epoch += 1
        return iter(chosen)

    def __len__(self) -> int:
        return len(self.batches(self.epoch))


def padded_frames(lengths: list[int]) -> int:
    """Frames a batch of clips of these lengths takes once padded to the longest."""
    return len(lengths) * max(lengths, default=0)


def mean_fill(batches: list[list[int]], lengths: list[int]) -> float:
    """The share of padded frames that are real frames, over a pass: what bucketing buys."""
    real = sum(lengths[i] for b in batches for i in b)
    return real / max(1, sum(padded_frames([lengths[i] for i in b]) for b in batches))
