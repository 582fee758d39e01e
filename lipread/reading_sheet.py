"""A picture of a reading: the mouth crop the model saw at each word, the word under it.

When a transcript looks wrong, the first question is whether the model saw a mouth at all (a crop
off the lips, a hand, a turned head) and the second where each word was placed in time. One tile
per word, taken at the middle of the word's aligned frames, answers both at a glance; a video
with no word read shows its crops spread over time instead.
"""

from __future__ import annotations

import cv2
import numpy as np

from data_prep.video import TARGET_FPS
from lipread.transcript import Transcript

#: Tiles at most; a longer transcript shows its first words and says how many are left out.
MAX_TILES = 96
LABEL_HEIGHT = 30


def reading_sheet(result: Transcript, columns: int = 8, max_tiles: int = MAX_TILES) -> np.ndarray:
    """RGB uint8 image: one tile per word (crop, word, start time and confidence, and the talker's
    track when there are several), in the transcript's time order."""
    frames = result.mouth_frames
    if frames is None or not len(frames):
        raise ValueError(f"{result.file}: the transcript holds no mouth crops to show")
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


def png_bytes(image_rgb: np.ndarray) -> bytes:
    """An RGB image as PNG file bytes (for an HTTP answer)."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the picture as PNG")
    return png.tobytes()


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


def _tile(crop: np.ndarray, word: str, detail: str) -> np.ndarray:
    crop = crop if crop.ndim == 3 else np.repeat(crop[..., None], 3, axis=2)
    label = np.full((LABEL_HEIGHT, crop.shape[1], 3), 255, dtype=np.uint8)
    _text(label, word[:14], 13, 0.45)
    _text(label, detail, 26, 0.33, (90, 90, 90))
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
