"""One source video in, mouth-crop clips out: the per-video work of prep and of transcription.

:func:`extract_mouths` is the single entry to decoding, resampling, tracking and cropping, so
a video transcribed later is cut exactly as the training data was.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from data_prep.contracts import CropSettings
from data_prep.crop import Crops, interpolate, readable_points, transforms, warp
from data_prep.face_tracks import FaceFollower, Segment, TrackBuilder, segments
from data_prep.landmarks import FaceTracker
from data_prep.progress import frame_bar
from data_prep.rejections import PrepError
from data_prep.video import TARGET_FPS, VideoInfo, fitted_size, iter_frames, probe, resampled

#: Long side (pixels) of the frames landmarks are found on. FaceMesh looks for faces in a 128 px
#: copy of the frame and reads each in a 192 px window, so a larger frame only costs time.
LANDMARK_SIDE = 640
#: Frames of the landmark pass are kept for the crop pass, instead of decoding the video again, when
#: they are full size already and fit in this many bytes (a 3 s GRID clip: 23 MB).
REUSE_BYTES = 128 * 2**20


class VideoFrames:
    """One video's frames for the two passes: the landmark pass's at most LANDMARK_SIDE, the crop
    pass's at full size. The first pass's frames are reused when they are the full-size ones and
    short enough to keep (:data:`REUSE_BYTES`); otherwise the video is decoded again. Both passes
    start at ``from_s`` (the keyframe before it), for a piece of a long video."""

    def __init__(self, path: str, info: VideoInfo, from_s: float = 0.0):
        self.path, self.info, self.from_s = path, info, from_s
        self.scale = info.display_size[0] / fitted_size(*info.display_size, LANDMARK_SIDE)[0]
        self._kept: list[tuple[float, np.ndarray]] | None = [] if self.scale == 1.0 else None
        self._complete = False

    def for_landmarks(self) -> Iterator[tuple[float, np.ndarray]]:
        size = 0
        for item in iter_frames(self.path, LANDMARK_SIDE, self.from_s):
            if self._kept is not None:
                size += item[1].nbytes
                if size > REUSE_BYTES:
                    self._kept = None
                else:
                    self._kept.append(item)
            yield item

    def landmarks_done(self) -> None:
        """The landmark pass read every frame its spans need (to the end, or, when every span
        ends, until the last did): the crop pass over the same spans needs no frame beyond these."""
        self._complete = True

    @property
    def kept(self) -> bool:
        """Whether the crop pass will reuse the landmark pass's frames instead of decoding again."""
        return self._complete and self._kept is not None

    def for_crops(self) -> Iterator[tuple[float, np.ndarray]]:
        if self.kept:
            kept, self._kept = self._kept, None
            yield from kept
        else:
            yield from iter_frames(self.path, from_s=self.from_s)


@dataclass
class MouthClip:
    """The crops of one span of a video at :data:`TARGET_FPS`, or why there are none."""

    start: float
    end: float
    crops: Crops | None = None
    num_faces: int = 0
    error: PrepError | None = None

    @property
    def num_frames(self) -> int:
        return 0 if self.crops is None else len(self.crops.frames)


def extract_mouths(
    path: str,
    spans: list[tuple[float | None, float | None]],
    tracker: FaceTracker,
    settings: CropSettings,
    min_frames: int = 1,
    timings: dict[str, float] | None = None,
    from_s: float = 0.0,
) -> tuple[list[MouthClip], float]:
    """Crop each ``(start, end)`` span (None = the video's start / end) of one video; with ``from_s``,
    decoding starts at the keyframe before that time (no span starts earlier).

    Two streaming passes, as transcription makes them: landmarks on small frames (each span follows
    the largest face, then the one nearest to it), then crops from the full-size frames. Only
    landmarks and crops are held, never decoded frames, so a long video with many cues costs the
    memory of its crops.

    Raises :class:`PrepError` when the whole file is bad (unreadable, no video stream, no frame);
    a problem with one span is reported in that span's ``error`` so the other spans still go on.
    Returns the clips and the source's frame rate; ``timings`` (if given) gets the seconds spent
    in ``decode``, ``landmarks`` and ``crop``.
    """
    timings = {} if timings is None else timings
    info = probe(path)
    requested = [(0.0 if s is None else s, e) for s, e in spans]
    frames = VideoFrames(path, info, from_s)
    followers = _follow_spans(frames, requested, tracker, timings)
    if not any(f.points for f in followers) and all(e is None for _, e in requested):
        raise PrepError("unreadable", "no decodable video frames")
    clips, ready = [], []  # ready: (clip, its gap-filled landmarks)
    for (start, end), follower in zip(requested, followers):
        count = len(follower.points)
        if end is None and count:
            _check_complete(info.duration, start + count / TARGET_FPS)
        clip = MouthClip(start=start, end=end if end is not None else start + count / TARGET_FPS)
        clips.append(clip)
        try:
            _check_span(start, end, count)
            if count < min_frames:
                raise PrepError("too_few_frames", f"{count} frames at 25 fps, fewer than {min_frames}")
            clip.num_faces = follower.most
            ready.append((clip, readable_points(follower.array(), settings)))
        except PrepError as err:
            clip.error = err
    cut = crop_spans(frames, [(c.start, c.end) for c, _ in ready], [p for _, p in ready], settings, timings)
    for (clip, _), crops in zip(ready, cut):
        clip.crops = crops
    return clips, info.fps


def _follow_spans(frames: VideoFrames, spans: list[tuple[float, float | None]], tracker: FaceTracker,
                  timings: dict[str, float]) -> list[FaceFollower]:  # fmt: skip
    """First pass of prep: each span's followed face, found on frames shrunk to LANDMARK_SIDE.

    The tracker starts afresh at each span's first frame (read again even when the cue before
    ends on the same source frame), so a cue's landmarks do not depend on the cues before it unless
    they overlap it; a frame that several overlapping spans share is otherwise read once. So a
    long video's pieces (:func:`data_prep.builder.pieces`) give the clips one pass gives.
    """
    followers = [FaceFollower() for _ in spans]
    seen: tuple[np.ndarray | None, list[np.ndarray]] = (None, [])
    clock = time.perf_counter()
    landmark_seconds = 0.0
    for i, frame in resampled(frames.for_landmarks(), spans):
        tick = time.perf_counter()
        first = not followers[i].points
        if frame is not seen[0] or first:
            if first:
                tracker.start_video()
            seen = (frame, tracker.faces(frame, frames.scale))
        followers[i].add(seen[1])
        landmark_seconds += time.perf_counter() - tick
    frames.landmarks_done()
    timings["landmarks"] = timings.get("landmarks", 0.0) + landmark_seconds
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - clock - landmark_seconds
    return followers


def _check_complete(duration: float | None, decoded: float) -> None:
    """A file that decodes (to its end) to much less than its container's stated duration is truncated."""
    if duration is not None and decoded < duration - 0.2:
        raise PrepError("truncated", f"decoded {decoded:.2f} s of its stated {duration:.2f} s")


def _check_span(start: float, end: float | None, count: int) -> None:
    if end is None:
        return
    if start < 0 or end <= start:
        raise PrepError("cue_outside_video", f"cue {start:.2f}-{end:.2f} s is not a valid span")
    expected = int(round((end - start) * TARGET_FPS))
    if count < expected - 1:
        where = f"the video ends at {start + count / TARGET_FPS:.2f} s" if count else "the video ends before it"
        raise PrepError("cue_outside_video", f"cue {start:.2f}-{end:.2f} s: {where}")


@dataclass
class VideoScan:
    """What one pass over a whole video found: every face's segments and the video's extent."""

    frames: VideoFrames  # for the crop pass
    num_frames: int  # at TARGET_FPS: the frame after the last one read (frames are counted from the video's start)
    segments: list[Segment]
    probes: list[tuple[float, float | None]]  # face-less frames, a second apart: (seconds, width of a face
    # the long-range detector saw there, or None)
    first: int = 0  # the first frame read (a span's start)

    @property
    def frames_read(self) -> int:
        return self.num_frames - self.first

    @property
    def small_face(self) -> tuple[float, float] | None:
        """(seconds, width) of a face seen where no landmarks were found, if it was seen in at least half
        of the probes (one detection alone may be a false one: random noise gives some)."""
        seen = [(t, w) for t, w in self.probes if w is not None]
        if len(seen) < max(2, len(self.probes) / 2):
            return None
        return max(seen, key=lambda p: p[1])

    @property
    def readable(self) -> list[Segment]:
        return [s for s in self.segments if s.problem is None]


def scan_faces(path: str, tracker: FaceTracker, settings: CropSettings, min_frames: int,
               timings: dict[str, float] | None = None, progress: bool = False,
               span: tuple[float, float | None] = (0.0, None)) -> VideoScan:  # fmt: skip
    """First pass: follow every face through the video at 25 fps, on small frames, keeping landmarks only.

    ``span``: only the seconds ``[start, end)`` (None: to the end) are read, decoded from the keyframe
    before ``start`` and no further than ``end``; frames keep their numbers from the video's start, so
    every time found is the video's own. Raises :class:`PrepError` when the file is bad (unreadable,
    no video stream, no frame) or has no frame in the span. With ``progress``, a long video shows a
    bar (:mod:`data_prep.progress`).
    """
    timings = {} if timings is None else timings
    info = probe(path)
    first = math.floor(span[0] * TARGET_FPS + 1e-6)  # the frame shown at the span's start
    start, end = first / TARGET_FPS, span[1]
    frames = VideoFrames(path, info, start)
    scale = frames.scale
    builder = TrackBuilder(settings.max_gap)
    tracker.start_video()
    probes: list[tuple[float, float | None]] = []
    count = first
    clock = time.perf_counter()
    landmark_seconds = 0.0
    last = end if end is not None else info.duration
    expected = max(0, round(last * TARGET_FPS) - first) if last else None
    with frame_bar(expected, f"{Path(path).name}: faces", progress) as bar:
        for index, (_, frame) in enumerate(resampled(frames.for_landmarks(), [(start, end)]), first):
            count = index + 1
            tick = time.perf_counter()
            if builder.shot_changed(frame):
                tracker.start_video()
            faces = tracker.faces(frame, scale)
            builder.add(index, faces)
            if not faces and (not probes or index / TARGET_FPS - probes[-1][0] >= 1.0):
                widths = tracker.face_widths(frame)
                probes.append((index / TARGET_FPS, max(widths) * scale if widths else None))
            landmark_seconds += time.perf_counter() - tick
            bar.update()
    frames.landmarks_done()
    if count == first:
        if first:
            length = f"the video is {info.duration:.2f} s long" if info.duration else "no frame from there on"
            raise PrepError("cue_outside_video", f"nothing to read from {start:.2f} s: {length}")
        raise PrepError("unreadable", "no decodable video frames")
    if end is None:
        _check_complete(info.duration, count / TARGET_FPS)
    timings["landmarks"] = timings.get("landmarks", 0.0) + landmark_seconds
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - clock - landmark_seconds
    found = segments(builder.tracks, settings, min_frames) if builder.tracks else []
    return VideoScan(frames, count, found, probes, first)


def crop_segments(frames: VideoFrames, chosen: list[Segment], settings: CropSettings,
                  timings: dict[str, float] | None = None) -> list[Crops]:  # fmt: skip
    """Each segment's mouth crops, its track's gaps filled (the whole of every segment at once;
    transcription cuts a long video's in batches with :func:`cut_mouths`)."""
    spans = [(s.start / TARGET_FPS, s.end / TARGET_FPS) for s in chosen]
    return crop_spans(frames, spans, [interpolate(s.points) for s in chosen], settings, timings)


def crop_spans(frames: VideoFrames, spans: list[tuple[float, float]], points: list[np.ndarray], settings: CropSettings,
               timings: dict[str, float] | None = None) -> list[Crops]:  # fmt: skip
    """Decode again and cut each span's mouth crops from the full-size frames, holding only the crops.

    ``points`` are each span's gap-filled landmarks (one row per 25 fps frame); the transforms are
    smoothed over the whole span.
    """
    return cut_mouths(frames, spans, [transforms(p, settings) for p in points], points, settings, timings)


def cut_mouths(frames: VideoFrames, spans: list[tuple[float, float]], matrices: list[np.ndarray],
               points: list[np.ndarray], settings: CropSettings, timings: dict[str, float] | None = None,
               bar=None) -> list[Crops]:  # fmt: skip
    """Each span's crops by its own per-frame ``matrices`` (a slice of a longer stretch's smoothed
    transforms cuts that stretch's very crops); decoding stops once every span is complete.
    ``bar``: a progress bar to count the crops on."""
    timings = {} if timings is None else timings
    out = [np.empty((len(m), settings.size, settings.size, 3), dtype=np.uint8) for m in matrices]
    wanted = [len(o) for o in out]
    filled = [0] * len(spans)
    clock = time.perf_counter()
    crop_seconds = 0.0
    if spans:
        for i, frame in resampled(frames.for_crops(), spans):
            tick = time.perf_counter()
            if filled[i] < wanted[i]:
                out[i][filled[i]] = warp(frame, matrices[i][filled[i]], settings)
                filled[i] += 1
                if bar is not None:
                    bar.update()
            crop_seconds += time.perf_counter() - tick
            if filled == wanted:
                break
    timings["crop"] = timings.get("crop", 0.0) + crop_seconds
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - clock - crop_seconds
    return [Crops(frames=o[:n], transforms=m[:n], points=p[:n]) for o, m, p, n in zip(out, matrices, points, filled)]
