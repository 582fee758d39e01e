"""The parallel, resumable, shardable dataset builder behind ``lipread prep``."""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

import data_prep
from data_prep import crop, reference_face
from data_prep.contracts import CropSettings, ManifestEntry, Word
from data_prep.dataset_folder import (
    CLIPS,
    META,
    SHARDS,
    BuildLog,
    read_jsonl,
    recorded,
    write_json,
    write_jsonl,
)
from data_prep.discover import SourceJob, Utterance, discover, shard_of
from data_prep.head_pose import HeadPose, pose_degrees
from data_prep.landmarks import LANDMARK_MODEL, FaceTracker
from data_prep.pipeline import extract_mouths
from data_prep.rejections import PrepError, Rejection
from data_prep.video import CLIP_CRF, TARGET_FPS, probe, write_clip
from data_prep.worker_pool import DIED_DETAIL, WORKER_DIED, in_workers

log = logging.getLogger(__name__)


@dataclass
class PrepOptions:
    input_dir: Path
    out: Path
    alignments: Path | None = None
    manifest: Path | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    shard: tuple[int, int] | None = None  # (index, count), index from 0
    preview: int = 0
    min_frames: int = 10
    max_yaw: float | None = None  # degrees; utterances whose face is turned further are rejected (None: none)
    max_pitch: float | None = None  # degrees; the same for a face tilted further up or down
    retry_rejected: bool = False
    crop: CropSettings = field(default_factory=CropSettings)
    crf: int = CLIP_CRF  # x264 quality of the clips (see data_prep.video.CLIP_CRF)


@dataclass
class BuildSummary:
    built: int = 0
    skipped: int = 0
    rejected: Counter = field(default_factory=Counter)
    frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False

    def lines(self) -> list[str]:
        rate = self.frames / self.seconds if self.seconds else 0.0
        out = [
            f"built {self.built} clips ({self.frames} frames, {rate:.0f} frames/s), "
            f"skipped {self.skipped} already done, rejected {sum(self.rejected.values())}"
        ]
        out += [f"  rejected {n:5d}  {reason}" for reason, n in self.rejected.most_common()]
        return out


# ---------------------------------------------------------------- worker side

_tracker: FaceTracker | None = None


def _init_worker() -> None:
    global _tracker
    logging.getLogger("absl").setLevel(logging.ERROR)
    _tracker = FaceTracker()


def process_job(
    job: SourceJob,
    dataset: Path,
    settings: CropSettings,
    min_frames: int,
    crf: int,
    max_yaw: float | None = None,
    max_pitch: float | None = None,
) -> tuple[list[dict], list[dict], int]:
    """Cut every pending utterance of one video; returns manifest entries, rejections, frames."""
    if _tracker is None:
        raise RuntimeError("process_job runs in a worker: call _init_worker first")
    entries, rejections, frames = [], [], 0
    try:
        spans = [(u.start, u.end) for u in job.utterances]
        clips, source_fps = extract_mouths(job.path, spans, _tracker, settings, min_frames, from_s=job.from_s)
    except PrepError as err:
        return [], [_reject(u, job, err.reason, err.detail) for u in job.utterances], 0
    except Exception as err:  # noqa: BLE001 - a bug must not stop an overnight run
        detail = f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=3)}"
        return [], [_reject(u, job, "error", detail) for u in job.utterances], 0
    for utt, clip in zip(job.utterances, clips):
        if clip.error is not None:
            rejections.append(_reject(utt, job, clip.error.reason, clip.error.detail))
            continue
        last_word = max((w["end"] for w in utt.words), default=0.0)
        if last_word > clip.num_frames / TARGET_FPS + 0.1:
            detail = (
                f"the transcript's words run to {last_word:.2f} s, the video to {clip.num_frames / TARGET_FPS:.2f} s"
            )
            rejections.append(_reject(utt, job, "truncated", detail))
            continue
        poses = pose_degrees(clip.crops.points)
        held = HeadPose.typical(poses)
        if max_yaw is not None and held.yaw > max_yaw:
            detail = (
                f"the face is turned {held.yaw:.0f} degrees from the camera (median), more than --max-yaw {max_yaw:g}"
            )
            rejections.append(_reject(utt, job, "face_turned_away", detail))
            continue
        if max_pitch is not None and abs(held.pitch) > max_pitch:
            detail = (
                f"the face is tilted {abs(held.pitch):.0f} degrees {'up' if held.pitch > 0 else 'down'} from the "
                f"camera (median), more than --max-pitch {max_pitch:g}"
            )
            rejections.append(_reject(utt, job, "face_turned_away", detail))
            continue
        relative = Path(CLIPS) / f"{utt.id}.mp4"
        write_clip(dataset / relative, clip.crops.frames, TARGET_FPS, crf=crf)
        frames += clip.num_frames
        entries.append(_entry(utt, job, clip, relative.as_posix(), source_fps, HeadPose.median(poses)))
    return entries, rejections, frames


def _process_in_worker(args) -> tuple[list[dict], list[dict], int]:
    return process_job(*args)


def _died(job: SourceJob) -> tuple[list[dict], list[dict], int]:
    """What a job whose worker process died gives: each of its utterances rejected (``error``)."""
    return [], [_reject(u, job, "error", DIED_DETAIL) for u in job.utterances], 0


def _reject(utt: Utterance, job: SourceJob, reason: str, detail: str) -> dict:
    return Rejection(utt.id, job.source, reason, detail).to_json()


def _entry(utt: Utterance, job: SourceJob, clip, relative: str, source_fps: float, pose: HeadPose) -> dict:
    """The manifest line of a clip built; ``pose``: its face's median yaw and pitch (degrees)."""
    duration = clip.num_frames / TARGET_FPS
    words = tuple(
        Word(w["word"], round(max(0.0, w["start"]), 4), round(min(duration, w["end"]), 4))
        for w in utt.words
        if w["start"] < duration
    )
    several = clip.num_faces > 1
    return ManifestEntry(
        id=utt.id,
        speaker=utt.speaker,
        text=utt.text,
        words=words,
        clip=relative,
        num_frames=clip.num_frames,
        fps=TARGET_FPS,
        source=job.source,
        source_start=round(clip.start, 4),
        source_end=round(clip.end, 4),
        source_fps=round(source_fps, 3),
        faces=clip.num_faces if several else None,
        note=f"{clip.num_faces} faces in view; the largest was followed" if several else None,
        yaw=round(pose.yaw, 1),
        pitch=round(pose.pitch, 1),
    ).to_json()


# ---------------------------------------------------------------- orchestration

#: a long video's cues go to jobs of about this many seconds of video each
PIECE_S = 120.0
#: decoding of a piece starts this long before its first cue (then at the keyframe before that)
LEAD_S = 1.0


def _seekable(path: str) -> bool:
    """Whether decoding may start mid-video (:data:`data_prep.video.SEEKABLE`): otherwise every piece
    would decode the video from its start, and one pass is quicker."""
    try:
        return probe(path).seekable
    except PrepError:
        return False  # the job itself reports why


def pieces(job: SourceJob, piece_s: float | None = None) -> list[SourceJob]:
    """A long video's cues as jobs of about ``piece_s`` seconds of video each (default
    :data:`PIECE_S`), each decoded from just before its first cue: a lecture with subtitles then
    shows progress and keeps its finished pieces when interrupted, holds one piece's crops at a time,
    and is shared by the workers. A piece ends only where no cue overlaps the next, so every cue
    is cut exactly as from the whole video. A video with a cue that runs to its end stays whole."""
    piece_s = PIECE_S if piece_s is None else piece_s
    if any(u.start is None or u.end is None for u in job.utterances):
        return [job]
    ordered = sorted(job.utterances, key=lambda u: (u.start, u.end))
    out: list[list[Utterance]] = [[]]
    reach = float("-inf")  # the latest end of the cues so far
    for utt in ordered:
        current = out[-1]
        if current and utt.start >= reach and utt.start - current[0].start >= piece_s:
            out.append([])
        out[-1].append(utt)
        reach = max(reach, utt.end)
    return [SourceJob(job.source, job.path, p, from_s=max(0.0, p[0].start - LEAD_S)) for p in out]


def _inputs(options: PrepOptions) -> tuple[list[SourceJob], list[Rejection], Path]:
    """This build's videos with their utterances, the inputs refused before any decoding, and the
    folder its logs go to (a shard's own, with ``--shard``)."""
    jobs, early_rejections = discover(options.input_dir, options.alignments, options.manifest)
    log_dir = options.out
    if options.shard is not None:
        index, count = options.shard
        jobs = [j for j in jobs if shard_of(j.source, count) == index]
        early_rejections = [r for r in early_rejections if shard_of(r.source, count) == index]
        log_dir = options.out / SHARDS / f"{index}-of-{count}"
    return jobs, early_rejections, log_dir


@dataclass
class PrepPlan:
    """What a build would do, found from the file names and transcripts alone (``prep --dry-run``):
    worth a look before an overnight run, to see that transcripts pair with their videos."""

    videos: int = 0
    utterances: int = 0  # to build now
    done: int = 0  # built or rejected by an earlier run of this build
    cue_seconds: float = 0.0  # video in utterances with times (subtitle cues, manifest spans)
    whole_videos: int = 0  # utterances that are a whole video (their length is known only by reading it)
    rejected: Counter = field(default_factory=Counter)  # refused before any decoding, by reason
    examples: list[tuple[str, str, str]] = field(default_factory=list)  # (id, text, source) of the first few

    def lines(self) -> list[str]:
        length = [f"{_duration(self.cue_seconds)} in cues"] if self.cue_seconds else []
        length += [_count(self.whole_videos, "whole video")] if self.whole_videos else []
        out = [f"would build {_count(self.utterances, 'utterance')} from {_count(self.videos, 'video')}"
               f"{' (' + ', '.join(length) + ')' if length else ''}, {self.done} already done, "
               f"{sum(self.rejected.values())} refused before decoding"]  # fmt: skip
        out += [f"  refused    {n:5d}  {reason}" for reason, n in self.rejected.most_common()]
        out += ["first utterances:"] if self.examples else []
        out += [f"  {i}  {text!r}  <- {source}" for i, text, source in self.examples]
        return out


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    return (
        f"{seconds:.0f} s"
        if seconds < 120
        else f"{seconds / 60:.0f} min"
        if seconds < 7200
        else f"{seconds / 3600:.1f} h"
    )


def plan(options: PrepOptions, examples: int = 5) -> PrepPlan:
    """What :func:`build` would do with ``options``, without decoding a frame or writing a file."""
    jobs, early_rejections, log_dir = _inputs(options)
    entries, rejected = recorded(options.out, log_dir, options.retry_rejected)  # what the build would skip
    done = entries.keys() | rejected.keys()
    result = PrepPlan()
    for rejection in early_rejections:
        if rejection.id in done:
            result.done += 1
        else:
            result.rejected[rejection.reason] += 1
    for job in jobs:
        todo = [u for u in job.utterances if u.id not in done]
        result.done += len(job.utterances) - len(todo)
        result.videos += bool(todo)
        result.utterances += len(todo)
        for u in todo:
            if u.start is not None and u.end is not None:
                result.cue_seconds += u.end - u.start
            else:
                result.whole_videos += 1
            if len(result.examples) < examples:
                result.examples.append((u.id, u.text, job.source))
    return result


def build(options: PrepOptions) -> BuildSummary:
    """Build (or finish building) the dataset folder described by ``options``."""
    started = time.perf_counter()
    dataset = options.out
    jobs, early_rejections, log_dir = _inputs(options)
    if not jobs and not early_rejections:  # no videos at all (a wrong folder?): leave nothing behind
        summary = BuildSummary()
        summary.seconds = time.perf_counter() - started
        return summary
    dataset.mkdir(parents=True, exist_ok=True)

    _check_same_settings(log_dir / META, options)
    build_log = BuildLog(dataset, log_dir, options.retry_rejected)
    summary = BuildSummary()
    for rejection in early_rejections:
        if build_log.done(rejection.id):
            summary.skipped += 1
        else:
            build_log.add_rejection(rejection.to_json())
            summary.rejected[rejection.reason] += 1

    pending = []
    for job in jobs:
        todo = [u for u in job.utterances if not build_log.done(u.id)]
        summary.skipped += len(job.utterances) - len(todo)
        if todo:
            remaining = SourceJob(job.source, job.path, todo)
            pending += pieces(remaining) if len(todo) > 1 and _seekable(job.path) else [remaining]

    # Settings go down before the first clip, so a build killed half-way is still checked when continued.
    _write_meta(dataset, log_dir, options, build_log, finished=False)
    total = sum(len(j.utterances) for j in pending)
    log.info("%d utterances to build in %d videos, %d already done", total, len({j.source for j in pending}),
             summary.skipped)  # fmt: skip
    try:
        _run(pending, options, dataset, build_log, summary, total)
    except KeyboardInterrupt:
        summary.interrupted = True
        build_log.close()
        summary.seconds = time.perf_counter() - started
        return summary
    build_log.finish()
    _write_meta(dataset, log_dir, options, build_log, finished=True)
    if options.preview:
        from data_prep.preview import write_preview

        write_preview(dataset, list(build_log.entries.values()), options.preview, log_dir / "preview.png")
    summary.seconds = time.perf_counter() - started
    return summary


def _run(pending, options, dataset, build_log, summary, total) -> None:
    args = [
        (job, dataset, options.crop, options.min_frames, options.crf, options.max_yaw, options.max_pitch)
        for job in pending
    ]
    bar = tqdm(total=total, unit="clip", desc="prep", dynamic_ncols=True, smoothing=0.05, disable=not pending)
    t0 = time.perf_counter()

    def record(result) -> None:
        entries, rejections, frames = result
        for entry in entries:
            build_log.add_entry(entry)
        for rejection in rejections:
            build_log.add_rejection(rejection)
            summary.rejected[rejection["reason"]] += 1
        summary.built += len(entries)
        summary.frames += frames
        bar.update(len(entries) + len(rejections))
        bar.set_postfix(frames_s=f"{summary.frames / max(1e-9, time.perf_counter() - t0):.0f}")

    try:
        if options.workers <= 1 or len(args) <= 1:
            _init_worker()
            for a in args:
                record(process_job(*a))
        else:  # (a job whose worker dies, e.g. out of memory, is rejected; the others go on)
            for index, result in in_workers(_process_in_worker, args, options.workers, _init_worker):
                record(_died(pending[index]) if result is WORKER_DIED else result)
    finally:
        bar.close()


def _check_same_settings(meta_path: Path, options: PrepOptions) -> None:
    """A dataset built before must be continued with its own crop and codec settings, and by a
    lipread that cuts crops the same way: clips cut two ways in one folder would train a model on
    two different views of the mouth."""
    if not meta_path.is_file():
        return
    meta = json.loads(meta_path.read_text())
    asked = {"crop": options.crop.to_json(), "clip_codec": _codec(options)}
    cut = {"crop_method": crop.method(), "reference_face": reference_face.checksum()}
    changed = {k: v for k, v in {**asked, **cut}.items() if meta.get(k) is not None and meta[k] != v}
    if not changed:
        return
    shown = "; ".join(f"{k}: built with {meta[k]}, now {v}" for k, v in changed.items())
    if changed.keys() & cut.keys():
        raise ValueError(
            f"{meta_path.parent} was built by a lipread that cuts the crops differently ({shown}); finish it "
            f"with the version that began it (meta.json's version, {meta.get('version')}), or build again with a new --out"
        )  # fmt: skip
    raise ValueError(f"{meta_path.parent} was built with other settings ({shown}); use the same options or a new --out")


def _codec(options: PrepOptions) -> str:
    return f"h264 yuv444p crf {options.crf}"


def _write_meta(dataset: Path, log_dir: Path, options: PrepOptions, build_log: BuildLog, finished: bool) -> None:
    """``finished`` is false from a build's start until its last input is done (counts so far)."""
    meta = {
        "tool": "lipread prep",
        "version": data_prep.__version__,
        "fps": TARGET_FPS,
        "crop": options.crop.to_json(),
        "crop_size": options.crop.size,
        "color": options.crop.color,
        "landmark_model": LANDMARK_MODEL,
        "reference_face": reference_face.checksum(),
        "crop_method": crop.method(),
        "clip_codec": _codec(options),
        "counts": _counts(build_log.entries.values(), build_log.rejected.values()),
        "input": str(options.input_dir),
        "shard": None if options.shard is None else list(options.shard),
        "finished": finished,
    }
    write_json(log_dir / META, meta)


def _finished(meta_path: Path) -> bool:
    """Whether the build that wrote ``meta_path`` ran to its end (folders from before the flag: yes)."""
    return meta_path.is_file() and json.loads(meta_path.read_text()).get("finished", True)


def merge_shards(dataset: Path) -> dict:
    """Join the shards' manifests into the dataset's own, checking that they fit together."""
    shard_dirs = sorted((dataset / SHARDS).glob("*-of-*"))
    if not shard_dirs:
        raise FileNotFoundError(f"no shards under {dataset / SHARDS}")
    counts = {d.name.split("-of-")[1] for d in shard_dirs}
    if len(counts) != 1:
        raise ValueError(f"shards of different splits: {[d.name for d in shard_dirs]}")
    expected = int(counts.pop())
    missing = sorted(set(range(expected)) - {int(d.name.split("-of-")[0]) for d in shard_dirs})
    unfinished = [d.name for d in shard_dirs if not _finished(d / META)]
    if missing or unfinished:
        raise ValueError(f"shards not finished: missing {missing}, unfinished {unfinished}")
    entries, rejected = {}, {}
    for d in shard_dirs:
        for entry in read_jsonl(d / "manifest.jsonl"):
            if entry["id"] in entries:
                raise ValueError(f"{entry['id']} appears in two shards")
            entries[entry["id"]] = entry
        for r in read_jsonl(d / "rejected.jsonl"):
            rejected[r["id"]] = r
    write_jsonl(dataset / "manifest.jsonl", [entries[k] for k in sorted(entries)])
    write_jsonl(dataset / "rejected.jsonl", [rejected[k] for k in sorted(rejected)])
    meta = json.loads((shard_dirs[0] / META).read_text())
    meta["shard"] = None
    meta["merged_shards"] = len(shard_dirs)
    meta["counts"] = _counts(entries.values(), rejected.values())
    write_json(dataset / META, meta)
    return meta


def _counts(entries, rejected) -> dict:
    entries, rejected = list(entries), list(rejected)
    reasons = Counter(r["reason"] for r in rejected)
    return {
        "utterances": len(entries),
        "frames": sum(e["num_frames"] for e in entries),
        "speakers": len({e["speaker"] for e in entries}),
        "rejected": len(rejected),
        "rejected_by_reason": dict(sorted(reasons.items())),
    }
