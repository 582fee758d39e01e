"""Pictures of readings: the mouth crop at each word, the word under it.

When a transcript looks wrong, the first question is whether the model saw a mouth at all (a crop
off the lips, a hand, a turned head) and the second where each word was placed in time. One tile
per word, taken at the middle of the word's frames, answers both at a glance (:func:`reading_sheet`,
``transcribe -f png``; a video with no word read shows its crops spread over time instead). For an
evaluation, :func:`worst_sheet` shows the worst-read utterances the same way, each reference word
with what was read in its place: misread letters whose lips look alike (b and p) show as such.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

from data_prep.rejections import PrepError
from data_prep.video import TARGET_FPS, read_clip
from lipread.transcript import Transcript, TranscriptWord

if TYPE_CHECKING:
    from lipread.evaluation_report import EvaluationReport

#: Tiles at most; a longer transcript shows its first words and says how many are left out.
MAX_TILES = 96
LABEL_HEIGHT = 30


def reading_sheet(result: Transcript, columns: int = 8, max_tiles: int = MAX_TILES) -> np.ndarray:
    """RGB uint8 image: one tile per word (crop, word, start time and confidence, and the talker's
    track when there are several), in the transcript's time order."""
    frames = result.mouth_frames
    if frames is None or not len(frames):
        raise ValueError(
            f"{result.file}: the transcript holds no mouth crops to show (transcribe with keep_crops=True)"
        )
    several = len({s.track for s in result.segments}) > 1
    tiles = []
    for w in result.words[:max_tiles]:
        crop = frames[_frame_at(result, w.track, (w.start + w.end) / 2)]
        tag = f"[{w.track}] " if several else ""
        tiles.append(_tile(crop, f"{tag}{w.word}", f"{w.start:.2f}s  {w.confidence or 0:.2f}"))
    if not tiles:  # nothing read (every phrase dropped, or no words fitted): what was seen, over time
        for i in np.linspace(0, len(frames) - 1, min(len(frames), 2 * columns)).round().astype(int):
            tiles.append(_tile(frames[i], "", "no words"))
    sheet = _grid(tiles, columns)
    left_out = len(result.words) - max_tiles
    if left_out > 0:
        note = np.full((LABEL_HEIGHT // 2 + 4, sheet.shape[1], 3), 255, dtype=np.uint8)
        _text(note, f"... and {left_out} more words", 12, 0.4)
        sheet = np.concatenate([sheet, note], axis=0)
    return sheet


def _frame_at(result: Transcript, track: int, seconds: float) -> int:
    """Index into ``mouth_frames`` (each read stretch's crops, in ``segments`` order) of ``track``'s
    crop at ``seconds``."""
    offset = 0
    for s in result.segments:
        length = round((s.end - s.start) * TARGET_FPS)
        if s.track == track and s.start <= seconds < s.end + 1e-6:
            return offset + min(length - 1, max(0, int((seconds - s.start) * TARGET_FPS)))
        offset += length
    return min(len(result.mouth_frames) - 1, max(0, int(seconds * TARGET_FPS)))  # not in a stretch: nearest


def worst_sheet(report: EvaluationReport, decoder: str, count: int = 8) -> np.ndarray | None:
    """The ``count`` worst-read utterances of ``decoder``, a row each: the
    mouth at each reference word (the manifest's word times, else spread evenly), the word, and what
    was read in its place, in red where it differs. None when the report lists none or its dataset
    folder is gone."""
    from lipread.clips import read_dataset

    result = report.decoders[decoder]
    try:
        folder = read_dataset(report.data)
    except FileNotFoundError:
        return None
    entries = {e.id: e for e in folder.entries}
    rows = []
    for worst in [w for w in result.worst if w.id in entries][:count]:
        entry, words = entries[worst.id], worst.reference.split()
        if not words:
            continue
        try:
            frames = read_clip(folder.root / entry.clip)
        except (PrepError, OSError):  # a clip gone or damaged since: the picture goes without it
            continue
        timed = entry.words if len(entry.words) == len(words) else TranscriptWord.spread(worst.reference, 0.0,
                                                                                         len(frames) / entry.fps)  # fmt: skip
        tiles = []
        for word, timing, read in zip(words, timed, _read_in_place(worst.reference, worst.hypothesis)):
            crop = frames[min(len(frames) - 1, int((timing.start + timing.end) / 2 * entry.fps))]
            wrong = read != word
            tiles.append(_tile(crop, word, f"read: {read or '-'}", (200, 0, 0) if wrong else (90, 90, 90)))
        head = np.full((16, len(tiles) * (tiles[0].shape[1] + 2), 3), 255, dtype=np.uint8)
        _text(head, f"{worst.id}: {worst.errors} word error" + ("s" if worst.errors != 1 else ""), 12, 0.38)
        rows.append(np.concatenate([head, _grid(tiles, len(tiles))], axis=0))
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows])


def _read_in_place(reference: str, hypothesis: str) -> list[str | None]:
    """For each reference word, the hypothesis word aligned to it (None where it was left out)."""
    import jiwer

    ref, hyp = reference.split(), hypothesis.split()
    read: list[str | None] = [None] * len(ref)
    if not hyp:
        return read
    for chunk in jiwer.process_words(reference, hypothesis).alignments[0]:
        if chunk.type in ("equal", "substitute"):
            for k in range(chunk.ref_end_idx - chunk.ref_start_idx):
                read[chunk.ref_start_idx + k] = hyp[chunk.hyp_start_idx + k]
    return read


def _tile(crop: np.ndarray, word: str, detail: str, detail_colour=(90, 90, 90)) -> np.ndarray:
    crop = crop if crop.ndim == 3 else np.repeat(crop[..., None], 3, axis=2)
    label = np.full((LABEL_HEIGHT, crop.shape[1], 3), 255, dtype=np.uint8)
    _text(label, word[:14], 13, 0.45)
    _text(label, detail[:18], 26, 0.33, detail_colour)
    return np.concatenate([crop, label], axis=0)


def _text(image: np.ndarray, text: str, baseline: int, scale: float, colour=(0, 0, 0)) -> None:
    cv2.putText(image, text, (3, baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def _grid(tiles: list[np.ndarray], columns: int) -> np.ndarray:
    height, width = tiles[0].shape[:2]
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * (height + 2), columns * (width + 2), 3), 255, dtype=np.uint8)
    for k, tile in enumerate(tiles):
        r, c = divmod(k, columns)
        sheet[r * (height + 2) : r * (height + 2) + height, c * (width + 2) : c * (width + 2) + width] = tile
    return sheet
