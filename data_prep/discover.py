"""Find the videos under an input folder and pair each with its transcript(s).

The result is a deterministic, sorted list of :class:`SourceJob` (one per video, with one or more
utterances) plus the rejections that need no decoding (missing or unusable transcripts).
"""

from __future__ import annotations

import logging
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.rejections import Rejection
from data_prep.text import TranscriptError, normalize_text
from data_prep.transcripts import (
    TRANSCRIPT_ERRORS,
    Segment,
    read_grid_align,
    read_lrs_txt,
    read_manifest,
    read_subtitles,
)

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = {
    ".mp4", ".mpg", ".mpeg", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".flv", ".wmv", ".ts",
}  # fmt: skip


@dataclass
class Utterance:
    """One utterance to cut from a source video; times in seconds of the source."""

    id: str
    speaker: str
    text: str  # normalised
    words: list[dict] = field(default_factory=list)
    start: float | None = None
    end: float | None = None


@dataclass
class SourceJob:
    """Utterances of one source video, decoded in one pass however many cues they are: all of them,
    or (:func:`data_prep.builder.pieces`) those of a stretch of a long video, read from ``from_s``."""

    source: str  # path relative to the input folder, as recorded in the manifest
    path: str  # absolute path
    utterances: list[Utterance]
    from_s: float = 0.0  # where decoding starts (the keyframe before it); no utterance starts earlier


def find_videos(root: Path) -> list[Path]:
    """Every video file below ``root``, sorted."""
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)


def discover(
    input_dir: Path,
    alignments: Path | None = None,
    manifest: Path | None = None,
) -> tuple[list[SourceJob], list[Rejection]]:
    """Pair videos with transcripts; return jobs sorted by source and rejections."""
    input_dir = input_dir.resolve()
    rejections: list[Rejection] = []
    if manifest is not None:
        pairs = _pairs_from_manifest(input_dir, manifest, rejections)
    else:
        pairs = _pairs_from_files(input_dir, alignments, rejections)

    jobs: dict[str, SourceJob] = {}
    first_source: dict[str, str] = {}
    for video, speaker, segment, given_id, index in pairs:
        source = _relative(video, input_dir)
        utt_id = _utterance_id(video, speaker, segment, given_id, index)
        if utt_id in first_source:
            # The rejection gets an id of its own, so the first input with that id is still built.
            detail = f"id {utt_id} is already taken by {first_source[utt_id]}; give one of them another id or speaker"
            rejections.append(Rejection(f"{utt_id}@{source}", source, "duplicate_id", detail))
            continue
        first_source[utt_id] = source
        try:
            text = normalize_text(segment.text)
        except TranscriptError as err:
            rejections.append(Rejection(utt_id, source, err.code, err.detail))
            continue
        job = jobs.setdefault(source, SourceJob(source, str(video), []))
        job.utterances.append(Utterance(utt_id, speaker, text, segment.words, segment.start, segment.end))
    return [jobs[k] for k in sorted(jobs)], rejections


def shard_of(source: str, num_shards: int) -> int:
    """The shard of a source video: a stable hash, so shards never overlap or depend on order."""
    return zlib.crc32(source.encode()) % num_shards


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _utterance_id(video: Path, speaker: str, segment: Segment, given_id: str | None, index: int | None) -> str:
    if given_id:
        return given_id if "/" in given_id else f"{speaker}/{given_id}"
    if index is None:
        return f"{speaker}/{video.stem}"
    return f"{speaker}/{video.stem}_{index:04d}"


Pair = tuple[Path, str, Segment, "str | None", "int | None"]


def _pairs_from_manifest(input_dir: Path, manifest: Path, rejections: list[Rejection]) -> list[Pair]:
    rows = read_manifest(manifest)
    per_video: dict[str, int] = defaultdict(int)
    pairs = []
    for row in rows:
        video = Path(row.path)
        if not video.is_absolute():
            video = input_dir / video
        speaker = row.speaker or video.parent.name
        segmented = row.segment.start is not None or row.segment.end is not None
        index = None
        if segmented:
            per_video[row.path] += 1
            index = per_video[row.path]
        if not video.is_file():
            rid = _utterance_id(video, speaker, row.segment, row.id, index)
            rejections.append(Rejection(rid, row.path, "missing_video", f"no such file: {video}"))
            continue
        pairs.append((video, speaker, row.segment, row.id, index))
    return pairs


def _pairs_from_files(input_dir: Path, alignments: Path | None, rejections: list[Rejection]) -> list[Pair]:
    align_index: dict[str, list[Path]] = defaultdict(list)
    if alignments is not None:
        for path in alignments.rglob("*.align"):
            align_index[path.stem].append(path)

    pairs: list[Pair] = []
    for video in find_videos(input_dir):
        speaker = video.parent.name
        source = _relative(video, input_dir)
        whole_id = f"{speaker}/{video.stem}"
        try:
            found = _transcript_for(video, speaker, align_index)
        except TRANSCRIPT_ERRORS as err:
            detail = f"{type(err).__name__}: {err}"
            rejections.append(Rejection(whole_id, source, "unreadable_transcript", detail))
            continue
        if found is None:
            rejections.append(
                Rejection(
                    whole_id,
                    source,
                    "missing_transcript",
                    "no .align (in --alignments), .txt, .srt or .vtt for this video",
                )
            )
            continue
        if isinstance(found, list):
            if not found:
                rejections.append(Rejection(whole_id, source, "empty_transcript", "no cues"))
            pairs.extend((video, speaker, seg, None, i) for i, seg in enumerate(found, 1))
        else:
            pairs.append((video, speaker, found, None, None))
    return pairs


def _transcript_for(video: Path, speaker: str, align_index: dict[str, list[Path]]) -> Segment | list[Segment] | None:
    """The transcript of one video: an alignment, an LRS text, or subtitle cues."""
    candidates = align_index.get(video.stem, [])
    if candidates:
        same_speaker = [p for p in candidates if p.parent.name == speaker]
        return read_grid_align((same_speaker or candidates)[0])
    for suffix, reader in (
        (".align", read_grid_align),
        (".txt", read_lrs_txt),
        (".srt", read_subtitles),
        (".vtt", read_subtitles),
    ):
        beside = video.with_suffix(suffix)
        if beside.is_file():
            return reader(beside)
    return None
