"""Model registry: ``build_model(arch, ...)`` is what configs and checkpoints name."""

from __future__ import annotations

from torch import nn

from lipread.models.conformer import ConformerVSR
from lipread.models.lipnet import LipNet

ARCHITECTURES: dict[str, type[nn.Module]] = {"lipnet": LipNet, "conformer": ConformerVSR}


def build_model(arch: str, in_channels: int, vocab_size: int, **options) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown arch {arch!r}; choose from {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](in_channels=in_channels, vocab_size=vocab_size, **options)
