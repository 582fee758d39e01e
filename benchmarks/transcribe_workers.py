"""Wall time of `lipread transcribe FOLDER -o OUT --workers K` against K: a folder of videos made
by joining GRID clips (each VIDEO_CLIPS clips long), read by the command line in a fresh process
each time, start-up included. Checks that every K gives the same text.

    python benchmarks/transcribe_workers.py tests/data/grid/s1 --videos 8 --workers 1 2
    python benchmarks/transcribe_workers.py ../shared/grid/s1 --videos 32 --workers 1 2 4 8   # many cores
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from data_prep.discover import find_videos
from data_prep.video import iter_frames, write_clip

ROOT = Path(__file__).resolve().parents[1]


def make_folder(clips: list[Path], count: int, per_video: int, folder: Path) -> None:
    """``count`` videos, each ``per_video`` consecutive clips (cycling through ``clips``) joined."""
    folder.mkdir()
    for k in range(count):
        chosen = [clips[(k * per_video + j) % len(clips)] for j in range(per_video)]
        frames = np.concatenate([np.stack([f for _, f in iter_frames(c)]) for c in chosen])
        write_clip(folder / f"video{k:03d}.mp4", frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", type=Path, help="a folder of GRID clips")
    parser.add_argument("--videos", type=int, default=8, help="videos in the folder")
    parser.add_argument("--clips-per-video", type=int, default=8, help="3 s clips joined into each video")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    clips = find_videos(args.clips)
    print(f"CPU: {platform.machine()}, {os.cpu_count()} cores; {args.videos} videos of "
          f"{3 * args.clips_per_video} s (GRID clips joined)")  # fmt: skip
    print("| workers | wall | speed-up |\n|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "videos"
        make_folder(clips, args.videos, args.clips_per_video, folder)
        first, texts = None, None
        for workers in args.workers:
            out = Path(tmp) / f"out{workers}"
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "lipread.cli", "transcribe", str(folder), "-o", str(out),
                            "--workers", str(workers)], check=True, cwd=ROOT, stderr=subprocess.DEVNULL)  # fmt: skip
            wall = time.perf_counter() - start
            first = first or wall
            read = {p.name: p.read_text() for p in sorted(out.glob("*.txt"))}
            if texts is not None and read != texts:
                raise SystemExit(f"--workers {workers} read other text than --workers {args.workers[0]}")
            texts = read
            print(f"| {workers} | {wall:.1f} s | {first / wall:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
