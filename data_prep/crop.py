"""From a landmark track to stable mouth crops.

Gaps in the track are interpolated, the rigid face points are smoothed over time, and each frame
is warped by the similarity transform that puts those points onto the reference face, with the
reference mouth centre at the centre of the output window. This is the only cropping code: prep
and transcription both warp with :func:`transforms` and :func:`warp`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from data_prep import reference_face
from data_prep.contracts import CropSettings
from data_prep.face_points import MOUTH_CORNERS, OUTER_LIPS, STABLE_POINTS
from data_prep.head_pose import depth_checksum, projection, reference_depth, rigid_pose
from data_prep.rejections import PrepError


@dataclass
class Crops:
    frames: np.ndarray  # (T, size, size, 3) uint8 RGB (grey replicated when color == "gray")
    transforms: np.ndarray  # (T, 2, 3): source pixels -> crop pixels
    points: np.ndarray  # (T, points, 2) the gap-filled track (data_prep.face_points), source pixels


def readable_points(points: np.ndarray, settings: CropSettings) -> np.ndarray:
    """A span's landmarks with gaps filled, or ``no_face`` / ``face_too_small`` (prep's per-cue rules)."""
    filled = fill_gaps(points, settings)
    width = mouth_width(filled)
    if width < settings.min_mouth_width:
        raise PrepError(
            "face_too_small",
            f"mouth is {width:.1f} px wide, below --min-mouth-width {settings.min_mouth_width:g}",
        )
    return filled


def warp(frame: np.ndarray, matrix: np.ndarray, settings: CropSettings) -> np.ndarray:
    """One frame's mouth window (size, size, 3), grey replicated to three channels when asked."""
    out = cv2.warpAffine(
        frame, matrix, (settings.size, settings.size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    if settings.color == "gray":
        out = np.repeat(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=-1)
    return out


def mouth_width(points: np.ndarray) -> float:
    """Median distance (pixels) between the mouth corners over the frames that have a face."""
    corners = points[:, list(MOUTH_CORNERS)]
    return float(np.nanmedian(np.linalg.norm(corners[:, 0] - corners[:, 1], axis=1)))


def fill_gaps(points: np.ndarray, settings: CropSettings) -> np.ndarray:
    """Linearly interpolate face-less frames; refuse clips with too many or too long gaps."""
    found = ~np.isnan(points[:, 0, 0])
    total = len(points)
    missing = total - int(found.sum())
    runs = missing_runs(found)
    described = ", ".join(f"{a}-{b - 1}" for a, b in runs[:5]) + (" ..." if len(runs) > 5 else "")
    if not found.any():
        raise PrepError("no_face", f"no face in any of {total} frames")
    longest = max((b - a for a, b in runs), default=0)
    if missing > settings.max_missing * total or longest > settings.max_gap:
        raise PrepError(
            "no_face",
            f"no face in {missing} of {total} frames (frames {described}); "
            f"limits: {settings.max_missing:.0%} of the clip, runs of {settings.max_gap}",
        )
    return interpolate(points)


def interpolate(points: np.ndarray, in_place: bool = False) -> np.ndarray:
    """(T, N, 2) landmarks with NaN frames filled linearly (held at the ends); ``points`` itself
    when nothing is missing, or with ``in_place`` (a long segment's landmarks are then not copied)."""
    found = ~np.isnan(points[:, 0, 0])
    if found.all():
        return points
    t = np.arange(len(points))
    filled = points if in_place else points.copy()
    missing = ~found
    for n in range(points.shape[1]):
        for c in range(points.shape[2]):
            column = filled[:, n, c]  # a view: written into ``filled``
            column[missing] = np.interp(t[missing], t[found], column[found])
    return filled


def missing_runs(found: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``(start, end)`` ranges where ``found`` is False (frames with no face)."""
    edges = np.diff(np.concatenate([[0], (~found).astype(np.int8), [0]]))
    return [(int(a), int(b)) for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def transforms(points: np.ndarray, settings: CropSettings) -> np.ndarray:
    """Per-frame transforms from source pixels to crop pixels (:func:`crop_transforms`)."""
    stable = points[:, STABLE_POINTS].astype(np.float64)
    half = settings.smooth // 2 if len(points) > 1 else 0
    padded = np.concatenate([np.repeat(stable[:1], half, 0), stable, np.repeat(stable[-1:], half, 0)])
    return transforms_of_window(padded, settings)


def transforms_of_window(stable: np.ndarray, settings: CropSettings) -> np.ndarray:
    """The transforms of the middle frames of (T + 2 * half, STABLE, 2) stable points, each frame's
    points averaged over the ``2 * half + 1`` frames centred on it (``half = smooth // 2``).

    Each frame's average depends on its own window only, summed in the same order however long the
    stretch is, so a live stream that smooths a few frames at a time gets the very transforms (to
    the bit) that a whole file gets.
    """
    window = 2 * (settings.smooth // 2) + 1 if len(stable) >= settings.smooth else 1
    count = len(stable) - window + 1
    total = stable[:count].copy()
    for k in range(1, window):
        total += stable[k : k + count]
    return crop_transforms(total / window, settings)


#: A face turned from the camera (yaw, degrees, :mod:`data_prep.head_pose`) is cut as if seen from
#: the front (:func:`frontal_transform`) rather than by the similarity the training crops were cut
#: with: within the first figure by the similarity alone, past the second frontal alone, between them
#: a blend (no jump in the crops as a head turns). Measured on s1_val with the faces turned
#: (benchmarks/turned_face_wer.py): so cut, the WER at 40 degrees fell from 21.67% to 9.00%, at 60
#: from 54.33% to 34.67%; every frame cut frontal, the untouched videos read 4.67% instead of 4.33%,
#: so faces seen head-on keep the training crops.
FRONTAL_BLEND = (5.0, 15.0)
#: The same for a face tilted up or down (pitch), the further of the two deciding: s1_val tilted 20
#: degrees down read 32.67% cut by the similarity, 19.67% so. Its band starts later: the same
#: head-on view measures up to 10 degrees of pitch on some faces (GRID speakers filmed square on: -6
#: to 10), and those keep the training crops too. (A band from 5 to 15 read that tilt at 16.33%, but
#: cut s26's head-on faces partly frontal, and its five-clip adaptation test read a word worse.)
FRONTAL_BLEND_PITCH = (10.0, 20.0)


def method() -> str:
    """How crops are cut, beyond :class:`CropSettings` (``meta.json``'s ``crop_method``): a dataset
    continued after this changed would hold mouths cut two ways."""
    return (f"similarity onto reference face {reference_face.checksum()}; frontal (reference depth "
            f"{depth_checksum()}) from {FRONTAL_BLEND[0]:g} to {FRONTAL_BLEND[1]:g} degrees of yaw and from "
            f"{FRONTAL_BLEND_PITCH[0]:g} to {FRONTAL_BLEND_PITCH[1]:g} of pitch")  # fmt: skip


def frontal_share(rigid: np.ndarray) -> float:
    """How much of a frame's cut is frontal rather than the similarity (0 to 1), from its rigid points'
    pose: the further along its band of the turn and the tilt."""
    yaw, pitch = np.abs(rigid_pose(rigid))
    return max(_along(float(yaw), FRONTAL_BLEND), _along(float(pitch), FRONTAL_BLEND_PITCH))


def _along(angle: float, band: tuple[float, float]) -> float:
    return min(max((angle - band[0]) / (band[1] - band[0]), 0.0), 1.0)


def crop_transforms(stable: np.ndarray, settings: CropSettings) -> np.ndarray:
    """The (T, 2, 3) transforms from source pixels to crop pixels for each frame's (smoothed) rigid
    points (T, len(STABLE_POINTS), 2)."""
    reference, pixels_per_unit, mouth_centre = _crop_frame(settings)
    target = (reference[STABLE_POINTS] - mouth_centre) * pixels_per_unit + settings.size / 2
    out = []
    for points in stable:  # a frame at a time, so that a live stream's few frames get a file's transforms to the bit
        similar = reference_face.similarity(points, target)
        share = frontal_share(points)
        out.append(similar if share == 0.0 else (1 - share) * similar + share * frontal_transform(points, settings))
    return np.stack(out)


def _crop_frame(settings: CropSettings) -> tuple[np.ndarray, float, np.ndarray]:
    """The reference face, the crop's pixels per reference unit, and the reference mouth's centre
    (which the crop is centred on)."""
    reference = reference_face.load()
    return reference, settings.size / settings.scale, reference[OUTER_LIPS].mean(axis=0)


def frontal_transform(stable: np.ndarray, settings: CropSettings) -> np.ndarray:
    """Source pixels to crop pixels for a face turned from the camera, undoing the turn: the reference
    face in 3-D is fitted to the rigid points (:func:`data_prep.head_pose.projection`), and the crop
    samples the plane through the reference's lips, as a camera in front of the face would see it
    (the mouth the turn foreshortened is widened again)."""
    _, pixels_per_unit, mouth_centre = _crop_frame(settings)
    rows, shift = projection(stable)  # source = rows @ [x, y, depth] + shift, in reference units
    across_down = rows[:, :2]
    at_lips = shift + rows[:, 2] * reference_depth()[OUTER_LIPS].mean()
    crop_to_source = np.hstack(
        [
            across_down / pixels_per_unit,
            (at_lips + across_down @ (mouth_centre - settings.size / 2 / pixels_per_unit))[:, None],
        ]
    )
    return cv2.invertAffineTransform(crop_to_source)


def project(points: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Map per-frame source points (T, N, 2) through per-frame transforms (T, 2, 3)."""
    return np.einsum("tij,tnj->tni", matrices[:, :, :2], points) + matrices[:, None, :, 2]
