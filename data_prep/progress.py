"""Progress bars for the passes over one long video (its faces, its mouths, the model over them).

A two-hour lecture takes minutes a pass on a CPU; a GRID clip takes a fraction of a second. The
bars appear only after :data:`DELAY_S` seconds, so short videos print nothing, and only when the
caller says a person is watching (a terminal, not a log file or a server).
"""

from __future__ import annotations

from tqdm import tqdm

#: seconds a pass runs before its bar appears
DELAY_S = 2.0


def frame_bar(total: int | None, desc: str, show: bool) -> tqdm:
    """A bar counting frames (``total`` None: unknown, it counts up), gone when its pass ends."""
    return tqdm(total=total, desc=desc, unit="frame", leave=False, delay=DELAY_S, disable=not show,
                dynamic_ncols=True, smoothing=0.1)  # fmt: skip
