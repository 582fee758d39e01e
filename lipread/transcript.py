"""What reading a video gives: the typed shape behind ``transcribe -f json``, the HTTP API and live JSONL.

A :class:`Transcript` holds the text, its :class:`TranscriptWord` timings, one :class:`TrackReading`
per stretch of a face that was read, the phrases left out for low confidence, and how far to trust
it all. The output writers, the server, the web page and ``lipread live`` all take these records,
so a field is named once, here, and ``docs/formats.md`` says what each one means.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from data_prep.contracts import Word
from lipread.decoding import Hypothesis


@dataclass(frozen=True)
class TranscriptWord(Word):
    """A word read from video: when it was said, the model's mean probability for its characters
    (``confidence``), and which face said it (``track``: 0, 1, ... in order of first appearance)."""

    track: int = 0

    def to_json(self) -> dict:
        return {**super().to_json(), "track": self.track}

    @classmethod
    def spread(cls, text: str, start: float, end: float, track: int = 0) -> list[TranscriptWord]:
        """``text``'s words spread evenly over ``[start, end]`` with confidence 0: the timing of a
        sentence that the forced alignment could not fit to its frames."""
        words = text.split()
        step = (end - start) / max(1, len(words))
        return [
            cls(w, round(start + i * step, 3), round(start + (i + 1) * step, 3), 0.0, track)
            for i, w in enumerate(words)
        ]


@dataclass(frozen=True)
class Span:
    """The part of a video to read: seconds ``[start, end)`` of it (``end`` None: to its end). A long
    video's minute is then read without decoding or tracking the rest."""

    start: float = 0.0
    end: float | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.start < math.inf:
            raise ValueError(f"the start must be a time of 0 s or later, not {self.start:g}")
        if self.end is not None and not math.isfinite(self.end):
            raise ValueError(f"the end must be a time in seconds, not {self.end:g} (leave it out to read to the end)")
        if self.end is not None and not self.end > self.start:
            raise ValueError(f"the end ({self.end:g} s) must come after the start ({self.start:g} s)")

    @classmethod
    def asked(cls, start: float, end: float | None) -> Span | None:
        """The span a request's ``start`` and ``end`` ask for; None for the whole video (start 0, no
        end). Raises ValueError, saying why, for a span that cannot be read."""
        return cls(start, end) if start or end is not None else None

    @property
    def bounds(self) -> tuple[float, float | None]:
        return self.start, self.end

    def __str__(self) -> str:
        return f"{self.start:g}-{self.end:g} s" if self.end is not None else f"{self.start:g} s to the end"


@dataclass(frozen=True)
class DroppedPhrase:
    """A phrase read below ``min_confidence``: kept out of the text and the words, listed so that a
    user can see what was left out and why."""

    track: int
    start: float
    end: float
    text: str
    confidence: float


@dataclass(frozen=True)
class Sentence:
    """One sentence read, with its time and face: with a grammar, each of its sentences (commands said
    without a pause between them are one phrase, and several sentences); without one, each phrase
    between pauses of the lips. What a command interface acts on, and a subtitle cue's bounds."""

    track: int
    start: float  # its first word's start, seconds
    end: float  # its last word's end
    text: str
    confidence: float  # the phrase's it was read in (several sentences in one phrase are cut apart and read alone)
    partial: bool = False  # a run of words of an allowed sentence, not a whole one (``--partial``)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TrackReading:
    """One stretch of one face track that was read: seconds ``[start, end)``, the face's median box
    ``[x, y, w, h]`` in display pixels, its words and how far to trust them."""

    track: int
    start: float
    end: float
    box: list[int]
    text: str
    words: list[TranscriptWord]
    confidence: float
    out_of_domain: bool
    n_best: list[Hypothesis] = field(default_factory=list)  # the best sentences, when asked for
    partial: bool = False  # a phrase of it was read as part of an allowed sentence (``--partial``)
    #: how far the face is turned from the camera, degrees (median; + when the nose points to the left
    #: of the picture: :func:`data_prep.head_pose.pose_degrees`)
    yaw: float | None = None
    #: how far it is tilted up or down, degrees (median; + when the nose points up the picture:
    #: :func:`data_prep.head_pose.pose_degrees`)
    pitch: float | None = None

    def to_json(self) -> dict:
        return {
            "track": self.track, "start": self.start, "end": self.end, "box": self.box, "text": self.text,
            "words": [w.to_json() for w in self.words], "confidence": self.confidence,
            "out_of_domain": self.out_of_domain, "partial": self.partial, "yaw": self.yaw,
            "pitch": self.pitch, "n_best": [h.to_json() for h in self.n_best],
        }  # fmt: skip


@dataclass
class Transcript:
    """One video read: its text, every word with its time and face, and how far to trust it."""

    file: str
    text: str
    words: list[TranscriptWord]
    duration: float  # seconds read: the whole video's, or its span's
    model: str
    decoder: str
    segments: list[TrackReading] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)  # in order of their start
    span: list[float] | None = None  # [start, end] seconds of the video read, when only a part of it was
    gaps: list[list[float]] = field(default_factory=list)  # [start, end] seconds with no readable face
    confidence: float = 0.0  # [0, 1]: how far to trust the text (lipread.confidence)
    out_of_domain: bool = False  # the video does not look like speech this model (and grammar) can read
    reason: str | None = None  # why it is out of domain
    grammar: str | None = None  # the grammar decoding was restricted to
    partial: bool = False  # some phrase was read as part of an allowed sentence, not a whole one (``--partial``)
    n_best: list[Hypothesis] = field(default_factory=list)  # the best sentences with scores, when asked for
    dropped: list[DroppedPhrase] = field(default_factory=list)  # phrases below min_confidence
    timings: dict[str, float] = field(default_factory=dict)  # seconds spent in each stage
    mouth_frames: np.ndarray | None = field(default=None, repr=False)  # (T, S, S, 3) uint8 crops, with keep_crops

    def to_json(self) -> dict:
        return {
            "file": self.file, "text": self.text, "words": [w.to_json() for w in self.words],
            "duration": self.duration, "span": self.span, "model": self.model, "decoder": self.decoder,
            "segments": [s.to_json() for s in self.segments],
            "sentences": [s.to_json() for s in self.sentences], "gaps": self.gaps, "confidence": self.confidence,
            "out_of_domain": self.out_of_domain, "reason": self.reason, "grammar": self.grammar,
            "partial": self.partial, "n_best": [h.to_json() for h in self.n_best],
            "dropped": [asdict(d) for d in self.dropped],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }  # fmt: skip


def sentence_lines(sentences: list[Sentence]) -> str:
    """The sentences a line each (``-f text``); with several talkers, each labelled ``[track]``."""
    several = len({s.track for s in sentences}) > 1
    return "\n".join(f"[{s.track}] {s.text}" if several else s.text for s in sentences)


def transcript_text(segments: list[TrackReading]) -> str:
    """The words in order; with several talkers, one line per segment labelled ``[track]``."""
    if len({s.track for s in segments}) <= 1:
        return " ".join(s.text for s in segments if s.text)
    return "\n".join(f"[{s.track}] {s.text}" for s in segments if s.text)
