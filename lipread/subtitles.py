"""Transcripts as SRT or WebVTT, one cue per word or per phrase.

With several talkers (words carrying different ``track`` numbers) phrases never mix talkers, and
each cue is labelled: ``[0] ...`` in SRT, a voice tag ``<v 0>`` in WebVTT.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import srt
import webvtt

from lipread.transcript import TranscriptWord


@dataclass(frozen=True)
class Cue:
    """One subtitle: its text, when it shows, and the talker's track when there are several (else None)."""

    text: str
    start: float
    end: float
    speaker: int | None


def phrases(words: list[TranscriptWord], max_gap: float = 0.5, max_words: int = 7) -> list[list[TranscriptWord]]:
    """Group each talker's words into phrases at pauses longer than ``max_gap`` or every ``max_words``."""
    groups: list[list[TranscriptWord]] = []
    for track in dict.fromkeys(w.track for w in words):
        mine: list[list[TranscriptWord]] = []
        for w in (w for w in words if w.track == track):
            if mine and w.start - mine[-1][-1].end <= max_gap and len(mine[-1]) < max_words:
                mine[-1].append(w)
            else:
                mine.append([w])
        groups += mine
    return sorted(groups, key=lambda g: (g[0].start, g[0].track))


def cues(words: list[TranscriptWord], per: str = "phrase") -> list[Cue]:
    """Timed cues, one per word or per phrase."""
    if per not in ("word", "phrase"):
        raise ValueError("cues are per 'word' or per 'phrase'")
    several = len({w.track for w in words}) > 1
    groups = [[w] for w in words] if per == "word" else phrases(words)
    return [
        Cue(" ".join(w.word for w in g), g[0].start, max(g[-1].end, g[0].start + 0.04),  # players drop zero-length cues
            g[0].track if several else None)
        for g in groups
    ]  # fmt: skip


def to_srt(words: list[TranscriptWord], per: str = "phrase") -> str:
    subs = [
        srt.Subtitle(i + 1, dt.timedelta(seconds=c.start), dt.timedelta(seconds=c.end),
                     c.text if c.speaker is None else f"[{c.speaker}] {c.text}")
        for i, c in enumerate(cues(words, per))
    ]  # fmt: skip
    return srt.compose(subs)


def _clock(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_vtt(words: list[TranscriptWord], per: str = "phrase") -> str:
    doc = webvtt.WebVTT()
    for c in cues(words, per):
        text = c.text if c.speaker is None else f"<v {c.speaker}>{c.text}"
        doc.captions.append(webvtt.Caption(_clock(c.start), _clock(c.end), text))
    return doc.content
