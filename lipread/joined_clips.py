"""Training samples of two sentences said one after another, made from two clips of one speaker.

GRID's clips hold one sentence with about a second of still lips around it, and a model trained on
them alone reads commands said without that rest far worse: on s1_val's sentences joined five to a
video, 15% of words wrong 0.12 s apart against 4.33% alone (RESULTS.md, "Sentences said one after
another"). Joining a clip's words to another clip's words with a short rest between them
(:func:`lipread.augment.join_sentences`) shows the model such joins. The same draws serve the
DataLoader path (:class:`JoinedBatches` draws each pass's joins, :class:`JoinedClips` makes them) and
the device bank (:mod:`lipread.device_bank`); on both, the pairs are batched together
(:func:`batched_with_joins`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

from lipread.augment import JOIN_REST, Spans, join_range, join_sentences
from lipread.batching import EpochBatches, budget_batches, rank_batches
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

    def draw_from(self, generator: torch.Generator | None, first: int, share: float) -> Join | None:
        """:meth:`draw` with ``generator``'s numbers, as the DataLoader path's batches and the device
        bank draw them."""
        return self.draw(first, share, lambda: float(torch.rand(1, generator=generator)),
                         lambda low, high: int(torch.randint(low, high, (1,), generator=generator)))  # fmt: skip


def batched_with_joins(order: list[int], joining: list[bool], batch_size: int, generator: torch.Generator | None
                       ) -> list[list[int]]:  # fmt: skip
    """``order`` in batches of ``batch_size``, the clips to be joined (``joining``) together and the
    batches in a random order: one joined pair among single sentences would pad its whole batch to
    the length of two. At most one batch mixes the two kinds."""
    ranked = [order[k] for k in sorted(range(len(order)), key=lambda k: not joining[k])]  # stable: joined first
    starts = list(range(0, len(ranked), batch_size))
    return [
        ranked[starts[k] : starts[k] + batch_size] for k in torch.randperm(len(starts), generator=generator).tolist()
    ]


class JoinedClips(Dataset):
    """The training samples (``shown``: ``clips`` and whatever is shown beside them, spliced
    sentences for instance) by index, and by :class:`Join` the first clip's sentence followed by
    the second's (:func:`lipread.augment.join_sentences`): cropped, flipped, masked and sped up or
    slowed as any clip is, but kept whole, never cut to a run of its words or trimmed (as on the
    device bank). :class:`JoinedBatches` says which."""

    def __init__(self, clips: ClipDataset, shown: Dataset):
        self.clips, self.shown = clips, shown

    def __len__(self) -> int:
        return len(self.shown)

    def __getitem__(self, key: int | Join) -> Item:
        if not isinstance(key, Join):
            return self.shown[key]
        a, b = self.clips.utterances[key.first], self.clips.utterances[key.second]
        frames, text, spans = join_sentences(self.clips.frames(key.first), a.text, a.spans,
                                             self.clips.frames(key.second), b.text, b.spans, key.rest)  # fmt: skip
        return self.clips.make_item(f"{a.id}+{b.id}", text, frames, spans, whole=True)


class JoinedBatches(EpochBatches):
    """Each pass, every training sample once, a ``share`` of the clips (those with a partner) drawn
    to be joined (:meth:`JoinPartners.draw`), in batches of :class:`JoinedClips` keys: ``batch_size``
    a batch with the pairs together (:func:`batched_with_joins`), or with ``max_frames`` as many of
    similar length as fit in that many padded frames (:func:`lipread.batching.budget_batches`, with
    each pair's own length). ``lengths`` are the samples' frames unjoined; ``shard`` = (rank, world
    size) gives every rank its own batches, the same number on each."""

    def __init__(self, utterances: list[Utterance], lengths: list[int], share: float, batch_size: int,
                 max_frames: int | None = None, seed: int = 0, shard: tuple[int, int] = (0, 1)):  # fmt: skip
        self.utterances, self.lengths, self.share = utterances, lengths, share
        self.batch_size, self.max_frames, self.seed, self.shard = batch_size, max_frames, seed, shard
        self.partners = JoinPartners.of(utterances)

    def length(self, key: int | Join) -> int:
        """A sample's frames: a pair's as :func:`lipread.augment.join_range` cuts them."""
        if not isinstance(key, Join):
            return self.lengths[key]
        a, b = self.utterances[key.first], self.utterances[key.second]
        end, start = join_range(a.spans, a.num_frames, b.spans, key.rest)
        return end + b.num_frames - start

    def batches(self, epoch: int) -> list[list[int | Join]]:
        """The batches of pass ``epoch`` for this rank."""
        generator = torch.Generator().manual_seed(self.seed + epoch)
        keys = [self.partners.draw_from(generator, i, self.share) or i for i in range(len(self.lengths))]
        if self.max_frames:
            chosen = budget_batches([self.length(k) for k in keys], self.max_frames, generator)
        else:
            order = torch.randperm(len(keys), generator=generator).tolist()
            joining = [isinstance(keys[i], Join) for i in order]
            chosen = batched_with_joins(order, joining, self.batch_size, generator)
        return [[keys[i] for i in batch] for batch in rank_batches(chosen, self.shard)]
