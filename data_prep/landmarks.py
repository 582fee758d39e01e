"""Face landmark tracking with mediapipe FaceMesh (0.10.x ``solutions`` API, models in the wheel)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

NUM_LANDMARKS = 468
LANDMARK_MODEL = "mediapipe FaceMesh 468 (solutions.face_mesh, 0.10.x)"


@dataclass
class FaceTrack:
    """Landmarks of the followed face, (T, 468, 2) pixels, NaN where no face was found."""

    points: np.ndarray
    num_faces: int  # most faces seen in one frame

    @property
    def found(self) -> np.ndarray:
        return ~np.isnan(self.points[:, 0, 0])


class FaceTracker:
    """Runs FaceMesh over a clip's frames in video (tracking) mode.

    One tracker per process: building the mediapipe graph costs far more than a frame. The graph is
    reset between clips so that each clip's landmarks do not depend on which clip came before.
    When several faces are present the largest is followed (then the one nearest to it).
    """

    def __init__(self, max_faces: int = 4, min_confidence: float = 0.5):
        import mediapipe as mp  # heavy import, only in processes that track

        self._mp = mp
        self.max_faces = max_faces
        self._meshes: dict[int, object] = {}
        self._min_confidence = min_confidence
        self._detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=min_confidence
        )

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

    def count_faces(self, frames: list[np.ndarray]) -> int:
        """Faces in the first, middle and last frame (cheap; decides how many meshes to track)."""
        if not frames:
            return 0
        picks = {0, len(frames) // 2, len(frames) - 1}
        counts = []
        for i in sorted(picks):
            result = self._detector.process(frames[i])
            counts.append(len(result.detections or []))
        return min(max(counts), self.max_faces)

    def track(self, frames: list[np.ndarray]) -> FaceTrack:
        """Landmarks of the followed face in every frame."""
        faces = max(1, self.count_faces(frames))
        mesh = self._mesh(faces)
        points = np.full((len(frames), NUM_LANDMARKS, 2), np.nan, dtype=np.float32)
        most = 0
        previous_centre = None
        for i, frame in enumerate(frames):
            h, w = frame.shape[:2]
            result = mesh.process(frame)
            found = result.multi_face_landmarks or []
            most = max(most, len(found))
            if not found:
                continue
            candidates = [_to_pixels(face, w, h) for face in found]
            points[i] = _choose(candidates, previous_centre)
            previous_centre = points[i].mean(axis=0)
        return FaceTrack(points=points, num_faces=max(most, faces if most else 0))

    def close(self) -> None:
        for mesh in self._meshes.values():
            mesh.close()
        self._detector.close()


def _to_pixels(face, width: int, height: int) -> np.ndarray:
    xy = np.array([(lm.x, lm.y) for lm in face.landmark], dtype=np.float32)
    xy[:, 0] *= width
    xy[:, 1] *= height
    return xy


def _choose(candidates: list[np.ndarray], previous_centre: np.ndarray | None) -> np.ndarray:
    """The largest face at first, then the face nearest to the one followed so far."""
    if len(candidates) == 1:
        return candidates[0]
    if previous_centre is None:
        sizes = [np.ptp(c[:, 0]) * np.ptp(c[:, 1]) for c in candidates]
        return candidates[int(np.argmax(sizes))]
    dists = [np.linalg.norm(c.mean(axis=0) - previous_centre) for c in candidates]
    return candidates[int(np.argmin(dists))]
