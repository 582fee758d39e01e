"""Alignment-constrained CTC: where a dataset knows when each word was spoken (GRID `.align`,
LRS word times), training may only emit a word's characters near that word.

Plain CTC is free to fire a character anywhere in the clip; models trained on fixed-grammar data
learn to emit the first word at the first frames and the last word at the end, which makes forced
alignment (and so word timings) wrong. Masking the log-probabilities outside each character's
window before the CTC loss (after the softmax, so probability mass there is pushed down, as in
Senior et al. 2015's constrained CTC) ties the spikes to the speech.
"""

from __future__ import annotations

import torch

from data_prep.contracts import Word
from lipread.text import CharTokenizer

#: Value given to a disallowed (frame, class) log-probability; finite so gradients stay finite.
MASKED = -1e4


def word_frame_spans(words: list[Word], text: str, fps: float) -> list[tuple[float, float]] | None:
    """Manifest word times as frame spans, or None when they are missing or don't match ``text``."""
    if not words or [w.word for w in words] != text.split():
        return None
    return [(w.start * fps, w.end * fps) for w in words]


def allowed_classes(
    text: str, spans: list[tuple[float, float]], num_frames: int, tokenizer: CharTokenizer, margin: float
) -> torch.Tensor:
    """(num_frames, vocab) bool: which classes CTC may emit on which frame.

    Blank is always allowed. Character ``k`` of an ``n``-character word spanning frames [s, e)
    may fire in the ``k``-th ``n``-th of the span, widened by ``margin`` frames each side (so the
    spikes spread over the word and its first and last characters mark its edges); the word break
    may fire from ``margin`` before one word's end to ``margin`` after the next word's start.
    """
    allowed = torch.zeros(num_frames, tokenizer.vocab_size, dtype=torch.bool)
    allowed[:, tokenizer.blank] = True

    def allow(token: int, start: float, end: float) -> None:
        lo = max(0, int(start - margin))
        hi = min(num_frames, int(end + margin + 0.999))
        if hi <= lo:  # a span past the clip's end: keep the character possible somewhere near it
            lo, hi = max(0, min(lo, num_frames - 1)), num_frames
        allowed[lo:hi, token] = True

    words = text.split()
    space = tokenizer.encode(" ")[0]
    for i, (word, (start, end)) in enumerate(zip(words, spans)):
        ids = tokenizer.encode(word)
        step = max(end - start, 1e-3) / len(ids)
        for k, token in enumerate(ids):
            allow(token, start + k * step, start + (k + 1) * step)
        if i + 1 < len(words):
            allow(space, min(end, spans[i + 1][0]), max(end, spans[i + 1][0]))
    return allowed


def mask_log_probs(log_probs: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """(B, T, V) log-probabilities with the disallowed entries set to :data:`MASKED`."""
    return log_probs.masked_fill(~allowed[:, : log_probs.shape[1]], MASKED)
