"""Face landmark tracking with mediapipe FaceMesh (0.10.x ``solutions`` API, models in the wheel)."""

from __future__ import annotations

import importlib
import logging
import sys
import types
from collections.abc import Sequence

import numpy as np

from data_prep.face_points import KEPT

log = logging.getLogger(__name__)

LANDMARK_MODEL = "mediapipe FaceMesh 468 (solutions.face_mesh, 0.10.x)"
#: Side (pixels) of the window a small face is enlarged into before FaceMesh reads it again.
ZOOM_SIDE = 256
#: How often (frames) the long-range detector looks for faces FaceMesh missed: every DETECT_EVERY
#: frames after a change, backing off (doubling) to DETECT_EVERY_STEADY while it finds nothing new.
DETECT_EVERY = 5
DETECT_EVERY_STEADY = 25


class FaceTracker:
    """Runs FaceMesh over a clip's frames in video (tracking) mode.

    One tracker per process: building the mediapipe graph costs far more than a frame. The graph is
    reset between clips so that each clip's landmarks do not depend on which clip came before.
    :meth:`faces` gives every face of a frame; :mod:`data_prep.face_tracks` follows them over time.
    """

    def __init__(self, max_faces: int = 4, min_confidence: float = 0.5, points: Sequence[int] | None = KEPT):
        """``points``: which FaceMesh points each face gives, in this order (None: all 468 of them).
        Faces are found and followed on all 468 whichever are given."""
        self._mp = import_mediapipe()
        self.max_faces = max_faces
        self._points = slice(None) if points is None else np.asarray(points, dtype=np.intp)  # an index, built once
        self._meshes: dict[int, object] = {}
        self._current = None
        self._static = None
        self._zoom_boxes = []
        self._min_confidence = min_confidence
        self._detector_graph = None

    @property
    def _detector(self):
        """The long-range detector's graph, built at its first frame: a graph starts its native
        threads (and their log lines) at once, which a command that fails on its input before any
        frame, or quits soon after, should not pay for or show."""
        if self._detector_graph is None:
            self._detector_graph = self._mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=self._min_confidence
            )
        return self._detector_graph

    def _mesh(self, faces: int):
        if faces not in self._meshes:
            self._meshes[faces] = self._mp.solutions.face_mesh.FaceMesh(
                static_image_mode=False,
                max_num_faces=faces,
                refine_landmarks=False,
                min_detection_confidence=self._min_confidence,
                min_tracking_confidence=self._min_confidence,
            )
        mesh = self._meshes[faces]
        mesh.reset()
        return mesh

    def start_video(self) -> None:
        """Forget the faces followed so far (a new video, or a shot change).

        FaceMesh follows one face at first and as many as the long-range detector has seen since (up
        to :attr:`max_faces`): a FaceMesh that may follow more faces than it finds runs its own
        detector on every frame, which nearly doubles its cost in the common one-face video.
        """
        self._capacity = 1
        self._current = self._mesh(self._capacity)
        self._zoom_boxes: list[tuple[float, float, float, float]] = []
        self._frame = 0
        self._next_detection = self._last_detection = 0
        self._interval = DETECT_EVERY

    def faces(self, frame: np.ndarray, scale: float = 1.0) -> list[np.ndarray]:
        """Landmarks (points, 2) of every face in this frame of the current video, in pixels times ``scale``.

        FaceMesh finds faces on a 128 px copy of the whole frame, so in a wide shot a face of a
        tenth of the frame's width is missed. So faces the long-range detector sees
        (every DETECT_EVERY frames, less often while nothing changes: it costs more than FaceMesh) and
        FaceMesh missed are read again in a window around each (:meth:`_zoomed`), and followed there in the next frames.
        """
        h, w = frame.shape[:2]
        found = [_to_pixels(face, w, h) for face in self._current.process(frame).multi_face_landmarks or []]
        boxes = list(self._zoom_boxes)
        if not found and not boxes:  # a face was lost: look again at the base pace
            self._next_detection = min(self._next_detection, self._last_detection + DETECT_EVERY)
        if self._frame >= self._next_detection:
            self._last_detection = self._frame
            seen = self._boxes(frame)
            boxes += seen
            self._grow(len(seen))
            steady = found and len(seen) <= len(found)
            self._interval = min(2 * self._interval, DETECT_EVERY_STEADY) if steady else DETECT_EVERY
            self._next_detection = self._frame + self._interval
        self._frame += 1
        zoomed: list[np.ndarray] = []
        for x, y, bw, bh in boxes:
            if not any(x <= f[:, 0].mean() <= x + bw and y <= f[:, 1].mean() <= y + bh for f in found + zoomed):
                zoomed += self._zoomed(frame, x, y, bw, bh)
        self._zoom_boxes = [(*z.min(axis=0), *np.ptp(z, axis=0)) for z in zoomed]
        return [f[self._points] * scale for f in found + zoomed]

    def _grow(self, seen: int) -> None:
        """Follow more faces from the next frame on when the detector sees more than FaceMesh follows."""
        wanted = min(seen, self.max_faces)
        if wanted > self._capacity:
            self._capacity = wanted
            self._current = self._mesh(wanted)

    def _boxes(self, frame: np.ndarray) -> list[tuple[float, float, float, float]]:
        h, w = frame.shape[:2]
        result = self._detector.process(frame)
        return [(b.xmin * w, b.ymin * h, b.width * w, b.height * h)
                for b in (d.location_data.relative_bounding_box for d in result.detections or [])]  # fmt: skip

    def _zoomed(self, frame: np.ndarray, x: float, y: float, bw: float, bh: float) -> list[np.ndarray]:
        """Landmarks of the face in a square window of twice its size, enlarged to ZOOM_SIDE pixels."""
        import cv2

        side = 2.0 * max(bw, bh)
        x0, y0 = x + bw / 2 - side / 2, y + bh / 2 - side / 2
        matrix = np.array(
            [[ZOOM_SIDE / side, 0, -x0 * ZOOM_SIDE / side], [0, ZOOM_SIDE / side, -y0 * ZOOM_SIDE / side]]
        )
        window = cv2.warpAffine(frame, matrix, (ZOOM_SIDE, ZOOM_SIDE), flags=cv2.INTER_LINEAR)
        if self._static is None:
            self._static = self._mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=False,
                min_detection_confidence=self._min_confidence,
            )  # fmt: skip
        found = self._static.process(window).multi_face_landmarks or []
        return [_to_pixels(face, ZOOM_SIDE, ZOOM_SIDE) * (side / ZOOM_SIDE) + np.array([x0, y0], np.float32)
                for face in found]  # fmt: skip

    def face_widths(self, frame: np.ndarray) -> list[float]:
        """Widths in pixels of the faces the long-range detector sees: it finds faces too small for
        the landmark model, so a face-less answer can say that a face was there but too small."""
        return [width for _, _, width, _ in self._boxes(frame)]

    def close(self) -> None:
        for mesh in [*self._meshes.values(), *([self._static] if self._static else [])]:
            mesh.close()
        if self._detector_graph is not None:
            self._detector_graph.close()
        self._meshes, self._static, self._detector_graph = {}, None, None  # a later frame builds anew


class _Deferred(types.ModuleType):
    """Stands in ``sys.modules`` for a module until one of its attributes is first read."""

    def __getattr__(self, attr: str):
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


def import_mediapipe():
    """mediapipe, imported without loading matplotlib.pyplot (0.2 s of a cold start) until it is used.

    mediapipe's package import loads pyplot for a 3-D plotting helper that lipread never calls.
    (importlib's LazyLoader does not help: the import statement itself reads the module's spec.)
    """
    if "matplotlib.pyplot" not in sys.modules:
        sys.modules["matplotlib.pyplot"] = _Deferred("matplotlib.pyplot")
    import mediapipe

    return mediapipe


def mesh_in_3d(face, width: int, height: int) -> np.ndarray:
    """(468, 3) float64: one FaceMesh face in pixels, its depth too (FaceMesh gives depth on the
    scale of x, i.e. the frame's width; smaller is nearer the camera)."""
    return np.array([(p.x * width, p.y * height, p.z * width) for p in face.landmark], np.float64)


def _to_pixels(face, width: int, height: int) -> np.ndarray:
    xy = np.array([(lm.x, lm.y) for lm in face.landmark], dtype=np.float32)
    xy[:, 0] *= width
    xy[:, 1] *= height
    return xy
