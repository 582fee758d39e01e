"""Readers for every transcript format prep accepts, each yielding plain utterance segments.

A reader knows nothing about videos beyond the path it was given; matching transcripts to videos
is :mod:`data_prep.discover`'s job.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import srt
import webvtt
import webvtt.errors

#: What a reader raises for a transcript file it cannot parse (anything else is a bug in lipread).
TRANSCRIPT_ERRORS = (
    ValueError, UnicodeDecodeError, OSError, srt.SRTParseError,
    webvtt.errors.MalformedFileError, webvtt.errors.MalformedCaptionError,
)  # fmt: skip

#: GRID alignment times are in 1/1000 of a frame at 25 fps.
GRID_TIME_UNITS_PER_SECOND = 25_000
GRID_SILENCES = {"sil", "sp"}


@dataclass
class Segment:
    """One utterance's raw transcript; times in seconds of the source video (None = whole file)."""

    text: str
    start: float | None = None
    end: float | None = None
    words: list[dict] = field(default_factory=list)  # word timings relative to ``start``


def read_grid_align(path: Path) -> Segment:
    """A GRID ``.align`` file: the whole video is one utterance, silences dropped."""
    words = []
    for line_no, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 3:
            raise ValueError(f"{path}:{line_no}: expected 'start end word', got {line!r}")
        try:
            start, end, word = int(parts[0]), int(parts[1]), parts[2]
        except ValueError:
            raise ValueError(f"{path}:{line_no}: start and end must be whole numbers, got {line!r}") from None
        if word in GRID_SILENCES:
            continue
        words.append(
            {
                "word": word.lower(),
                "start": round(start / GRID_TIME_UNITS_PER_SECOND, 4),
                "end": round(end / GRID_TIME_UNITS_PER_SECOND, 4),
            }
        )
    return Segment(text=" ".join(w["word"] for w in words), words=words)


_LRS_WORD_ROW = re.compile(r"^(\S+)\s+([-\d.]+)\s+([-\d.]+)(?:\s+[-\d.]+)?\s*$")


def read_lrs_txt(path: Path) -> Segment:
    """An LRS2/LRS3 ``.txt``: a ``Text:`` line and an optional ``WORD START END`` table."""
    text = None
    words: list[dict] = []
    in_table = False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        if line.startswith("Text:"):
            text = line[len("Text:") :].strip()
        elif line.split()[:3] == ["WORD", "START", "END"]:
            in_table = True
        elif in_table and (match := _LRS_WORD_ROW.match(line.strip())):
            words.append(
                {
                    "word": match[1].lower(),
                    "start": float(match[2]),
                    "end": float(match[3]),
                }
            )
    if text is None:
        raise ValueError(f"{path}: no 'Text:' line")
    return Segment(text=text, words=words)


def read_subtitles(path: Path) -> list[Segment]:
    """``.srt`` or ``.vtt`` cues of a long video, one segment each."""
    if path.suffix.lower() == ".srt":
        cues = srt.parse(path.read_text(encoding="utf-8-sig", errors="replace"))
        return [Segment(text=c.content, start=c.start.total_seconds(), end=c.end.total_seconds()) for c in cues]
    return [
        Segment(text=c.text, start=_clock_seconds(c.start), end=_clock_seconds(c.end)) for c in webvtt.read(str(path))
    ]


def _clock_seconds(stamp: str) -> float:
    """``HH:MM:SS.mmm`` or ``MM:SS.mmm`` to seconds."""
    seconds = 0.0
    for part in stamp.strip().split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


@dataclass
class ManifestRow:
    """One row of a user's CSV/JSONL manifest."""

    path: str
    segment: Segment
    speaker: str | None = None
    id: str | None = None


def read_manifest(path: Path) -> list[ManifestRow]:
    """A CSV (with header) or JSONL manifest: ``path``, ``text``, optional start/end/speaker/id."""
    try:
        if path.suffix.lower() == ".jsonl":
            records = [_json_row(path, n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                       if line.strip()]  # fmt: skip
        elif path.suffix.lower() == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                records = list(csv.DictReader(fh))
        else:
            raise ValueError(f"{path}: a manifest must be .csv or .jsonl")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start})") from None
    rows = []
    for number, record in enumerate(records, 1):
        video = record.get("path") or record.get("video")
        if not video or record.get("text") is None:
            raise ValueError(f"{path}: row {number} needs 'path' and 'text', got {record}")
        try:
            start, end = _optional_float(record.get("start")), _optional_float(record.get("end"))
        except ValueError:
            raise ValueError(f"{path}: row {number}: start and end must be numbers, got {record}") from None
        rows.append(
            ManifestRow(
                path=str(video),
                segment=Segment(
                    text=str(record["text"]),
                    start=start,
                    end=end,
                ),
                speaker=record.get("speaker") or None,
                id=record.get("id") or None,
            )
        )
    return rows


def _json_row(path: Path, number: int, line: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: line {number} is not JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{path}: line {number} should be an object with 'path' and 'text', got {record!r}")
    return record


def _optional_float(value) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return float(value)
