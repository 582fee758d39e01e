"""Word timings by CTC forced alignment of a chosen transcript (torchaudio)."""

from __future__ import annotations

import torch
import torchaudio.functional as AF

from lipread.text import CharTokenizer, ctc_min_frames


def word_timings(
    log_probs: torch.Tensor, text: str, tokenizer: CharTokenizer, fps: float, offset: float = 0.0
) -> list[dict]:
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
        out.append(
            {
                "word": word,
                "start": round(offset + chars[0].start / fps, 3),
                "end": round(offset + chars[-1].end / fps, 3),
                "confidence": round(float(sum(c.score for c in chars) / len(chars)), 3),
            }
        )
    return out
