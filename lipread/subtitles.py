"""Transcripts as SRT or WebVTT, one cue per word or per phrase."""

from __future__ import annotations

import datetime as dt

import srt
import webvtt


def phrases(words: list[dict], max_gap: float = 0.5, max_words: int = 7) -> list[dict]:
    """Group words into phrases at pauses longer than ``max_gap`` or every ``max_words``."""
    groups: list[list[dict]] = []
    for w in words:
        if groups and w["start"] - groups[-1][-1]["end"] <= max_gap and len(groups[-1]) < max_words:
            groups[-1].append(w)
        else:
            groups.append([w])
    return [{"word": " ".join(x["word"] for x in g), "start": g[0]["start"], "end": g[-1]["end"]} for g in groups]


def cues(words: list[dict], per: str = "phrase") -> list[dict]:
    if per not in ("word", "phrase"):
        raise ValueError("cues are per 'word' or per 'phrase'")
    items = words if per == "word" else phrases(words)
    out = []
    for item in items:
        end = max(item["end"], item["start"] + 0.04)  # players drop zero-length cues
        out.append({"text": item["word"], "start": item["start"], "end": end})
    return out


def to_srt(words: list[dict], per: str = "phrase") -> str:
    subs = [
        srt.Subtitle(i + 1, dt.timedelta(seconds=c["start"]), dt.timedelta(seconds=c["end"]), c["text"])
        for i, c in enumerate(cues(words, per))
    ]
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
        doc.captions.append(webvtt.Caption(_clock(c["start"]), _clock(c["end"]), c["text"]))
    return doc.content
