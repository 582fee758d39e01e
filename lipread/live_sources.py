"""Where live frames come from: a camera, or a file played at its own pace (or as fast as it can be read).

A source runs in its own thread and hands frames over through :class:`FrameFeed`, which holds at most
a second of them: when the reader falls behind a real-time source, new frames are dropped and
counted, so a slow machine loses frames, never memory or time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from data_prep.pipeline import LANDMARK_SIDE
from data_prep.video import fitted_size, iter_frame_pairs, probe
from lipread.errors import UserError
from lipread.live import LiveFrame

log = logging.getLogger(__name__)

#: Frames waiting for the reader, at most (a second at 25 fps).
FEED_CAPACITY = 25


class FrameFeed:
    """Frames from a producer (a source thread, or a server's socket) to one reader.

    ``drop``: a full feed drops new frames (a real-time source) instead of making the producer wait (a
    file read as fast as possible). The producer calls :meth:`put` for each frame, then :meth:`end`
    (or :meth:`fail`); the reader iterates. :meth:`close` stops both early.
    """

    def __init__(self, drop: bool, capacity: int = FEED_CAPACITY):
        self.dropped = 0
        self.received = 0
        self._queue: queue.Queue = queue.Queue(maxsize=capacity)
        self._drop = drop
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._error: Exception | None = None

    @classmethod
    def pumped(cls, source: Iterator, drop: bool, capacity: int = FEED_CAPACITY) -> FrameFeed:
        """A feed filled from ``source`` by a thread of its own."""
        feed = cls(drop, capacity)
        threading.Thread(target=feed._pump, args=(source,), name="lipread-live-source", daemon=True).start()
        return feed

    def _pump(self, source: Iterator) -> None:
        try:
            for item in source:
                if self._stop.is_set():
                    return
                self.put(item)
        except Exception as err:  # handed to the reader, which reports it
            self.fail(err)
            return
        self.end()

    def put(self, item) -> None:
        self.received += 1
        if not self._drop:
            self._put_waiting(item)
            return
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def end(self) -> None:
        """No more frames: the reader stops once it has read those waiting. Never waits itself (a server
        calls it from its event loop)."""
        self._ended.set()

    def fail(self, err: Exception) -> None:
        """The source failed: the reader raises ``err`` after the frames waiting."""
        self._error = err
        self._ended.set()

    def _put_waiting(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=0.05)
            except queue.Empty:
                if self._ended.is_set() and self._queue.empty():
                    break
                continue
            yield item
        if self._error is not None and not self._stop.is_set():
            raise self._error

    def close(self) -> None:
        self._stop.set()


def file_frames(path: Path, realtime: bool) -> Iterator[tuple[float, LiveFrame]]:
    """A video file's frames; with ``realtime`` each is delivered when a player would show it."""
    probe(path)  # a clear error before the thread starts, for a file that is not a video
    return _paced(path, realtime)


def _paced(path: Path, realtime: bool) -> Iterator[tuple[float, LiveFrame]]:
    begun = None
    for t, small, full in iter_frame_pairs(path, LANDMARK_SIDE):
        if begun is None:
            begun = time.monotonic() - t
        if realtime:
            time.sleep(max(0.0, begun + t - time.monotonic()))
        yield t, LiveFrame(small, full, full.shape[1] / small.shape[1], time.monotonic())


def camera_frames(
    index: int, opener: Callable[[int], cv2.VideoCapture] = cv2.VideoCapture
) -> Iterator[tuple[float, LiveFrame]]:
    """A camera's frames (OpenCV's device ``index``), timed by their arrival."""
    quiet = not log.isEnabledFor(logging.DEBUG)  # OpenCV's own warnings, on a missing camera, only with --verbose
    level = cv2.getLogLevel()
    if quiet:
        cv2.setLogLevel(0)
    try:
        camera = opener(index)
    finally:
        cv2.setLogLevel(level)
    if not camera.isOpened():
        raise UserError(f"--camera {index}: no camera there (or it is busy)")
    return _captured(camera)


def _captured(camera: cv2.VideoCapture) -> Iterator[tuple[float, LiveFrame]]:
    begun = time.monotonic()
    try:
        while True:
            ok, bgr = camera.read()
            if not ok:
                log.warning("the camera stopped sending frames")
                return
            now = time.monotonic()
            yield now - begun, frame_from_rgb(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), now)
    finally:
        camera.release()


def frame_from_rgb(full: np.ndarray, arrival: float | None = None) -> LiveFrame:
    """A :class:`LiveFrame` of an RGB image, shrunk for landmarks as files are."""
    height, width = full.shape[:2]
    size = fitted_size(width, height, LANDMARK_SIDE)
    small = full if size == (width, height) else cv2.resize(full, size, interpolation=cv2.INTER_AREA)
    return LiveFrame(small, full, width / size[0], time.monotonic() if arrival is None else arrival)
