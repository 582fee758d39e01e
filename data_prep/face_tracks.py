"""Every face of a video followed over time, cut into stretches a model can read.

Faces found frame by frame are joined into tracks by overlap with the track's last box; a track
ends at a shot change or when its face stays lost for longer than the crop settings' ``max_gap``.
Each track is then split into segments: runs of frames with the face, short gaps filled. Only
landmarks are kept (the 88 points of :mod:`data_prep.face_points`, 0.7 KB a frame and face), never
frames, and only once: a track holds them in blocks of :data:`BLOCK_FRAMES`, which its segments take
over block by block. An hour of one face at 25 fps holds 63 MB of landmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from data_prep.contracts import CropSettings
from data_prep.crop import interpolate, missing_runs, mouth_width
from data_prep.face_points import NUM_POINTS

#: A shot changes where the mean absolute difference (0-255) of consecutive 32x32 grey thumbnails
#: exceeds both this and SHOT_CHANGE_RATIO times its median over the last second. Measured: a cut
#: between two GRID speakers 20.7; within shots of real footage at most 4 (median 0.2-2.6).
SHOT_CHANGE = 10.0
SHOT_CHANGE_RATIO = 6.0
#: Least overlap (intersection over union) of a face's box with a track's last box to continue it.
MIN_OVERLAP = 0.3
#: Frames of landmarks a track allocates at a time (0.72 MB): large enough to be given back to the
#: system when freed, not a small array a frame that a long video's heap would keep.
BLOCK_FRAMES = 1024


class LandmarkRows:
    """One face's (T, points, 2) float32 landmarks, a row a frame, NaN where it was lost: appended a
    frame at a time, and given up from the front (a live stream's old frames, a segment cut)."""

    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []
        self._offset = 0  # rows of the first block already given up
        self._length = 0

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, row: int) -> np.ndarray:
        if not 0 <= row < self._length:
            raise IndexError(row)
        at = self._offset + row
        return self._blocks[at // BLOCK_FRAMES][at % BLOCK_FRAMES]

    def append(self, points: np.ndarray | None) -> None:
        at = self._offset + self._length
        if at == len(self._blocks) * BLOCK_FRAMES:
            self._blocks.append(np.full((BLOCK_FRAMES, NUM_POINTS, 2), np.nan, np.float32))
        if points is not None:
            self._blocks[at // BLOCK_FRAMES][at % BLOCK_FRAMES] = points
        self._length += 1

    def found(self) -> np.ndarray:
        """(T,) whether each row has a face."""
        flags = np.concatenate([~np.isnan(b[:, 0, 0]) for b in self._blocks]) if self._blocks else np.zeros(0, bool)
        return flags[self._offset : self._offset + self._length]

    def drop(self, rows: int) -> None:
        """Give up the first ``rows`` rows (each block as soon as none of its rows is left)."""
        rows = min(rows, self._length)
        self._offset += rows
        self._length -= rows
        del self._blocks[: self._offset // BLOCK_FRAMES]
        self._offset %= BLOCK_FRAMES

    def take(self, rows: int) -> np.ndarray:
        """The first ``rows`` rows as one array, given up as they are copied: the landmarks are held
        once, not twice, while a long track becomes a segment."""
        out = np.empty((min(rows, self._length), NUM_POINTS, 2), np.float32)
        done = 0
        while done < len(out):
            n = min(len(out) - done, BLOCK_FRAMES - self._offset)
            out[done : done + n] = self._blocks[0][self._offset : self._offset + n]
            self.drop(n)
            done += n
        return out

    def array(self) -> np.ndarray:
        """Every row, copied (the rows are kept)."""
        whole = np.concatenate(self._blocks) if self._blocks else np.empty((0, NUM_POINTS, 2), np.float32)
        return whole[self._offset : self._offset + self._length]


@dataclass
class Track:
    """One face followed from frame ``start``; ``points`` holds a row of landmarks a frame from there."""

    id: int
    start: int
    points: LandmarkRows = field(default_factory=LandmarkRows)
    last_seen: int = -1
    last_box: np.ndarray | None = None

    def add(self, index: int, points: np.ndarray | None) -> None:
        while self.start + len(self.points) < index:
            self.points.append(None)
        self.points.append(points)
        if points is not None:
            self.last_seen, self.last_box = index, box_of(points)

    def point(self, index: int) -> np.ndarray | None:
        """The landmarks of frame ``index`` (None where the face was lost)."""
        found = self.points[index - self.start]
        return None if np.isnan(found[0, 0]) else found


def box_of(points: np.ndarray) -> np.ndarray:
    """``[x0, y0, x1, y1]`` around the landmarks."""
    return np.concatenate([np.nanmin(points, axis=0), np.nanmax(points, axis=0)])


def largest(faces: list[np.ndarray]) -> np.ndarray:
    """The face whose landmarks span the largest box (the nearest, or the one filmed)."""
    return max(faces, key=lambda f: float(np.ptp(f[:, 0]) * np.ptp(f[:, 1])))


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two ``[x0, y0, x1, y1]`` boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    return float(inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter))


def thumbnail(frame: np.ndarray) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA).astype(np.int16)


class TrackBuilder:
    """Joins each frame's faces into tracks; feed frames in order, then read :attr:`tracks`."""

    def __init__(self, max_gap: int):
        self.max_gap = max_gap
        self.tracks: list[Track] = []
        self._open: list[Track] = []
        self._next_id = 0
        self._previous: np.ndarray | None = None
        self._recent: list[float] = []

    def shot_changed(self, frame: np.ndarray) -> bool:
        """Whether ``frame`` starts a new shot (then every open track ends)."""
        thumb = thumbnail(frame)
        changed = False
        if self._previous is not None:
            difference = float(np.abs(thumb - self._previous).mean())
            usual = float(np.median(self._recent)) if self._recent else 0.0
            changed = difference > max(SHOT_CHANGE, SHOT_CHANGE_RATIO * usual)
            self._recent = self._recent[-24:] + [difference]
        self._previous = thumb
        if changed:
            self._open = []
        return changed

    @property
    def open(self) -> list[Track]:
        """The tracks a face of the next frame may continue."""
        return list(self._open)

    def forget(self, before: int) -> None:
        """Drop the ended tracks and every frame before ``before``: a live stream holds only what it still
        needs, however long it runs (:attr:`tracks` then lists the open tracks only)."""
        self.tracks = list(self._open)
        for track in self.tracks:
            if before > track.start:
                track.points.drop(before - track.start)
                track.start = before

    def add(self, index: int, faces: list[np.ndarray]) -> None:
        self._open = [t for t in self._open if index - t.last_seen <= self.max_gap + 1]
        faces = distinct(faces)
        boxes = [box_of(f) for f in faces]
        pairs = sorted(
            ((overlap(b, t.last_box), i, k) for i, b in enumerate(boxes) for k, t in enumerate(self._open)),
            reverse=True,
        )
        taken_faces, taken_tracks = set(), set()
        for score, i, k in pairs:
            if score < MIN_OVERLAP or i in taken_faces or k in taken_tracks:
                continue
            self._open[k].add(index, faces[i])
            taken_faces.add(i)
            taken_tracks.add(k)
        for i, face in enumerate(faces):
            if i not in taken_faces:
                track = Track(id=self._next_id, start=index)
                self._next_id += 1
                track.add(index, face)
                self.tracks.append(track)
                self._open.append(track)


def distinct(faces: list[np.ndarray], same: float = 0.5) -> list[np.ndarray]:
    """The faces of one frame without duplicates (FaceMesh re-detecting a face it already follows,
    or the zoomed look finding it again): of two boxes overlapping by more than ``same``, the first."""
    kept: list[np.ndarray] = []
    for face in faces:
        if all(overlap(box_of(face), box_of(k)) <= same for k in kept):
            kept.append(face)
    return kept


@dataclass
class Segment:
    """A stretch of one track to read on its own: frames ``[start, end)`` of the 25 fps video."""

    track: int
    start: int
    end: int
    points: np.ndarray  # (end - start, points, 2), its short gaps filled
    box: list[int]  # [x, y, w, h]: the median face box over the frames with a face, in display pixels
    mouth_width: float  # median over the frames with a face (pixels)
    problem: str | None = None  # why it is not read: "too_short" or "face_too_small"


def median_box(points: np.ndarray) -> list[int]:
    """``[x, y, w, h]`` of the median landmark box over the frames with a face."""
    found = ~np.isnan(points[:, 0, 0])
    low, high = points.min(axis=1)[found], points.max(axis=1)[found]  # a frame's landmarks are all there or none
    x0, y0, x1, y1 = np.median(np.concatenate([low, high], axis=1), axis=0)
    return [int(round(x0)), int(round(y0)), int(round(x1 - x0)), int(round(y1 - y0))]


def segments(tracks: list[Track], settings: CropSettings, min_frames: int) -> list[Segment]:
    """Each track's runs of found frames (gaps up to ``max_gap`` bridged, and filled), in time order,
    each marked with the reason it cannot be read, if any.

    The segments take over their tracks' landmarks (the tracks are empty afterwards), so a long
    video's are never held twice."""
    out = []
    for track in tracks:
        rows = track.points
        found = np.flatnonzero(rows.found())
        breaks = np.flatnonzero(np.diff(found) > settings.max_gap + 1)
        starts = np.concatenate([[found[0]], found[breaks + 1]])
        ends = np.concatenate([found[breaks], [found[-1]]]) + 1
        taken = 0
        for a, b in zip(starts, ends):
            rows.drop(int(a) - taken)
            points = rows.take(int(b - a))
            taken = int(b)
            box, width = median_box(points), mouth_width(points)
            segment = Segment(track.id, track.start + int(a), track.start + int(b),
                              interpolate(points, in_place=True), box, width)  # fmt: skip
            if b - a < min_frames:
                segment.problem = "too_short"
            elif segment.mouth_width < settings.min_mouth_width:
                segment.problem = "face_too_small"
            out.append(segment)
        rows.drop(len(rows))
    return sorted(out, key=lambda s: (s.start, s.track))


class FaceFollower:
    """One face through a span of frames, as prep follows it: the largest face at first, then the
    face nearest to the one followed so far."""

    def __init__(self) -> None:
        self.points = LandmarkRows()
        self.most = 0  # most distinct faces seen in one frame
        self._centre: np.ndarray | None = None

    def add(self, faces: list[np.ndarray]) -> None:
        faces = distinct(faces)
        self.most = max(self.most, len(faces))
        if not faces:
            self.points.append(None)
            return
        if self._centre is None:
            chosen = largest(faces)
        else:
            chosen = min(faces, key=lambda f: float(np.linalg.norm(f.mean(axis=0) - self._centre)))
        self.points.append(chosen)
        self._centre = chosen.mean(axis=0)

    def array(self) -> np.ndarray:
        """(T, points, 2) pixels, NaN where no face was found."""
        return self.points.array()


def uncovered(spans: list[tuple[int, int]], total: int, min_frames: int, first: int = 0) -> list[tuple[int, int]]:
    """Frame ranges of ``[first, total)`` that no span covers, at least ``min_frames`` long."""
    covered = np.zeros(max(0, total - first), dtype=bool)
    for a, b in spans:
        covered[max(0, a - first) : max(0, b - first)] = True
    return [(a + first, b + first) for a, b in missing_runs(covered) if b - a >= min_frames]
