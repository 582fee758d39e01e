"""The fast tier's pure parts: text normalisation, transcript readers and their errors, frame-rate
resampling, the n-gram LM, pause cuts and the similarity warp. No model, no face tracker."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import srt
import torch

from conftest import clip_path, frames_of
from data_prep import reference_face as ref
from data_prep.contracts import ContractError, CropSettings
from data_prep.crop import project, transforms
from data_prep.face_points import MOUTH_CORNERS, OUTER_LIPS
from data_prep.rejections import PrepError
from data_prep.text import TranscriptError, normalize_text
from data_prep.transcripts import read_grid_align, read_lrs_txt, read_manifest, read_subtitles
from data_prep.video import iter_frames, probe, resampled
from lipread.augment import centre_crop
from lipread.clips import PixelNorm, ids_in, to_grey, to_model_input

# ---------------------------------------------------------------- text


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("Bin BLUE at F two now.", "bin blue at f two now"),
        ("<i>Hello</i>, world! [music] (laughs)", "hello world"),
        ("Café – naïve’s well-known", "cafe naive's well known"),
        ("  'quoted'  words  ", "quoted words"),
    ],
)
def test_normalisation(raw: str, expected: str):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    "raw,code", [("bin blue 4 now", "bad_characters"), ("日本", "bad_characters"), (" ... ", "empty_transcript")]
)
def test_normalisation_refuses_what_it_cannot_spell(raw: str, code: str):
    with pytest.raises(TranscriptError) as err:
        normalize_text(raw)
    assert err.value.code == code


def test_a_refused_transcript_names_each_character_it_cannot_spell():
    with pytest.raises(TranscriptError) as err:
        normalize_text("Number 42 is bad")
    assert err.value.detail == (
        "characters outside the alphabet a-z, space, apostrophe: '2', '4' in 'number 42 is bad' "
        "(spell numbers as words: 'forty two')"
    )


# ---------------------------------------------------------------- transcript readers


def test_grid_align(tmp_path: Path):
    path = tmp_path / "bbaf2n.align"
    path.write_text("0 23750 sil\n23750 29500 bin\n29500 34000 blue\n34000 35500 sp\n35500 41000 at\n41000 74500 sil\n")
    segment = read_grid_align(path)
    assert segment.text == "bin blue at"
    assert segment.words[0] == {"word": "bin", "start": 0.95, "end": 1.18}


@pytest.mark.parametrize("body,message", [("0 100\n", r"bad\.align:1: expected 'start end word'"),
                                          ("0 100 sil\nzero 100 bin\n", r"bad\.align:2: start and end must be whole")])  # fmt: skip
def test_grid_align_errors_name_the_line(tmp_path: Path, body: str, message: str):
    (tmp_path / "bad.align").write_text(body)
    with pytest.raises(ValueError, match=message):
        read_grid_align(tmp_path / "bad.align")


def test_lrs_txt(tmp_path: Path):
    path = tmp_path / "00001.txt"
    path.write_text(
        "Text:  HELLO THERE\nConf:  4\n\nWORD START END ASDSCORE\nHELLO 0.10 0.40 1.2\nTHERE 0.45 0.80 2.1\n"
    )
    segment = read_lrs_txt(path)
    assert segment.text == "HELLO THERE"
    assert segment.words == [{"word": "hello", "start": 0.1, "end": 0.4}, {"word": "there", "start": 0.45, "end": 0.8}]
    (tmp_path / "none.txt").write_text("Conf: 4\n")
    with pytest.raises(ValueError, match="no 'Text:' line"):
        read_lrs_txt(tmp_path / "none.txt")


def test_subtitles_and_their_errors(tmp_path: Path):
    (tmp_path / "a.srt").write_text(
        "1\n00:00:01,000 --> 00:00:02,500\nbin blue\n\n2\n00:01:00,000 --> 00:01:01,000\nat f\n"
    )
    (tmp_path / "a.vtt").write_text(
        "WEBVTT\n\n00:01.000 --> 00:02.500\nbin blue\n\n01:00:00.000 --> 01:00:01.000\nat f\n"
    )
    srt_cues = read_subtitles(tmp_path / "a.srt")
    vtt_cues = read_subtitles(tmp_path / "a.vtt")
    assert [(c.text, c.start, c.end) for c in srt_cues] == [("bin blue", 1.0, 2.5), ("at f", 60.0, 61.0)]
    assert [(c.text, c.start, c.end) for c in vtt_cues] == [("bin blue", 1.0, 2.5), ("at f", 3600.0, 3601.0)]
    (tmp_path / "bad.srt").write_text("1\nthis is not a time line\nhello\n")
    with pytest.raises(srt.SRTParseError):
        read_subtitles(tmp_path / "bad.srt")


def test_manifests_and_their_errors(tmp_path: Path):
    (tmp_path / "m.csv").write_text("path,text,start,end,speaker\na.mp4,hello there,1.5,3,alice\nb.mp4,bye,,,\n")
    rows = read_manifest(tmp_path / "m.csv")
    assert [(r.path, r.segment.text, r.segment.start, r.segment.end, r.speaker) for r in rows] == [
        ("a.mp4", "hello there", 1.5, 3.0, "alice"),
        ("b.mp4", "bye", None, None, None),
    ]
    (tmp_path / "m.jsonl").write_text('{"video": "a.mp4", "text": "hi", "id": "x1"}\n\n')
    assert read_manifest(tmp_path / "m.jsonl")[0].id == "x1"
    (tmp_path / "no_text.csv").write_text("path\na.mp4\n")
    with pytest.raises(ValueError, match="row 1 needs 'path' and 'text'"):
        read_manifest(tmp_path / "no_text.csv")
    (tmp_path / "bad_time.csv").write_text("path,text,start\na.mp4,hi,soon\n")
    with pytest.raises(ValueError, match="row 1: start and end must be numbers"):
        read_manifest(tmp_path / "bad_time.csv")
    with pytest.raises(ValueError, match="must be .csv or .jsonl"):
        read_manifest(tmp_path / "m.txt")
    (tmp_path / "torn.jsonl").write_text('{"path": "a.mp4", "text": "hi"}\n{"path": "b.mp4", "text"\n')
    with pytest.raises(ValueError, match=r"torn.jsonl: line 2 is not JSON \(Expecting ':' delimiter at column 25\)"):
        read_manifest(tmp_path / "torn.jsonl")
    (tmp_path / "list.jsonl").write_text('["a.mp4", "hi"]\n')
    with pytest.raises(ValueError, match="line 1 should be an object with 'path' and 'text'"):
        read_manifest(tmp_path / "list.jsonl")
    (tmp_path / "latin1.csv").write_bytes("path,text\na.mp4,caf\u00e9\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.csv: not UTF-8 text \(byte 19\)"):
        read_manifest(tmp_path / "latin1.csv")


# ---------------------------------------------------------------- frame rates


def resample(frames, spans: list[tuple[float, float | None]]) -> list[list[np.ndarray]]:
    """Each span's frames, collected from the stream."""
    out: list[list[np.ndarray]] = [[] for _ in spans]
    for i, frame in resampled(frames, spans):
        out[i].append(frame)
    return out


@pytest.mark.parametrize("container,codec", [("mp4", "libx264"), ("mkv", "libx265"), ("webm", "libvpx-vp9"),
                                             ("avi", "mpeg4"), ("mpg", "mpeg1video")])  # fmt: skip
def test_decoding_from_a_time_gives_the_frames_decoding_from_the_start_does(container: str, codec: str,
                                                                             tmp_path: Path):  # fmt: skip
    """prep's pieces and transcription's batches decode from the keyframe before a time (or, where a
    container cannot seek there, from the start): the frames they get must be the very ones."""
    path = tmp_path / f"moving.{container}"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        if codec == "libx265":
            stream.options = {"x265-params": "log-level=none"}
        for k in range(300):  # 12 s: past x264's 10 s between keyframes
            frame = np.zeros((64, 96, 3), np.uint8)
            frame[:, :, 0] = (np.arange(96)[None, :] + 3 * k) % 256
            frame[(k % 60) : (k % 60) + 4] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    whole = {round(t, 3): frame for t, frame in iter_frames(path)}
    for start in (5.0, 11.0):
        part = list(iter_frames(path, from_s=start))
        assert part[0][0] <= start and part[-1][0] == max(whole)
        assert all(np.array_equal(whole[round(t, 3)], frame) for t, frame in part)
    # it did seek where the container has an index; an MPEG program stream (it landed mid-frame, with
    # wrong pixels to the next keyframe) is decoded from the start
    assert (part[0][0] > 5.0) == (container != "mpg") == probe(path).seekable  # (prep's pieces need it)


def numbered(times: list[float]):
    """Frames whose single pixel holds their index, at the given presentation times."""
    return ((t, np.full((1, 1, 3), i, np.uint8)) for i, t in enumerate(times))


def indices(frames: list[np.ndarray]) -> list[int]:
    return [int(f[0, 0, 0]) for f in frames]


def test_ntsc_29_97_fps_to_25():
    source = [i * 1001 / 30000 for i in range(90)]  # 3.003 s at 29.97 fps
    (out,) = resample(numbered(source), [(0.0, None)])
    assert len(out) == 76  # 3.003 s: the 76th output time (3.00 s) still shows the last frame
    # each output frame at k/25 s shows the latest source frame at or before it
    expected = [max(i for i, t in enumerate(source) if t <= k / 25 + 1e-6) for k in range(76)]
    assert indices(out) == expected


def test_variable_frame_rate_and_spans():
    rng = np.random.default_rng(1)
    source = np.cumsum(rng.uniform(0.01, 0.08, 120)).tolist()  # 12-100 fps, jittering
    spans = [(1.0, 2.0), (0.5, None)]
    cue, rest = resample(numbered(source), spans)
    assert len(cue) == 25
    for k, idx in enumerate(indices(cue)):
        t = 1.0 + k / 25
        assert source[idx] <= t + 1e-6 and (idx + 1 == len(source) or source[idx + 1] > t - 1e-6)
    assert indices(rest)[0] == max(i for i, t in enumerate(source) if t <= 0.5)


def test_a_stream_that_starts_late_is_timed_from_its_first_frame(tmp_path: Path):
    """Containers often start the video at a non-zero time (edited or cut files): times count from it."""
    path = tmp_path / "late.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, 25)
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts = 50 + i  # the first frame is shown at 2 s
            frame.time_base = Fraction(1, 25)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    times = [t for t, _ in iter_frames(path)]
    assert times[0] == pytest.approx(0.0) and times[-1] == pytest.approx(9 / 25)


@pytest.mark.parametrize("rotation", [90, 180, -90])
def test_a_video_to_be_shown_turned_is_read_upright(tmp_path: Path, rotation: int):
    """Phones film in their sensor's orientation and say in the container how far to turn the picture
    (a display matrix): the frames come turned as they are shown, and the sizes say so."""
    upright = np.zeros((32, 48, 3), np.uint8)
    upright[:8, :16] = 255  # a white patch at the top left of the picture as shown
    stored = np.ascontiguousarray(np.rot90(upright, -rotation // 90))  # as the file holds it
    path = tmp_path / f"turned{rotation}.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = stored.shape[1], stored.shape[0], "yuv444p"
        stream.options = {"crf": "0"}
        stream.set_display_rotation(rotation)
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    info = probe(path)
    assert info.rotation == rotation % 360 and info.display_size == (48, 32)
    frames = [frame for _, frame in iter_frames(path)]
    assert len(frames) == 3 and all(np.abs(f.astype(int) - upright).max() <= 3 for f in frames)
    assert next(iter_frames(path, max_side=24))[1].shape == (16, 24, 3)  # shrunk upright too


def test_the_moving_picture_is_read_not_a_cover_image_ahead_of_it(tmp_path: Path):
    """A container whose first video stream is a one-frame cover picture (as download tools embed
    thumbnails) is read from its real video, the stream ffmpeg itself would play."""
    path = tmp_path / "with_cover.mkv"
    with av.open(str(path), "w") as container:
        cover = container.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 64, 64, "yuvj420p"
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 48, 32, "yuv420p"
        picture = av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24").reformat(
            format="yuvj420p"
        )
        for packet in [*cover.encode(picture), *cover.encode()]:
            container.mux(packet)
        for i in range(10):
            for packet in video.encode(
                av.VideoFrame.from_ndarray(np.full((32, 48, 3), 20 * i, np.uint8), format="rgb24")
            ):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    assert probe(path).display_size == (48, 32)
    frames = [frame for _, frame in iter_frames(path)]
    assert len(frames) == 10 and frames[0].shape == (32, 48, 3)


def test_a_dataset_clip_reads_the_same_without_pyav(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Where PyAV is missing (a lent GPU box), prep's clips are read through OpenCV, pixel for pixel
    as PyAV reads them; anything else that needs PyAV says so."""
    import data_prep.video as video

    crops = np.ascontiguousarray(frames_of(clip_path("bbaf2n"))[:30, 150:246, 130:226])
    clip = tmp_path / "clip.mp4"
    video.write_clip(clip, crops)
    with_pyav = video.read_clip(clip)
    assert with_pyav.shape == (30, 96, 96, 3) and np.abs(with_pyav.astype(int) - crops).mean() < 6
    monkeypatch.setattr(video, "av", None)
    assert np.array_equal(video.read_clip(clip), with_pyav)
    with pytest.raises(ModuleNotFoundError, match="pip install av"):
        list(video.iter_frames(clip))
    with pytest.raises(PrepError, match="no such file"):
        video.read_clip(tmp_path / "missing.mp4")


def test_an_empty_file_is_called_empty(tmp_path: Path):
    """ffmpeg calls a 0-byte file "Invalid data found when processing input"; a half-copied or
    failed download says more plainly what it is."""
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(PrepError, match=r"the file is empty \(0 bytes\)") as err:
        probe(tmp_path / "empty.mp4")
    assert err.value.reason == "unreadable"


@pytest.mark.parametrize("allowed", ["the allowed sentences", "the vocabulary's words"])
def test_an_out_of_domain_reason_names_what_the_decoder_may_say(allowed: str):
    """A reading the decoder may not say (free: "bat", decoded: "bin") is a gap; the reason names the
    grammar's sentences or the vocabulary's words, whichever the decoder was held to."""
    from lipread.confidence import assess
    from lipread.text import CharTokenizer

    tokenizer = CharTokenizer()
    frames = [tokenizer.blank, *tokenizer.encode("b"), tokenizer.blank, *tokenizer.encode("a"), tokenizer.blank,
              *tokenizer.encode("t"), tokenizer.blank]  # fmt: skip
    log_probs = torch.full((len(frames), tokenizer.vocab_size), -8.0)
    log_probs[torch.arange(len(frames)), torch.tensor(frames)] = 0.0
    judged = assess(log_probs.log_softmax(-1), [("bin", 0.0)], "bat", tokenizer, 0.05, 10.0, allowed)
    assert judged.out_of_domain and judged.gap > 0.05
    assert judged.reason.startswith(f"{allowed} fit the lips poorly")


def test_a_reading_too_long_for_its_frames_says_so_not_infinite_nats():
    """A face seen for a moment (17 frames in a stage video) gets the grammar's shortest ending
    forced onto it; the reason said "inf nats a frame"."""
    from lipread.confidence import assess
    from lipread.text import CharTokenizer

    tokenizer = CharTokenizer()
    log_probs = torch.full((4, tokenizer.vocab_size), 1.0 / tokenizer.vocab_size).log()
    judged = assess(log_probs, [("bin blue at a one now", float("-inf"))], "", tokenizer, 0.3, 10.0)
    assert judged.out_of_domain and judged.confidence == 0.0
    assert judged.reason.startswith("too short for any of the allowed sentences") and "inf" not in judged.reason


@pytest.mark.parametrize("yaw, pitch", [(-40.0, 0.0), (30.0, 0.0), (0.0, -30.0), (0.0, -20.0)])
def test_a_turned_or_tilted_face_is_cut_as_if_seen_from_the_front(yaw: float, pitch: float):
    """The reference face in 3-D turned by ``yaw`` or tilted down by ``pitch``: its crop has the mouth
    in the middle, as a frontal face's does, and a turned mouth as wide (the similarity alone, which
    the training crops use, puts a turned or tilted mouth off the middle and a turned one
    foreshortened; tilted up, it is nearly right already);
    a frontal face is still cut by that similarity, to the bit. (A tilt's lip height cannot be put
    right by any warp of the picture: the upper lip stands further forward than the lower.)"""
    from data_prep.crop import crop_transforms
    from data_prep.face_points import STABLE_POINTS
    from data_prep.head_pose import reference_depth
    from data_prep.head_turn import turned

    settings = CropSettings()
    face = np.column_stack([ref.load(), reference_depth()]) * 70.0 + [200.0, 150.0, 0.0]
    seen = turned(face, yaw, pitch)[:, :2]

    def mouth(points: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, float]:
        """The outer lips' centre in the crop, and the mouth's width there."""
        lips = project(points[None], matrix[None])[0]
        return lips[OUTER_LIPS].mean(axis=0), float(np.linalg.norm(np.subtract(*lips[list(MOUTH_CORNERS)])))

    frontal_centre, frontal_width = mouth(face[:, :2], crop_transforms(face[None, STABLE_POINTS, :2], settings)[0])
    centre, width = mouth(seen, crop_transforms(seen[None, STABLE_POINTS], settings)[0])
    assert np.allclose(centre, frontal_centre, atol=1.0) and width == pytest.approx(frontal_width, rel=0.05)
    similar_centre, similar_width = mouth(seen, ref.similarity(seen[STABLE_POINTS], _similarity_target(settings)))
    assert np.abs(similar_centre - frontal_centre).max() > 5 or similar_width < 0.95 * frontal_width
    assert np.array_equal(
        crop_transforms(face[None, STABLE_POINTS, :2], settings)[0],
        ref.similarity(face[STABLE_POINTS, :2], _similarity_target(settings)),
    )


def test_a_turned_heads_crops_are_the_same_cut_a_few_frames_at_a_time():
    """``lipread live`` cuts each frame from a window of a few; a file cuts them all at once. A head
    turning from -40 to 40 degrees (the frontal cut blended in and out) gets the same transforms, to
    the bit, both ways: live and a file read the same crops."""
    from data_prep.crop import transforms_of_window
    from data_prep.face_points import STABLE_POINTS
    from data_prep.head_pose import reference_depth
    from data_prep.head_turn import turned

    rng = np.random.default_rng(0)
    face = np.column_stack([ref.load(), reference_depth()]) * 70 + [200, 150, 0]
    frames = np.stack([turned(face, yaw)[:, :2][STABLE_POINTS] + rng.normal(0, 0.5, (len(STABLE_POINTS), 2))
                       for yaw in np.linspace(-40, 40, 300)])  # fmt: skip
    settings = CropSettings()
    half = settings.smooth // 2
    padded = np.concatenate([np.repeat(frames[:1], half, 0), frames, np.repeat(frames[-1:], half, 0)])
    whole = transforms_of_window(padded, settings)
    live = [transforms_of_window(padded[i : i + 2 * half + 1], settings)[0] for i in range(len(frames))]
    assert np.array_equal(whole, np.stack(live))


def _similarity_target(settings: CropSettings) -> np.ndarray:
    from data_prep.face_points import STABLE_POINTS

    reference = ref.load()
    centre = reference[OUTER_LIPS].mean(axis=0)
    return (reference[STABLE_POINTS] - centre) * (settings.size / settings.scale) + settings.size / 2


def test_a_face_turned_or_tilted_away_is_called_out_of_domain_and_says_how_far():
    """A reading of a face turned past the model's ``max_yaw``, or tilted past its ``max_pitch``, is out
    of domain, the reason saying which way and by how much (beside any reason it had); a face held
    nearer keeps its flag and reason, its confidence lowered only past half a threshold."""
    from data_prep.head_pose import HeadPose
    from lipread.confidence import Assessment, Calibration

    nan = float("nan")
    read = Assessment(0.8, False, None, 0.8, 0.0, 0.1, 50)
    calibration = Calibration(max_yaw=30.0, max_pitch=20.0)
    assert calibration.facing(read, HeadPose(14.0, -9.0)) == read
    slightly = calibration.facing(read, HeadPose(24.0, 0.0))
    assert not slightly.out_of_domain and slightly.reason is None and 0.5 < slightly.confidence < 0.8
    away = calibration.facing(read, HeadPose(45.0, nan))
    assert away.out_of_domain and away.confidence < slightly.confidence
    assert away.reason == "the face is turned 45 degrees from the camera (the model reads faces turned at most 30)"
    down = calibration.facing(read, HeadPose(3.0, -26.0))
    assert down.out_of_domain and down.confidence < slightly.confidence
    assert down.reason == "the face is tilted 26 degrees down from the camera (the model reads faces tilted at most 20)"
    both = calibration.facing(read, HeadPose(40.0, 24.0))
    assert both.reason.startswith("the face is tilted 24 degrees up") and "turned 40 degrees" in both.reason
    # lowered by the further of the two (40 of 30 beyond 24 of 20), not by both
    assert both.confidence == calibration.facing(read, HeadPose(40.0, 0.0)).confidence < down.confidence
    unsure = Assessment(0.2, True, "the model is unsure on most frames", 0.2, 0.0, 0.9, 50)
    assert calibration.facing(unsure, HeadPose(60.0, 0.0)).reason.endswith("; the model is unsure on most frames")
    assert calibration.facing(read, HeadPose(nan, nan)) == read


def test_calibration_admits_how_its_own_clips_faces_are_held():
    """A personal model of someone filmed from the side, or from below, must not call its own
    speaker's video out of domain for it: ``max_yaw`` and ``max_pitch`` rise to the clips' 95th
    percentile plus a margin, never fall; clips from before the pitch was measured leave it."""
    from data_prep.head_pose import HeadPose
    from lipread.confidence import MAX_PITCH, POSE_MARGIN, Calibration, calibrated

    base = Calibration(max_yaw=25.0)
    sideways = calibrated([0.1], [0.01], [0.1], "side", base, poses=[HeadPose(-30.0 - k / 10, 1.0) for k in range(100)])
    assert sideways.max_yaw == pytest.approx(30.0 + 9.405 + POSE_MARGIN, abs=0.1) and sideways.max_pitch == MAX_PITCH
    below = calibrated([0.1], [0.01], [0.1], "below", base, poses=[HeadPose(2.0, 25.0 + k / 10) for k in range(100)])
    assert below.max_pitch == pytest.approx(25.0 + 9.405 + POSE_MARGIN, abs=0.1) and below.max_yaw == 25.0
    frontal = calibrated([0.1], [0.01], [0.1], "frontal", base, poses=[HeadPose(1.0, 2.0), HeadPose(-2.0, -3.0)])
    assert (frontal.max_yaw, frontal.max_pitch) == (25.0, MAX_PITCH)
    old = calibrated([0.1], [0.01], [0.1], "old", base, poses=[HeadPose(-40.0, float("nan"))])
    assert old.max_yaw == pytest.approx(40.0 + POSE_MARGIN) and old.max_pitch == MAX_PITCH
    assert calibrated([0.1], [0.01], [0.1], "unknown", base).max_yaw == 25.0


# ---------------------------------------------------------------- n-gram LM


def test_ngram_probabilities_sum_to_one():
    from lipread.decoding import NGramLM

    sentences = [
        "bin blue at f two now",
        "bin red by a one soon",
        "lay green at f two please",
        "set white in b nine again",
    ]
    words = sorted({w for s in sentences for w in s.split()})
    lm = NGramLM(sentences, words, order=3)
    outcomes = words + [NGramLM.EOS]
    for history in [
        (NGramLM.BOS, NGramLM.BOS),
        (NGramLM.BOS, "bin"),
        ("at", "f"),
        ("two", "now"),
        ("zebra", "bin"),
        (),
    ]:
        total = sum(math.exp(lm.log_prob(history, w)) for w in outcomes)
        assert total == pytest.approx(1.0, abs=1e-9), history
    assert lm.log_prob((NGramLM.BOS, "bin"), "blue") > lm.log_prob((NGramLM.BOS, "bin"), "green")


# ---------------------------------------------------------------- phrase cuts


def talking_lips(moving: np.ndarray, seed: int = 0) -> np.ndarray:
    """(T, points, 2) landmarks, a mouth 40 px wide, whose lip contour changes shape in the frames where
    ``moving`` is True (by about a tenth of the mouth's width) and holds still elsewhere."""
    from data_prep.face_points import LIP_POINTS, MOUTH_CORNERS, NUM_POINTS

    rng = np.random.default_rng(seed)
    points = np.tile(rng.uniform(0, 200, (1, NUM_POINTS, 2)), (len(moving), 1, 1))
    points[:, MOUTH_CORNERS[0]], points[:, MOUTH_CORNERS[1]] = (80, 150), (120, 150)
    lips = [i for i in LIP_POINTS if i not in MOUTH_CORNERS]
    for t in np.flatnonzero(moving):
        points[t, lips] += rng.normal(0, 4, (len(lips), 2))
    return points + rng.normal(0, 0.02, points.shape)  # landmark jitter of a still face


def test_phrases_are_cut_at_pauses_and_silence_is_not_read():
    from lipread.segmentation import PhraseCutter, PhraseSettings, phrase_cuts

    moving = np.zeros(300, bool)
    for a, b in ((30, 70), (110, 150), (265, 300)):
        moving[a:b] = True  # three phrases, the last one running to the end of the stretch
    cfg = PhraseSettings()
    cuts = phrase_cuts(talking_lips(moving), cfg)
    assert len(cuts) == 3
    for (s, e), (a, b) in zip(cuts, ((30, 70), (110, 150), (265, 300))):
        assert a - cfg.lead - 1 <= s <= a  # up to `lead` still frames before the lips move
        assert b + cfg.pause <= e <= b + cfg.pause + cfg.window or e == 300
    # live: each phrase comes out as soon as its pause is seen, never later
    cutter, ended = PhraseCutter(cfg), {}
    for t, frame in enumerate(talking_lips(moving)):
        for phrase in cutter.push(frame):
            ended[phrase] = t + 1
    assert [ended[c] for c in cuts[:2]] == [e for _, e in cuts[:2]] and cutter.finish() == [cuts[2]]
    assert phrase_cuts(talking_lips(np.zeros(200, bool)), cfg) == []  # a still face says nothing
    glitch = np.zeros(200, bool)
    glitch[50] = True  # one frame of bad landmarks
    assert phrase_cuts(talking_lips(glitch), cfg) == []


def test_long_speech_is_cut_at_its_calmest_frame():
    from lipread.segmentation import PhraseSettings, phrase_cuts

    moving = np.ones(260, bool)
    moving[[150, 152, 154]] = False  # speech that never pauses for long: three still frames near 150
    cfg = PhraseSettings()
    cuts = phrase_cuts(talking_lips(moving), cfg)
    assert all(e - s <= cfg.max_frames for s, e in cuts)
    assert all(a[1] == b[0] for a, b in zip(cuts, cuts[1:])) and cuts[-1][1] == 260
    assert any(abs(e - 155) <= cfg.window for _, e in cuts[:-1])


# ---------------------------------------------------------------- similarity warp


def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (12, 2))
    angle, scale, shift = 0.3, 1.7, np.array([12.0, -5.0])
    rotation = scale * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = src @ rotation.T + shift
    matrix = ref.similarity(src, dst)
    assert np.allclose(matrix[:, :2], rotation, atol=1e-6) and np.allclose(matrix[:, 2], shift, atol=1e-6)


def test_the_held_points_are_facemeshs_outline_lips_and_rigid_points_under_their_names():
    """Each named group, read through its positions among the held points, is FaceMesh's own points."""
    from mediapipe.python.solutions import face_mesh_connections as mesh

    from data_prep import face_points as fp

    def vertices(edges):
        return {i for edge in edges for i in edge}

    assert set(fp.MESH_FACE_OVAL) == vertices(mesh.FACEMESH_FACE_OVAL)
    assert set(fp.MESH_OUTER_LIPS) | set(fp.MESH_INNER_LIPS) == vertices(mesh.FACEMESH_LIPS)
    kept = np.array(fp.KEPT)
    assert list(kept[fp.STABLE_POINTS]) == list(fp.MESH_STABLE)
    assert list(kept[fp.LIP_POINTS]) == [*fp.MESH_OUTER_LIPS, *fp.MESH_INNER_LIPS]
    assert list(kept[list(fp.MOUTH_CORNERS)]) == [61, 291] and list(kept[list(fp.INNER_LIP_MIDDLES)]) == [13, 14]
    whole = np.load(ref.PATH)
    assert np.array_equal(ref.load(), whole[kept]) and whole.shape == (fp.MESH_POINTS, 2) and fp.NUM_POINTS == 88


def test_warp_puts_the_reference_mouth_in_the_window_centre():
    """A face anywhere, at any size and roll: its mouth lands mid-window, its size fixed."""
    reference = ref.load()
    settings = CropSettings(size=96, smooth=1)
    angle = 0.25
    rotation = 180 * np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    face = reference @ rotation.T + np.array([300.0, 200.0])
    points = np.repeat(face[None], 3, axis=0).astype(np.float32)
    matrices = transforms(points, settings)
    mouth = project(points[:, OUTER_LIPS], matrices).mean(axis=1)
    assert np.allclose(mouth, 48, atol=0.5)
    corners = project(points[:, list(MOUTH_CORNERS)], matrices)
    width = np.linalg.norm(corners[:, 0] - corners[:, 1], axis=1)
    expected = np.linalg.norm(reference[MOUTH_CORNERS[0]] - reference[MOUTH_CORNERS[1]]) * 96 / settings.scale
    assert np.allclose(width, expected, rtol=0.02)


def test_preview_labels_are_whole_or_keep_both_ends():
    """preview.png showed each clip id's last 18 characters: 'rv/portrait_hevc_0001' lost its speaker."""
    from data_prep.preview import MAX_LABEL_WIDTH, _text_width, contact_sheet, fitted_label

    assert fitted_label("rv/portrait_hevc_0001") == "rv/portrait_hevc_0001"
    long = "a_very_long_speaker_folder_name/another_very_long_clip_name_0001"
    shown = fitted_label(long)
    assert shown.startswith("a_very_long") and shown.endswith("name_0001") and "..." in shown
    assert _text_width(shown) + 8 <= MAX_LABEL_WIDTH
    frames = np.zeros((10, 96, 96, 3), np.uint8)
    sheet = contact_sheet([("rv/portrait_hevc_0001", frames), ("s1/bbaf4p", frames)])
    assert sheet.shape == (192, _text_width("rv/portrait_hevc_0001") + 8 + 8 * 96, 3)


# ---------------------------------------------------------------- clip levels


def test_clip_levels_undo_a_dimmer_flatter_picture():
    """The same mouth filmed in dimmer, flatter light reaches the network (nearly) as the original
    does once each clip's levels are matched; with the fixed normalisation alone it does not."""
    grey = centre_crop(to_grey(frames_of(clip_path("bbaf2n"))), 88)
    dim = np.round(grey * 0.45 + 12).astype(np.uint8)  # half the contrast, much darker
    matched = PixelNorm(levels=(0.5577, 0.0906))
    original, dimmed = to_model_input(grey, 1, matched), to_model_input(dim, 1, matched)
    assert (original - dimmed).abs().mean() < 0.03  # uint8 rounding of the dimmed copy
    assert abs(float(original.mean()) - (0.5577 - 0.42) / 0.17) < 1e-3  # the clip now sits at the levels' mean
    fixed = PixelNorm()
    assert (to_model_input(grey, 1, fixed) - to_model_input(dim, 1, fixed)).abs().mean() > 0.5


def test_padding_does_not_move_a_clips_levels():
    """In a padded batch, a short clip's levels come from its own frames only (the device bank's path)."""
    rng = np.random.default_rng(0)
    long, short = (torch.from_numpy(rng.integers(0, 256, (n, 8, 8, 1)).astype(np.float32)) for n in (10, 4))
    padded = torch.zeros(2, 10, 8, 8, 1)
    padded[0], padded[1, :4] = long, short
    valid = torch.arange(10)[None] < torch.tensor([10, 4])[:, None]
    norm = PixelNorm(levels=(0.5, 0.1))
    batch = norm(padded, valid)
    assert torch.allclose(batch[1, :4], norm(short[None])[0], atol=1e-5)
    assert torch.allclose(batch[0], norm(long[None])[0], atol=1e-5)
    assert not torch.allclose(norm(padded)[1, :4], batch[1, :4], atol=1e-2)  # counting the padding would


# ---------------------------------------------------------------- native log filter


def test_native_lines_are_cut_even_after_an_unfinished_progress_bar():
    from data_prep.native_logs import _without_native

    bar = b"prep:   0%|          | 0/2 [00:00<?, ?clip/s]"
    assert _without_native(bar + b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n") == bar
    assert _without_native(bar + b"Created TensorFlow Lite XNNPACK delegate for CPU.\n") == bar  # seen in prep
    glog = b"W0000 00:00:1795510105.402463   14360 inference_feedback_manager.cc:114] Feedback manager\n"
    assert _without_native(glog) == b""
    assert _without_native(b"built 2 clips (150 frames), rejected 0\n") == b"built 2 clips (150 frames), rejected 0\n"


def test_adapt_settings_follow_the_number_of_clips_and_refuse_bad_values() -> None:
    from lipread.adapt import choose_settings
    from lipread.errors import UserError

    assert (choose_settings(15).batch_size, choose_settings(15).epochs) == (8, 60)  # 2 updates a pass
    assert (choose_settings(5).batch_size, choose_settings(5).epochs) == (2, 40)  # 3 updates a pass
    assert choose_settings(10, spliced_per_clip=3).epochs == 24  # 40 samples a pass, 5 updates
    assert choose_settings(15, epochs=3, lr=0.01).epochs == 3 and choose_settings(15, lr=0.01).lr == 0.01
    for bad in ({"lr": -1.0}, {"kl_weight": -0.5}, {"layers": "head"}):
        with pytest.raises(UserError):
            choose_settings(15, **bad)


# ---------------------------------------------------------------- live frame feed


def test_a_real_time_feed_drops_frames_rather_than_queue_them():
    from lipread.live_sources import FrameFeed

    feed = FrameFeed(drop=True, capacity=3)
    for i in range(10):  # a reader that has fallen behind: only 3 may wait
        feed.put(i)
    feed.end()
    assert list(feed) == [0, 1, 2] and (feed.received, feed.dropped) == (10, 7)
    every = FrameFeed.pumped(iter(range(50)), drop=False, capacity=3)  # a file read as fast as it goes
    assert list(every) == list(range(50)) and every.dropped == 0
    failing = FrameFeed.pumped((1 / x for x in (1, 0)), drop=False)
    with pytest.raises(ZeroDivisionError):  # the source's error reaches the reader
        list(failing)


def test_a_resumed_runs_csv_log_keeps_the_earlier_rows(tmp_path: Path):
    """Lightning's CSV logger deletes metrics.csv when a run folder is reused, as every resume does."""
    import csv

    from lipread.run_logs import ResumableCSVLogger

    first = ResumableCSVLogger(tmp_path, name="", version="")
    first.log_metrics({"val_wer": 0.5}, step=1)
    first.save()
    second = ResumableCSVLogger(tmp_path, name="", version="")  # the resumed session
    second.log_metrics({"val_wer": 0.25, "train_loss": 2.0}, step=2)
    second.save()
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = [(r["step"], r["val_wer"], r["train_loss"]) for r in csv.DictReader(handle)]
    assert rows == [("1", "0.5", ""), ("2", "0.25", "2.0")]


def test_a_resumed_runs_csv_log_has_each_step_once(tmp_path: Path):
    """A killed session logged steps 1-5 but its last checkpoint was at step 3: the resumed one logs
    steps 4 and 5 again, and the file keeps the new rows of those steps, not both."""
    import csv

    from lipread.run_logs import ResumableCSVLogger

    killed = ResumableCSVLogger(tmp_path, name="", version="")
    for step in range(1, 6):
        killed.log_metrics({"train_loss": 10.0 - step}, step=step)
    killed.save()
    resumed = ResumableCSVLogger(tmp_path, name="", version="")
    for step in (4, 5, 6):
        resumed.log_metrics({"train_loss": 1.0 / step}, step=step)
        resumed.save()  # saved one row at a time: only the first save cuts
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = [(int(r["step"]), float(r["train_loss"])) for r in csv.DictReader(handle)]
    assert rows == [(1, 9.0), (2, 8.0), (3, 7.0), (4, 0.25), (5, 0.2), (6, 1 / 6)]


def _reading(words: list[tuple[str, float, float, int]], tracks: list[tuple[int, float, float, int]]):
    """A transcript by hand: ``tracks`` are (track, start s, end s, grey level of its crops)."""
    from lipread.transcript import TrackReading, Transcript, TranscriptWord

    segments = [TrackReading(k, s, e, [0, 0, 1, 1], "", [], 1.0, False) for k, s, e, _ in tracks]
    frames = np.concatenate([np.full((round((e - s) * 25), 96, 96, 3), level, np.uint8) for _, s, e, level in tracks])
    ws = [TranscriptWord(w, s, e, 0.5, k) for w, s, e, k in words]
    return Transcript("x.mp4", "", ws, 2.0, "m", "beam", segments, mouth_frames=frames)


def test_reading_sheet_shows_each_words_own_talkers_crop():
    """Crops are stored stretch after stretch; a word of the second talker must show that talker's
    crop (bright), not the first one's (dark) at the same place in the array."""
    from lipread.reading_sheet import reading_sheet

    result = _reading([("bin", 0.1, 0.3, 0), ("set", 0.2, 0.5, 1), ("blue", 1.2, 1.4, 0)],
                      [(0, 0.0, 2.0, 20), (1, 0.0, 1.0, 230)])  # fmt: skip
    sheet = reading_sheet(result, columns=8)
    tiles = [sheet[:96, k * 98 : k * 98 + 96] for k in range(3)]
    assert [int(t.mean()) for t in tiles] == [20, 230, 20]
    assert sheet.shape[1] == 3 * 98 and (sheet[96:126, :96] < 128).any()  # a label under each crop
    nothing = reading_sheet(_reading([], [(0, 0.0, 1.0, 50)]), columns=4)  # no word: crops over time
    assert nothing.shape[:2] == (2 * (96 + 30 + 2), 4 * 98) and int(nothing[:96, :96].mean()) == 50
    long = reading_sheet(
        _reading([("a", i / 10, i / 10 + 0.05, 0) for i in range(12)], [(0, 0.0, 2.0, 9)]), max_tiles=8
    )
    assert long.shape[0] > 96 + 30 + 2  # one row of 8 and the note of the 4 left out


def test_each_reference_word_gets_what_was_read_in_its_place():
    from lipread.reading_sheet import _read_in_place

    assert _read_in_place("bin blue at f two now", "bin blue at s two now") == "bin blue at s two now".split()
    assert _read_in_place("bin blue at f two now", "bin blue f two now") == ["bin", "blue", None, "f", "two", "now"]
    assert _read_in_place("bin blue at f two now", "bin blue in at f two now") == "bin blue at f two now".split()
    assert _read_in_place("bin blue", "") == [None, None]


def test_a_split_file_keeps_its_known_ids_and_is_refused_when_it_knows_none(tmp_path: Path, caplog):
    """train, evaluate and adapt read split files through one helper: missing ids warn, no ids refuse."""
    known = {"s1/bbaf2n": 1, "s1/bbas2p": 2}
    (tmp_path / "some.txt").write_text("s1/bbas2p\ns1/gone\n\ns1/bbaf2n\n")
    with caplog.at_level("WARNING"):
        assert ids_in(tmp_path / "some.txt", known, "the dataset") == ["s1/bbas2p", "s1/bbaf2n"]
    assert "1 ids of" in caplog.text and "s1/gone" in caplog.text
    (tmp_path / "other.txt").write_text("bbaf2n\n")  # a list without speaker folders
    with pytest.raises(ContractError, match=r"^--split .*other.txt: none of its 1 ids is in ds \(its first: 'bbaf2n'; "
                       r"ds's ids look like 's1/bbaf2n'\)$"):  # fmt: skip
        ids_in(tmp_path / "other.txt", known, "ds", "--split")
    (tmp_path / "empty.txt").write_text("\n")
    with pytest.raises(ContractError, match="empty.txt: holds no ids"):
        ids_in(tmp_path / "empty.txt", known, "ds")


def test_a_worker_pool_names_the_item_that_kills_its_worker_and_reads_the_rest():
    """multiprocessing.Pool waited for ever for a dead worker's result (prep hung at 199 of 200);
    in_workers notices, tries the items that were being read alone, and names the culprit."""
    from worker_helpers import ready, square_unless_three

    from data_prep.worker_pool import WORKER_DIED, in_workers

    results = dict(in_workers(square_unless_three, list(range(8)), 2, ready))
    assert results == {i: (WORKER_DIED if i == 3 else i * i) for i in range(8)}


def test_a_phrase_gets_a_still_mouth_only_where_the_model_sees_too_little_rest():
    from lipread.rest import blank_ends, expected_rest, rest_to_add, with_rest

    blank = 0
    path = [0] * 3 + [5, 0, 7] + [0] * 20  # speech read from frame 3 to 5, 20 frames of rest after it
    log_probs = torch.nn.functional.one_hot(torch.tensor(path), 28).float().log_softmax(-1)
    assert rest_to_add(log_probs, blank, 12) == (12, 0)  # 3 frames of rest before: too few; after: enough
    assert rest_to_add(log_probs, blank, 20) == (20, 0) and rest_to_add(log_probs, blank, 21) == (21, 21)
    assert rest_to_add(log_probs[:1].repeat(30, 1), blank, 12) == (0, 0)  # nothing read: nothing to rest around
    assert blank_ends(log_probs, blank) == (3, 20) and blank_ends(log_probs[:1].repeat(30, 1), blank) is None
    # the 10th percentile of the ends: one clip cut close in ten does not pull it down to its own 2 frames
    assert expected_rest([2] + [12] * 9 + [20] * 10) == 12 and expected_rest([]) == 0
    frames = np.arange(4 * 2 * 2 * 3, dtype=np.uint8).reshape(4, 2, 2, 3)
    rested = with_rest(frames, 2, 1)
    assert len(rested) == 7 and (rested[:3] == frames[0]).all() and (rested[2:6] == frames).all()
    assert (rested[-1] == frames[-1]).all() and with_rest(frames, 0, 0) is frames


def test_a_slower_camera_shows_the_frames_lipreads_resampler_shows():
    """Training's low-frame-rate augmentation repeats frames exactly as a slower video read by lipread
    is brought to 25 fps: for each rate, the frame shown at each time is the one ``resampled`` picks
    from that camera's frames (each the 25 fps frame nearest its time)."""
    from lipread.augment import Augment, slower_camera

    length = 75
    for rate in (25.0, 15.0, 12.5, 10.0):
        nearest = [int(np.round(k * 25 / rate)) for k in range(int(length * rate / 25) + 1)]  # (ties to even)
        camera = [(k / rate, frame) for k, frame in enumerate(nearest) if frame < length]
        shown = [frame for _, frame in resampled(iter(camera), [(0.0, length / 25)])]
        assert slower_camera(length, 25.0, torch.tensor([rate]))[0].tolist() == shown, rate
    assert slower_camera(10, 25.0, torch.tensor([10.0]))[0].tolist() == [0, 0, 0, 2, 2, 5, 5, 5, 8, 8]

    clip = np.repeat(np.arange(length, dtype=np.uint8)[:, None, None, None], 4, axis=1).repeat(4, 2)  # frame i is i
    shown = Augment(size=4, flip=False, time_mask_frames=0, low_frame_rate=1.0)(clip, np.random.default_rng(0))
    order = shown[:, 0, 0, 0].astype(int)
    assert len(order) == length and (np.diff(order) >= 0).all() and (order <= np.arange(length)).all()
    assert length * 10 / 25 - 1 <= len(set(order.tolist())) < length  # a 10-25 fps camera's frames, repeated
    same = Augment(size=4, flip=False, time_mask_frames=0)(clip, np.random.default_rng(0))
    assert (same[:, 0, 0, 0] == np.arange(length)).all()  # off by default


def test_a_shipped_config_is_found_by_name_from_any_folder(tmp_path: Path, monkeypatch):
    """`--config grid_lipnet` (or a clone's `configs/grid_lipnet.yaml`) works outside a clone, as
    after a wheel install; a file of the user's own always wins; anything else is refused by name."""
    from lipread.errors import UserError
    from lipread.shipped_configs import CONFIG_DIR, resolve_config, with_shipped_configs

    monkeypatch.chdir(tmp_path)
    packaged = str(CONFIG_DIR / "grid_lipnet.yaml")
    for given in ("grid_lipnet", "grid_lipnet.yaml", "configs/grid_lipnet.yaml"):
        assert resolve_config(given) == packaged
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "grid_lipnet.yaml").write_text("model:\n  lr: 0.1\n")
    assert resolve_config("configs/grid_lipnet.yaml") == "configs/grid_lipnet.yaml"  # the user's own
    with pytest.raises(UserError, match=r"elsewhere/tiny.yaml: no such file, .*\(grid_conformer, grid_lipnet, tiny\)"):
        resolve_config("elsewhere/tiny.yaml")  # a path the user spelt out is never swapped silently
    assert with_shipped_configs(["-c", "tiny", "--config=tiny", "--data.root", "tiny"]) == [
        "-c", str(CONFIG_DIR / "tiny.yaml"), f"--config={CONFIG_DIR / 'tiny.yaml'}", "--data.root", "tiny"
    ]  # fmt: skip


def test_the_grid_configs_find_their_split_lists_from_any_folder(tmp_path: Path, monkeypatch):
    """grid_lipnet names the s1 split lists shipped beside it (splits/s1_train.txt): from a folder
    without them it trains on those; a folder's own splits/ still wins, as any path the user has."""
    from lipread.shipped_configs import CONFIG_DIR, with_shipped_configs
    from lipread.train import make_cli

    monkeypatch.chdir(tmp_path)
    args = with_shipped_configs(["--config", "grid_lipnet", "--trainer.logger", "false"])
    data = make_cli(args).datamodule.hparams
    assert (data.train_list, data.val_list) == (str(CONFIG_DIR / "splits" / "s1_train.txt"),
                                                str(CONFIG_DIR / "splits" / "s1_val.txt"))  # fmt: skip
    assert len((CONFIG_DIR / "splits" / "s1_train.txt").read_text().split()) == 695
    (tmp_path / "splits").mkdir()
    (tmp_path / "splits" / "s1_train.txt").write_text("s1/bbaf2n\n")
    assert make_cli(args).datamodule.hparams.train_list == "splits/s1_train.txt"


@pytest.mark.parametrize(
    "yaw, pitch", [(0.0, 0.0), (10.0, 0.0), (-25.0, 0.0), (45.0, 0.0), (-70.0, 0.0), (0.0, 20.0), (0.0, -35.0),
                   (30.0, -20.0), (-40.0, 25.0)],
)  # fmt: skip
def test_the_yaw_and_pitch_of_a_face_turned_by_known_angles_are_found(yaw: float, pitch: float):
    """The reference face in 3-D, turned, tilted, scaled, rolled and shifted, then seen by a camera
    without depth: the turn and the tilt are found from its 2-D points alone, whatever the roll,
    scale and place (a tilted head shows no turn, a turned one no tilt)."""
    from data_prep.head_pose import DEPTH_PATH, pose_degrees
    from data_prep.head_turn import turned

    face = np.column_stack([ref.load(), np.load(DEPTH_PATH)[list(ref.KEPT)]]) * 80.0
    seen = turned(face, yaw, pitch)[:, :2]
    roll = np.radians(12.0)
    seen = seen @ np.array([[np.cos(roll), np.sin(roll)], [-np.sin(roll), np.cos(roll)]]) + [300.0, 200.0]
    found_yaw, found_pitch = pose_degrees(seen)
    assert float(found_yaw) == pytest.approx(yaw, abs=0.5)
    assert float(found_pitch) == pytest.approx(pitch, abs=0.5)
    frames = np.stack([seen, np.full_like(seen, np.nan)])
    found = pose_degrees(frames)
    assert found[0] == pytest.approx([yaw, pitch], abs=0.5) and np.isnan(found[1]).all()
