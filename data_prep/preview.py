"""Contact sheets: a glance at many crops to see whether the mouth is centred."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from data_prep.video import read_clip

LABEL_FONT, LABEL_SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.42
#: the widest label column; a longer id keeps its start and end around "..."
MAX_LABEL_WIDTH = 320


def contact_sheet(rows: list[tuple[str, np.ndarray]], columns: int = 8, label_width: int | None = None) -> np.ndarray:
    """One row per clip: its label, then ``columns`` frames spread evenly over it (RGB uint8). The
    label column fits the longest label (``label_width`` sets it instead)."""
    labels = [fitted_label(label) for label, _ in rows]
    if label_width is None:
        label_width = max([150] + [_text_width(label) + 8 for label in labels])
    tiles = []
    for label, (_, frames) in zip(labels, rows):
        picks = np.linspace(0, len(frames) - 1, columns).round().astype(int)
        strip = np.concatenate([frames[i] for i in picks], axis=1)
        # Mark the window centre so an off-centre mouth stands out.
        height, width = frames.shape[1:3]
        for k in range(columns):
            cv2.drawMarker(strip, (k * width + width // 2, height // 2), (255, 64, 64), cv2.MARKER_CROSS, 8, 1)
        text = np.full((height, label_width, 3), 255, dtype=np.uint8)
        cv2.putText(text, label, (4, height // 2 + 5), LABEL_FONT, LABEL_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([text, strip], axis=1))
    return np.concatenate(tiles, axis=0)


def _text_width(text: str) -> int:
    return cv2.getTextSize(text, LABEL_FONT, LABEL_SCALE, 1)[0][0]


def fitted_label(label: str) -> str:
    """``label`` whole, or, when wider than :data:`MAX_LABEL_WIDTH`, its start and end around "..."
    (a speaker folder and a clip name both stay readable: ``lectures/...talk_0012``)."""
    if _text_width(label) + 8 <= MAX_LABEL_WIDTH:
        return label
    keep = len(label)
    while keep > 2 and _text_width(label[: keep // 2] + "..." + label[-(keep - keep // 2) :]) + 8 > MAX_LABEL_WIDTH:
        keep -= 1
    return label[: keep // 2] + "..." + label[-(keep - keep // 2) :]


def png_bytes(image_rgb: np.ndarray) -> bytes:
    """An RGB image as PNG file bytes (for a file or an HTTP answer)."""
    ok, png = cv2.imencode(".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the picture as PNG")
    return png.tobytes()


def write_png(path: Path, image_rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png_bytes(image_rgb))


def write_preview(dataset: Path, entries: list[dict], count: int, path: Path) -> Path | None:
    """A contact sheet of ``count`` clips spread over the (sorted) manifest."""
    if not entries:
        return None
    entries = sorted(entries, key=lambda e: e["id"])
    picks = np.linspace(0, len(entries) - 1, min(count, len(entries))).round().astype(int)
    rows = [(entries[i]["id"], read_clip(dataset / entries[i]["clip"])) for i in sorted(set(picks))]
    write_png(path, contact_sheet(rows))
    return path
