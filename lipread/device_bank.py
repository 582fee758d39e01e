"""Training clips held on the accelerator as uint8 and augmented there, a batch at a time.

On a GPU, decoding, cropping and normalising every clip in DataLoader workers each epoch caps a
small model like LipNet at a few hundred clips/s while the GPU waits. GRID's training clips fit in
GPU memory as uint8 (75 x 96 x 96 bytes each: about 0.5 GB for 700 clips), and the augmentations of
:class:`lipread.augment.Augment` (random crop, flip, time masks filled with the clip's mean frame,
trimming the silence around the words, cutting a clip to a run of its words, joining two clips'
sentences) are a few tensor operations on a whole batch, so an epoch costs only the model's own time.
Speed perturbation and word splicing stay with the DataLoader path.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from data_prep.contracts import Batch
from lipread.augment import (
    CUT_JITTER,
    SLOWEST_FPS,
    cuttable,
    join_range,
    joined_spans,
    slower_camera,
    speech_bounds,
    word_run,
)
from lipread.clips import ClipDataset, PixelNorm, Utterance
from lipread.joined_clips import Join, JoinPartners, batched_with_joins
from lipread.text import CharTokenizer
from lipread.word_windows import allowed_classes


class DeviceClipBank:
    """Every clip of ``utterances`` decoded once into one (N, T, H, W, C) uint8 tensor on ``device``,
    padded to the longest, with labels and word windows beside it."""

    def __init__(self, utterances: list[Utterance], channels: int = 1, input_size: int = 88,
                 word_window_margin: float | None = 2.0, device: str | torch.device = "cpu", flip: bool = True,
                 time_mask_frames: int = 10, fps: float = 25.0, norm: PixelNorm = PixelNorm(),
                 trim_edges: float = 0.0, trim_keep: int = 3, cut_words: float = 0.0,
                 low_frame_rate: float = 0.0, joined_sentences: float = 0.0):  # fmt: skip
        decoded = ClipDataset(utterances, channels, input_size, cache=True)
        clips = [torch.from_numpy(decoded.frames(i)) for i in range(len(utterances))]
        if channels == 3 and clips and clips[0].shape[-1] == 1:
            raise ValueError("RGB training needs RGB clips")
        self.device = torch.device(device)
        self.utterances = utterances
        self.size, self.flip, self.time_mask_frames, self.fps = input_size, flip, time_mask_frames, fps
        self.norm = norm
        self.trim_edges, self.cut_words, self.low_frame_rate = trim_edges, cut_words, low_frame_rate
        self.joined, self.partners = joined_sentences, JoinPartners.of(utterances)
        self.margin, self.tokenizer = word_window_margin, CharTokenizer()
        longest = max(len(c) for c in clips)
        self.frames = torch.zeros((len(clips), longest, *clips[0].shape[1:]), dtype=torch.uint8)
        for i, clip in enumerate(clips):
            self.frames[i, : len(clip)] = clip
        self.frames = self.frames.to(self.device)
        self.lengths = torch.tensor([len(c) for c in clips], device=self.device)
        self.labels = torch.nn.utils.rnn.pad_sequence(
            [torch.tensor(u.labels, dtype=torch.long) for u in utterances], batch_first=True
        ).to(self.device)
        self.label_lengths = torch.tensor([len(u.labels) for u in utterances], device=self.device)
        # the frames a trimmed clip may start after and end before (its words, and trim_keep either side)
        self.speech = torch.tensor([speech_bounds(u.spans, len(c), trim_keep) for u, c in zip(utterances, clips)],
                                   dtype=torch.long, device=self.device).reshape(-1, 2)  # fmt: skip
        self.allowed = None
        if word_window_margin is not None and any(u.spans is not None for u in utterances):
            tokenizer = CharTokenizer()
            allowed = torch.ones(len(clips), longest, tokenizer.vocab_size, dtype=torch.bool)
            for i, u in enumerate(utterances):
                if u.spans is not None:
                    allowed[i, : len(clips[i])] = allowed_classes(
                        u.text, u.spans, len(clips[i]), tokenizer, word_window_margin
                    )
            self.allowed = allowed.to(self.device)

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def nbytes(self) -> int:
        return self.frames.numel()

    def batch(self, index: torch.Tensor, generator: torch.Generator | None = None, augment: bool = True,
              joins: list[Join | None] | None = None) -> Batch:  # fmt: skip
        """Clips ``index`` cropped (at random with ``augment``, else centred), maybe flipped and
        time-masked, normalised and zero-padded like :func:`lipread.clips.collate`'s batches;
        ``joins``: each clip's join to a partner, or None (None for all: each drawn with probability
        ``joined``, :meth:`lipread.joined_clips.JoinPartners.draw_from`)."""
        index = index.to(self.device)
        chosen = index.tolist()
        if not (augment and self.joined and self.partners):
            joins = []
        elif joins is None:
            joins = [self.partners.draw_from(generator, i, self.joined) for i in chosen]
        draw = _Draws(len(index), self.device, generator)
        starts, lengths = self._trims(index, draw) if augment and self.trim_edges else (None, self.lengths[index])
        texts = [self.utterances[i].text for i in chosen]
        label_starts, label_lengths = None, self.label_lengths[index]
        if augment and self.cut_words:
            starts, lengths, label_starts, label_lengths, texts = self._cuts(chosen, starts, lengths, generator)
        second, joined_spans = None, {}
        if any(joins):  # those clips whole, each followed by its partner's words (never trimmed or cut)
            starts, lengths, second, texts, joined_spans = self._joined(joins, starts, lengths, texts)
        t = int(lengths.max())
        if starts is None:
            clips = self.frames[index, :t]  # (B, T, H, W, C)
            allowed = self.allowed[index, :t] if self.allowed is not None else None
        else:  # each clip from its own first frame (a joined one's second piece from its partner's);
            # frames past its end are zeroed below
            steps = torch.arange(t, device=self.device)[None]
            sources, frames = index[:, None].expand(-1, t), starts[:, None] + steps
            if second is not None:
                partner, partner_start, first_count = second
                later = steps >= first_count[:, None]
                sources = torch.where(later, partner[:, None], sources)
                frames = torch.where(later, partner_start[:, None] + steps - first_count[:, None], frames)
            frames = frames.clamp(max=self.frames.shape[1] - 1)
            clips = self.frames[sources, frames]
            allowed = self.allowed[sources, frames] if self.allowed is not None else None
            if allowed is not None:  # a joined clip's windows from both sentences' word times, moved
                for k, spans in joined_spans.items():
                    n = int(lengths[k])
                    allowed[k, :n] = allowed_classes(texts[k], spans, n, self.tokenizer, self.margin).to(self.device)
        b, _, h, w, c = clips.shape
        if augment and self.low_frame_rate:  # some clips as a slower camera shows them (augment.slower_camera)
            slower = draw.uniform() < self.low_frame_rate
            rates = torch.where(slower, SLOWEST_FPS + draw.uniform() * (self.fps - SLOWEST_FPS), self.fps)
            clips = clips[torch.arange(b, device=self.device)[:, None], slower_camera(t, self.fps, rates)]
        if augment:
            top = draw.integers(h - self.size + 1)
            left = draw.integers(w - self.size + 1)
        else:
            top = torch.full((b,), (h - self.size) // 2, device=self.device)
            left = torch.full((b,), (w - self.size) // 2, device=self.device)
        steps = torch.arange(self.size, device=self.device)
        rows = (top[:, None] + steps)[:, None, :, None]  # (B, 1, S, 1)
        cols = (left[:, None] + steps)[:, None, None, :]  # (B, 1, 1, S)
        batch_index = torch.arange(b, device=self.device)[:, None, None, None]
        time_index = torch.arange(t, device=self.device)[None, :, None, None]
        x = clips[batch_index, time_index, rows, cols].float()  # (B, T, S, S, C)
        valid = torch.arange(t, device=self.device)[None] < lengths[:, None]  # (B, T)
        if allowed is not None and starts is not None:
            allowed = allowed | ~valid[:, :, None]  # padding may emit anything, as in collate
        if augment and self.flip:
            x = torch.where((draw.uniform() < 0.5)[:, None, None, None, None], x.flip(3), x)
        if augment and self.time_mask_frames:
            x = self._time_masks(x, lengths, valid, draw)
        x = self.norm(x, valid)
        x = x * valid[:, :, None, None, None]  # padding is zero after normalising, as in collate
        longest_label = int(label_lengths.max())
        if label_starts is None:
            labels = self.labels[index, :longest_label]
        else:  # each clip's labels from its run's first character; past its run's end, padding (0)
            steps = torch.arange(longest_label, device=self.device)[None]
            at = (label_starts[:, None] + steps).clamp(max=self.labels.shape[1] - 1)
            labels = self.labels[index[:, None], at] * (steps < label_lengths[:, None])
        if any(joins):  # both sentences' characters, a space between them
            encoded = [torch.tensor(self.tokenizer.encode(text)) for text in texts]
            label_lengths = torch.tensor([len(e) for e in encoded], device=self.device)
            wide = torch.zeros(b, int(label_lengths.max()), dtype=labels.dtype, device=self.device)
            wide[:, : labels.shape[1]] = labels[:, : wide.shape[1]]
            for k, join in enumerate(joins):
                if join is not None:
                    wide[k] = 0
                    wide[k, : len(encoded[k])] = encoded[k].to(self.device)
            labels = wide
        return Batch(
            ids=[self.utterances[i].id for i in chosen],
            texts=texts,
            video=x.permute(0, 4, 1, 2, 3).contiguous(),
            lengths=lengths,
            labels=labels,
            label_lengths=label_lengths,
            allowed=allowed,
        )

    def _cuts(self, chosen: list[int], starts: torch.Tensor | None, lengths: torch.Tensor,
              generator: torch.Generator | None):  # fmt: skip
        """With probability ``cut_words``, each clip cut to a random run of its words
        (:func:`lipread.augment.word_run`, as the DataLoader path cuts them): its first frame and
        length, its labels' first character and length, and its text."""
        first_frames = [0] * len(chosen) if starts is None else starts.tolist()
        frame_counts, label_starts = lengths.tolist(), [0] * len(chosen)
        label_counts, texts = [len(self.utterances[i].labels) for i in chosen], []
        coins = torch.rand(len(chosen), generator=generator).tolist()

        def draw(low: int, high: int) -> int:
            return int(torch.randint(low, high, (1,), generator=generator))

        for k, i in enumerate(chosen):
            utterance = self.utterances[i]
            words = utterance.text.split()
            if coins[k] >= self.cut_words or not cuttable(words, utterance.spans):
                texts.append(utterance.text)
                continue
            first, last, start, end = word_run(words, utterance.spans, int(self.lengths[i]), CUT_JITTER, draw)
            first_frames[k], frame_counts[k] = start, end - start
            label_starts[k] = sum(len(w) + 1 for w in words[:first])  # characters, spaces included
            label_counts[k] = sum(len(w) + 1 for w in words[first:last]) - 1
            texts.append(" ".join(words[first:last]))
        numbers = torch.tensor([first_frames, frame_counts, label_starts, label_counts], device=self.device)
        return *numbers, texts

    def _joined(self, joins: list[Join | None], starts: torch.Tensor | None, lengths: torch.Tensor,
                texts: list[str]):  # fmt: skip
        """The joined clips' pieces (:func:`lipread.augment.join_range`): every clip's first frame and
        length, and (partner, partner's first frame, frames before it) a clip, with the texts and, by
        batch position, each joined clip's word spans (:func:`lipread.augment.joined_spans`)."""
        first_frames = [0] * len(joins) if starts is None else starts.tolist()
        counts = lengths.tolist()
        partners, partner_starts, before = [0] * len(joins), [0] * len(joins), list(counts)
        spans: dict[int, list[tuple[float, float]]] = {}
        for k, join in enumerate(joins):
            if join is not None:
                a, b = self.utterances[join.first], self.utterances[join.second]
                end, start = join_range(a.spans, int(self.lengths[join.first]), b.spans, join.rest)
                first_frames[k], counts[k] = 0, end + int(self.lengths[join.second]) - start
                partners[k], partner_starts[k], before[k] = join.second, start, end
                texts[k] = f"{a.text} {b.text}"
                spans[k] = joined_spans(a.spans, b.spans, end, start)
        numbers = torch.tensor([first_frames, counts, partners, partner_starts, before], device=self.device)
        return numbers[0], numbers[1], (numbers[2], numbers[3], numbers[4]), texts, spans

    def _trims(self, index: torch.Tensor, draw: _Draws) -> tuple[torch.Tensor, torch.Tensor]:
        """Each clip's first frame and length after trimming the silence around its words at random
        (with probability ``trim_edges``, as :func:`lipread.augment.trim_range` draws them)."""
        lengths = self.lengths[index]
        latest_start, earliest_end = self.speech[index, 0], self.speech[index, 1]
        start = (draw.uniform() * (latest_start + 1)).long().clamp(max=latest_start)
        end_from = torch.maximum(earliest_end, start + 1)
        end = end_from + (draw.uniform() * (lengths - end_from + 1)).long().clamp(max=lengths - end_from)
        trimmed = draw.uniform() < self.trim_edges
        return torch.where(trimmed, start, 0), torch.where(trimmed, end - start, lengths)

    def _time_masks(self, x: torch.Tensor, lengths: torch.Tensor, valid: torch.Tensor, draw: _Draws) -> torch.Tensor:
        """One mask of 0..``time_mask_frames`` frames per second of each clip, filled with its mean frame."""
        t = x.shape[1]
        per_clip = torch.clamp(lengths // int(self.fps), min=1)  # as Augment: max(1, seconds)
        masks = max(1, math.ceil(t / self.fps))
        masked = torch.zeros_like(valid)
        frame = torch.arange(t, device=x.device)[None]
        for k in range(masks):
            width = draw.integers(self.time_mask_frames + 1)
            start = (draw.uniform() * (lengths - width).clamp(min=0)).long()
            used = (k < per_clip) & (width > 0) & (lengths > width)
            masked |= used[:, None] & (frame >= start[:, None]) & (frame < (start + width)[:, None])
        weights = valid[:, :, None, None, None].float()
        mean = (x * weights).sum(1, keepdim=True) / weights.sum(1, keepdim=True).clamp(min=1)
        return torch.where(masked[:, :, None, None, None], mean.floor(), x)

    def epoch(self, batch_size: int, generator: torch.Generator | None = None, shard: tuple[int, int] = (0, 1)
              ) -> Iterator[Batch]:  # fmt: skip
        """The clips in a random order (``generator``), ``batch_size`` at a time; ``shard`` =
        (rank, world size) keeps every rank's clips apart. With ``joined``, the clips to be joined
        are batched together (:func:`lipread.joined_clips.batched_with_joins`)."""
        order = torch.randperm(len(self), generator=generator)[shard[0] :: shard[1]]
        if not (self.joined and self.partners):
            for start in range(0, len(order), batch_size):
                yield self.batch(order[start : start + batch_size], generator)
            return
        joins = {i: self.partners.draw_from(generator, i, self.joined) for i in order.tolist()}
        joining = [joins[i] is not None for i in joins]
        for chosen in batched_with_joins(list(joins), joining, batch_size, generator):
            yield self.batch(torch.tensor(chosen, dtype=torch.long), generator, joins=[joins[i] for i in chosen])


class _Draws:
    """Per-clip random numbers for one batch, from a CPU generator (reproducible on any device)."""

    def __init__(self, size: int, device: torch.device, generator: torch.Generator | None):
        self.size, self.device, self.generator = size, device, generator

    def integers(self, high: int) -> torch.Tensor:
        return torch.randint(0, max(1, high), (self.size,), generator=self.generator).to(self.device)

    def uniform(self) -> torch.Tensor:
        return torch.rand(self.size, generator=self.generator).to(self.device)


class DeviceBatches:
    """A bank's epochs as a loader Lightning can iterate: a fresh shuffle each pass."""

    def __init__(self, bank: DeviceClipBank, batch_size: int, seed: int = 0, shard: tuple[int, int] = (0, 1)):
        self.bank, self.batch_size, self.shard = bank, batch_size, shard
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return math.ceil(len(range(self.shard[0], len(self.bank), self.shard[1])) / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        return self.bank.epoch(self.batch_size, self.generator, self.shard)
