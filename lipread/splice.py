"""Word splicing: new training sentences cut and joined from the words of a speaker's clips.

A few clips hold few sentences, and a sequence model fine-tuned on them learns the sentences
instead of the words (adapted on ten GRID clips, it reads held-out clips as training sentences).
Where each word's frames are known (a manifest's word times, or a forced alignment), word ``i`` of
a new sample is taken from clip ``c_i``: sentences of one shape (GRID's six slots, a user's
fixed-form commands) give as many new sentences as there are choices of ``c_i``, each a real
video of the speaker saying each of its words.

Cuts fall halfway through the pause between two words, so each piece keeps the lip movement into
and out of its word; the silence before the first word and after the last comes from one clip.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from torch.utils.data import ConcatDataset, Dataset

from lipread.augment import torch_seeded_rng
from lipread.clips import ClipDataset, Item

Spans = list[tuple[float, float]]


def word_cuts(spans: Spans, num_frames: int) -> list[int]:
    """``n + 1`` frame indices cutting a clip into its ``n`` words: the first at the first word's
    start, one halfway through each pause between words, the last at the last word's end."""
    middles = [(end + start) / 2 for (_, end), (start, _) in zip(spans, spans[1:])]
    cuts = [int(round(x)) for x in [spans[0][0], *middles, spans[-1][1]]]
    cuts = [min(max(c, 0), num_frames) for c in cuts]
    for i in range(1, len(cuts)):  # word times that overlap or run backwards: keep pieces ordered
        cuts[i] = max(cuts[i], cuts[i - 1])
    return cuts


def splice(frames: list[np.ndarray], words: list[list[str]], spans: list[Spans], sources: list[int],
           frame_clip: int) -> tuple[np.ndarray, str, Spans]:  # fmt: skip
    """Join word ``i`` of clip ``sources[i]`` for every ``i``, between the leading and trailing
    silence of clip ``frame_clip``; returns the frames, the sentence and its word spans (frames).

    Every clip named must have as many words as ``sources`` has entries."""
    cuts = [word_cuts(s, len(f)) for s, f in zip(spans, frames)]
    lead = frames[frame_clip][: cuts[frame_clip][0]]
    pieces, text, new_spans = [lead], [], []
    offset = len(lead)
    for i, clip in enumerate(sources):
        start, end = cuts[clip][i], cuts[clip][i + 1]
        word_start, word_end = spans[clip][i]
        pieces.append(frames[clip][start:end])
        text.append(words[clip][i])
        new_spans.append((offset + max(word_start - start, 0.0), offset + min(word_end, end) - start))
        offset += end - start
    pieces.append(frames[frame_clip][cuts[frame_clip][-1] :])
    return np.concatenate(pieces), " ".join(text), new_spans


class SplicedClips(Dataset):
    """``count`` random spliced sentences a pass, from the clips of ``clips`` that have word times.

    Clips are grouped by their number of words; a sample takes all its words from one group. The
    draws come from torch's generator, so a seeded run splices the same sentences every time."""

    def __init__(self, clips: ClipDataset, count: int):
        self.clips = clips
        self.count = count
        groups: dict[int, list[int]] = defaultdict(list)
        for index, utt in enumerate(clips.utterances):
            if utt.spans is not None and utt.spans:
                groups[len(utt.spans)].append(index)
        self.groups = [g for g in groups.values() if len(g) >= 2]
        self.weights = np.array([len(g) for g in self.groups], dtype=float)

    @property
    def usable(self) -> bool:
        """Whether any two clips share a shape, so that splicing makes new sentences."""
        return bool(self.groups)

    def __len__(self) -> int:
        return self.count if self.usable else 0

    def __getitem__(self, index: int) -> Item:
        rng = torch_seeded_rng()
        group = self.groups[rng.choice(len(self.groups), p=self.weights / self.weights.sum())]
        utts = [self.clips.utterances[i] for i in group]
        sources = [int(x) for x in rng.integers(0, len(group), size=len(utts[0].spans))]
        frame_clip = int(rng.integers(0, len(group)))
        used = sorted({*sources, frame_clip})
        frames, text, spans = splice(
            [self.clips.frames(group[i]) if i in used else np.empty(0) for i in range(len(group))],
            [u.text.split() for u in utts],
            [u.spans for u in utts],
            sources,
            frame_clip,
        )
        return self.clips.make_item(f"spliced-{index}", text, frames, spans)


def with_spliced(clips: ClipDataset, per_clip: float) -> Dataset:
    """``clips`` and, each pass, ``per_clip`` spliced sentences for every clip (none for 0)."""
    count = round(per_clip * len(clips))
    return ConcatDataset([clips, SplicedClips(clips, count)]) if count > 0 else clips
