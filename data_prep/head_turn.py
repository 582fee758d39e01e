"""A talking face shown turned away or tilted by known angles, rendered from its own FaceMesh mesh.

Footage of a head turned by a measured angle is what a pose estimate is tested against and what
tells how far from frontal a lip-reading model still reads; none ships with lipread, and GRID is
frontal. So a frontal video is turned: each frame's 468-point FaceMesh mesh (with its depth) is
rotated about the vertical axis (yaw) and then the horizontal one (pitch), and every mesh triangle
still facing the camera is drawn, far ones first, from its place in the frame onto its rotated
place (a piecewise-affine warp). The background and the hair stay where they were; the mouth, which
is what a lip reader sees, moves and foreshortens as a real turn would show it, but for the parts of
the mouth that the turn would uncover.

    python -m data_prep.head_turn VIDEO OUT.mp4 --yaw 30
    python -m data_prep.head_turn VIDEO OUT.mp4 --pitch -20     # the nose 20 degrees down
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from data_prep.landmarks import import_mediapipe, mesh_in_3d
from data_prep.rejections import PrepError
from data_prep.video import iter_frames, probe, write_clip


@lru_cache(maxsize=1)
def mesh_triangles() -> np.ndarray:
    """(n, 3) vertex indices of FaceMesh's triangles, found as the 3-cycles of its tessellation's edges."""
    edges = import_mediapipe().solutions.face_mesh.FACEMESH_TESSELATION
    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    found = {
        tuple(sorted((a, b, c)))
        for a, near in neighbours.items()
        for b in near
        for c in near & neighbours[b]
        if a < b < c
    }
    return np.array(sorted(found), dtype=np.int32)


def turned(points: np.ndarray, yaw_degrees: float, pitch_degrees: float = 0.0) -> np.ndarray:
    """(468, 3) mesh points (x right, y down, z away from the camera, all in pixels) turned by
    ``yaw_degrees`` about the vertical axis through their middle, then tilted by ``pitch_degrees``
    about the horizontal one; positive yaw turns the nose to the left of the picture, positive pitch
    up it (as :mod:`data_prep.head_pose` counts)."""
    centre = points.mean(axis=0)
    x, y, z = (points - centre).T
    yaw, pitch = np.radians(yaw_degrees), np.radians(pitch_degrees)
    x, z = x * np.cos(yaw) + z * np.sin(yaw), -x * np.sin(yaw) + z * np.cos(yaw)
    y, z = y * np.cos(pitch) + z * np.sin(pitch), -y * np.sin(pitch) + z * np.cos(pitch)
    return centre + np.column_stack([x, y, z])


def render_turned(frame: np.ndarray, points: np.ndarray, yaw_degrees: float, pitch_degrees: float = 0.0) -> np.ndarray:
    """``frame`` (H, W, 3) with its face, whose mesh is ``points`` (468, 3), drawn turned by
    ``yaw_degrees`` and tilted by ``pitch_degrees`` (:func:`turned`).

    Each output pixel inside the turned face is looked up in the frame through the affine map of
    the nearest mesh triangle covering it (one remap, so neighbouring triangles leave no seams);
    skin the turn uncovers outside the turned face (the old cheek) is painted over from around it."""
    triangles = mesh_triangles()
    moved = turned(points, yaw_degrees, pitch_degrees)
    h, w = frame.shape[:2]
    src, dst = points[triangles, :2], moved[triangles, :2]
    # a triangle faces the camera when its corners run the same way round as in the unturned face
    # (and has an area to draw)
    areas = _signed_areas(dst)
    facing = np.flatnonzero((np.sign(areas) == np.sign(_signed_areas(src))) & (np.abs(areas) > 1e-6))
    order = facing[np.argsort(-moved[triangles[facing], 2].mean(axis=1))]  # far ones first, near ones over them
    which = np.full((h, w), -1, np.int32)
    for k in order:
        cv2.fillConvexPoly(which, np.round(dst[k] * 16).astype(np.int32), int(k), lineType=cv2.LINE_8, shift=4)
    back = np.zeros((len(triangles), 2, 3))  # each drawn triangle's map from the turned face to the frame
    for k in order:
        back[k] = cv2.getAffineTransform(dst[k].astype(np.float32), src[k].astype(np.float32))
    ys, xs = np.nonzero(which >= 0)
    maps = back[which[ys, xs]] @ np.stack([xs, ys, np.ones_like(xs)]).T[:, :, None].astype(np.float64)
    map_x, map_y = np.mgrid[0:h, 0:w][::-1].astype(np.float32)
    map_x[ys, xs], map_y[ys, xs] = maps[:, 0, 0], maps[:, 1, 0]
    out = cv2.remap(frame, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    old = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(old, cv2.convexHull(np.round(points[:, :2]).astype(np.int32)), 1)
    uncovered = (old > 0) & (which < 0)
    if uncovered.any():
        grown = cv2.dilate(uncovered.astype(np.uint8), np.ones((5, 5), np.uint8)) & (which < 0)
        out = cv2.inpaint(out, grown, 5, cv2.INPAINT_TELEA)
    return out


def _signed_areas(tri: np.ndarray) -> np.ndarray:
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def turned_frames(path: str | Path, yaw_degrees: float, pitch_degrees: float = 0.0) -> Iterator[np.ndarray]:
    """Each frame of the video with its largest face turned by ``yaw_degrees`` and tilted by
    ``pitch_degrees`` (frames FaceMesh finds no face in come as they are)."""
    mesh = import_mediapipe().solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1)
    try:
        for _, frame in iter_frames(path):
            h, w = frame.shape[:2]
            found = mesh.process(frame).multi_face_landmarks
            if not found:
                yield frame
                continue
            yield render_turned(frame, mesh_in_3d(found[0], w, h), yaw_degrees, pitch_degrees)
    finally:
        mesh.close()


def write_turned(path: str | Path, out: Path, yaw_degrees: float, pitch_degrees: float = 0.0, crf: int = 18) -> None:
    """The video with its face turned by ``yaw_degrees`` and tilted by ``pitch_degrees``, as H.264
    at the video's frame rate."""
    frames = list(turned_frames(path, yaw_degrees, pitch_degrees))
    if not frames:
        raise ValueError(f"{path}: no frames to turn")
    write_clip(out, np.stack(frames), fps=probe(path).fps, crf=crf)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument(
        "--yaw", type=float, default=0.0, help="degrees; positive turns the nose to the left of the picture"
    )
    parser.add_argument("--pitch", type=float, default=0.0, help="degrees; positive tilts the nose up the picture")
    parser.add_argument("--crf", type=int, default=18)
    args = parser.parse_args()
    try:
        write_turned(args.video, args.out, args.yaw, args.pitch, args.crf)
    except (PrepError, ValueError) as err:  # a video that cannot be read: one line, not a traceback
        parser.error(str(err))


if __name__ == "__main__":
    main()
