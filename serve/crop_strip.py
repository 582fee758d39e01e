"""The mouth crops a model saw, spread over a clip, as one PNG a page can show."""

from __future__ import annotations

import base64

import numpy as np

from data_prep.preview import contact_sheet, png_bytes


def crop_strip(frames: np.ndarray, columns: int = 12, rows: int = 2) -> str:
    """Mouth crops spread over the video, as a PNG (base64): a person sees at once what the model saw."""
    frames = frames[np.linspace(0, len(frames) - 1, min(len(frames), columns * rows)).round().astype(int)]
    return base64.b64encode(png_bytes(contact_sheet([("", frames)], columns=columns, label_width=1))).decode()
