"""How well lipread's yaw and pitch (``data_prep.head_pose``: a 3-D reference face fitted to the 2-D
rigid points) agree with FaceMesh's own 3-D answer on real footage, where nobody measured the true
angles. FaceMesh gives each point a depth too; fitting the same reference to the rigid points in 3-D
(a similarity, Umeyama's) gives a second pose from the same frames that does not rest on the
orthographic camera. Per video and angle: frames with a face (every face followed), the range of
lipread's angle, and how far the two differ.

    python benchmarks/head_pose_agreement.py ../shared/real/*.mp4 examples/lgaf6p.mp4
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np

from data_prep import reference_face
from data_prep.face_points import KEPT, MESH_STABLE, STABLE_POINTS
from data_prep.head_pose import DEPTH_PATH, pose_of_view, rigid_pose
from data_prep.landmarks import import_mediapipe, mesh_in_3d
from data_prep.native_logs import quiet_native_stderr
from data_prep.video import iter_frames


def pose_in_3d(points: np.ndarray, model: np.ndarray) -> np.ndarray:
    """Yaw and pitch (degrees, as :mod:`data_prep.head_pose` counts them) of the rotation that takes
    ``model`` (n, 3) onto ``points`` (n, 3) best, scale and shift allowed."""
    a, b = model - model.mean(0), points - points.mean(0)
    u, _, vt = np.linalg.svd(b.T @ a)
    rotation = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    return pose_of_view(rotation[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--max-faces", type=int, default=4)
    args = parser.parse_args()
    quiet_native_stderr()
    depth = np.load(DEPTH_PATH).astype(np.float64)
    reference = np.column_stack([np.load(reference_face.PATH).astype(np.float64), depth])[list(MESH_STABLE)]
    mesh = import_mediapipe().solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=args.max_faces)
    print(f"on {platform.machine()}; degrees, lipread's (2-D fit) against FaceMesh's 3-D points")
    print("| video | angle | faces x frames | lipread's, 5-95% | median difference | 95th percentile | largest |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for video in args.videos:
        mesh.reset()
        flat, deep = [], []
        for _, frame in iter_frames(video):
            h, w = frame.shape[:2]
            for face in mesh.process(frame).multi_face_landmarks or []:
                points = mesh_in_3d(face, w, h)
                flat.append(rigid_pose(points[list(KEPT), :2][STABLE_POINTS]))
                deep.append(pose_in_3d(points[list(MESH_STABLE)], reference))
        if not flat:
            print(f"| {video.name} | | 0 | | | | |")
            continue
        for k, angle in enumerate(("yaw", "pitch")):
            ours = np.array(flat)[:, k]
            gap = np.abs(ours - np.array(deep)[:, k])
            low, high = np.percentile(ours, [5, 95])
            print(f"| {video.name} | {angle} | {len(ours)} | {low:.1f} to {high:.1f} | {np.median(gap):.1f} | "
                  f"{np.percentile(gap, 95):.1f} | {gap.max():.1f} |")  # fmt: skip
    mesh.close()


if __name__ == "__main__":
    main()
