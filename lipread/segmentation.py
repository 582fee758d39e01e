"""Cutting long videos at visual pauses, so each piece looks like what the model was trained on.

A model trained on single sentences misreads a window that starts or ends mid-sentence, so
long videos are cut where the mouth rests: at the minimum of the (smoothed) lip opening inside
each allowed range, never between two frames of a moving mouth if a pause is in reach.
"""

from __future__ import annotations

import numpy as np

INNER_LIPS = (13, 14)  # upper and lower inner lip midpoints
MOUTH_CORNERS = (61, 291)


def lip_opening(points: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap over mouth width, from (T, 468, 2) landmarks."""
    gap = np.linalg.norm(points[:, INNER_LIPS[0]] - points[:, INNER_LIPS[1]], axis=1)
    width = np.linalg.norm(points[:, MOUTH_CORNERS[0]] - points[:, MOUTH_CORNERS[1]], axis=1)
    return gap / np.maximum(width, 1e-6)


def pause_cuts(points: np.ndarray, max_len: int = 100, min_len: int = 40, smooth: int = 11) -> list[tuple[int, int]]:
    """Half-open frame ranges covering the clip, each at most ``max_len`` frames, cut at pauses."""
    total = len(points)
    if total <= max_len:
        return [(0, total)]
    opening = lip_opening(points)
    kernel = np.ones(smooth) / smooth
    calm = np.convolve(np.pad(opening, smooth // 2, mode="edge"), kernel, mode="valid")[:total]
    cuts, start = [], 0
    while total - start > max_len:
        lo, hi = start + min_len, min(start + max_len, total - min_len // 2)
        cut = lo + int(np.argmin(calm[lo:hi])) if hi > lo else start + max_len
        cuts.append((start, cut))
        start = cut
    cuts.append((start, total))
    return cuts
