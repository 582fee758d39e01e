"""How far a face is turned from the camera (yaw) and tilted up or down (pitch), in degrees, from
the landmarks lipread holds.

A lip-reading model trained on frontal faces (GRID) cannot read a face turned well away, or seen
from well above or below: the mouth is foreshortened and half hidden. The held landmarks are 2-D,
so the pose is found by fitting the reference face in 3-D (:mod:`data_prep.reference_face`'s points
with a depth a point, ``reference_depth.npy``) to the rigid points under a scaled orthographic
camera: a least-squares 2 x 3 projection, made a rotation. Where the camera lies as the face sees
it gives the yaw (left or right of straight ahead) and the pitch (up or down), neither moved by a
head tilted sideways, which the crop's similarity undoes anyway. Only the rigid points count (eye
corners, nose), since FaceMesh puts the far side of a turned face's outline on the silhouette
rather than where it is on the face. The depth is FaceMesh's own, averaged over
frontal faces (GRID speakers): regenerate with ``python -m data_prep.head_pose VIDEO...``.
"""

from __future__ import annotations

import argparse
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

from data_prep import reference_face
from data_prep.face_points import KEPT, MESH_EYE_OUTER, STABLE_POINTS
from data_prep.rejections import PrepError

DEPTH_PATH = Path(__file__).with_name("reference_depth.npy")


class HeadPose(NamedTuple):
    """How a face is held to the camera over a stretch of frames, in degrees (NaN: not measured)."""

    yaw: float  # turned: + when the nose points to the left of the picture
    pitch: float  # tilted: + when the nose points up the picture

    @classmethod
    def typical(cls, poses: np.ndarray) -> HeadPose:
        """A stretch's pose from its frames' ((T, 2) yaw and pitch, :func:`pose_degrees`): the median
        size of the turn (left and right count alike) and the median tilt, up or down."""
        return cls(float(np.median(np.abs(poses[:, 0]))), float(np.median(poses[:, 1])))

    @classmethod
    def median(cls, poses: np.ndarray) -> HeadPose:
        """A stretch's median yaw and pitch, each with its sign (which way the face is turned)."""
        yaw, pitch = np.median(poses, axis=0)
        return cls(float(yaw), float(pitch))


def depth_checksum() -> str:
    """A short checksum of ``reference_depth.npy`` (recorded with a dataset's crops)."""
    return hashlib.sha256(DEPTH_PATH.read_bytes()).hexdigest()[:16]


@lru_cache(maxsize=1)
def reference_depth() -> np.ndarray:
    """The reference face's depth at each held point (:data:`KEPT`), in its units (inter-ocular distances)."""
    return np.load(DEPTH_PATH).astype(np.float64)[list(KEPT)]


@lru_cache(maxsize=1)
def _fit_matrix() -> np.ndarray:
    """(4, points) pseudo-inverse that takes the rigid points' 2-D positions to the projection's rows."""
    model = np.column_stack([reference_face.load(), reference_depth(), np.ones(len(KEPT))])[STABLE_POINTS]
    return np.linalg.pinv(model)


def projection(rigid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scaled orthographic camera that shows the reference face (in 3-D) as each frame's rigid
    points ((..., len(STABLE_POINTS), 2) pixels) best: pixels = ``rows`` (..., 2, 3) @ [x, y, depth]
    + ``shift`` (..., 2)."""
    fitted = _fit_matrix() @ np.asarray(rigid, np.float64)  # (..., 4, 2)
    return np.swapaxes(fitted[..., :3, :], -1, -2), fitted[..., 3, :]


def pose_degrees(points: np.ndarray) -> np.ndarray:
    """(..., 2) yaw and pitch of each face in ``points`` ((..., held points, 2) pixels; NaN rows give
    NaN), from one fit. Yaw: 0 facing the camera, positive when the nose points to the left of the
    picture, up to +-90 in profile. Pitch: 0 as GRID's speakers hold their heads to the camera,
    positive when the nose points up the picture (the head tilted back, or a camera below the face),
    negative when it points down (a camera above, a face bent over a phone)."""
    return rigid_pose(np.asarray(points)[..., STABLE_POINTS, :])


def rigid_pose(rigid: np.ndarray) -> np.ndarray:
    """(..., 2): :func:`pose_degrees` from the rigid points alone ((..., len(STABLE_POINTS), 2)),
    which a live stream keeps a frame at a time.

    Both come from where the camera is as the face sees it (:func:`view_direction`), so a head
    tilted sideways (roll) changes neither: the yaw is that direction's angle left or right of
    straight ahead, the pitch its angle up or down from there (a turn, then a tilt, as
    :func:`data_prep.head_turn.turned` applies them)."""
    return pose_of_view(view_direction(rigid))


def view_direction(rigid: np.ndarray) -> np.ndarray:
    """(..., 3) the picture's viewing direction in the reference face's coordinates (x across, y
    down, z into the face), from the projection fitted to the rigid points made a rotation."""
    rows, _ = projection(rigid)
    across = rows[..., 0, :] / np.linalg.norm(rows[..., 0, :], axis=-1, keepdims=True)
    down = rows[..., 1, :] - (rows[..., 1, :] * across).sum(-1, keepdims=True) * across
    down /= np.linalg.norm(down, axis=-1, keepdims=True)
    return np.cross(across, down)


def pose_of_view(toward: np.ndarray) -> np.ndarray:
    """(..., 2) yaw and pitch (degrees) of a face seen along ``toward`` (..., 3): the picture's
    viewing direction in the reference face's coordinates (:func:`view_direction`; the last row of
    the rotation from the face's coordinates to the camera's)."""
    x, y, z = np.moveaxis(np.asarray(toward, np.float64), -1, 0)
    return np.degrees(np.stack([np.arctan2(-x, z), np.arctan2(-y, np.hypot(x, z))], axis=-1))


def estimate_depth(videos: list[Path], frames_per_video: int = 25) -> np.ndarray:
    """FaceMesh's depth of each of the 468 points, averaged over the given frontal videos (each
    frame's largest face), in the reference face's units (one inter-ocular distance), 0 at the eyes."""
    from data_prep.landmarks import import_mediapipe, mesh_in_3d
    from data_prep.video import iter_frames

    mesh = import_mediapipe().solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1)
    depths = []
    for video in videos:
        mesh.reset()
        for _, (_, frame) in zip(range(frames_per_video), iter_frames(video)):
            h, w = frame.shape[:2]
            found = mesh.process(frame).multi_face_landmarks
            if found:
                face = mesh_in_3d(found[0], w, h)
                eyes = face[list(MESH_EYE_OUTER)]
                depths.append((face[:, 2] - eyes[:, 2].mean()) / np.linalg.norm(eyes[1, :2] - eyes[0, :2]))
    mesh.close()
    if not depths:
        raise ValueError("no face in any of the videos: the depth is measured on frontal faces")
    return np.mean(depths, axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="+", type=Path, help="videos of frontal faces")
    args = parser.parse_args()
    try:
        depth = estimate_depth(args.videos)
    except (PrepError, ValueError) as err:  # nothing is written over the shipped depth
        parser.error(str(err))
    np.save(DEPTH_PATH, depth.astype(np.float32))
    reference_depth.cache_clear()
    _fit_matrix.cache_clear()
    print(f"wrote {DEPTH_PATH}")


if __name__ == "__main__":
    main()
