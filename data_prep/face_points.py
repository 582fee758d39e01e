"""The FaceMesh landmarks lipread holds, and the named groups among them.

FaceMesh gives 468 points a face and frame. Cropping (the rigid points and the lips), phrase cutting
(the lip contours) and following faces (their outline, for a box) need 88 of them, so only those are
held: a long video's landmarks take a fifth of the memory, and every crop is the same, since the crop
transform reads only rigid points. Every group below is a list of positions in :data:`KEPT` (the
order the landmarks are held in), not FaceMesh's own numbers, which the ``MESH_`` names give.
"""

from __future__ import annotations

#: Points of FaceMesh's face mesh (``solutions.face_mesh``, without iris refinement).
MESH_POINTS = 468
#: The face's outline (the vertices of mediapipe's ``FACEMESH_FACE_OVAL``): a face's box is theirs.
MESH_FACE_OVAL = (
    10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
    152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109,
)  # fmt: skip
#: Rigid points (eye corners, nose bridge and tip, nostril wings): they move with the head, not
#: with speech, so they fix the crop's similarity transform.
MESH_STABLE = (33, 133, 362, 263, 168, 6, 197, 195, 5, 4, 98, 327)
#: Outer lip contour, from the left corner (61) over the upper lip to the right corner (291) and back.
MESH_OUTER_LIPS = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)  # fmt: skip
#: Inner lip contour, the same way round; 13 and 14 are the upper and lower inner lips' middles.
MESH_INNER_LIPS = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)  # fmt: skip
#: The eyes' outer corners: the reference face is built level between them (all 468 points).
MESH_EYE_OUTER = (33, 263)

#: FaceMesh's numbers of the points held, in the order they are held.
KEPT = tuple(sorted({*MESH_FACE_OVAL, *MESH_STABLE, *MESH_OUTER_LIPS, *MESH_INNER_LIPS}))
NUM_POINTS = len(KEPT)
_POSITION = {mesh: position for position, mesh in enumerate(KEPT)}


def held(*mesh: int) -> list[int]:
    """The positions among the held points of these FaceMesh points."""
    return [_POSITION[m] for m in mesh]


STABLE_POINTS = held(*MESH_STABLE)
OUTER_LIPS = held(*MESH_OUTER_LIPS)
LIP_POINTS = held(*MESH_OUTER_LIPS, *MESH_INNER_LIPS)
MOUTH_CORNERS = tuple(held(61, 291))
INNER_LIP_MIDDLES = tuple(held(13, 14))
