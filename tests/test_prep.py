"""`lipread prep` on real GRID video: clips, crops, every transcript format, bad input, resume, shards."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import (
    ALIGNMENTS,
    EXAMPLE,
    EXAMPLE_TEXT,
    GRID,
    TRAIN_CLIPS,
    align_text,
    clip_path,
    frames_of,
    write_video,
)
from data_prep.builder import PrepOptions, build, merge_shards
from data_prep.contracts import CropSettings
from data_prep.crop import project
from data_prep.dataset_folder import read_jsonl, write_jsonl
from data_prep.discover import discover, shard_of
from data_prep.face_points import KEPT, MOUTH_CORNERS, NUM_POINTS, OUTER_LIPS
from data_prep.face_tracks import box_of, overlap
from data_prep.landmarks import FaceTracker
from data_prep.pipeline import extract_mouths
from data_prep.video import iter_frames

pytestmark = pytest.mark.slow  # real models, face tracking or servers: the full tier


def run_prep(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "lipread.cli", "prep", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def manifest(dataset: Path) -> list[dict]:
    return read_jsonl(dataset / "manifest.jsonl")


def rejected(dataset: Path) -> dict[str, dict]:
    return {r["id"]: r for r in read_jsonl(dataset / "rejected.jsonl")}


@pytest.fixture(scope="module")
def tracker():
    t = FaceTracker()
    yield t
    t.close()


def test_a_tracker_holds_facemeshs_own_coordinates_of_the_kept_points(tracker):
    """88 of FaceMesh's 468 points are held: the very coordinates FaceMesh gives them, and a face's box
    (the outline's extent) is nearly the box of all 468."""
    whole = FaceTracker(max_faces=1, points=None)
    tracker.start_video()
    whole.start_video()
    for _, (_, frame) in zip(range(15), iter_frames(clip_path(TRAIN_CLIPS[0]))):
        (held,), (every,) = tracker.faces(frame, 2.0), whole.faces(frame, 2.0)
        assert held.shape == (NUM_POINTS, 2) and every.shape == (468, 2)
        assert np.array_equal(held, every[list(KEPT)])
        assert overlap(box_of(held), box_of(every)) > 0.98
    whole.close()


def test_grid_clip_becomes_75_frame_crop_with_align_words(grid_input: Path, tmp_path: Path):
    out = tmp_path / "ds"
    run_prep(grid_input, "--out", out, "--alignments", ALIGNMENTS, "--workers", "1", "--preview", "2")
    entries = {e["id"]: e for e in manifest(out)}
    assert set(entries) == {f"s1/{n}" for n in TRAIN_CLIPS[:2]}
    entry = entries["s1/bbaf4p"]
    assert entry["text"] == "bin blue at f four please" == align_text("bbaf4p")
    assert entry["num_frames"] == 75 and entry["fps"] == 25.0
    align_lines = [l.split() for l in (ALIGNMENTS / "s1/bbaf4p.align").read_text().splitlines()]
    expected = [(w, int(a) / 25000, int(b) / 25000) for a, b, w in align_lines if w not in ("sil", "sp")]
    assert [w["word"] for w in entry["words"]] == [w for w, _, _ in expected]
    times = [t for w in entry["words"] for t in (w["start"], w["end"])]
    assert times == pytest.approx([t for _, a, b in expected for t in (a, b)])
    clip = frames_of(out / entry["clip"])
    assert clip.shape == (75, 96, 96, 3)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["crop_size"] == 96 and meta["counts"]["utterances"] == 2
    assert (out / "preview.png").stat().st_size > 10_000
    assert (out / "rejected.jsonl").read_text() == ""


NATIVE = ("W0000", "I0000", "XNNPACK", "inference_feedback_manager", "absl::InitializeLog")


def test_two_workers_print_no_native_lines_and_one_progress_line(grid_input: Path, tmp_path: Path):
    result = subprocess.run(  # bytes: text mode would turn tqdm's \r into line breaks
        [sys.executable, "-m", "lipread.cli", "prep", str(grid_input), "--out", str(tmp_path / "ds"),
         "--alignments", str(ALIGNMENTS), "--workers", "2"], capture_output=True, timeout=600,
    )  # fmt: skip
    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert not [line for line in stderr.splitlines() if any(n in line for n in NATIVE)], stderr
    bars = [line for line in stderr.split("\n") if "clip/s" in line or "s/clip" in line]
    assert len(bars) == 1 and bars[0].count("\r") >= 2, stderr  # redrawn in place, never broken


def test_lossless_clips_are_reproducible_and_settings_are_kept(grid_input: Path, tmp_path: Path):
    """--crf 0 clips decode to the same pixels on every run (crf 18 does not, on some inputs);
    continuing a dataset with other crop or codec settings is refused, naming them."""
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        run_prep(grid_input, "--out", out, "--alignments", ALIGNMENTS, "--workers", "1", "--crf", "0")
    clips = sorted(e["clip"] for e in manifest(a))
    assert clips and all(np.array_equal(frames_of(a / c), frames_of(b / c)) for c in clips)
    assert json.loads((a / "meta.json").read_text())["clip_codec"] == "h264 yuv444p crf 0"
    result = run_prep(grid_input, "--out", a, "--alignments", ALIGNMENTS, "--workers", "1", check=False)
    assert result.returncode == 2
    assert "clip_codec: built with h264 yuv444p crf 0, now h264 yuv444p crf 18" in result.stderr
    result = run_prep(grid_input, "--out", a, "--alignments", ALIGNMENTS, "--crf", "0", "--size", "64", check=False)
    assert result.returncode == 2 and "crop: built with" in result.stderr
    # a dataset begun by a lipread that cut turned faces another way (as before 2026-12-05's frontal
    # cut for tilted faces) is not continued with this one's cut
    meta = json.loads((a / "meta.json").read_text())
    assert meta["crop_method"].endswith("from 5 to 15 degrees of yaw and from 10 to 20 of pitch"), meta
    old_cut = meta["crop_method"].split(" and from ")[0]
    (a / "meta.json").write_text(json.dumps({**meta, "crop_method": old_cut}))
    result = run_prep(grid_input, "--out", a, "--alignments", ALIGNMENTS, "--workers", "1", "--crf", "0", check=False)
    assert result.returncode == 2 and "was built by a lipread that cuts the crops differently" in result.stderr
    assert f"crop_method: built with {old_cut}, now" in result.stderr and "Traceback" not in result.stderr


def test_lips_land_in_the_centre_of_the_crop(tracker):
    """The warp is fixed by eyes and nose only; the detected lips must still fall mid-window."""
    settings = CropSettings()
    (clip,), _ = extract_mouths(str(clip_path("bbaf4p")), [(None, None)], tracker, settings)
    lips = project(clip.crops.points[:, OUTER_LIPS], clip.crops.transforms)
    size = settings.size
    assert lips.min() > 0.1 * size and lips.max() < 0.9 * size
    centre = lips.mean(axis=(0, 1))
    assert np.all(np.abs(centre - size / 2) < 0.08 * size), centre
    # and in the pixels: the crop centre is reddish lip, not skin far away
    frame = clip.crops.frames[0].astype(float)
    mid = frame[40:56, 30:66]
    assert mid[..., 0].mean() - mid[..., 1].mean() > 20


def test_head_roll_and_scale_are_normalised(tracker, tmp_path: Path):
    """A rotated, shrunken copy of the clip gives the same crop as the original."""
    frames = frames_of(clip_path("bbaf4p"))[:30]
    h, w = frames.shape[1:3]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 15, 0.8)
    rotated = np.stack([cv2.warpAffine(f, matrix, (w, h), borderMode=cv2.BORDER_REFLECT) for f in frames])
    settings = CropSettings()
    a = extract_mouths(str(write_video(tmp_path / "a.mp4", frames)), [(None, None)], tracker, settings)[0][0]
    b = extract_mouths(str(write_video(tmp_path / "b.mp4", rotated)), [(None, None)], tracker, settings)[0][0]
    corners = project(b.crops.points[:, list(MOUTH_CORNERS)], b.crops.transforms)
    angle = np.degrees(np.arctan2(*(corners[:, 1] - corners[:, 0]).T[::-1]))
    assert np.abs(np.median(angle)) < 4
    diff = np.abs(a.crops.frames.astype(float) - b.crops.frames.astype(float)).mean()
    assert diff < 12, diff


def test_other_fps_and_mpeg1_source(tracker, tmp_path: Path):
    """The original MPEG-1 file works, and a 50 fps copy is brought back to 25 fps."""
    settings = CropSettings()
    (clip,), fps = extract_mouths(str(clip_path("swwp2s", "s2")), [(None, None)], tracker, settings)
    assert fps == 25 and clip.num_frames == 75 and clip.error is None
    frames = frames_of(clip_path("bbaf4p"))[:50]
    doubled = np.repeat(frames, 2, axis=0)
    (fast,), fps = extract_mouths(str(write_video(tmp_path / "f.mp4", doubled, 50)), [(None, None)], tracker, settings)
    assert fps == 50 and fast.num_frames == 50


def test_lrs_txt_srt_vtt_and_manifests(tmp_path: Path):
    root = tmp_path / "in"
    (root / "spk").mkdir(parents=True)
    # LRS-style .txt with a word table
    shutil.copy(clip_path("bbaf4p"), root / "spk" / "lrs.mp4")
    (root / "spk" / "lrs.txt").write_text(
        "Text:  BIN BLUE AT F FOUR PLEASE\nConf:  5\n\nWORD START END ASDSCORE\n"
        "BIN 0.50 0.80 3.1\nBLUE 0.80 1.00 2.0\nAT 1.00 1.10 2.0\nF 1.10 1.30 2.0\nFOUR 1.30 1.60 2\nPLEASE 1.60 2.00 2\n"
    )
    # a long video made of three GRID clips, cut back apart by subtitles
    parts = [frames_of(clip_path(n)) for n in TRAIN_CLIPS[:3]]
    write_video(root / "spk" / "long.mp4", np.concatenate(parts))
    texts = [align_text(n) for n in TRAIN_CLIPS[:3]]
    srt = "".join(
        f"{i + 1}\n00:00:0{3 * i},000 --> 00:00:0{3 * i + 2},960\n<i>{t.upper()}.</i>\n\n" for i, t in enumerate(texts)
    )
    (root / "spk" / "long.srt").write_text(srt)
    shutil.copy(clip_path("bbal6n"), root / "spk" / "sub.mp4")
    (root / "spk" / "sub.vtt").write_text("WEBVTT\n\n00:00:00.500 --> 00:00:02.500\nBin, blue - at!\n")
    out = tmp_path / "ds"
    run_prep(root, "--out", out, "--workers", "2")
    entries = {e["id"]: e for e in manifest(out)}
    assert rejected(out) == {}
    lrs = entries["spk/lrs"]
    assert lrs["text"] == "bin blue at f four please"
    assert lrs["words"][4] == {"word": "four", "start": 1.3, "end": 1.6}
    for i, text in enumerate(texts):
        cue = entries[f"spk/long_{i + 1:04d}"]
        assert cue["text"] == text and cue["num_frames"] == 74
        assert cue["source_start"] == 3 * i
    # the cue's crop shows what the original clip's crop shows
    original = tmp_path / "orig"
    run_prep(clip_path(TRAIN_CLIPS[1]).parent, "--out", original, "--alignments", ALIGNMENTS, "--workers", "1")
    cut = frames_of(out / entries["spk/long_0002"]["clip"]).astype(float)
    whole = frames_of(original / f"clips/s1/{TRAIN_CLIPS[1]}.mp4")[:74].astype(float)
    assert np.abs(cut - whole).mean() < 6
    assert entries["spk/sub_0001"]["text"] == "bin blue at" and entries["spk/sub_0001"]["num_frames"] == 50

    # CSV manifest with segments, JSONL manifest without
    (tmp_path / "m.csv").write_text(
        "path,text,start,end,speaker\nspk/lrs.mp4,bin blue,0.5,1.5,alice\nspk/lrs.mp4,at f four,1.0,2.0,alice\n"
    )
    (tmp_path / "m.jsonl").write_text(json.dumps({"path": "spk/sub.mp4", "text": "Bin blue!", "id": "x1"}) + "\n")
    for name, expected in (("m.csv", {"alice/lrs_0001": 25, "alice/lrs_0002": 25}), ("m.jsonl", {"spk/x1": 75})):
        ds = tmp_path / f"ds_{name}"
        run_prep(root, "--out", ds, "--manifest", tmp_path / name, "--workers", "1")
        assert {e["id"]: e["num_frames"] for e in manifest(ds)} == expected


def test_each_clip_says_how_its_face_is_held_and_max_yaw_and_max_pitch_leave_out_the_turned(
    turned_example: Path, tilted_example: Path, tmp_path: Path
):
    root = tmp_path / "in"
    (root / "spk").mkdir(parents=True)
    for name, video in (("frontal", EXAMPLE), ("turned", turned_example), ("tilted", tilted_example)):
        shutil.copy(video, root / "spk" / f"{name}.mp4")
        (root / "spk" / f"{name}.txt").write_text(f"Text: {EXAMPLE_TEXT}\n")
    everything = tmp_path / "all"
    run_prep(root, "--out", everything, "--workers", "1")
    held = {e["id"]: (e["yaw"], e["pitch"]) for e in manifest(everything)}
    assert abs(held["spk/frontal"][0]) < 5 and abs(held["spk/frontal"][1]) < 10, held
    assert held["spk/turned"][0] < -25 and held["spk/tilted"][1] < -20 and abs(held["spk/tilted"][0]) < 10, held
    frontal_only = tmp_path / "frontal"
    run_prep(root, "--out", frontal_only, "--workers", "1", "--max-yaw", "20", "--max-pitch", "20")
    assert [e["id"] for e in manifest(frontal_only)] == ["spk/frontal"]
    refused = rejected(frontal_only)
    assert refused["spk/turned"]["reason"] == "face_turned_away", refused
    assert "more than --max-yaw 20" in refused["spk/turned"]["detail"], refused
    assert refused["spk/tilted"]["reason"] == "face_turned_away", refused
    assert "degrees down from the camera (median), more than --max-pitch 20" in refused["spk/tilted"]["detail"]


def test_bad_inputs_are_rejected_with_reasons_and_the_run_goes_on(tmp_path: Path):
    root = tmp_path / "in" / "spk"
    root.mkdir(parents=True)
    good = frames_of(clip_path("bbaf4p"))
    text = "Text: bin blue at f four please\n"

    def with_text(name: str, body: str = text) -> None:
        (root / f"{name}.txt").write_text(body)

    shutil.copy(clip_path("bbaf4p"), root / "good.mp4")
    with_text("good")
    # seeded: about 2 draws in 100 of unseeded bytes probe as a format (lrc subtitles, h263) and are
    # then rejected for another reason, which made this test fail now and then
    (root / "random.mp4").write_bytes(np.random.default_rng(0).bytes(50_000))
    with_text("random")
    data = clip_path("bbaf5a").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    with_text("truncated")
    _audio_only(root / "audio.mp4")
    with_text("audio")
    write_video(root / "short.mp4", good[:5])
    with_text("short")
    noise = np.random.default_rng(0).integers(0, 255, (40, 288, 360, 3), dtype=np.uint8)
    write_video(root / "noface.mp4", noise)
    with_text("noface")
    shutil.copy(clip_path("bbaf4p"), root / "untranscribed.mp4")
    shutil.copy(clip_path("bbaf4p"), root / "empty.mp4")
    with_text("empty", "Text:   \n")
    shutil.copy(clip_path("bbaf4p"), root / "digits.mp4")
    with_text("digits", "Text: bin blue at f 4 please\n")
    shutil.copy(clip_path("bbaf4p"), root / "cue.mp4")
    (root / "cue.srt").write_text(
        "1\n00:00:01,000 --> 00:00:02,000\nbin blue\n\n2\n00:00:10,000 --> 00:00:12,000\nat f\n"
    )

    out = tmp_path / "ds"
    run_prep(tmp_path / "in", "--out", out, "--workers", "2")
    reasons = {k: v["reason"] for k, v in rejected(out).items()}
    assert reasons == {
        "spk/random": "unreadable",
        "spk/truncated": "truncated",
        "spk/audio": "no_video_stream",
        "spk/short": "too_few_frames",
        "spk/noface": "no_face",
        "spk/untranscribed": "missing_transcript",
        "spk/empty": "empty_transcript",
        "spk/digits": "bad_characters",
        "spk/cue_0002": "cue_outside_video",
    }
    details = rejected(out)
    assert "'4'" in details["spk/digits"]["detail"]
    assert "frames 0-39" in details["spk/noface"]["detail"] or "any of 40" in details["spk/noface"]["detail"]
    assert {e["id"] for e in manifest(out)} == {"spk/good", "spk/cue_0001"}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["counts"]["rejected_by_reason"]["unreadable"] == 1


def _audio_only(path: Path) -> None:
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        samples = np.zeros((1, 16000), dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


@pytest.mark.parametrize("fps,cue_end_ms", [(25.0, 960), (12.5, 990)])
def test_a_long_videos_cues_cut_in_pieces_are_the_cues_cut_whole(fps: float, cue_end_ms: int, tmp_path: Path,
                                                                 monkeypatch):  # fmt: skip
    """A lecture's subtitles go to workers as pieces of video, each decoded from the keyframe before
    its first cue (builder.pieces): every clip must be the very clip one pass over the whole video
    cuts, pixel for pixel (lossless clips), with the same manifest line. At 12.5 fps a cue's last
    frame is the next cue's first (2.96 s is shown until 3.04 s)."""
    from data_prep import builder

    names = [p.stem for p in sorted((GRID / "s1").glob("*.mp4"))]  # the 6 s1 clips in the repository
    root = tmp_path / "in" / "spk"
    root.mkdir(parents=True)
    step = round(25 / fps)
    write_video(root / "talk.mp4", np.concatenate([frames_of(clip_path(n))[::step] for n in names]), fps)  # 18 s
    texts = [align_text(n) for n in names]
    (root / "talk.srt").write_text("".join(
        f"{i + 1}\n00:00:{3 * i:02d},000 --> 00:00:{3 * i + 2:02d},{cue_end_ms}\n{t}\n\n" for i, t in enumerate(texts)))  # fmt: skip
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    build(PrepOptions(root.parent, whole, workers=1, crf=0))
    monkeypatch.setattr(builder, "PIECE_S", 3.0)  # a piece a cue, decoded from 0, 2, 5, 8 ... s: mid-GOP seeks
    build(PrepOptions(root.parent, cut, workers=1, crf=0))
    assert manifest(cut) == manifest(whole) and len(manifest(cut)) == 6 and rejected(cut) == {}
    for entry in manifest(whole):
        assert np.array_equal(frames_of(cut / entry["clip"]), frames_of(whole / entry["clip"])), entry["id"]


def test_pieces_of_a_long_video_break_only_where_no_cue_overlaps():
    from data_prep.builder import pieces
    from data_prep.discover import SourceJob, Utterance

    def starts(cues: list[tuple[float, float | None]], piece_s: float) -> list[tuple[float, list[str]]]:
        job = SourceJob("v.mp4", "", [Utterance(str(i), "s", "a", [], a, b) for i, (a, b) in enumerate(cues)])
        return [(p.from_s, [u.id for u in p.utterances]) for p in pieces(job, piece_s)]

    back_to_back = [(3.0 * i, 3.0 * i + 3.0) for i in range(6)]  # as subtitles often are
    assert starts(back_to_back, 6.0) == [(0.0, ["0", "1"]), (5.0, ["2", "3"]), (11.0, ["4", "5"])]
    assert starts(back_to_back, 100.0) == [(0.0, [str(i) for i in range(6)])]
    assert len(starts([(4.0 * i, 4.0 * i + 9.0) for i in range(5)], 3.0)) == 1  # each overlaps the next
    assert starts([(0.0, None)], 3.0) == [(0.0, ["0"])]  # a whole-video utterance: the video stays whole


def test_interrupted_run_resumes_to_the_same_manifest(tmp_path: Path):
    root = tmp_path / "in" / "s1"
    root.mkdir(parents=True)
    for name in TRAIN_CLIPS + ["bbaf2n", "bbas2p"]:
        shutil.copy(clip_path(name), root)
    args = [tmp_path / "in", "--alignments", ALIGNMENTS, "--workers", "1"]
    clean = tmp_path / "clean"
    run_prep(*args, "--out", clean)

    broken = tmp_path / "broken"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lipread.cli", "prep", *map(str, args), "--out", str(broken)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 120
    while time.time() < deadline and len(read_jsonl(broken / "manifest.jsonl")) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(read_jsonl(broken / "manifest.jsonl"))
    assert 2 <= done < 6, "the kill came too late to test anything"
    # a torn last line and a stale temporary clip, as a crash mid-write leaves them
    with (broken / "manifest.jsonl").open("a") as fh:
        fh.write('{"id": "s1/bbal7s", "clip": "clips/s1/bbal7s.mp4", "te')
    (broken / "clips/s1/.bbal7s.tmp999.mp4").write_bytes(b"partial")
    meta = json.loads((broken / "meta.json").read_text())  # written at the start, so ...
    assert meta["finished"] is False and meta["crop_size"] == 96
    torn = (broken / "manifest.jsonl").read_text()
    result = run_prep(*args, "--out", broken, "--size", "64", check=False)  # ... other settings are refused
    assert result.returncode == 2 and "crop: built with" in result.stderr
    assert (broken / "manifest.jsonl").read_text() == torn  # and nothing was touched
    result = run_prep(*args, "--out", broken)
    assert f"skipped {done} already done" in result.stderr
    assert (broken / "manifest.jsonl").read_text() == (clean / "manifest.jsonl").read_text()
    assert not list((broken / "clips").rglob(".*tmp*"))
    for entry in manifest(broken):
        assert frames_of(broken / entry["clip"]).shape[0] == entry["num_frames"]
    assert json.loads((broken / "meta.json").read_text())["finished"] is True


def test_a_rerun_tries_again_what_a_dead_worker_left_rejected_but_not_the_inputs_at_fault(tmp_path: Path):
    """A video whose worker died twice (the out-of-memory killer, say) is rejected as ``error``; that
    says nothing final about the video, so the same command run again reads it again, while a
    video without a face stays rejected and is not read again."""
    from data_prep.worker_pool import DIED_DETAIL

    root = tmp_path / "in" / "s1"
    root.mkdir(parents=True)
    for name in TRAIN_CLIPS[:2]:
        shutil.copy(clip_path(name), root)
        (root / f"{name}.txt").write_text(f"Text: {align_text(name)}\n")
    write_video(root / "noface.mp4", np.random.default_rng(0).integers(0, 255, (40, 288, 360, 3), dtype=np.uint8))
    (root / "noface.txt").write_text("Text: bin blue at f four please\n")
    out = tmp_path / "ds"
    args = [tmp_path / "in", "--out", out, "--workers", "1"]
    run_prep(*args)
    assert {k: v["reason"] for k, v in rejected(out).items()} == {"s1/noface": "no_face"}
    # what a worker that died twice on the second video leaves: no clip, an ``error`` line
    lost = f"s1/{TRAIN_CLIPS[1]}"
    entries = manifest(out)
    (out / next(e for e in entries if e["id"] == lost)["clip"]).unlink()
    write_jsonl(out / "manifest.jsonl", [e for e in entries if e["id"] != lost])
    with (out / "rejected.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": lost, "source": f"s1/{TRAIN_CLIPS[1]}.mpg", "reason": "error",
                             "detail": DIED_DETAIL}) + "\n")  # fmt: skip
    result = run_prep(*args)
    assert "built 1 clips" in result.stderr and "skipped 2 already done" in result.stderr
    assert sorted(e["id"] for e in manifest(out)) == sorted(f"s1/{n}" for n in TRAIN_CLIPS[:2])
    assert {k: v["reason"] for k, v in rejected(out).items()} == {"s1/noface": "no_face"}
    assert frames_of(out / f"clips/{lost}.mp4").shape == (75, 96, 96, 3)


def test_shards_cover_every_input_exactly_once(tmp_path: Path):
    jobs, _ = discover(clip_path("bbaf4p").parent.parent, ALIGNMENTS)
    names = [f"spk{i % 7}/clip{i:05d}.mp4" for i in range(3000)]
    for n in (1, 3, 8):
        owners = [shard_of(name, n) for name in names]
        assert all(0 <= o < n for o in owners)
        assert min(np.bincount(owners, minlength=n)) > 3000 / n * 0.8  # balanced
        assert owners == [shard_of(name, n) for name in reversed(names)][::-1]  # order-free
    # real shards of the fixtures, merged, equal a single build
    out = tmp_path / "ds"
    single = tmp_path / "single"
    inputs = clip_path("bbaf4p").parent.parent
    for i in range(3):
        build(PrepOptions(inputs, out, alignments=ALIGNMENTS, workers=1, shard=(i, 3)))
    with pytest.raises(ValueError, match=r"unfinished \['9-of-3'\]"):
        (out / "shards/9-of-3").mkdir()
        merge_shards(out)
    (out / "shards/9-of-3").rmdir()
    merge_shards(out)
    build(PrepOptions(inputs, single, alignments=ALIGNMENTS, workers=1))
    assert [e["id"] for e in manifest(out)] == [e["id"] for e in manifest(single)]
    assert len(jobs) == len(manifest(single)) == 7


def test_ctrl_c_stops_the_workers_at_once_and_the_same_command_finishes(tmp_path: Path):
    """``--workers 2`` (data_prep.worker_pool): Ctrl-C ends the run with 130 and no worker left
    reading, the clips done so far kept; the same command then builds only the rest."""
    import psutil

    root = tmp_path / "in"
    root.mkdir()
    names = TRAIN_CLIPS + ["bbaf2n", "bbas2p"]
    rows = ["path,text"]
    for k in range(16):
        shutil.copy(clip_path(names[k % len(names)]), root / f"c{k:02d}.mp4")
        rows.append(f"c{k:02d}.mp4,{align_text(names[k % len(names)])}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    args = [root, "--manifest", tmp_path / "manifest.csv", "--out", tmp_path / "ds", "--workers", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "lipread.cli", "prep", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and len(read_jsonl(tmp_path / "ds" / "manifest.jsonl")) < 2:
        time.sleep(0.05)
    workers = [c for c in psutil.Process(proc.pid).children() if "spawn_main" in " ".join(c.cmdline())]
    assert len(workers) == 2
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted: run the same command again" in err, err[-2000:]
    assert not [w for w in workers if w.is_running() and w.status() != psutil.STATUS_ZOMBIE]
    done = len(read_jsonl(tmp_path / "ds" / "manifest.jsonl"))
    assert 2 <= done < 16, "the Ctrl-C came too late to test anything"
    result = run_prep(*args)
    assert f"skipped {done} already done" in result.stderr
    assert len(read_jsonl(tmp_path / "ds" / "manifest.jsonl")) == 16
