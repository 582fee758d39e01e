"""What training minimises and how its rate moves, shared by ``lipread train`` (Lightning) and
``lipread adapt`` (a plain loop that starts without importing Lightning)."""

from __future__ import annotations

import math

import torch
from torch import nn

from data_prep.contracts import Batch
from lipread.word_windows import MASKED, mask_log_probs


def ctc_loss(log_probs: torch.Tensor, batch: Batch, blank: int, windows: bool) -> torch.Tensor:
    """Mean per-utterance CTC loss, each divided by its label length (CTCLoss's "mean").

    With ``windows`` and a batch that has word times, characters may only fire near their words
    (:mod:`lipread.word_windows`); an utterance whose window set no CTC path fits (times that
    disagree with the video) costs at least ``-MASKED`` there and falls back to plain CTC.
    """
    targets = (batch.labels, batch.lengths, batch.label_lengths)
    losses = nn.functional.ctc_loss(log_probs.transpose(0, 1), *targets, blank=blank, reduction="none")
    if windows and batch.allowed is not None:
        masked = nn.functional.ctc_loss(
            mask_log_probs(log_probs, batch.allowed).transpose(0, 1), *targets, blank=blank, reduction="none"
        )
        losses = torch.where(masked < -MASKED / 2, masked, losses)
    return (losses / batch.label_lengths.clamp(min=1)).mean()


def kl_to_reference(log_probs: torch.Tensor, reference: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Mean per-frame KL(reference || model) over the real frames of (B, T, V) log-probabilities.

    KL-regularised adaptation (Yu et al., ICASSP 2013): fine-tuned on a few clips, a model drifts
    towards the few words they hold and forgets the others; keeping it near the base model's
    outputs where the clips say little keeps the odds of words they never show."""
    valid = torch.arange(log_probs.shape[1], device=lengths.device)[None] < lengths[:, None]
    kl = (reference.exp() * (reference - log_probs)).sum(-1)
    return kl[valid].mean()


def warmup_cosine(step: int, warmup: int, total: int, floor: float) -> float:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay to ``floor``."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def freeze(model: nn.Module, prefixes: tuple[str, ...]) -> None:
    """No gradients for parameters whose names start with one of ``prefixes``."""
    for name, p in model.named_parameters():
        if prefixes and name.startswith(prefixes):
            p.requires_grad_(False)


def keep_frozen_in_eval(model: nn.Module, prefixes: tuple[str, ...]) -> None:
    """Frozen parts keep their batch-norm statistics and drop no units (call after ``train()``)."""
    for name, module in model.named_modules():
        if prefixes and name.startswith(prefixes):
            module.eval()


def adamw(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the trainable parameters, without decay on biases and norm weights."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)
