"""One source video in, mouth-crop clips out: the per-video work of prep and of transcription.

:func:`extract_mouths` is the single entry to decoding, resampling, tracking and cropping, so
a video transcribed later is cut exactly as the training data was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from data_prep.contracts import CropSettings
from data_prep.crop import Crops, interpolate, mouth_crops, transforms, warp
from data_prep.face_tracks import Segment, TrackBuilder, segments
from data_prep.landmarks import FaceTracker
from data_prep.rejections import PrepError
from data_prep.video import TARGET_FPS, VideoInfo, fitted_size, iter_frames, probe, resample, resampled

#: Long side (pixels) of the frames landmarks are found on. FaceMesh looks for faces in a 128 px
#: copy of the frame and reads each in a 192 px window, so a larger frame only costs time.
LANDMARK_SIDE = 640


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
) -> tuple[list[MouthClip], float]:
    """Crop each ``(start, end)`` span (None = the video's start / end) of one video.

    Raises :class:`PrepError` when the whole file is bad (unreadable, no video stream, no frame);
    a problem with one span is reported in that span's ``error`` so the other spans still go on.
    Returns the clips and the source's frame rate; ``timings`` (if given) gets the seconds spent
    in ``decode``, ``landmarks`` and ``crop``.
    """
    timings = {} if timings is None else timings
    clock = time.perf_counter()
    info = probe(path)
    requested = [(0.0 if s is None else s, e) for s, e in spans]
    per_span = resample(iter_frames(path), requested, TARGET_FPS)
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - clock
    if not any(per_span) and all(e is None for _, e in requested):
        raise PrepError("unreadable", "no decodable video frames")
    for (start, end), frames in zip(requested, per_span):
        if end is None and frames:
            _check_complete(info.duration, start + len(frames) / TARGET_FPS)
    clips = []
    for (start, end), frames in zip(requested, per_span):
        stop = end if end is not None else start + len(frames) / TARGET_FPS
        clip = MouthClip(start=start, end=stop)
        clips.append(clip)
        try:
            _check_span(start, end, frames, path)
            if len(frames) < min_frames:
                raise PrepError("too_few_frames", f"{len(frames)} frames at 25 fps, fewer than {min_frames}")
            clock = time.perf_counter()
            track = tracker.track(frames)
            timings["landmarks"] = timings.get("landmarks", 0.0) + time.perf_counter() - clock
            clip.num_faces = track.num_faces
            clock = time.perf_counter()
            clip.crops = mouth_crops(frames, track, settings)
            timings["crop"] = timings.get("crop", 0.0) + time.perf_counter() - clock
        except PrepError as err:
            clip.error = err
    return clips, info.fps


def _check_complete(duration: float | None, decoded: float) -> None:
    """A file that decodes (to its end) to much less than its container's stated duration is truncated."""
    if duration is not None and decoded < duration - 0.2:
        raise PrepError("truncated", f"decoded {decoded:.2f} s of its stated {duration:.2f} s")


def _check_span(start: float, end: float | None, frames: list[np.ndarray], path: str) -> None:
    if end is None:
        return
    if start < 0 or end <= start:
        raise PrepError("cue_outside_video", f"cue {start:.2f}-{end:.2f} s is not a valid span")
    expected = int(round((end - start) * TARGET_FPS))
    if len(frames) < expected - 1:
        video_end = start + len(frames) / TARGET_FPS if frames else None
        where = f"the video ends at {video_end:.2f} s" if frames else "the video ends before it"
        raise PrepError("cue_outside_video", f"cue {start:.2f}-{end:.2f} s: {where}")


@dataclass
class VideoScan:
    """What one pass over a whole video found: every face's segments and the video's extent."""

    info: VideoInfo
    num_frames: int  # at TARGET_FPS
    segments: list[Segment]
    probes: list[tuple[float, float | None]]  # face-less frames, a second apart: (seconds, width of a face
    # the long-range detector saw there, or None)

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
               timings: dict[str, float] | None = None) -> VideoScan:  # fmt: skip
    """First pass: follow every face through the video at 25 fps, on small frames, keeping landmarks only.

    Raises :class:`PrepError` when the file is bad (unreadable, no video stream, no frame).
    """
    timings = {} if timings is None else timings
    info = probe(path)
    display = info.display_size
    size = fitted_size(*display, LANDMARK_SIDE)
    scale = display[0] / size[0]
    builder = TrackBuilder(settings.max_gap)
    tracker.start_video()
    probes: list[tuple[float, float | None]] = []
    count = 0
    clock = time.perf_counter()
    landmark_seconds = 0.0
    for index, (_, frame) in enumerate(resampled(iter_frames(path, LANDMARK_SIDE), [(0.0, None)])):
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
    if not count:
        raise PrepError("unreadable", "no decodable video frames")
    _check_complete(info.duration, count / TARGET_FPS)
    timings["landmarks"] = timings.get("landmarks", 0.0) + landmark_seconds
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - clock - landmark_seconds
    found = segments(builder.tracks, settings, min_frames) if builder.tracks else []
    return VideoScan(info, count, found, probes)


def crop_segments(path: str, chosen: list[Segment], settings: CropSettings,
                  timings: dict[str, float] | None = None) -> list[Crops]:  # fmt: skip
    """Second pass: decode again and cut each segment's mouth crops, holding only the crops.

    The transforms come from the segment's whole (gap-filled, smoothed) track, exactly as
    :func:`data_prep.crop.mouth_crops` computes them for prep.
    """
    timings = {} if timings is None else timings
    filled = [interpolate(s.points) for s in chosen]
    matrices = [transforms(p, settings) for p in filled]
    out = [np.empty((s.end - s.start, settings.size, settings.size, 3), dtype=np.uint8) for s in chosen]
    last = max((s.end for s in chosen), default=0)
    clock = time.perf_counter()
    crop_seconds = 0.0
    for index, (_, frame) in enumerate(resampled(iter_frames(path), [(0.0, None)])):
        if index >= last:
            break
        tick = time.perf_counter()
        for k, s in enumerate(chosen):
            if s.start <= index < s.end:
                out[k][index - s.start] = warp(frame, matrices[k][index - s.start], settings)
        crop_seconds += time.perf_counter() - tick
    timings["crop"] = timings.get("crop", 0.0) + crop_seconds
    timings["decode"] = timings.get("decode", 0.0) + time.perf_counter() - clock - crop_seconds
    return [Crops(frames=o, transforms=m, points=p) for o, m, p in zip(out, matrices, filled)]
