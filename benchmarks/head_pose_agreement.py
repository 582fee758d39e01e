"""How well lipread's yaw (``data_prep.head_pose``: a 3-D reference face fitted to the 2-D rigid
points) agrees with FaceMesh's own 3-D answer on real footage, where nobody measured the true angle.
FaceMesh gives each point a depth too; fitting the same reference to the rigid points in 3-D (a
similarity, Umeyama's) gives a second yaw from the same frames that does not rest on the
orthographic camera. Per video: frames with a face (every face followed), the range of lipread's
yaw, and how far the two differ.

    python benchmarks/head_pose_agreement.py ../shared/real/*.mp4 examples/lgaf6p.mp4
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np

from data_prep import reference_face
from data_prep.face_points import KEPT, MESH_STABLE
from data_prep.head_pose import DEPTH_PATH, yaw_degrees
from data_prep.landmarks import import_mediapipe, mesh_in_3d
from data_prep.native_logs import quiet_native_stderr
from data_prep.video import iter_frames


def yaw_in_3d(points: np.ndarray, model: np.ndarray) -> float:
    """Yaw (degrees, as :func:`data_prep.head_pose.yaw_degrees` counts it) of the rotation that takes
    ``model`` (n, 3) onto ``points`` (n, 3) best, scale and shift allowed."""
    a, b = model - model.mean(0), points - points.mean(0)
    u, _, vt = np.linalg.svd(b.T @ a)
    rotation = u @ np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    return float(np.degrees(np.arctan2(rotation[0, 2], rotation[2, 2])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--max-faces", type=int, default=4)
    args = parser.parse_args()
    quiet_native_stderr()
    depth = np.load(DEPTH_PATH).astype(np.float64)
    reference = np.column_stack([np.load(reference_face.PATH).astype(np.float64), depth])[list(MESH_STABLE)]
    mesh = import_mediapipe().solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=args.max_faces)
    print(f"on {platform.machine()}; yaw in degrees, lipread's (2-D fit) against FaceMesh's 3-D points")
    print("| video | faces x frames | lipread's yaw, 5-95% | median difference | 95th percentile | largest |")
    print("|---|---:|---:|---:|---:|---:|")
    for video in args.videos:
        mesh.reset()
        flat, deep = [], []
        for _, frame in iter_frames(video):
            h, w = frame.shape[:2]
            for face in mesh.process(frame).multi_face_landmarks or []:
                points = mesh_in_3d(face, w, h)
                flat.append(float(yaw_degrees(points[list(KEPT), :2])))
                deep.append(yaw_in_3d(points[list(MESH_STABLE)], reference))
        if not flat:
            print(f"| {video.name} | 0 | | | | |")
            continue
        gap = np.abs(np.array(flat) - np.array(deep))
        low, high = np.percentile(flat, [5, 95])
        print(f"| {video.name} | {len(flat)} | {low:.1f} to {high:.1f} | {np.median(gap):.1f} | "
              f"{np.percentile(gap, 95):.1f} | {gap.max():.1f} |")  # fmt: skip
    mesh.close()


if __name__ == "__main__":
    main()
