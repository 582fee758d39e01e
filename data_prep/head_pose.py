"""How far a face is turned from the camera (yaw, degrees), from the landmarks lipread holds.

A lip-reading model trained on frontal faces (GRID) cannot read a face turned well away: the mouth
is foreshortened and half hidden. The held landmarks are 2-D, so the turn is found by fitting the
reference face in 3-D (:mod:`data_prep.reference_face`'s points with a depth a point,
``reference_depth.npy``) to the rigid points under a scaled orthographic camera: a least-squares
2 x 3 projection, made a rotation, whose angle about the vertical axis is the yaw. Only the rigid
points count (eye corners, nose), since FaceMesh puts the far side of a turned face's outline on
the silhouette rather than where it is on the face. The depth is FaceMesh's own, averaged over
frontal faces (GRID speakers): regenerate with ``python -m data_prep.head_pose VIDEO...``.
"""

from __future__ import annotations

import argparse
from functools import lru_cache
from pathlib import Path

import numpy as np

from data_prep import reference_face
from data_prep.face_points import KEPT, MESH_EYE_OUTER, STABLE_POINTS
from data_prep.rejections import PrepError

DEPTH_PATH = Path(__file__).with_name("reference_depth.npy")


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


def yaw_degrees(points: np.ndarray) -> np.ndarray:
    """Yaw of each face in ``points`` ((..., held points, 2) pixels; NaN rows give NaN): 0 facing the
    camera, positive when the nose points to the left of the picture, up to +-90 in profile."""
    return rigid_yaw(np.asarray(points)[..., STABLE_POINTS, :])


def rigid_yaw(rigid: np.ndarray) -> np.ndarray:
    """:func:`yaw_degrees` from the rigid points alone ((..., len(STABLE_POINTS), 2)), which a live
    stream keeps a frame at a time."""
    rows, _ = projection(rigid)
    across = rows[..., 0, :] / np.linalg.norm(rows[..., 0, :], axis=-1, keepdims=True)
    down = rows[..., 1, :] - (rows[..., 1, :] * across).sum(-1, keepdims=True) * across
    down /= np.linalg.norm(down, axis=-1, keepdims=True)
    toward = np.cross(across, down)
    return np.degrees(np.arctan2(across[..., 2], toward[..., 2]))


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
