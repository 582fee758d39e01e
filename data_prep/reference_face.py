"""The reference face every frame is warped onto: a frontal mean of FaceMesh landmarks.

mediapipe 0.10.21's wheel does not ship its canonical face model, so the reference is estimated
once from real frontal faces (GRID speakers) and stored as ``reference_face.npy`` (468 x 2,
unit inter-ocular distance, eyes level, origin between the eyes). Regenerate with
``python -m data_prep.reference_face VIDEO...``; the result is part of the dataset contract
(``meta.json`` records its checksum), so changing it means rebuilding datasets.
"""

from __future__ import annotations

import argparse
import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from data_prep.face_points import KEPT, MESH_EYE_OUTER

PATH = Path(__file__).with_name("reference_face.npy")


@lru_cache(maxsize=1)
def load() -> np.ndarray:
    """The reference face's held landmarks (:data:`data_prep.face_points.KEPT`), as every face is held."""
    return np.load(PATH).astype(np.float64)[list(KEPT)]


def checksum() -> str:
    return hashlib.sha256(PATH.read_bytes()).hexdigest()[:16]


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) taking ``src`` onto ``dst``.

    Umeyama's closed form; returns a 2 x 3 matrix for ``cv2.warpAffine``.
    """
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - src_mean, dst - dst_mean
    cov = d.T @ s / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rotation = u @ np.diag(sign) @ vt
    scale = (sigma * sign).sum() / s.var(axis=0).sum()
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def normalise(points: np.ndarray) -> np.ndarray:
    """Put a face of all 468 points in reference coordinates: eyes level, unit inter-ocular distance."""
    left, right = points[MESH_EYE_OUTER[0]], points[MESH_EYE_OUTER[1]]
    centre = (left + right) / 2
    dx, dy = right - left
    angle = np.arctan2(dy, dx)
    scale = 1.0 / np.hypot(dx, dy)
    c, s = np.cos(-angle) * scale, np.sin(-angle) * scale
    return (points - centre) @ np.array([[c, s], [-s, c]])


def estimate(videos: list[Path], frames_per_video: int = 25) -> np.ndarray:
    """Mean frontal face over the given videos (each frame's largest face), by generalised
    Procrustes on all 468 points."""
    from data_prep.face_tracks import largest
    from data_prep.landmarks import FaceTracker
    from data_prep.video import iter_frames

    tracker = FaceTracker(max_faces=1, points=None)
    faces = []
    for video in videos:
        tracker.start_video()
        for _, (_, frame) in zip(range(frames_per_video), iter_frames(video)):
            found = tracker.faces(frame)
            if found:
                faces.append(normalise(largest(found)))
    mean = np.mean(faces, axis=0)
    for _ in range(3):
        aligned = [_apply(similarity(f, mean), f) for f in faces]
        mean = normalise(np.mean(aligned, axis=0))
    return mean


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("videos", nargs="+", type=Path)
    args = parser.parse_args()
    np.save(PATH, estimate(args.videos).astype(np.float32))
    print(f"wrote {PATH} (sha256 {checksum()})")


if __name__ == "__main__":
    main()
