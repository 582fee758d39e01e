"""The rest a model expects around a phrase, and the reading of a phrase with rest added.

A model learns the clips it is trained on, silence included: GRID's 3 s clips have about a second of
still lips around each sentence, and the shipped model reads a sentence that comes without it (commands
said one after another, a video cut at the words) far worse. A phrase whose reading shows too little
rest at an end is read again with its first or last mouth crop repeated: a mouth held still.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class PhraseOutputs:
    """The model's (T, V) log-probabilities for one phrase: as cut (``plain``), and, when the model saw
    too little rest around it, read again with ``before`` still frames ahead of it and some behind
    (``rested``; see :func:`rest_to_add`)."""

    plain: torch.Tensor
    rested: torch.Tensor | None = None
    before: int = 0
    #: ``((decoder, k), what Transcriber.read_outputs gave)`` once it has been read (to find the
    #: sentences in it), so that the reading is not decoded a second time
    reading: tuple[tuple[str, int], tuple] | None = field(default=None, compare=False, repr=False)

    @property
    def own(self) -> slice:
        """The phrase's own frames among ``rested``'s (what its confidence is measured over)."""
        return slice(self.before, self.before + len(self.plain))


#: The rest a model expects is the blank its best path spends at the ends of clips it reads in
#: domain: this percentile of those ends, so that nine ends in ten of such clips need none added. On
#: s1_val the shipped model's gives 12, the value chosen by hand on the WER of cut clips.
REST_PERCENTILE = 10


def blank_ends(log_probs: torch.Tensor, blank: int) -> tuple[int, int] | None:
    """The frames the model's best path spends on the blank before its first character and after its
    last (the rest it sees at either end); None when it reads nothing at all."""
    spoken = (log_probs.argmax(-1) != blank).nonzero().flatten()
    if not len(spoken):
        return None
    return int(spoken[0]), len(log_probs) - 1 - int(spoken[-1])


def rest_to_add(log_probs: torch.Tensor, blank: int, frames: int) -> tuple[int, int]:
    """Still frames to put before and after a phrase: ``frames`` at an end where the model's best path
    spends fewer than ``frames`` on the blank (too little rest there), else none. The whole ``frames``
    rather than the difference: at a cut close to the words the blank frames a model spends are not
    rest (s1_val cut to its words: 7.33% WER so, 10.67% adding the difference). (0, 0) when it reads
    nothing at all."""
    ends = blank_ends(log_probs, blank)
    if ends is None:
        return 0, 0
    before, after = ends
    return (frames if before < frames else 0), (frames if after < frames else 0)


def expected_rest(ends: list[int]) -> int:
    """``rest_frames`` for a model from the blank frames at the ends of clips it should read in domain
    (:func:`blank_ends` of each, both ends): the :data:`REST_PERCENTILE` th percentile. A model that
    learnt clips cut close to their words spends little blank at their ends and gets little rest added;
    one that learnt sentences with a second of still lips around them gets about half a second."""
    return int(round(float(np.percentile(ends, REST_PERCENTILE)))) if ends else 0


def with_rest(frames: np.ndarray, before: int, after: int) -> np.ndarray:
    """``frames`` with ``before`` copies of the first ahead of them and ``after`` copies of the last
    behind them: a mouth held still either side."""
    if not len(frames) or before <= 0 and after <= 0:
        return frames
    return np.concatenate([np.repeat(frames[:1], max(0, before), 0), frames, np.repeat(frames[-1:], max(0, after), 0)])
