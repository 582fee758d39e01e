"""Model registry: ``build_model(arch, ...)`` is what configs and checkpoints name."""

from __future__ import annotations

import inspect

import torch
from torch import nn

from data_prep.contracts import ContractError
from lipread.models.conformer import ConformerVSR
from lipread.models.lipnet import LipNet

ARCHITECTURES: dict[str, type[nn.Module]] = {"lipnet": LipNet, "conformer": ConformerVSR}


def build_model(arch: str, in_channels: int, vocab_size: int, **options) -> nn.Module:
    """The network a config or checkpoint names; an unknown name or option is refused by name."""
    if arch not in ARCHITECTURES:
        raise ContractError(f"unknown arch {arch!r}; choose from {', '.join(sorted(ARCHITECTURES))}")
    known = set(inspect.signature(ARCHITECTURES[arch].__init__).parameters) - {"self", "in_channels", "vocab_size"}
    if unknown := sorted(set(options) - known):
        raise ContractError(
            f"{arch} has no option {', '.join(map(repr, unknown))}; its options: {', '.join(sorted(known))}"
        )
    return ARCHITECTURES[arch](in_channels=in_channels, vocab_size=vocab_size, **options)


def ctc_log_probs(model: nn.Module, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """A network's per-frame character log-probabilities (B, T, V), in float32 whatever it ran in."""
    return model(video, lengths).float().log_softmax(dim=-1)
