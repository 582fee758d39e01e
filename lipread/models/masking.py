"""Keeping padded frames out of the result."""

from __future__ import annotations

import torch


def time_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """(B, T) bool, True on real frames."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]


def zero_padding(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Zero a (B, C, T, ...) tensor beyond each clip's length.

    Temporal convolutions then see exactly the zeros they would see at a lone clip's edge, so a
    clip batched with longer ones gives the same output as alone.
    """
    mask = time_mask(lengths, x.shape[2]).to(x.dtype)
    return x * mask.view(mask.shape[0], 1, mask.shape[1], *([1] * (x.dim() - 3)))
