"""Training samples of two sentences said one after another, made from two clips of one speaker.

GRID's clips hold one sentence with about a second of still lips around it, and a model trained on
them alone reads commands said without that rest far worse: on s1_val's sentences joined five to a
video, 15% of words wrong 0.12 s apart against 4.33% alone (RESULTS.md, "Sentences said one after
another"). Joining a clip's words to another clip's words with a short rest between them
(:func:`lipread.augment.join_sentences`) shows the model such joins. The same draws serve the
DataLoader path (:class:`JoinedClips`) and the device bank (:mod:`lipread.device_bank`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from torch.utils.data import Dataset

from lipread.augment import JOIN_REST, Spans, join_sentences, torch_seeded_rng
from lipread.clips import ClipDataset, Item, Utterance


@dataclass(frozen=True)
class Join:
    """One joined sample: clip ``first``'s sentence, then ``rest`` frames, then clip ``second``'s."""

    first: int
    second: int
    rest: int


class JoinPartners:
    """Which clips may be joined to which: those with word times (``spans``), each to another of the
    same speaker's."""

    @classmethod
    def of(cls, utterances: list[Utterance]) -> JoinPartners:
        return cls([u.spans for u in utterances], [u.speaker for u in utterances])

    def __init__(self, spans: Sequence[Spans | None], speakers: Sequence[str]):
        by_speaker: dict[str, list[int]] = defaultdict(list)
        for i, (words, speaker) in enumerate(zip(spans, speakers)):
            if words:
                by_speaker[speaker].append(i)
        self.speaker_of = list(speakers)
        self.partners = {spk: ids for spk, ids in by_speaker.items() if len(ids) >= 2}
        self.joinable = {i for ids in self.partners.values() for i in ids}

    def __bool__(self) -> bool:
        return bool(self.partners)

    def draw(self, first: int, share: float, uniform: Callable[[], float], integer: Callable[[int, int], int]
             ) -> Join | None:  # fmt: skip
        """With probability ``share``, a join of clip ``first`` to another clip of its speaker and a
        rest of 1 to :data:`~lipread.augment.JOIN_REST` frames; None for no join (or no partner).
        ``uniform()`` and ``integer(low, high)`` are the caller's seeded draws."""
        if first not in self.joinable or uniform() >= share:
            return None
        others = self.partners[self.speaker_of[first]]
        second = others[integer(0, len(others) - 1)]
        if second == first:  # drawn from the others: the last one stands in for the clip itself
            second = others[-1]
        return Join(first, second, integer(1, JOIN_REST + 1))


class JoinedClips(Dataset):
    """``clips`` with, each pass, a share of their items (``share``, 0-1) each followed by another
    clip of the same speaker after a short rest (:class:`Join`). The joined clip is cropped,
    flipped, masked and sped up or slowed as any clip is, but kept whole: never cut to a run of its
    words or trimmed (as on the device bank)."""

    def __init__(self, clips: ClipDataset, share: float):
        self.clips, self.share = clips, share
        self.partners = JoinPartners.of(clips.utterances)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> Item:
        rng = torch_seeded_rng()
        join = self.partners.draw(index, self.share, rng.random, lambda low, high: int(rng.integers(low, high)))
        if join is None:
            return self.clips[index]
        a, b = self.clips.utterances[join.first], self.clips.utterances[join.second]
        frames, text, spans = join_sentences(self.clips.frames(join.first), a.text, a.spans,
                                             self.clips.frames(join.second), b.text, b.spans, join.rest)  # fmt: skip
        return self.clips.make_item(f"{a.id}+{b.id}", text, frames, spans, whole=True)


def with_joined(clips: ClipDataset, share: float) -> Dataset:
    """``clips``, a ``share`` of them joined to another each pass (none for 0)."""
    return JoinedClips(clips, share) if share > 0 else clips
