"""Decoding, `lipread evaluate` and `lipread transcribe` on real GRID video."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import cv2
import jiwer
import numpy as np
import pytest
import srt
import webvtt

from conftest import ALIGNMENTS, TINY_TRAIN_IDS, TRAIN_CLIPS, align_text, clip_path, frames_of, lipread, write_video
from data_prep.pipeline import cut_mouths
from data_prep.transcripts import read_grid_align
from lipread.evaluate import score
from lipread.subtitles import to_srt, to_vtt
from lipread.transcribe import Transcriber, TranscriptionError
from lipread.transcript import Span, TranscriptWord

pytestmark = pytest.mark.slow  # real models, face tracking or servers: the full tier

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(trained_tiny: Path) -> Transcriber:
    return Transcriber.from_checkpoint(trained_tiny, "cpu")


def test_corpus_level_rates_are_jiwers():
    refs = ["bin blue at f two now", "set red", "lay green by a one soon"]
    hyps = ["bin blue at s two now", "set red again", "lay green by one soon"]
    result = score(["s1/a", "s1/b", "s2/c"], ["s1", "s1", "s2"], refs, hyps)
    assert result.wer == jiwer.wer(refs, hyps) == pytest.approx(3 / 14)
    assert result.cer == jiwer.cer(refs, hyps)
    per_utterance_mean = np.mean([jiwer.wer(r, h) for r, h in zip(refs, hyps)])
    assert result.wer != pytest.approx(per_utterance_mean)  # corpus-level, not a mean of rates
    w = result.words
    assert (w.substitutions, w.deletions, w.insertions) == (1, 1, 1)
    assert result.per_speaker["s2"].wer == pytest.approx(1 / 6)
    assert result.sentence_accuracy == 0
    assert result.worst[0].errors == 1 and "REF:" in result.worst[0].alignment


def test_evaluate_cli_reports_match_jiwer(trained_tiny: Path, tiny_dataset: Path, tmp_path: Path):
    result = lipread(
        "evaluate",
        "--checkpoint",
        trained_tiny,
        "--data",
        tiny_dataset,
        "--decoder",
        "greedy,beam",
        "--output",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    manifest = {
        json.loads(l)["id"]: json.loads(l)["text"] for l in (tiny_dataset / "manifest.jsonl").read_text().splitlines()
    }
    for kind in ("greedy", "beam"):
        hyps = report["hypotheses"][kind]
        ids = sorted(hyps)
        assert report["decoders"][kind]["wer"] == jiwer.wer([manifest[i] for i in ids], [hyps[i] for i in ids])
        assert set(report["decoders"][kind]["per_speaker"]) == {"s1", "s2"}
    for i in TINY_TRAIN_IDS:  # trained on: recognised exactly with the lexicon beam
        assert report["hypotheses"]["beam"][i] == manifest[i]
    assert (tmp_path / "report.png").stat().st_size > 5000
    assert "| greedy |" in (tmp_path / "report.md").read_text()
    assert "WER" in result.stdout
    # the worst-read beam utterances as pictures: a row each, a GRID sentence's six mouths a row
    worst = report["decoders"]["beam"]["worst"]
    assert worst and (tmp_path / "worst.png").is_file() and "](worst.png)" in (tmp_path / "report.md").read_text()
    sheet = cv2.imread(str(tmp_path / "worst.png"))
    assert sheet.shape[:2] == (min(8, len(worst)) * (16 + 96 + 30 + 2 + 4), 6 * (96 + 2))


def test_evaluate_calibrate_measures_a_model_folders_thresholds(trained_tiny: Path, tiny_dataset: Path, tmp_path: Path):
    """A folder without measured out-of-domain thresholds has guesses, by which the tiny model calls
    2 of its own 7 clips out of domain; ``evaluate --calibrate`` measures them on the clips given and
    writes them into the folder's decoding.json, and then those clips read as in domain."""
    from lipread.clips import read_dataset
    from lipread.evaluate import read_and_assess, select_utterances
    from lipread.pretrained import decoding_defaults

    model = Path(shutil.copytree(trained_tiny, tmp_path / "model"))
    clips = select_utterances(read_dataset(tiny_dataset), None)

    def flagged() -> int:
        judged = read_and_assess(Transcriber.from_checkpoint(model, "cpu"), clips)
        return sum(a.out_of_domain for _, a in judged.values())

    assert flagged() == 2
    result = lipread("evaluate", "--checkpoint", model, "--data", tiny_dataset, "--decoder", "greedy", "--calibrate")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"out-of-domain thresholds written to {model / 'decoding.json'}" in result.stdout
    calibration = decoding_defaults(model).calibration
    assert calibration.source.startswith("dataset, 7 utterances") and decoding_defaults(model).grammar is None
    assert flagged() == 0


def test_evaluate_calibrate_admits_faces_turned_as_its_clips_are(trained_tiny: Path, tiny_dataset: Path,
                                                                 tmp_path: Path):  # fmt: skip
    """Calibrated on frontal clips, a model keeps the default ``max_yaw``; on the same clips filmed
    from the side (their manifest lines say 40 degrees), it admits them: 40 plus the margin."""
    from lipread.confidence import MAX_YAW, POSE_MARGIN
    from lipread.pretrained import decoding_defaults

    for yaw, expected in ((None, MAX_YAW), (-40.0, 40.0 + POSE_MARGIN)):
        data = Path(shutil.copytree(tiny_dataset, tmp_path / f"data{yaw}"))
        lines = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
        assert all(abs(line["yaw"]) < 10 for line in lines)  # prep measured GRID's faces: frontal
        if yaw is not None:
            (data / "manifest.jsonl").write_text("".join(json.dumps({**line, "yaw": yaw}) + "\n" for line in lines))
        model = Path(shutil.copytree(trained_tiny, tmp_path / f"model{yaw}"))
        result = lipread("evaluate", "--checkpoint", model, "--data", data, "--decoder", "greedy", "--calibrate")
        assert result.returncode == 0, result.stderr[-2000:]
        assert decoding_defaults(model).calibration.max_yaw == pytest.approx(expected)


def test_evaluate_calibrate_measures_the_rest_a_model_expects(tiny_dataset: Path, tmp_path: Path):
    """The shipped model learnt GRID's clips, which hold about a second of still lips around each
    sentence: ``evaluate --calibrate`` on GRID clips measures its ``rest_frames`` (set to 0 here) from
    the blank at the ends of its readings, near the 12 chosen by hand on s1_val's cut clips (it gives
    exactly 12 on s1_val, RESULTS.md), not 0 nor a whole clip's 75."""
    from lipread.pretrained import decoding_defaults

    model = Path(shutil.copytree(ROOT / "lipread" / "pretrained", tmp_path / "model"))
    record = json.loads((model / "decoding.json").read_text())
    (model / "decoding.json").write_text(json.dumps({**record, "rest_frames": 0}))
    result = lipread("evaluate", "--checkpoint", model, "--data", tiny_dataset, "--decoder", "beam", "--calibrate")
    assert result.returncode == 0, result.stderr[-2000:]
    measured = decoding_defaults(model)
    assert 8 <= measured.rest_frames <= 16, measured
    assert f"rest_frames {measured.rest_frames} (was 0)" in result.stdout
    assert measured.grammar == record["grammar"]  # the rest of the folder's decoding kept


def _timing_errors(words: list[TranscriptWord], align: Path) -> np.ndarray:
    reference = read_grid_align(align).words
    assert [w.word for w in words] == [w["word"] for w in reference]
    return np.array([max(abs(a.start - b["start"]), abs(a.end - b["end"])) for a, b in zip(words, reference)])


TINY_SOURCES = [("s1", n) for n in TRAIN_CLIPS] + [("s2", "swwp2s")]  # H.264 mp4 and original MPEG-1


@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_tiny_model_transcribes_raw_video(tiny: Transcriber, decoder: str):
    refs, hyps = [], []
    for speaker, name in TINY_SOURCES:
        result = tiny.transcribe(clip_path(name, speaker), decoder)
        refs.append(align_text(name, speaker))
        hyps.append(result.text)
        assert all(0 <= w.confidence <= 1 for w in result.words)
        assert all(0 <= w.start <= w.end <= result.duration for w in result.words)
        assert result.duration in (2.96, 3.0) and set(result.timings) >= {
            "decode",
            "landmarks",
            "crop",
            "model",
            "decoder",
        }
    if decoder == "beam":  # the lexicon + LM spell every word right
        assert hyps == refs
    else:  # greedy: measured 1 wrong word in 30 ("seven" as "se"); the bound allows one more, for float
        # differences between machines. The tiny model learnt whole 3 s clips; transcription reads each
        # phrase from up to 0.8 s before the lips move to 0.6 s after they stop.
        assert jiwer.wer(refs, hyps) <= 2 / 30, hyps


def test_word_timings_within_0_2_s_of_the_alignments(trained_tiny_windowed: Path, tiny_dataset: Path, tmp_path: Path):
    """Start and end of each word (forced alignment) against the .align times, for the tiny model
    fine-tuned with word windows (lipread.word_windows); plain CTC put 3-25% of words within 0.2 s."""
    tiny = Transcriber.from_checkpoint(trained_tiny_windowed, "cpu")
    errors = np.concatenate([
        _timing_errors(tiny.transcribe(clip_path(n, s), "beam").words, ALIGNMENTS / s / f"{n}.align")
        for s, n in TINY_SOURCES
    ])  # fmt: skip
    assert np.mean(errors <= 0.2) >= 0.8, errors.round(2)  # measured: 30 of 30
    result = lipread(
        "evaluate",
        "--checkpoint",
        trained_tiny_windowed,
        "--data",
        tiny_dataset,
        "--decoder",
        "beam",
        "--output",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    timing = json.loads((tmp_path / "report.json").read_text())["timing"]  # references force-aligned
    assert timing["words"] == 6 * 7 and timing["within_0_2_s"] >= 0.7, timing
    assert "word timings:" in result.stdout and "Word timings" in (tmp_path / "report.md").read_text()


def test_subtitles_parse():
    words = [TranscriptWord("bin", 0.7, 0.9), TranscriptWord("blue", 0.9, 1.06), TranscriptWord("now", 2.5, 2.9)]
    phrases = list(srt.parse(to_srt(words)))
    assert [p.content for p in phrases] == ["bin blue", "now"]
    assert phrases[0].start.total_seconds() == 0.7 and phrases[1].end.total_seconds() == 2.9
    cues = webvtt.from_buffer(__import__("io").StringIO(to_vtt(words, per="word")))
    assert [c.text for c in cues] == ["bin", "blue", "now"]
    assert cues[1].start == "00:00:00.900" and cues[1].end == "00:00:01.060"


def test_cli_formats_and_failures(trained_tiny: Path, tmp_path: Path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 5000)
    good = clip_path(TRAIN_CLIPS[0])
    result = lipread(
        "transcribe",
        good,
        bad,
        "--checkpoint",
        trained_tiny,
        "--decoder",
        "beam",
        "--format",
        "srt",
        "-o",
        tmp_path / "out",
    )
    assert result.returncode == 1  # one file failed ...
    assert "broken.mp4" in result.stderr and "[unreadable]" in result.stderr
    subs = list(srt.parse((tmp_path / "out" / f"{good.stem}.srt").read_text()))  # ... the other is done
    assert " ".join(s.content for s in subs) == align_text(TRAIN_CLIPS[0])
    result = lipread("transcribe", good, "--checkpoint", trained_tiny, "--format", "json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert data["text"] == align_text(TRAIN_CLIPS[0]) and len(data["words"]) == 6 and data["model"] == "tiny-plain"


def test_face_less_frames_are_a_gap_not_a_failure(tiny: Transcriber, tmp_path: Path):
    frames = frames_of(clip_path(TRAIN_CLIPS[0]))
    frames[20:60] = np.random.default_rng(0).integers(0, 255, frames[20:60].shape, dtype=np.uint8)
    result = tiny.transcribe(write_video(tmp_path / "masked.mp4", frames))
    assert result.gaps == [[0.8, 2.4]]
    assert [(s.start, s.end) for s in result.segments] == [(0.0, 0.8), (2.4, 3.0)]


def test_face_too_small(tiny: Transcriber, tmp_path: Path):
    frames = frames_of(clip_path(TRAIN_CLIPS[0]))[:30]
    small = np.zeros_like(frames)
    small[:, 72:216, 90:270] = frames[:, ::2, ::2]  # half size, mouth about 20 px
    strict = Transcriber(tiny.model)
    strict.crop = dataclasses.replace(strict.crop, min_mouth_width=30)
    with pytest.raises(TranscriptionError, match="px wide") as err:
        strict.transcribe(write_video(tmp_path / "small.mp4", small))
    assert err.value.code == "face_too_small"


def test_too_short_and_unreadable(tiny: Transcriber, tmp_path: Path):
    short = write_video(tmp_path / "short.mp4", frames_of(clip_path(TRAIN_CLIPS[0]))[:6])
    with pytest.raises(TranscriptionError, match="video too short") as err:
        tiny.transcribe(short)
    assert err.value.code == "too_few_frames"
    (tmp_path / "x.mp4").write_bytes(b"not a video")
    with pytest.raises(TranscriptionError) as err:
        tiny.transcribe(tmp_path / "x.mp4")
    assert err.value.code == "unreadable"


def test_missing_default_model_says_what_to_do(monkeypatch, tmp_path: Path):
    import lipread.transcribe as t

    monkeypatch.setattr(t, "DEFAULT_MODEL", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="lipread train"):
        t.Transcriber.from_checkpoint()


def test_a_long_pass_shows_a_frame_bar_and_a_short_one_stays_quiet(monkeypatch, capsys):
    """An hour of video takes minutes a pass on a CPU: each pass counts its frames on a bar (for a
    person at a terminal), which a pass shorter than progress.DELAY_S never shows."""
    from data_prep import progress

    shipped = Transcriber.from_checkpoint(device="cpu")
    shipped.progress = True  # as `lipread transcribe` sets it at a terminal
    path = clip_path("bbaf4p")
    shipped.transcribe(path, keep_crops=True)  # a 3 s clip: done before the delay
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress, "DELAY_S", 0.0)  # as if the clip were long
    shipped.transcribe(path, keep_crops=True)  # (every frame cut: the mouths bar counts the clip's 75)
    shown = capsys.readouterr().err.replace("\r", "\n")
    bars = {line.split(":")[1].strip() for line in shown.splitlines() if line.startswith("bbaf4p.mp4:")}
    assert bars == {"faces", "mouths", "lips"}  # each pass's bar, counting the clip's 75 frames at 25 fps
    assert shown.count("/75 [") >= 2 and "frame/s]" in shown
    shipped.progress = False  # a server, a log file: no bar
    shipped.transcribe(path)
    assert capsys.readouterr().err == ""


def test_a_long_video_read_a_batch_at_a_time_reads_as_in_one(tmp_path: Path, monkeypatch):
    """Mouths are cut and read BATCH_FRAMES at a time, each batch decoded from the keyframe before
    it, so memory stays one batch's: the transcript (and, asked for, the crops) must be the ones a
    single batch gives; without keep_crops no crops are held at all."""
    import lipread.transcribe as transcribe
    from lipread.reading_sheet import reading_sheet

    video = write_video(tmp_path / "three.mp4", np.concatenate([frames_of(clip_path(n)) for n in TRAIN_CLIPS[:3]]))
    shipped = Transcriber.from_checkpoint(device="cpu")
    whole = shipped.transcribe(video, keep_crops=True)
    cuts = []
    monkeypatch.setattr(transcribe, "cut_mouths", lambda *a, **k: cuts.append(a[1]) or cut_mouths(*a, **k))
    monkeypatch.setattr(transcribe, "BATCH_FRAMES", 60)
    batched, lean = shipped.transcribe(video, keep_crops=True), shipped.transcribe(video)
    assert len(cuts) >= 2 * 3  # a batch a phrase at most, for each of the two readings
    for result in (batched, lean):
        assert {**result.to_json(), "timings": None} == {**whole.to_json(), "timings": None}
    assert whole.text == " ".join(align_text(n) for n in TRAIN_CLIPS[:3])
    assert np.array_equal(batched.mouth_frames, whole.mouth_frames) and len(whole.mouth_frames) == 225
    assert lean.mouth_frames is None
    with pytest.raises(ValueError, match="keep_crops=True"):
        reading_sheet(lean)


def test_a_span_of_a_long_video_is_read_alone_in_the_videos_own_times(tmp_path: Path, monkeypatch):
    """``span`` (``--start``/``--end``): only those seconds are tracked and read, and nothing after
    them is decoded; the words keep the video's own times, so subtitles still line up with it."""
    import data_prep.pipeline as pipeline

    names = TRAIN_CLIPS[:3]
    video = write_video(tmp_path / "three.mp4", np.concatenate([frames_of(clip_path(n)) for n in names]))
    decoded: list[float] = []
    reads = pipeline.iter_frames
    monkeypatch.setattr(
        pipeline, "iter_frames", lambda *a, **k: (decoded.append(t) or (t, f) for t, f in reads(*a, **k))
    )
    shipped = Transcriber.from_checkpoint(device="cpu")
    tracked = []
    faces = shipped.tracker.faces
    monkeypatch.setattr(shipped.tracker, "faces", lambda frame, scale: tracked.append(1) or faces(frame, scale))
    middle = shipped.transcribe(video, span=Span(3.0, 6.0))
    assert middle.text == align_text(names[1])
    assert middle.span == [3.0, 6.0] and middle.duration == 3.0 and middle.gaps == []
    assert all(3.0 <= w.start < w.end <= 6.0 for w in middle.words)
    assert len(tracked) == 75  # the span's frames at 25 fps, not the video's 225
    assert max(decoded) < 6.2  # decoding stopped at the span's end (both passes)
    whole = shipped.transcribe(video)
    assert whole.span is None and whole.duration == 9.0
    ours = [(w.word, w.start) for w in whole.words if 3.0 <= w.start < 6.0]
    assert [w for w, _ in ours] == [w.word for w in middle.words]
    assert all(abs(a - w.start) <= 0.08 for (_, a), w in zip(ours, middle.words))  # the same times, give or take
    to_end = shipped.transcribe(video, span=Span(6.0))
    assert to_end.text == align_text(names[2]) and to_end.span == [6.0, 9.0]
    with pytest.raises(TranscriptionError, match="nothing to read from 12.00 s: the video is 9.00 s long"):
        shipped.transcribe(video, span=Span(12.0))


def test_thirty_second_video_is_transcribed_whole(tmp_path: Path):
    """Ten GRID clips joined into 30 s: the shipped model reads it in windows, words in order."""
    names = (TRAIN_CLIPS + ["bbaf2n", "bbas2p"]) * 2
    names = names[:10]
    video = write_video(tmp_path / "long.mp4", np.concatenate([frames_of(clip_path(n))[:75] for n in names]))
    result = Transcriber.from_checkpoint(device="cpu").transcribe(video, "beam")
    assert result.duration == 30.0
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end > 27
    reference = " ".join(align_text(n) for n in names)
    assert jiwer.wer(reference, result.text) < 0.5, result.text
