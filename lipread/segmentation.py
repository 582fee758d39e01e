"""Cutting a face's stretch of video into phrases, as the frames arrive.

A model trained on single sentences misreads a window that starts or ends mid-sentence, and reads
a sentence into a window of silence. So a face's frames are cut where speech pauses, and stretches
where the lips stay still are not read at all. The cutter sees one frame at a time and decides with
what it has seen so far, so a live stream (``lipread live``) and a whole file (``lipread
transcribe``) are cut at the same frames, and a phrase is known to have ended a fraction of a second
after it did.

Speech is told from stillness by how much the shape of the lips changes from frame to frame (the
lip landmarks, centred and scaled by the mouth's width, so head movement and distance do not count),
averaged over the last few frames. Measured on 61 GRID clips with word alignments (speakers s1,
s2, s26; 5-frame mean): speech frames have a median of 0.0061 and a 10th percentile of 0.0028,
silent frames a median of 0.0009 and a 90th percentile of 0.0027.

The shipped model learnt whole 3 s GRID clips, which end 0.5-1 s after the last word, and misreads
windows that end sooner (s1_val: 11.3% WER for whole clips; 12.3% when cut 15 frames after the last
word, 13.0% at 10, 17.7% at 5): hence the long ``pause``, which is most of a live phrase's delay.
Tuned on s1_val, 20 clips joined into 60 s (twice): every sentence became one phrase; WER 12.9%
(pause 15: 13.8%; the earlier cuts at lip-opening minima every 4 s: 20.4%); single clips 11.7%.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from data_prep.face_points import INNER_LIP_MIDDLES, LIP_POINTS, MOUTH_CORNERS


@dataclass(frozen=True)
class PhraseSettings:
    """How a face's frames are cut into phrases (frames at 25 fps)."""

    max_frames: int = 100  # longest phrase: a longer stretch of speech is cut at its calmest frame
    min_frames: int = 40  # shortest phrase such a forced cut leaves
    still: float = 0.0025  # lip-shape change (mean over `window` frames) below which the lips are still
    window: int = 5  # frames the lip-shape change is averaged over
    onset: int = 3  # frames of movement in a row that start speech
    pause: int = 20  # still frames in a row that end a phrase (it ends after them)
    gap: int = 10  # still frames in a row between two stretches of movement that also end a phrase
    next_lead: int = 6  # of those, at most this many start the next phrase
    lead: int = 20  # still frames kept before speech starts
    min_speech: int = 10  # moving frames a phrase needs to be read (fewer: a landmark glitch, a twitch)
    min_phrase: int = 12  # frames a phrase needs to be read


def lip_opening(points: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap over mouth width, from (T, points, 2) landmarks (data_prep.face_points)."""
    gap = np.linalg.norm(points[:, INNER_LIP_MIDDLES[0]] - points[:, INNER_LIP_MIDDLES[1]], axis=1)
    width = np.linalg.norm(points[:, MOUTH_CORNERS[0]] - points[:, MOUTH_CORNERS[1]], axis=1)
    return gap / np.maximum(width, 1e-6)


def lip_shape(points: np.ndarray) -> np.ndarray:
    """(40, 2) lip contour of one frame's landmarks, centred and in units of the mouth's width."""
    lips = points[LIP_POINTS].astype(np.float64)
    width = max(float(np.linalg.norm(points[MOUTH_CORNERS[0]] - points[MOUTH_CORNERS[1]])), 1e-6)
    return (lips - lips.mean(axis=0)) / width


class PhraseCutter:
    """Feed a face's gap-filled landmarks one frame at a time; get each phrase as soon as it ends.

    Phrases are half-open frame ranges counted from the first frame fed. A phrase starts up to
    ``lead`` still frames before the lips start moving and ends after ``pause`` still frames, or at
    its calmest frame once it is ``max_frames`` long. Stretches without speech give no phrase.
    """

    def __init__(self, settings: PhraseSettings | None = None):
        self.settings = settings or PhraseSettings()
        self.count = 0  # frames fed
        self.start = 0  # first frame of the phrase being built
        self.speaking = False
        self._previous: np.ndarray | None = None
        self._changes: deque[float] = deque(maxlen=self.settings.window)
        self._motion: list[float] = []  # averaged lip-shape change of each frame since `start`
        self._run = 0  # moving frames in a row (before speech) or still frames in a row (during it)
        self._moving = 0  # moving frames since speech started

    def push(self, points: np.ndarray) -> list[tuple[int, int]]:
        """Take the next frame's (points, 2) landmarks; return the phrases that ended with it."""
        cfg = self.settings
        shape = lip_shape(points)
        change = 0.0 if self._previous is None else float(np.abs(shape - self._previous).mean())
        self._previous = shape
        self._changes.append(change)
        motion = sum(self._changes) / len(self._changes)
        self._motion.append(motion)
        self.count += 1
        moving = motion >= cfg.still
        if not self.speaking:
            self._run = self._run + 1 if moving else 0
            if self._run >= cfg.onset:
                self.speaking, self._run, self._moving = True, 0, self._run
            elif self.count - self.start > cfg.lead:
                self._drop_to(self.count - cfg.lead)
            return []
        self._moving += moving
        if moving and cfg.gap <= self._run and self.count - self._run - self.start >= cfg.min_frames:
            # speech again after a short pause: the phrase ends in the pause, before the movement
            cut = self.count - 1 - min(self._run // 2, cfg.next_lead)
            return self._end(cut, speaking=False, run=1)
        self._run = 0 if moving else self._run + 1
        if self._run >= cfg.pause:
            return self._end(self.count, speaking=False)
        if self.count - self.start >= cfg.max_frames:
            calm = self._motion[cfg.min_frames :]
            return self._end(self.start + cfg.min_frames + int(np.argmin(calm)), speaking=True)
        return []

    def finish(self) -> list[tuple[int, int]]:
        """The last phrase, when the face's stretch ends."""
        return self._end(self.count, speaking=False) if self.speaking else []

    def _end(self, cut: int, speaking: bool, run: int = 0) -> list[tuple[int, int]]:
        """End the phrase at frame ``cut``; the next one starts there, speaking or not (``run``: moving
        frames in a row it starts with)."""
        cfg = self.settings
        phrase = (self.start, cut)
        enough = self._moving >= cfg.min_speech and cut - self.start >= cfg.min_phrase
        self._drop_to(cut)
        self.speaking = speaking
        self._run = _trailing_still(self._motion, cfg.still) if speaking else run
        self._moving = sum(m >= cfg.still for m in self._motion) if speaking else 0
        return [phrase] if enough else []

    def _drop_to(self, frame: int) -> None:
        del self._motion[: frame - self.start]
        self.start = frame


def _trailing_still(motion: list[float], still: float) -> int:
    run = 0
    for m in reversed(motion):
        if m >= still:
            break
        run += 1
    return run


def phrase_cuts(points: np.ndarray, settings: PhraseSettings | None = None) -> list[tuple[int, int]]:
    """The phrases of a whole stretch of (T, points, 2) gap-filled landmarks, cut as a live stream would be."""
    cutter = PhraseCutter(settings)
    cuts = [phrase for frame in points for phrase in cutter.push(frame)]
    return cuts + cutter.finish()
