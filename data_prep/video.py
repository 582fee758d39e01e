"""Video in and out with PyAV: decode any container ffmpeg reads, resample to a fixed frame rate by
timestamps, and write fixed-size H.264 clips atomically.

Reading the clips of a dataset folder (:func:`read_clip`) also works without PyAV, through
OpenCV's own FFmpeg (the same pixels): training then runs on a machine where PyAV cannot be
installed, such as a lent GPU box with no package index and no room to carry PyAV's 36 MB wheel.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

try:
    import av
except ModuleNotFoundError:  # read_clip still works (OpenCV); anything else says what is missing
    av = None

from data_prep.rejections import PrepError

log = logging.getLogger(__name__)

TARGET_FPS = 25.0
#: containers (PyAV's format names) whose index lets a seek land on a whole keyframe; MPEG program
#: and transport streams seek by bytes and land inside a frame
SEEKABLE = {"mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"}


@dataclass
class VideoInfo:
    """What the container says about its video stream."""

    fps: float
    duration: float | None  # seconds; None when the container does not say
    width: int
    height: int
    sar: Fraction = Fraction(1)  # sample (pixel) aspect ratio; frames are shown sar times wider
    seekable: bool = False  # the container has a keyframe index (SEEKABLE): decoding may start mid-video
    #: degrees counter-clockwise (0, 90, 180 or 270) the stored frames are turned to be shown upright:
    #: a phone films with its sensor's orientation and says in the container how to show the video
    rotation: int = 0

    @property
    def stored_size(self) -> tuple[int, int]:
        """(width, height) as stored, non-square pixels stretched to square ones: before :attr:`rotation`."""
        return _even(self.width * self.sar), self.height

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as shown: square pixels, turned upright."""
        width, height = self.stored_size
        return (height, width) if self.rotation in (90, 270) else (width, height)


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def fitted_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """The size that keeps the aspect ratio with the long side at most ``max_side``."""
    if max_side is None or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return _even(width * scale), _even(height * scale)


def probe(path: str | Path) -> VideoInfo:
    """Open a video and read its stream properties, or raise a :class:`PrepError`. Its first frame is
    decoded for the rotation it is to be shown with (PyAV gives that frame by frame only)."""
    with _open(path) as container:
        stream = _video_stream(container, path)
        return replace(_info(container, stream), rotation=_first_rotation(container, stream))


def quarter_turns(degrees: float) -> int:
    """A display rotation in degrees counter-clockwise, as 0, 90, 180 or 270 (the nearest)."""
    return int(round(degrees / 90)) % 4 * 90


def _first_rotation(container, stream) -> int:
    """The display rotation of the stream's first decodable frame (0 when none decodes)."""
    try:
        for frame in container.decode(stream):
            return quarter_turns(frame.rotation or 0)
    except av.error.FFmpegError:
        pass
    return 0


def _open(path: str | Path):
    _need_pyav()
    try:
        if os.path.getsize(path) == 0:  # (ffmpeg says only "Invalid data found when processing input")
            raise PrepError("unreadable", "the file is empty (0 bytes)")
    except OSError:
        pass  # no such file, or not a regular file: av.open says which
    try:
        return av.open(str(path))
    except FileNotFoundError:
        raise PrepError("unreadable", "no such file") from None
    except av.error.FFmpegError as err:
        reason = getattr(err, "strerror", None) or str(err)
        raise PrepError("unreadable", f"not a video ffmpeg can read ({reason})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PrepError("unreadable", f"cannot open it ({getattr(err, 'strerror', None) or err})") from None


def _need_pyav() -> None:
    if av is None:
        raise ModuleNotFoundError("No module named 'av': PyAV decodes and writes video here (pip install av)")


def _video_stream(container, path):
    """The stream ffmpeg itself would play (``av_find_best_stream``): the moving picture, not a cover
    image or thumbnail stored as a one-frame video stream ahead of it."""
    if not container.streams.video:
        raise PrepError("no_video_stream", "the file has no video stream")
    return container.streams.best("video") or container.streams.video[0]


def _info(container, stream) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else TARGET_FPS
    duration = None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / 1_000_000
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    sar = Fraction(sar) if sar and sar > 0 else Fraction(1)
    return VideoInfo(fps=fps, duration=duration, width=stream.width, height=stream.height, sar=sar,
                     seekable=container.format.name in SEEKABLE)  # fmt: skip


def iter_frames(
    path: str | Path, max_side: int | None = None, from_s: float = 0.0
) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(seconds, RGB frame)`` in presentation order, skipping undecodable packets; with
    ``from_s``, starting at the last frame shown at or before that time (see :func:`decoded_frames`).

    Frames come at their display shape (non-square pixels made square, so a face is not stretched)
    and, with ``max_side``, shrunk in the same conversion so that the long side fits: landmarks need
    a small image, and converting a 1080p frame at full size costs more than decoding it.
    Damaged packets (GRID has some) are logged and skipped rather than failing the clip; a file
    whose every packet fails yields nothing, which callers report as ``unreadable``.
    """
    for t, frame, info in decoded_frames(path, from_s):
        yield t, to_rgb(frame, info, max_side)


def iter_frame_pairs(path: str | Path, max_side: int) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
    """``(seconds, frame shrunk to max_side, full-size frame)``: both sizes of each frame from one decode,
    converted exactly as :func:`iter_frames` converts them (the small one is the full one when it fits)."""
    for t, frame, info in decoded_frames(path):
        full = to_rgb(frame, info)
        small = (
            full if fitted_size(*info.display_size, max_side) == info.display_size else to_rgb(frame, info, max_side)
        )
        yield t, small, full


def to_rgb(frame, info: VideoInfo, max_side: int | None = None) -> np.ndarray:
    """A decoded frame as (H, W, 3) RGB at its display shape, fitted to ``max_side`` and turned upright
    (:attr:`VideoInfo.rotation`: a phone video filmed upside down or sideways is read as it is shown).

    One swscale thread: its default (one per core) is no faster alone and 2-7x slower beside prep's
    other worker or a training run (benchmarks/frame_conversion.py); the pixels are the same."""
    width, height = fitted_size(*info.stored_size, max_side)
    rgb = frame.reformat(width=width, height=height, format="rgb24", threads=1).to_ndarray()
    return np.ascontiguousarray(np.rot90(rgb, info.rotation // 90)) if info.rotation else rgb


def decoded_frames(path: str | Path, from_s: float = 0.0) -> Iterator[tuple[float, av.VideoFrame, VideoInfo]]:
    """``(seconds, decoded frame, stream info)`` in presentation order (see :func:`iter_frames`).

    With ``from_s`` > 0 decoding starts at the keyframe before that time, not at the video's start
    (a cue an hour into a lecture is not reached by decoding the hour before it); the frames are
    the ones decoding from the start gives. That holds for containers with a keyframe index
    (:data:`SEEKABLE`); others (MPEG program and transport streams seek by bytes and land inside
    a frame, whose errors last to the next keyframe), and a seek that lands past the time or not on
    a keyframe, decode from the start.
    """
    if from_s > 0:
        frames = _decoded(path, from_s)
        first = next(frames, None)
        if first is not None and first[1].pts is not None and first[1].key_frame and first[0] <= from_s + 1e-6:
            yield first
            yield from frames
            return
        frames.close()
    yield from _decoded(path)


def _decoded(path: str | Path, seek_s: float = 0.0) -> Iterator[tuple[float, av.VideoFrame, VideoInfo]]:
    with _open(path) as container:
        stream = _video_stream(container, path)
        stream.thread_type = "AUTO"
        time_base = float(stream.time_base) if stream.time_base else 1 / TARGET_FPS
        start = stream.start_time or 0
        index = 0
        info = _info(container, stream)
        if seek_s > 0:
            if not info.seekable:
                return
            try:  # to the keyframe at or before it, in the stream's own time units
                container.seek(start + int(seek_s / time_base), stream=stream, backward=True, any_frame=False)
            except av.error.FFmpegError as err:
                log.debug("%s: cannot seek to %.2f s: %s", path, seek_s, err)
                return
        try:
            packets = container.demux(stream)
            while True:
                try:
                    packet = next(packets)
                except StopIteration:
                    break
                except av.error.FFmpegError as err:  # truncated container
                    log.warning("%s: demuxing stopped: %s", path, err)
                    break
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as err:
                    log.debug("%s: skipped a damaged packet: %s", path, err)
                    continue
                for frame in frames:
                    t = (frame.pts - start) * time_base if frame.pts is not None else index / info.fps
                    index += 1
                    turn = quarter_turns(frame.rotation or 0)
                    if turn != info.rotation:  # (said by the frames, not the stream)
                        info = replace(info, rotation=turn)
                    yield t, frame, info
        except av.error.FFmpegError as err:
            raise PrepError("unreadable", f"decoding failed: {getattr(err, 'strerror', None) or err}") from err


def resampled(
    frames: Iterator[tuple[float, np.ndarray]],
    spans: list[tuple[float, float | None]],
    fps: float = TARGET_FPS,
) -> Iterator[tuple[int, np.ndarray]]:
    """Pick, for each span, the source frame shown at each output time (the latest at or before it),
    as a stream of ``(span index, frame)``.

    Streams once through the video: a frame is passed on as soon as the next source frame shows
    when it stops, so nothing but the current frame is held, however many subtitle cues the video
    has. A span whose end is None runs to the end of the video; when every span has an end, reading
    stops after the last one.
    """
    order = sorted(range(len(spans)), key=lambda i: spans[i][0])
    half_frame = 0.5 / fps
    previous: tuple[float, np.ndarray] | None = None
    interval = 1.0 / fps  # how long the last frame stays up; refined from the stream
    targets = {i: 0 for i in order}

    def emit(upto: float, frame: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        # Every output time t with t < upto is shown by ``frame``.
        for i in order:
            start, end = spans[i]
            while True:
                t = start + targets[i] / fps
                if t >= upto - 1e-6 or (end is not None and t >= end - half_frame):
                    break
                yield i, frame
                targets[i] += 1

    # once frames up to here are emitted, every span has all its frames (when every span has an end)
    done_at = (
        max(end for _, end in spans) - half_frame + 1e-6 if spans and all(end is not None for _, end in spans) else None
    )

    for t, frame in frames:
        if previous is not None:
            yield from emit(t, previous[1])
            if t > previous[0]:
                interval = t - previous[0]
            if done_at is not None and t >= done_at:
                return
        previous = (t, frame)
    if previous is not None:
        yield from emit(previous[0] + interval, previous[1])


#: x264 quality of dataset clips: 18 is visually lossless; 0 is lossless (but for the RGB -> YUV
#: rounding, at most 2 levels), several times larger, and decodes to the same pixels every run.
CLIP_CRF = 18


def write_clip(path: Path, frames: np.ndarray, fps: float = TARGET_FPS, crf: int = CLIP_CRF) -> None:
    """Write ``frames`` (T, H, W, 3) uint8 RGB as H.264 mp4, atomically (temp name, then rename).

    An interrupted run therefore never leaves a truncated clip under a final name.
    """
    _need_pyav()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.mp4")
    try:
        with av.open(str(tmp), mode="w") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
            stream.width = frames.shape[2]
            stream.height = frames.shape[1]
            stream.pix_fmt = "yuv444p"
            # one x264 thread: fewer run-to-run differences (output still varies on some inputs)
            stream.options = {"crf": str(crf), "preset": "veryfast", "tune": "fastdecode", "threads": "1"}
            stream.thread_type = "NONE"
            for frame in frames:
                packet = stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame)))
                container.mux(packet)
            container.mux(stream.encode())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def read_clip(path: str | Path) -> np.ndarray:
    """Decode a whole clip to (T, H, W, 3) uint8 RGB (through OpenCV where PyAV is missing)."""
    frames = [frame for _, frame in iter_frames(path)] if av is not None else _opencv_frames(path)
    if not frames:
        raise PrepError("unreadable", f"{path}: no decodable frames")
    return np.stack(frames)


def _opencv_frames(path: str | Path) -> list[np.ndarray]:
    """Every frame of a clip as RGB, decoded by OpenCV: for prep's clips (square pixels, constant
    frame rate) the pixels :func:`iter_frames` gives (tests/test_units.py compares them)."""
    import cv2

    if not Path(path).is_file():
        raise PrepError("unreadable", f"{path}: no such file")
    capture = cv2.VideoCapture(str(path))
    frames = []
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return frames
