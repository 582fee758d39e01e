"""Enrolment: a user's recorded sentences, the check of each, and the personal model adapted from them.

Everything lives under the operator's ``--data-dir``, one folder per user name::

    <user>/recordings/<rec>/<user>/<rec>.<ext>, <rec>.txt   one recording and its prompt (prep's input layout)
    <user>/checked/<rec>/                                    the recording prepped alone: its check
    <user>/dataset/                                          the checked clips joined, what adapting reads
    <user>/model/                                            the personal model folder (adapt_report.json)

Each recording is prepped as it arrives, so a recording without a face (or too dark, or too
short) is refused at once with a reason the person can act on, and adapting only joins clips that
are already cut. No FastAPI here: :mod:`serve.enrolment_api` maps this onto HTTP.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from data_prep.builder import PrepOptions, build
from data_prep.contracts import CropSettings
from data_prep.rejections import PrepError
from data_prep.text import TranscriptError, normalize_text
from data_prep.video import iter_frames, read_clip
from lipread.adapt import MIN_TEST_CLIPS, MIN_TRAIN_CLIPS, PICTURE, REPORT, TEST_SHARE, adapt
from lipread.errors import UserError

log = logging.getLogger("lipread.serve.enrolment")

USER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
RECORDING_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
MIN_SECONDS = 1.0  # a GRID sentence takes about 2 s to say
#: Mean grey level (0-255) below which faces are lost and lips unreadable. The shipped model matches
#: each clip's levels, and read the README's example right at a mean of 20 (one word wrong at 14).
MIN_BRIGHTNESS = 20.0
MODEL, DATASET = "model", "dataset"
PERSONAL = "personal:"  # a personal model's name in /v1/models and a request's ``model`` field
VIDEO_SUFFIXES = (".webm", ".mp4", ".mkv", ".mov", ".avi", ".mpg", ".ogv")


def fewest_recordings() -> int:
    """The fewest checked recordings that leave enough to learn from after the held-out share."""
    n = MIN_TRAIN_CLIPS + MIN_TEST_CLIPS
    while n - max(MIN_TEST_CLIPS, round(TEST_SHARE * n)) < MIN_TRAIN_CLIPS:
        n += 1
    return n


class EnrolmentError(UserError):
    """A request enrolment cannot follow, with a code for the API and a sentence for a person."""

    def __init__(self, code: str, detail: str, status: int = 422):
        super().__init__(detail)
        self.code, self.detail, self.status = code, detail, status


#: prep's reason for refusing a recording -> (code, what the person should do)
ADVICE = {
    "no_face": ("no_face", "no face was found in the recording (or it was lost for too long): "
                "face the camera, with your whole face in view, and record again"),
    "face_too_small": ("face_too_small", "your face is too small in the picture: come closer to the camera"),
    "too_few_frames": ("too_short", "the recording is too short: say the whole sentence"),
    "unreadable": ("unreadable", "the recording could not be read as a video"),
    "no_video_stream": ("unreadable", "the upload has no video in it"),
    "bad_characters": ("bad_text", "the sentence has characters the model cannot read"),
    "empty_transcript": ("bad_text", "the sentence is empty"),
}  # fmt: skip


@dataclass
class Recording:
    """One recorded sentence and what its check found."""

    id: str
    text: str
    seconds: float
    brightness: float
    frames: int = 0  # mouth-crop frames prep cut from it

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class AdaptJob:
    """A user's adaptation, as the page shows it."""

    user: str
    state: str = "queued"  # queued | running | done | failed
    stage: str = "waiting"
    step: int = 0
    total: int = 0
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None
    report: dict | None = None

    def to_json(self) -> dict:
        record = asdict(self)
        record["progress"] = round(self.step / self.total, 3) if self.total else 0.0
        return record


class Enrolment:
    """Users' recordings and personal models under ``root``, adapted from the model at ``base``.

    One adaptation runs at a time (it uses every core); ``adapt_options`` are given to
    :func:`lipread.adapt.adapt` (``epochs`` for a quick trial, say)."""

    def __init__(self, root: Path, base: Path, crop: CropSettings, adapt_options: dict | None = None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.base = Path(base)
        self.crop = crop
        self.adapt_options = adapt_options or {}
        self.jobs: dict[str, AdaptJob] = {}
        self._lock = threading.Lock()
        self._prep_lock = threading.Lock()
        self._running: AdaptJob | None = None

    # -- users and recordings

    def user_dir(self, user: str) -> Path:
        if not USER_NAME.match(user):
            raise EnrolmentError("bad_user", "a user name is 1-32 lower-case letters, digits, '-' or '_', "
                                 "starting with a letter or digit", 400)  # fmt: skip
        return self.root / user

    def add_recording(self, user: str, upload: Path, text: str, recording_id: str, suffix: str) -> Recording:
        """Check and keep one recording of ``text`` (replacing one of the same id): prepped at once,
        so that a bad one is refused with a reason, and adapting later has nothing left to cut."""
        folder = self.user_dir(user)
        if not RECORDING_ID.match(recording_id):
            raise EnrolmentError(
                "bad_recording_id", "a recording id is 1-40 lower-case letters, digits, '-' or '_'", 400
            )
        try:
            sentence = normalize_text(text)
        except TranscriptError as err:
            raise EnrolmentError("bad_text", f"the sentence cannot be learnt: {err}") from None
        seconds, brightness = _look(upload)
        if seconds < MIN_SECONDS:
            raise EnrolmentError("too_short", f"the recording is {seconds:.1f} s long; say the whole sentence "
                                 f"(at least {MIN_SECONDS:g} s)")  # fmt: skip
        if brightness < MIN_BRIGHTNESS:
            raise EnrolmentError("too_dark", f"the recording is too dark (mean brightness {brightness:.0f} of 255): "
                                 "light your face from the front and record again")  # fmt: skip
        staging = folder / "staging" / recording_id
        shutil.rmtree(staging, ignore_errors=True)
        inputs = staging / "in" / user
        inputs.mkdir(parents=True)
        suffix = suffix.lower() if suffix.lower() in VIDEO_SUFFIXES else ".webm"
        shutil.copyfile(upload, inputs / f"{recording_id}{suffix}")
        (inputs / f"{recording_id}.txt").write_text(f"Text: {sentence}\n", encoding="utf-8")
        clips = staging / "out"
        with self._prep_lock:  # prep keeps one face tracker per process
            summary = build(PrepOptions(staging / "in", clips, workers=1, crop=self.crop))
        if not summary.built:
            rejected = [json.loads(x) for x in (clips / "rejected.jsonl").read_text().splitlines() if x.strip()]
            reason = rejected[0]["reason"] if rejected else "error"
            shutil.rmtree(staging, ignore_errors=True)
            code, advice = ADVICE.get(reason, ("unreadable", "the recording could not be used"))
            raise EnrolmentError(code, advice)
        for part, source in (("recordings", staging / "in"), ("checked", clips)):
            target = folder / part / recording_id
            shutil.rmtree(target, ignore_errors=True)
            target.parent.mkdir(parents=True, exist_ok=True)
            source.rename(target)
        shutil.rmtree(staging, ignore_errors=True)
        entry = _entries(folder / "checked" / recording_id)[0]
        record = Recording(recording_id, sentence, round(seconds, 2), round(brightness, 1), entry["num_frames"])
        (folder / "checked" / recording_id / "recording.json").write_text(json.dumps(record.to_json()))
        return record

    def crops(self, user: str, recording_id: str) -> np.ndarray:
        """The mouth crops prep cut from a checked recording (what the model will learn from)."""
        checked = self.user_dir(user) / "checked" / recording_id
        return read_clip(checked / _entries(checked)[0]["clip"])

    def delete_recording(self, user: str, recording_id: str) -> None:
        folder = self.user_dir(user)
        if not RECORDING_ID.match(recording_id) or not (folder / "checked" / recording_id).is_dir():
            raise EnrolmentError("not_found", f"{user} has no recording {recording_id!r}", 404)
        for part in ("recordings", "checked"):
            shutil.rmtree(folder / part / recording_id, ignore_errors=True)

    def recordings(self, user: str) -> list[Recording]:
        checked = self.user_dir(user) / "checked"
        found = sorted(checked.glob("*/recording.json")) if checked.is_dir() else []
        return [Recording(**json.loads(p.read_text())) for p in found]

    def status(self, user: str) -> dict:
        folder = self.user_dir(user)
        model = folder / MODEL
        report = model / REPORT
        job = self.jobs.get(user)
        return {
            "user": user,
            "recordings": [r.to_json() for r in self.recordings(user)],
            "needed": fewest_recordings(),
            "job": job.to_json() if job else None,
            "model": self.model_name(user) if report.is_file() else None,
            "report": _summary(json.loads(report.read_text())) if report.is_file() else None,
        }

    # -- personal models

    def model_path(self, user: str) -> Path | None:
        """The user's personal model folder, when adapting has finished once."""
        path = self.user_dir(user) / MODEL
        return path if (path / REPORT).is_file() else None

    def report_picture(self, user: str) -> Path:
        """The personal model's ``adapt_report.png`` (learning curve, WER before and after)."""
        model = self.model_path(user)
        if model is None or not (model / PICTURE).is_file():
            raise EnrolmentError("no_model", f"{user} has no personal model yet: record sentences, then train", 404)
        return model / PICTURE

    def model_name(self, user: str) -> str:
        return f"{PERSONAL}{user}"

    def users_with_models(self) -> list[str]:
        return sorted(p.parent.parent.name for p in self.root.glob(f"*/{MODEL}/{REPORT}"))

    def start(self, user: str, on_done: Callable[[str], None] | None = None) -> AdaptJob:
        """Adapt in a background thread; refused while another adaptation runs or with too few clips."""
        folder = self.user_dir(user)
        have, needed = len(self.recordings(user)), fewest_recordings()
        if have < needed:
            raise EnrolmentError("too_few_recordings", f"{user} has {have} checked recordings; "
                                 f"adapting needs at least {needed} (15-20 make a better model)", 409)  # fmt: skip
        with self._lock:
            if self._running is not None:
                raise EnrolmentError("busy", f"the model of {self._running.user} is being adapted; try again when it "
                                     "is done", 503)  # fmt: skip
            job = self._running = self.jobs[user] = AdaptJob(user)
        threading.Thread(target=self._run, args=(job, folder, on_done), name=f"adapt-{user}", daemon=True).start()
        return job

    def _run(self, job: AdaptJob, folder: Path, on_done: Callable[[str], None] | None) -> None:
        job.state = "running"

        def progress(stage: str, done: int, total: int) -> None:
            job.stage, job.step, job.total = stage, done, total

        try:
            progress("joining clips", 0, 1)
            dataset = join_checked(folder / "checked", folder / DATASET)
            fresh = folder / f"{MODEL}.new"
            shutil.rmtree(fresh, ignore_errors=True)
            report = adapt(dataset, fresh, self.base, progress=progress, **self.adapt_options)
            old = folder / f"{MODEL}.old"
            shutil.rmtree(old, ignore_errors=True)
            if (folder / MODEL).exists():
                (folder / MODEL).rename(old)
            fresh.rename(folder / MODEL)
            shutil.rmtree(old, ignore_errors=True)
            job.report = _summary(report.to_json())
            job.state, job.stage = "done", "done"
            if on_done:
                on_done(job.user)
        except (UserError, PrepError, OSError) as err:
            job.state, job.error = "failed", str(err)
        except Exception as err:  # noqa: BLE001 - the server must go on; the page shows what happened
            log.exception("adapting %s failed", job.user)
            job.state, job.error = "failed", f"{type(err).__name__}: {err}"
        finally:
            job.finished = time.time()
            with self._lock:
                self._running = None


def join_checked(checked: Path, out: Path) -> Path:
    """One dataset folder from the one-clip folders of each checked recording (rebuilt each time,
    so a deleted or re-recorded sentence leaves nothing behind)."""
    shutil.rmtree(out, ignore_errors=True)
    (out / "clips").mkdir(parents=True)
    lines = []
    parts = sorted(p for p in checked.iterdir() if (p / "manifest.jsonl").is_file())
    for part in parts:
        for entry in _entries(part):
            name = f"clips/{Path(entry['clip']).name}"
            shutil.copyfile(part / entry["clip"], out / name)
            lines.append(json.dumps({**entry, "clip": name}))
    if parts:
        shutil.copyfile(parts[0] / "meta.json", out / "meta.json")
    (out / "manifest.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return out


def _entries(dataset: Path) -> list[dict]:
    text = (dataset / "manifest.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _look(path: Path) -> tuple[float, float]:
    """A recording's length (seconds, from its frames' times: browser WebM often states none) and
    mean brightness, from small frames."""
    times, levels = [], []
    try:
        for index, (t, frame) in enumerate(iter_frames(path, max_side=160)):
            times.append(t)
            if index % 5 == 0:
                levels.append(float(frame.mean()))
    except PrepError:
        raise EnrolmentError("unreadable", "the recording could not be read as a video") from None
    if not levels:
        raise EnrolmentError("unreadable", "the recording could not be read as a video")
    span = max(times) - min(times)
    return span * len(times) / max(1, len(times) - 1), float(np.mean(levels))


def _summary(report: dict) -> dict:
    """What the page shows of an adapt report: WER before and after, the clips, the time."""
    keep = ("train_clips", "test_clips", "seconds", "decoder")
    return {
        "before": {k: report["before"][k] for k in ("wer", "cer")},
        "after": {k: report["after"][k] for k in ("wer", "cer")},
        **{k: report[k] for k in keep},
    }
