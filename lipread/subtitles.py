"""Transcripts as SRT or WebVTT, one cue per word or per phrase.

With several talkers (words carrying different ``track`` numbers) phrases never mix talkers, and
each cue is labelled: ``[0] ...`` in SRT, a voice tag ``<v 0>`` in WebVTT.
"""

from __future__ import annotations

import datetime as dt

import srt
import webvtt


def phrases(words: list[dict], max_gap: float = 0.5, max_words: int = 7) -> list[dict]:
    """Group each talker's words into phrases at pauses longer than ``max_gap`` or every ``max_words``."""
    groups: list[list[dict]] = []
    for track in dict.fromkeys(w.get("track", 0) for w in words):
        mine: list[list[dict]] = []
        for w in (w for w in words if w.get("track", 0) == track):
            if mine and w["start"] - mine[-1][-1]["end"] <= max_gap and len(mine[-1]) < max_words:
                mine[-1].append(w)
            else:
                mine.append([w])
        groups += mine
    groups.sort(key=lambda g: (g[0]["start"], g[0].get("track", 0)))
    return [{"word": " ".join(x["word"] for x in g), "start": g[0]["start"], "end": g[-1]["end"],
             "track": g[0].get("track", 0)} for g in groups]  # fmt: skip


def cues(words: list[dict], per: str = "phrase") -> list[dict]:
    """Timed cues; ``speaker`` is the track number when there are several talkers, else None."""
    if per not in ("word", "phrase"):
        raise ValueError("cues are per 'word' or per 'phrase'")
    several = len({w.get("track", 0) for w in words}) > 1
    items = words if per == "word" else phrases(words)
    out = []
    for item in items:
        end = max(item["end"], item["start"] + 0.04)  # players drop zero-length cues
        speaker = item.get("track", 0) if several else None
        out.append({"text": item["word"], "start": item["start"], "end": end, "speaker": speaker})
    return out


def to_srt(words: list[dict], per: str = "phrase") -> str:
    subs = [
        srt.Subtitle(i + 1, dt.timedelta(seconds=c["start"]), dt.timedelta(seconds=c["end"]),
                     c["text"] if c["speaker"] is None else f"[{c['speaker']}] {c['text']}")
        for i, c in enumerate(cues(words, per))
    ]  # fmt: skip
    return srt.compose(subs)


def _clock(seconds: float) -> str:
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def to_vtt(words: list[dict], per: str = "phrase") -> str:
    doc = webvtt.WebVTT()
    for c in cues(words, per):
        text = c["text"] if c["speaker"] is None else f"<v {c['speaker']}>{c['text']}"
        doc.captions.append(webvtt.Caption(_clock(c["start"]), _clock(c["end"]), text))
    return doc.content
