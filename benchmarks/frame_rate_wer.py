"""Word error rate of `lipread transcribe` on video filmed at a lower frame rate than the model learnt
(webcams drop to 15 fps or less in poor light): each GRID clip of a split is kept at every frame shown
at ``fps`` (the 25 fps frame nearest each time), written at that rate once under ``--work``, and
transcribed as a user's video is (brought back to 25 fps by repeating frames).

    python benchmarks/frame_rate_wer.py ../shared/grid/s1 --alignments ../shared/grid/alignments \\
        --split ../shared/grid/splits/s1_val.txt --fps 25 15 12.5 10
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import numpy as np
from grid_split import WRITE_CRF, add_grid_arguments, split_names
from tqdm import tqdm

from data_prep.native_logs import quiet_native_stderr
from data_prep.transcripts import read_grid_align
from data_prep.video import TARGET_FPS, iter_frames, write_clip
from lipread.metrics import word_counts
from lipread.transcribe import Transcriber


def at_rate(video: Path, fps: float, work: Path) -> Path:
    """``video`` (25 fps) as filmed at ``fps``: the frame nearest each of its times, written once."""
    path = work / f"{video.stem}-{fps:g}-crf{WRITE_CRF}.mp4"
    if not path.exists():
        frames = np.stack([frame for _, frame in iter_frames(video)])
        times = np.arange(0, len(frames) / TARGET_FPS, 1 / fps)
        picked = np.round(times * TARGET_FPS).astype(int)
        write_clip(path, frames[picked[picked < len(frames)]], fps=fps, crf=WRITE_CRF)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_grid_arguments(parser, "ids to read, 's1/bbaf2n' a line")
    parser.add_argument("--fps", type=float, nargs="+", default=[25, 15, 12.5, 10], help="frame rates to film at")
    parser.add_argument("--work", type=Path, default=Path("/tmp/lipread-frame-rates"), help="where the videos go")
    args = parser.parse_args()
    quiet_native_stderr()
    ids = split_names(args.split)
    refs = [read_grid_align(args.alignments / args.videos.name / f"{name}.align").text for name in ids]
    reader = Transcriber.from_checkpoint(args.checkpoint, "cpu")
    args.work.mkdir(parents=True, exist_ok=True)
    print(f"{reader.name}, grammar {reader.grammar.name if reader.grammar else None}; {len(ids)} videos of "
          f"{args.split.name}; on {platform.machine()}")  # fmt: skip
    for fps in args.fps:
        hyps = []
        for name in tqdm(ids, desc=f"{fps:g} fps", unit="video"):
            video = at_rate(next(args.videos.glob(f"{name}.*")), fps, args.work)
            hyps.append(" ".join(w.word for w in reader.transcribe(video).words))
        counts = word_counts(refs, hyps)
        print(f"  {fps:>5g} fps: WER {counts.rate:.2%} ({counts.substitutions} substituted, {counts.deletions} "
              f"left out, {counts.insertions} inserted of {counts.reference_length} words)")  # fmt: skip


if __name__ == "__main__":
    main()
