"""Transcription speed on CPU: per-stage wall time and real-time factor for one 3 s GRID clip,
then batch transcription of N clips (clips/s).

    python benchmarks/transcribe_speed.py ../shared/grid/s1 --clips 50
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from data_prep.discover import find_videos
from lipread.transcribe import Transcriber


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", type=Path)
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--decoder", default="beam")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    videos = find_videos(args.videos)[: args.clips]
    transcriber = Transcriber.from_checkpoint(device="cpu")
    transcriber.transcribe(videos[0], args.decoder)  # start-up (graphs, decoder) outside timings
    stages: dict[str, float] = {}
    wall = 0.0
    for i in range(args.repeats):
        t = time.perf_counter()
        result = transcriber.transcribe(videos[i % len(videos)], args.decoder)
        wall += time.perf_counter() - t
        for k, v in result.timings.items():
            stages[k] = stages.get(k, 0.0) + v
    print(
        f"\nCPU: {platform.machine()}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}; decoder {args.decoder}"
    )
    print("| stage | seconds per 3 s clip |\n|---|---:|")
    for k in ("decode", "landmarks", "crop", "model", "decoder"):
        print(f"| {k} | {stages.get(k, 0) / args.repeats:.3f} |")
    per_clip = wall / args.repeats
    print(f"| **end to end** | **{per_clip:.3f}** (real-time factor {per_clip / result.duration:.2f}) |")
    t = time.perf_counter()
    transcriber.transcribe_many(videos, args.decoder)
    seconds = time.perf_counter() - t
    print(f"\nbatch of {len(videos)} clips: {seconds:.1f} s, {len(videos) / seconds:.2f} clips/s")


if __name__ == "__main__":
    main()
