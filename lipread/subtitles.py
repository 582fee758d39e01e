"""Transcripts as SRT or WebVTT, one cue per word or per phrase.

With several talkers (words carrying different ``track`` numbers) phrases never mix talkers, and
each cue is labelled: ``[0] ...`` in SRT, a voice tag ``<v 0>`` in WebVTT. Given the transcript's
sentences, a phrase cue never runs from one sentence into the next.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import srt
import webvtt

from lipread.transcript import Sentence, TranscriptWord


@dataclass(frozen=True)
class Cue:
    """One subtitle: its text, when it shows, and the talker's track when there are several (else None)."""

    text: str
    start: float
    end: float
    speaker: int | None


def phrases(words: list[TranscriptWord], max_gap: float = 0.5, max_words: int = 7,
            sentences: Sequence[Sentence] = ()) -> list[list[TranscriptWord]]:  # fmt: skip
    """Group each talker's words into phrases at pauses longer than ``max_gap``, every ``max_words``
    and where one of ``sentences`` begins."""
    begins = {(s.track, round(s.start, 3)) for s in sentences}  # (to the millisecond, as times are written)
    groups: list[list[TranscriptWord]] = []
    for track in dict.fromkeys(w.track for w in words):
        mine: list[list[TranscriptWord]] = []
        for w in (w for w in words if w.track == track):
            new = (not mine or w.start - mine[-1][-1].end > max_gap or len(mine[-1]) >= max_words
                   or (track, round(w.start, 3)) in begins)  # fmt: skip
            if new:
                mine.append([w])
            else:
                mine[-1].append(w)
        groups += mine
    return sorted(groups, key=lambda g: (g[0].start, g[0].track))


def cues(words: list[TranscriptWord], per: str = "phrase", sentences: Sequence[Sentence] = ()) -> list[Cue]:
    """Timed cues, one per word or per phrase (never across two of ``sentences``)."""
    if per not in ("word", "phrase"):
        raise ValueError("cues are per 'word' or per 'phrase'")
    several = len({w.track for w in words}) > 1
    groups = [[w] for w in words] if per == "word" else phrases(words, sentences=sentences)
    return [
        Cue(" ".join(w.word for w in g), g[0].start, max(g[-1].end, g[0].start + 0.04),  # players drop zero-length cues
            g[0].track if several else None)
        for g in groups
    ]  # fmt: skip


def to_srt(words: list[TranscriptWord], per: str = "phrase", sentences: Sequence[Sentence] = ()) -> str:
    subs = [
        srt.Subtitle(i + 1, dt.timedelta(seconds=c.start), dt.timedelta(seconds=c.end),
                     c.text if c.speaker is None else f"[{c.speaker}] {c.text}")
        for i, c in enumerate(cues(words, per, sentences))
    ]  # fmt: skip
    return srt.compose(subs)


def _clock(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_vtt(words: list[TranscriptWord], per: str = "phrase", sentences: Sequence[Sentence] = ()) -> str:
    doc = webvtt.WebVTT()
    for c in cues(words, per, sentences):
        text = c.text if c.speaker is None else f"<v {c.speaker}>{c.text}"
        doc.captions.append(webvtt.Caption(_clock(c.start), _clock(c.end), text))
    return doc.content
