"""Lip reading as the frames come: the engine of ``lipread live`` and of the web page's live mode.

Each 25 fps frame is read once, in order: faces are followed (:mod:`data_prep.face_tracks`); each
face's landmarks are gap-filled and smoothed a few frames behind the newest; its mouth is cropped;
its phrases are cut where the lips pause (:class:`lipread.segmentation.PhraseCutter`) and read as
soon as they end. These are the steps ``lipread transcribe`` takes over a whole file, fed one frame
at a time, so a file read live gives the words it gives offline. Only the frames still to be cropped
(a gap's worth) and the crops of the phrase being built are held, however long the stream runs.

    reader = LiveReader(Transcriber.from_checkpoint())
    for frame in frames_at_25_fps:               # LiveFrame(small, full, scale, arrival)
        for phrase in reader.push(frame):
            print(phrase.text, phrase.latency)
    reader.finish()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

import numpy as np

from data_prep.contracts import CropSettings
from data_prep.crop import interpolate, mouth_width, transforms_of_window, warp
from data_prep.face_points import STABLE_POINTS
from data_prep.face_tracks import TrackBuilder
from data_prep.head_pose import HeadPose, rigid_pose
from data_prep.video import TARGET_FPS, resampled
from lipread.confidence import combine
from lipread.segmentation import PhraseCutter
from lipread.transcript import Sentence, TranscriptWord


@dataclass
class LiveFrame:
    """One frame of a stream: ``small`` for landmarks (long side at most 640 px), ``full`` for crops
    (the same array when it fits), ``scale`` = full / small, ``arrival`` its wall-clock time
    (``time.monotonic()``) when the source delivered it."""

    small: np.ndarray
    full: np.ndarray
    scale: float = 1.0
    arrival: float = field(default_factory=time.monotonic)


@dataclass
class LivePhrase:
    """A phrase read from a stream; times are stream seconds."""

    text: str
    words: list[TranscriptWord]
    start: float
    end: float
    track: int
    confidence: float
    out_of_domain: bool
    reason: str | None
    latency: float  # seconds from the phrase's end in the stream to this reading of it
    dropped: bool = False  # its confidence is below the reader's min_confidence: not to be shown as text
    partial: bool = False  # read as part of an allowed sentence (``Transcriber.partial``), not a whole one
    sentences: list[Sentence] = field(default_factory=list)  # the sentences it holds (commands said without a pause)
    mouth_frames: np.ndarray | None = field(default=None, repr=False)  # (T, S, S, 3) crops read

    def to_json(self) -> dict:
        data = {k: v for k, v in vars(self).items() if k != "mouth_frames"}
        return {**data, "words": [w.to_json() for w in self.words], "latency": round(self.latency, 3),
                "sentences": [s.to_json() for s in self.sentences]}  # fmt: skip


class FaceStream:
    """One followed face of a stream: its landmarks gap-filled in order, crops cut a few frames behind,
    phrases cut as they end. Frame numbers are the stream's (25 fps)."""

    def __init__(self, track: int, first: int, settings: CropSettings, cutter: PhraseCutter):
        self.track, self.first, self.settings, self.cutter = track, first, settings, cutter
        self.half = settings.smooth // 2
        self.final = first  # frames before this have final (gap-filled) landmarks
        self.last_found: np.ndarray | None = None
        self.stable: dict[int, np.ndarray] = {}  # frame -> stable face points (float64), while needed
        self.widths: dict[int, float] = {}  # frame -> mouth width in pixels, while needed
        self.poses: dict[int, np.ndarray] = {}  # frame -> how the face is held (yaw, pitch, degrees), while needed
        self.next_crop = first  # the next frame to crop
        self.crops: dict[int, np.ndarray] = {}
        self.phrases: list[tuple[int, int]] = []  # cut, waiting for their crops
        self.ended = False

    def add(self, index: int, points: np.ndarray | None, frames: dict[int, np.ndarray]) -> list[tuple[int, int]]:
        """Frame ``index``'s landmarks of this face (None: lost there); the phrases now ready to read."""
        if points is not None:
            if self.last_found is not None and index > self.final:  # a gap the face came back from
                gap = np.full((index - self.final + 2, *points.shape), np.nan, np.float32)
                gap[0], gap[-1] = self.last_found, points
                for filled in interpolate(gap)[1:-1]:
                    self._final(filled)
            self._final(points)
            self.last_found = points
        self._crop(frames)
        return self._ready()

    def finish(self, frames: dict[int, np.ndarray]) -> list[tuple[int, int]]:
        """The face is gone: its last frames are smoothed against its last landmarks, its last phrase cut."""
        self.ended = True
        self.phrases += [(self.first + s, self.first + e) for s, e in self.cutter.finish()]
        self._crop(frames)
        return self._ready()

    def _final(self, points: np.ndarray) -> None:
        index = self.final
        self.final += 1
        self.stable[index] = points[STABLE_POINTS].astype(np.float64)
        self.widths[index] = mouth_width(points[None])
        self.poses[index] = rigid_pose(self.stable[index])
        self.phrases += [(self.first + s, self.first + e) for s, e in self.cutter.push(points)]

    def _crop(self, frames: dict[int, np.ndarray]) -> None:
        """Crop every frame whose smoothing window is complete (or cut short by the face's end)."""
        while self.next_crop < self.final and (self.ended or self.next_crop + self.half < self.final):
            i = self.next_crop
            if self.final - self.first > 1:
                rows = [
                    self.stable[min(max(j, self.first), self.final - 1)]
                    for j in range(i - self.half, i + self.half + 1)
                ]
            else:
                rows = [self.stable[i]]
            matrix = transforms_of_window(np.stack(rows), self.settings)[0]
            self.crops[i] = warp(frames[i], matrix, self.settings)
            self.next_crop += 1
            self.stable.pop(i - self.half, None)

    def _ready(self) -> list[tuple[int, int]]:
        ready = [p for p in self.phrases if p[1] <= self.next_crop]
        self.phrases = [p for p in self.phrases if p[1] > self.next_crop]
        keep = min([self.first + self.cutter.start] + [s for s, _ in self.phrases] + [s for s, _ in ready])
        for store in (self.crops, self.widths, self.poses):
            for i in [i for i in store if i < keep]:
                del store[i]
        return ready

    def take(self, start: int, end: int) -> tuple[np.ndarray, float, HeadPose]:
        """The crops of frames ``[start, end)``, and over them the mouth's median width (pixels) and
        how the face is held (:meth:`HeadPose.typical`)."""
        crops = np.stack([self.crops[i] for i in range(start, end)])
        width = float(np.median([self.widths[i] for i in range(start, end)]))
        return crops, width, HeadPose.typical(np.stack([self.poses[i] for i in range(start, end)]))


class LiveReader:
    """Reads the phrases of a 25 fps stream of :class:`LiveFrame` as they end (every face's)."""

    def __init__(self, transcriber, decoder: str = "beam", min_confidence: float = 0.0):
        self.transcriber, self.decoder, self.min_confidence = transcriber, decoder, min_confidence
        self.crop: CropSettings = transcriber.crop
        self.tracker = transcriber.tracker
        self.tracker.start_video()
        self.builder = TrackBuilder(self.crop.max_gap)
        self.faces: dict[int, FaceStream] = {}
        self.frames: dict[int, np.ndarray] = {}  # full-size frames some face still has to crop
        self.arrivals: dict[int, float] = {}
        self.count = 0  # frames read
        self.face_seen = False  # in the last frame
        self.numbers: dict[int, int] = {}  # track id -> the number phrases carry (0, 1, ... in order seen)

    def push(self, frame: LiveFrame) -> list[LivePhrase]:
        """Read one 25 fps frame; the phrases that ended with it."""
        index = self.count
        self.count += 1
        self.frames[index], self.arrivals[index] = frame.full, frame.arrival
        if self.builder.shot_changed(frame.small):
            self.tracker.start_video()
        found = self.tracker.faces(frame.small, frame.scale)
        self.face_seen = bool(found)
        self.builder.add(index, found)
        tracks = {t.id: t for t in self.builder.open}
        out: list[LivePhrase] = []
        for track_id in [t for t in self.faces if t not in tracks]:
            out += self._end(track_id)
        for track_id, track in tracks.items():
            if track_id not in self.faces:
                self.faces[track_id] = FaceStream(track_id, index, self.crop, PhraseCutter(self.transcriber.phrases))
            points = track.point(index) if index < track.start + len(track.points) else None
            stream = self.faces[track_id]
            out += self._read(stream, stream.add(index, points, self.frames))
        self.builder.forget(index)
        self._forget()
        return out

    def finish(self) -> list[LivePhrase]:
        """The stream ended: the last phrases of every face."""
        out: list[LivePhrase] = []
        for track_id in list(self.faces):
            out += self._end(track_id)
        self._forget()
        return out

    def _end(self, track_id: int) -> list[LivePhrase]:
        stream = self.faces.pop(track_id)
        return self._read(stream, stream.finish(self.frames))

    def _largest(self) -> FaceStream | None:
        """The largest face followed that has a crop to show (the nearest talker)."""
        streams = [s for s in self.faces.values() if s.crops and s.widths]
        return max(streams, key=lambda s: s.widths[max(s.widths)]) if streams else None

    @property
    def latest_crop(self) -> np.ndarray | None:
        """The newest mouth crop of the largest face followed (for a preview)."""
        stream = self._largest()
        return None if stream is None else stream.crops[max(stream.crops)]

    @property
    def latest_pose(self) -> HeadPose | None:
        """How the largest face followed is held to the camera now, degrees (for a hint to face it)."""
        stream = self._largest()
        return None if stream is None or not stream.poses else HeadPose(*map(float, stream.poses[max(stream.poses)]))

    def _forget(self) -> None:
        oldest = min([s.next_crop for s in self.faces.values()] + [self.count])
        for i in [i for i in self.frames if i < oldest]:
            del self.frames[i]
        # a phrase may end up to max_frames before it is cut (at its calmest frame): its latency needs the time
        # its last frame arrived
        for i in [i for i in self.arrivals if i < oldest - self.transcriber.phrases.max_frames]:
            del self.arrivals[i]

    def _read(self, stream: FaceStream, phrases: list[tuple[int, int]]) -> list[LivePhrase]:
        """Read the phrases of one face, if its mouth is large enough to read."""
        t = self.transcriber
        out = []
        for start, end in phrases:
            crops, width, pose = stream.take(start, end)
            if width < self.crop.min_mouth_width:
                continue
            number = self.numbers.setdefault(stream.track, len(self.numbers))
            reached = self.arrivals.get(end - 1, time.monotonic()) + 1 / TARGET_FPS
            for a, b, outputs in t.each_sentence(crops, t.log_probs([crops])[0], self.decoder):
                first, last = (start + a) / t.fps, (start + b) / t.fps
                words, _, judged = t.read_phrase(outputs, first, last, self.decoder)
                judged = t.calibration.facing(judged, pose)
                confidence, out_of_domain, reason = combine([judged])
                out.append(LivePhrase(
                    text=" ".join(w.word for w in words), words=[replace(w, track=number) for w in words],
                    start=round(first, 3), end=round(last, 3), track=number, confidence=confidence,
                    out_of_domain=out_of_domain, reason=reason, latency=time.monotonic() - reached,
                    mouth_frames=crops[a:b], dropped=confidence < self.min_confidence, partial=judged.partial,
                    sentences=t.sentences(words, judged, self.decoder, number),
                ))  # fmt: skip
        return out


def read_stream(reader: LiveReader, frames: Iterable[tuple[float, LiveFrame]],
                each_frame: Callable[[LiveReader], None] | None = None) -> Iterator[LivePhrase]:  # fmt: skip
    """The phrases of a stream of ``(seconds, frame)`` at any frame rate, resampled to 25 fps as files
    are, each as soon as it ends; the last ones when the stream ends. ``each_frame`` is called after
    every 25 fps frame (a server sends its status from there)."""
    for _, frame in resampled(iter(frames), [(0.0, None)]):
        yield from reader.push(frame)
        if each_frame is not None:
            each_frame(reader)
    yield from reader.finish()
