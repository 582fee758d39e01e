"""Model registry: ``build_model(arch, ...)`` is what configs and checkpoints name."""

from __future__ import annotations

import torch
from torch import nn

from lipread.models.conformer import ConformerVSR
from lipread.models.lipnet import LipNet

ARCHITECTURES: dict[str, type[nn.Module]] = {"lipnet": LipNet, "conformer": ConformerVSR}


def build_model(arch: str, in_channels: int, vocab_size: int, **options) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose from {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](in_channels=in_channels, vocab_size=vocab_size, **options)


def ctc_log_probs(model: nn.Module, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A network's per-frame character log-probabilities (B, T, V), in float32 whatever it ran in."""
    return model(video, lengths).float().log_softmax(dim=-1)
