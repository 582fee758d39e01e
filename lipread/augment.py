"""Training-time augmentation of (T, H, W, C) uint8 clips, as in Auto-AVSR: random crop,
horizontal flip, time masking, and optional speed perturbation."""

from __future__ import annotations

import numpy as np
import torch


def centre_crop(frames: np.ndarray, size: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    top, left = (h - size) // 2, (w - size) // 2
    return frames[:, top : top + size, left : left + size]


class Augment:
    """Random ``size`` crop, flip with p=0.5, one time mask of up to ``time_mask_frames`` per
    second of video (filled with the clip's mean frame), and speed change by up to
    ``speed_perturb`` (0.1 = 0.9x..1.1x, by resampling frame indices)."""

    def __init__(
        self,
        size: int = 88,
        flip: bool = True,
        time_mask_frames: int = 10,
        speed_perturb: float = 0.0,
        fps: float = 25.0,
    ):
        self.size = size
        self.flip = flip
        self.time_mask_frames = time_mask_frames
        self.speed_perturb = speed_perturb
        self.fps = fps

    def __call__(self, frames: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        # By default the draws come from torch's generator, which seed_everything seeds (and the
        # DataLoader re-seeds per worker), so a seeded run augments the same way every time.
        rng = rng or np.random.default_rng(int(torch.randint(0, 2**62, ())))
        t, h, w = frames.shape[:3]
        if self.speed_perturb:
            factor = rng.uniform(1 - self.speed_perturb, 1 + self.speed_perturb)
            count = max(1, int(round(t / factor)))
            frames = frames[np.minimum((np.arange(count) * factor).astype(int), t - 1)]
            t = count
        top, left = rng.integers(0, h - self.size + 1), rng.integers(0, w - self.size + 1)
        frames = frames[:, top : top + self.size, left : left + self.size]
        if self.flip and rng.random() < 0.5:
            frames = frames[:, :, ::-1]
        if self.time_mask_frames:
            frames = frames.copy()
            mean = frames.mean(axis=0).astype(frames.dtype)
            for _ in range(max(1, int(t / self.fps))):
                width = int(rng.integers(0, self.time_mask_frames + 1))
                if width and t > width:
                    start = int(rng.integers(0, t - width))
                    frames[start : start + width] = mean
        return frames
