"""Word timings by CTC forced alignment of a chosen transcript (torchaudio)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torchaudio.functional as AF

from data_prep.contracts import Word
from lipread.text import CharTokenizer, ctc_min_frames


def word_timings(
    log_probs: torch.Tensor, text: str, tokenizer: CharTokenizer, fps: float, offset: float = 0.0
) -> list[Word]:
    """Align ``text`` to one utterance's (T, V) log-probabilities.

    Each word gets ``start`` and ``end`` in seconds (frame edges, plus ``offset``) and a
    ``confidence`` in [0, 1]: the mean probability the model gave its characters on the frames
    the alignment assigned them. Returns [] when the text is empty or cannot fit the frames.
    """
    words = text.split()
    if not words:
        return []
    labels = tokenizer.encode(" ".join(words))
    if ctc_min_frames(labels) > log_probs.shape[0]:
        return []
    emissions = log_probs.detach().float().cpu()[None]
    targets = torch.tensor([labels], dtype=torch.int32)
    alignment, scores = AF.forced_align(emissions, targets, blank=tokenizer.blank)
    spans = AF.merge_tokens(alignment[0], scores[0].exp(), blank=tokenizer.blank)
    space = tokenizer.encode(" ")[0]
    result, current = [], []
    for span in spans + [None]:
        if span is None or span.token == space:
            if current:
                result.append(current)
            current = []
        else:
            current.append(span)
    out = []
    for word, chars in zip(words, result):
        out.append(Word(
            word,
            round(offset + chars[0].start / fps, 3),
            round(offset + chars[-1].end / fps, 3),
            round(float(sum(c.score for c in chars) / len(chars)), 3),
        ))  # fmt: skip
    return out


def timing_errors(
    log_probs: torch.Tensor, text: str, reference: list[tuple[float, float]], tokenizer: CharTokenizer, fps: float
) -> list[tuple[float, float]]:
    """(start, end) error in seconds of each word when ``text`` is force-aligned, against
    ``reference`` word spans in frames (a manifest's word times); [] when it cannot be aligned."""
    words = word_timings(log_probs, text, tokenizer, fps)
    if len(words) != len(reference):
        return []
    return [(w.start - s / fps, w.end - e / fps) for w, (s, e) in zip(words, reference)]


@dataclass(frozen=True)
class TimingSummary:
    """How close forced-aligned word times fall to the reference times, over many words (the
    seconds are each word's start or end error; ``within_*`` count a word when both are within)."""

    words: int = 0
    within_0_1_s: float | None = None
    within_0_2_s: float | None = None
    median_start_error_s: float | None = None
    median_end_error_s: float | None = None


def timing_summary(errors: list[tuple[float, float]]) -> TimingSummary:
    """:class:`TimingSummary` of (start, end) errors in seconds, one pair a word."""
    if not errors:
        return TimingSummary()
    starts = torch.tensor([abs(s) for s, _ in errors])
    ends = torch.tensor([abs(e) for _, e in errors])
    worst = torch.maximum(starts, ends)
    return TimingSummary(
        words=len(errors),
        within_0_1_s=round(float((worst <= 0.1).float().mean()), 4),
        within_0_2_s=round(float((worst <= 0.2).float().mean()), 4),
        median_start_error_s=round(float(starts.median()), 3),
        median_end_error_s=round(float(ends.median()), 3),
    )
