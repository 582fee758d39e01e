"""Face tracks from landmarks (no face tracker): joining faces over frames, cuts, segments and gaps,
and how several talkers are labelled in text, SRT and VTT."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import srt

from data_prep import reference_face as ref
from data_prep.contracts import CropSettings
from data_prep.face_points import NUM_POINTS
from data_prep.face_tracks import BLOCK_FRAMES, LandmarkRows, TrackBuilder, distinct, segments, uncovered
from lipread.subtitles import to_srt, to_vtt
from lipread.transcript import TrackReading, TranscriptWord, transcript_text

SETTINGS = CropSettings(max_gap=3, min_mouth_width=10)


def face(x: float, y: float, size: float = 100.0) -> np.ndarray:
    """A face as a tracker gives it: the reference face scaled to ``size`` pixels and placed at (x, y)."""
    points = ref.load()
    points = (points - points.min(axis=0)) / np.ptp(points, axis=0).max()
    return (points * size + np.array([x, y])).astype(np.float32)


def build(frames: list[list[np.ndarray]], cuts: tuple[int, ...] = ()) -> TrackBuilder:
    builder = TrackBuilder(SETTINGS.max_gap)
    for i, faces in enumerate(frames):
        if i in cuts:
            builder.shot_changed(np.zeros((8, 8, 3), np.uint8))
            builder.shot_changed(np.full((8, 8, 3), 255, np.uint8))  # a jump in the picture
        builder.add(i, faces)
    return builder


def test_two_faces_moving_keep_their_tracks():
    frames = [[face(10 + i, 10), face(300 - i, 20)] for i in range(30)]
    frames[10] = frames[10][::-1]  # the order FaceMesh lists faces in does not matter
    tracks = build(frames).tracks
    assert len(tracks) == 2
    assert all(abs(t.points.array()[i, :, 0].min() - (10 + i)) < 1e-3 for i, t in [(i, tracks[0]) for i in range(30)])


def test_short_gap_is_bridged_long_gap_ends_the_track():
    frames = [[face(10 + i, 10)] for i in range(40)]  # moving right a pixel a frame
    for i in (5, 6, 7):  # 3 frames: up to max_gap, bridged
        frames[i] = []
    for i in range(20, 26):  # 6 frames: a new track afterwards
        frames[i] = []
    builder = build(frames)
    found = segments(builder.tracks, SETTINGS, min_frames=5)
    assert [(s.track, s.start, s.end) for s in found] == [(0, 0, 20), (1, 26, 40)]
    assert np.allclose(found[0].points[5:8], [face(10 + i, 10) for i in (5, 6, 7)], atol=1e-4)  # filled linearly
    assert np.allclose(found[1].points, [face(10 + i, 10) for i in range(26, 40)])
    assert uncovered([(s.start, s.end) for s in found], 40, 5) == [(20, 26)]
    assert [len(t.points) for t in builder.tracks] == [0, 0]  # the segments took the landmarks over


def test_a_long_track_is_held_in_blocks_and_taken_over_whole():
    """Landmarks over several blocks come out of them unchanged, as a track's array and as the
    segments that take them over (a long gap across a block boundary starts a second track)."""
    frames = [[face(10 + abs(i % 100 - 50), 10)] for i in range(3 * BLOCK_FRAMES + 20)]  # back and forth
    for i in range(BLOCK_FRAMES - 5, BLOCK_FRAMES + 5):  # a long gap across a block boundary
        frames[i] = []
    builder = build(frames)
    whole = builder.tracks[0].points.array()
    assert len(builder.tracks) == 2 and len(whole) == BLOCK_FRAMES - 5
    assert np.array_equal(whole[120], face(10 + 30, 10))
    found = segments(builder.tracks, SETTINGS, min_frames=5)
    assert [(s.start, s.end) for s in found] == [(0, BLOCK_FRAMES - 5), (BLOCK_FRAMES + 5, len(frames))]
    assert np.array_equal(found[0].points, whole)
    assert all(
        np.array_equal(found[1].points[k], face(10 + abs((BLOCK_FRAMES + 5 + k) % 100 - 50), 10)) for k in (0, 300, 500)
    )


def test_landmark_rows_give_up_their_front():
    rows = LandmarkRows()
    for k in range(2 * BLOCK_FRAMES + 3):
        rows.append(None if k % 7 == 0 else np.full((NUM_POINTS, 2), k, np.float32))
    rows.drop(BLOCK_FRAMES + 1)
    assert len(rows) == BLOCK_FRAMES + 2 and rows[0][0, 0] == BLOCK_FRAMES + 1
    assert list(rows.found()[:7]) == [(BLOCK_FRAMES + 1 + k) % 7 != 0 for k in range(7)]
    taken = rows.take(5)
    assert list(taken[:, 0, 0][~np.isnan(taken[:, 0, 0])]) == [
        k for k in range(BLOCK_FRAMES + 1, BLOCK_FRAMES + 6) if k % 7
    ]
    assert len(rows) == BLOCK_FRAMES - 3 and rows[len(rows) - 1][0, 0] == 2 * BLOCK_FRAMES + 2


def test_a_cut_ends_every_track():
    frames = [[face(10, 10)] for _ in range(20)]
    assert [(t.start, len(t.points)) for t in build(frames, cuts=(12,)).tracks] == [(0, 12), (12, 8)]


def test_segments_say_why_they_cannot_be_read():
    frames = [[face(10, 10)] for _ in range(4)] + [[] for _ in range(10)] + [[face(10, 10, size=12)] for _ in range(20)]
    found = segments(build(frames).tracks, SETTINGS, min_frames=5)
    assert [s.problem for s in found] == ["too_short", "face_too_small"]
    width, height = np.ptp(face(0, 0, 12), axis=0)
    assert found[1].box == [10, 10, round(float(width)), round(float(height))]


def test_duplicate_faces_in_one_frame_are_dropped():
    a = face(10, 10)
    assert len(distinct([a, a + 2, face(300, 10)])) == 2


def test_several_talkers_are_labelled_in_every_format():
    words = [
        TranscriptWord("bin", 0.0, 0.3, track=0), TranscriptWord("set", 0.2, 0.5, track=1),
        TranscriptWord("blue", 0.35, 0.6, track=0), TranscriptWord("red", 0.55, 0.8, track=1),
    ]  # fmt: skip
    subs = list(srt.parse(to_srt(words)))
    assert [s.content for s in subs] == ["[0] bin blue", "[1] set red"]  # phrases never mix talkers
    assert "<v 0>bin blue" in to_vtt(words) and "<v 1>set red" in to_vtt(words)
    alone = [replace(w, track=0) for w in words]
    assert "[" not in to_srt(alone) and "<v" not in to_vtt(alone)
    segments_ = [
        TrackReading(k, 0.0, 1.0, [0, 0, 9, 9], text, [], 1.0, False) for k, text in enumerate(["bin blue", "set red"])
    ]
    assert transcript_text(segments_) == "[0] bin blue\n[1] set red"
    assert transcript_text(segments_[:1]) == "bin blue"
