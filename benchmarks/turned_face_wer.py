"""Word error rate of `lipread transcribe` on faces turned away from the camera: each GRID clip of a
split with its face turned by each ``--yaw``, or tilted up or down by each ``--pitch``
(``data_prep.head_turn``: the face's own FaceMesh mesh turned and redrawn; written losslessly once
under ``--work``), transcribed as a user's video is. Beside the WER: the yaw and pitch lipread
measures on the turned clips (``data_prep.head_pose``; FaceMesh sees a redrawn face as turned less
than its mesh was, since the hair, ears and outline stay put), how many readings are called out of
domain, and their mean confidence. What ``MAX_YAW`` and ``MAX_PITCH`` in ``lipread.confidence`` and
``FRONTAL_BLEND`` and ``FRONTAL_BLEND_PITCH`` in ``data_prep.crop`` were chosen from.

    python benchmarks/turned_face_wer.py ../shared/grid/s1 --alignments ../shared/grid/alignments \\
        --split ../shared/grid/splits/s1_val.txt --yaw 0 20 40 60 -40 --pitch 20 -20 40 -40
"""

from __future__ import annotations

import argparse
import platform
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from grid_split import WRITE_CRF, add_grid_arguments, split_names
from tqdm import tqdm

from data_prep.head_turn import write_turned
from data_prep.native_logs import quiet_native_stderr
from data_prep.transcripts import read_grid_align
from lipread.metrics import word_counts
from lipread.transcribe import Transcriber


def turned_path(video: Path, turn: tuple[float, float], work: Path) -> Path:
    yaw, pitch = turn
    return work / f"{video.stem}-yaw{yaw:g}{f'-pitch{pitch:g}' if pitch else ''}-crf{WRITE_CRF}.mp4"


def _write(job: tuple[Path, tuple[float, float], Path]) -> None:
    video, (yaw, pitch), out = job
    quiet_native_stderr()
    write_turned(video, out, yaw, pitch, crf=WRITE_CRF)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_grid_arguments(parser, "ids to read, 's1/bbaf2n' a line")
    parser.add_argument("--yaw", type=float, nargs="*", default=[0, 20, 40, 60, -40], help="degrees to turn by")
    parser.add_argument("--pitch", type=float, nargs="*", default=[], help="degrees to tilt by (+: the nose up)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/lipread-turned-faces"), help="where the videos go")
    parser.add_argument("--workers", type=int, default=2, help="processes that turn the faces")
    args = parser.parse_args()
    quiet_native_stderr()
    ids = split_names(args.split)
    videos = [next(args.videos.glob(f"{name}.*")) for name in ids]
    refs = [read_grid_align(args.alignments / args.videos.name / f"{name}.align").text for name in ids]
    args.work.mkdir(parents=True, exist_ok=True)
    turns = [(yaw, 0.0) for yaw in args.yaw] + [(0.0, pitch) for pitch in args.pitch]
    jobs = [(v, turn, turned_path(v, turn, args.work)) for turn in turns for v in videos]
    jobs = [job for job in jobs if not job[2].exists()]
    with ProcessPoolExecutor(args.workers) as pool:
        list(tqdm(pool.map(_write, jobs), total=len(jobs), desc="turning faces", unit="video"))
    reader = Transcriber.from_checkpoint(args.checkpoint, "cpu")
    print(f"{reader.name}, grammar {reader.grammar.name if reader.grammar else None}, max_yaw "
          f"{reader.calibration.max_yaw:g}; {len(ids)} videos of {args.split.name}; on {platform.machine()}")  # fmt: skip
    print(
        "| yaw, pitch applied | yaw measured (median, 10-90%) | pitch measured | WER | out of domain | mean confidence |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for turn in turns:
        hyps, yaws, pitches, flagged, confidence = [], [], [], 0, []
        for video in tqdm(videos, desc=f"yaw {turn[0]:g}, pitch {turn[1]:g}", unit="video", leave=False):
            result = reader.transcribe(turned_path(video, turn, args.work))
            hyps.append(" ".join(w.word for w in result.words))
            yaws += [s.yaw for s in result.segments if s.yaw is not None]
            pitches += [s.pitch for s in result.segments if s.pitch is not None]
            flagged += result.out_of_domain
            confidence.append(result.confidence)
        counts = word_counts(refs, hyps)
        print(f"| {turn[0]:g}, {turn[1]:g} | {_spread(yaws)} | {_spread(pitches)} | {counts.rate:.2%} ({counts.errors} of "
              f"{counts.reference_length}) | {flagged}/{len(ids)} | {np.mean(confidence):.3f} |")  # fmt: skip


def _spread(values: list[float]) -> str:
    """The median, with the 10th and 90th percentiles."""
    low, mid, high = np.percentile(values, [10, 50, 90]) if values else (np.nan,) * 3
    return f"{mid:.1f} ({low:.1f} to {high:.1f})"


if __name__ == "__main__":
    main()
