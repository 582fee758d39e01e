"""Training-time augmentation of (T, H, W, C) uint8 clips, as in Auto-AVSR: random crop,
horizontal flip, time masking, optional speed perturbation and a slower camera's repeated frames;
and, where word times are known,
random trimming of the silence before the first word and after the last, cutting a clip to a
run of its words (a phrase that starts or ends mid-sentence), and joining two clips' sentences with a
short rest between them (commands said one after another)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

Spans = list[tuple[float, float]]

#: Frames a cut inside a sentence may move from where one word meets the next (:func:`word_run`).
CUT_JITTER = 2
#: The slowest camera ``low_frame_rate`` imitates, in frames a second (a webcam in poor light).
SLOWEST_FPS = 10.0
#: The most frames of rest between two joined sentences (:func:`join_sentences`): 0.48 s at 25 fps,
#: past the 0.4 s of still lips at which the phrase cutter would have made them two phrases.
JOIN_REST = 12


def slower_camera(frames: int, fps: float, rates: torch.Tensor) -> torch.Tensor:
    """For each of ``rates`` (frames a second, at most ``fps``): which of a ``fps`` clip's ``frames``
    frames is shown at each of its times when the clip is filmed at that rate instead and brought
    back to ``fps`` by repeating frames, as lipread brings a slower video (each time shows the
    slower camera's latest frame, :func:`data_prep.video.resampled`). (len(rates), frames) indices,
    none later than its time. s1_val read by a model that never saw this: 4.33% WER at 25 fps,
    15% at 15, 32% at 10 (``benchmarks/frame_rate_wer.py``)."""
    t = torch.arange(frames, device=rates.device, dtype=torch.float64)
    rates = rates.to(torch.float64)[:, None]
    taken = torch.floor(t * rates / fps + 1e-6)  # the slower camera's frames so far, less one
    return torch.minimum(torch.round(taken * fps / rates), t).long()


def speech_bounds(spans: Spans | None, num_frames: int, keep: int) -> tuple[int, int]:
    """The latest first frame and the earliest end of a trimmed clip: its words and ``keep``
    frames either side. Without word times, the whole clip."""
    if not spans:
        return (0, num_frames)
    return (max(0, math.floor(spans[0][0]) - keep), min(num_frames, math.ceil(spans[-1][1]) + keep))


def trim_range(spans: Spans, num_frames: int, keep: int, rng: np.random.Generator) -> tuple[int, int]:
    """A random ``[start, end)`` of a clip's frames that holds every word (``spans``, in frames)
    and at least ``keep`` frames of the silence on either side of them (or all there is).

    Whole clips teach a model that speech ends with half a second of still lips; a live phrase or a
    cut window often ends sooner, and such a model then misreads its last word."""
    first, last = speech_bounds(spans, num_frames, keep)
    start = int(rng.integers(0, first + 1))
    end = int(rng.integers(max(last, start + 1), num_frames + 1))
    return start, end


def ctc_frames(text: str) -> int:
    """The fewest frames CTC can spell ``text`` in: a frame a character, and a blank between repeats."""
    return len(text) + sum(a == b for a, b in zip(text, text[1:]))


def word_run(words: list[str], spans: Spans, num_frames: int, jitter: int, draw: Callable[[int, int], int]
             ) -> tuple[int, int, int, int]:  # fmt: skip
    """Part of a sentence, to train a model on phrases cut mid-sentence (a video, a lost face or a
    live stream that stops halfway): ``(first, last, start, end)``, the words ``[first, last)`` of a
    random run of one or more consecutive words, never all of them, and the frames ``[start, end)``
    that hold them. A cut inside the sentence falls where one word meets the next, moved by up to
    ``jitter`` frames either way (but never past the middle of a kept word); an edge the run shares
    with the sentence keeps the clip's own.
    The frames are widened, evenly, where they are too few for CTC to spell the run (a short word
    cut into). ``spans`` are the words' frames; ``draw(low, high)`` is the caller's seeded integer
    in ``[low, high)``."""
    n = len(spans)
    first = draw(0, n)
    last = draw(first + 1, n + 1)
    if (first, last) == (0, n):  # the whole sentence is the plain sample: drop its last word instead
        last = n - 1
    # a cut never passes the middle of a kept word: its label must still be there to read
    middle_first, middle_last = sum(spans[first]) / 2, sum(spans[last - 1]) / 2
    start, end = 0, num_frames
    if first > 0:
        start = min(round(spans[first][0]) + draw(-jitter, jitter + 1), math.floor(middle_first))
    if last < n:
        end = max(round(spans[last - 1][1]) + draw(-jitter, jitter + 1), math.ceil(middle_last))
    start, end = max(0, start), min(num_frames, end)
    need = ctc_frames(" ".join(words[first:last]))
    if end - start < need:  # too few frames for CTC to spell the run (its loss would be infinite)
        start = max(0, start - (need - (end - start) + 1) // 2)
        end = min(num_frames, max(end, start + need))
    return first, last, start, end


def cuttable(words: list[str], spans: Spans | None) -> bool:
    """Whether a clip can be cut to a run of its words: it has a time for each of two or more."""
    return bool(spans) and len(spans) == len(words) >= 2


def cut_to_run(clip, text: str, spans: Spans | None, jitter: int, draw: Callable[[int, int], int]):
    """``clip`` (frames, or any per-frame sequence: cached features) cut to a random run of its
    words (:func:`word_run`), with that run's text and its word spans moved to match; a clip
    without word times, or of one word, is returned as it is."""
    words = text.split()
    if not cuttable(words, spans):
        return clip, text, spans
    first, last, start, end = word_run(words, spans, len(clip), jitter, draw)
    moved = [(max(0.0, s - start), min(float(end - start), e - start)) for s, e in spans[first:last]]
    return clip[start:end], " ".join(words[first:last]), moved


def join_range(first_spans: Spans, first_frames: int, second_spans: Spans, rest: int) -> tuple[int, int]:
    """Where two sentences are cut to be joined with ``rest`` frames between one's last word and the
    next one's first: the first clip's end and the second clip's start (half the rest from each, or
    all a clip has where it has less)."""
    before = rest // 2
    end = min(first_frames, math.ceil(first_spans[-1][1]) + before)
    start = max(0, math.floor(second_spans[0][0]) - (rest - before))
    return end, start


def join_sentences(first, first_text: str, first_spans: Spans, second, second_text: str, second_spans: Spans,
                   rest: int):  # fmt: skip
    """Two clips (frames, or any per-frame sequence: cached features) joined into one in which the
    second sentence follows the first after ``rest`` frames (:func:`join_range`): the first keeps the
    rest before its words, the second the rest after its words. Returns the clip, both texts and the
    word spans moved to match. A model that learnt sentences with a second of still lips around each
    reads commands said one after another far worse (``benchmarks/continuous_speech_wer.py``)."""
    end, start = join_range(first_spans, len(first), second_spans, rest)
    pieces = (first[:end], second[start:])
    clip = torch.cat(pieces) if isinstance(first, torch.Tensor) else np.concatenate(pieces)
    return clip, f"{first_text} {second_text}", joined_spans(first_spans, second_spans, end, start)


def joined_spans(first_spans: Spans, second_spans: Spans, end: int, start: int) -> Spans:
    """Both sentences' word spans in their joined clip: the first clip's frames up to ``end``, then
    the second's from ``start`` (:func:`join_range`)."""
    return [*first_spans, *[(s - start + end, e - start + end) for s, e in second_spans]]


def time_mask_spans(t: int, frames: int, fps: float, draw: Callable[[int, int], int]) -> list[tuple[int, int]]:
    """Where time masking hides a clip of ``t`` frames: ``(start, width)`` of one span of up to
    ``frames`` frames a second. ``draw(low, high)`` is the caller's seeded integer in ``[low, high)``,
    so pixel clips (:class:`Augment`) and cached features (:mod:`lipread.backend_retrain`) mask alike."""
    spans = []
    for _ in range(max(1, int(t / fps))):
        width = draw(0, frames + 1)
        if width and t > width:
            spans.append((draw(0, t - width), width))
    return spans


def centre_crop(frames: np.ndarray, size: int) -> np.ndarray:
    h, w = frames.shape[1:3]
    top, left = (h - size) // 2, (w - size) // 2
    return frames[:, top : top + size, left : left + size]


class Augment:
    """Random ``size`` crop, flip with p=0.5, one time mask of up to ``time_mask_frames`` per
    second of video (filled with the clip's mean frame), speed change by up to ``speed_perturb``
    (0.1 = 0.9x..1.1x, by resampling frame indices), with probability ``low_frame_rate`` the clip
    as a camera of :data:`SLOWEST_FPS` to ``fps`` frames a second shows it (:func:`slower_camera`),
    and with probability ``trim_edges`` the
    silence around the words trimmed at random down to ``trim_keep`` frames (:meth:`trim`); with
    probability ``cut_words`` only a random run of the words is kept, with its frames (:meth:`cut`)."""

    def __init__(
        self,
        size: int = 88,
        flip: bool = True,
        time_mask_frames: int = 10,
        speed_perturb: float = 0.0,
        fps: float = 25.0,
        trim_edges: float = 0.0,
        trim_keep: int = 3,
        cut_words: float = 0.0,
        cut_jitter: int = CUT_JITTER,
        low_frame_rate: float = 0.0,
    ):
        self.size = size
        self.flip = flip
        self.time_mask_frames = time_mask_frames
        self.speed_perturb = speed_perturb
        self.fps = fps
        self.trim_edges = trim_edges
        self.trim_keep = trim_keep
        self.cut_words = cut_words
        self.cut_jitter = cut_jitter
        self.low_frame_rate = low_frame_rate

    def cut(self, frames: np.ndarray, text: str, spans: Spans | None, rng: np.random.Generator | None = None
            ) -> tuple[np.ndarray, str, Spans | None]:  # fmt: skip
        """With probability ``cut_words``, the clip cut to a random run of its words (:func:`cut_to_run`)."""
        if not self.cut_words or not spans:
            return frames, text, spans
        rng = rng or torch_seeded_rng()
        if rng.random() >= self.cut_words:
            return frames, text, spans
        return cut_to_run(frames, text, spans, self.cut_jitter, lambda low, high: int(rng.integers(low, high)))

    def trim(self, frames: np.ndarray, spans: Spans | None, rng: np.random.Generator | None = None
             ) -> tuple[np.ndarray, Spans | None]:  # fmt: skip
        """The clip with its edges trimmed (with probability ``trim_edges``) and its word spans
        moved to match; clips without word times are returned as they are."""
        if not self.trim_edges or not spans:
            return frames, spans
        rng = rng or torch_seeded_rng()
        if rng.random() >= self.trim_edges:
            return frames, spans
        start, end = trim_range(spans, len(frames), self.trim_keep, rng)
        return frames[start:end], [(s - start, e - start) for s, e in spans]

    def __call__(self, frames: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = rng or torch_seeded_rng()
        t, h, w = frames.shape[:3]
        if self.speed_perturb:
            factor = rng.uniform(1 - self.speed_perturb, 1 + self.speed_perturb)
            count = max(1, int(round(t / factor)))
            frames = frames[np.minimum((np.arange(count) * factor).astype(int), t - 1)]
            t = count
        if self.low_frame_rate and rng.random() < self.low_frame_rate:
            rate = torch.tensor([rng.uniform(SLOWEST_FPS, self.fps)])
            frames = frames[slower_camera(t, self.fps, rate)[0].numpy()]
        top, left = rng.integers(0, h - self.size + 1), rng.integers(0, w - self.size + 1)
        frames = frames[:, top : top + self.size, left : left + self.size]
        if self.flip and rng.random() < 0.5:
            frames = frames[:, :, ::-1]
        if self.time_mask_frames:
            frames = frames.copy()
            mean = frames.mean(axis=0).astype(frames.dtype)
            for start, width in time_mask_spans(t, self.time_mask_frames, self.fps,
                                                lambda low, high: int(rng.integers(low, high))):  # fmt: skip
                frames[start : start + width] = mean
        return frames


def torch_seeded_rng() -> np.random.Generator:
    """Draws from torch's generator, which seed_everything seeds (and the DataLoader re-seeds per
    worker), so a seeded run augments the same way every time."""
    return np.random.default_rng(int(torch.randint(0, 2**62, ())))
