"""Prep throughput: end-to-end frames/s with 1 and 2 workers, beside two ceilings measured in the
same run: video decoding alone and FaceMesh alone (one process each).

    python benchmarks/prep_speed.py ../shared/grid/s1 --alignments ../shared/grid/alignments --clips 40
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

from data_prep.builder import PrepOptions, build
from data_prep.discover import find_videos
from data_prep.landmarks import FaceTracker
from data_prep.native_logs import quiet_native_stderr
from data_prep.video import iter_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", type=Path)
    parser.add_argument("--alignments", type=Path, required=True)
    parser.add_argument("--clips", type=int, default=40)
    args = parser.parse_args()
    quiet_native_stderr()  # mediapipe's own log lines would bury the table
    videos = find_videos(args.videos)[: args.clips]
    work = Path(tempfile.mkdtemp(prefix="prep-bench-"))
    (work / "in" / "s1").mkdir(parents=True)
    for v in videos:
        shutil.copy(v, work / "in" / "s1")

    rows = []
    t = time.perf_counter()
    decoded = [[f for _, f in iter_frames(v)] for v in videos]
    frames = sum(len(d) for d in decoded)
    rows.append(("decode alone (1 process)", frames / (time.perf_counter() - t)))
    tracker = FaceTracker()
    tracker.start_video()
    tracker.faces(decoded[0][0])  # graph start-up outside the timing
    t = time.perf_counter()
    for d in decoded:
        mesh = tracker._mesh(1)
        for f in d:
            mesh.process(f)
    rows.append(("FaceMesh alone (1 process)", frames / (time.perf_counter() - t)))
    del decoded
    for workers in (1, 2):
        out = work / f"out{workers}"
        summary = build(PrepOptions(work / "in", out, alignments=args.alignments, workers=workers))
        rows.append((f"lipread prep, {workers} worker(s), end to end", summary.frames / summary.seconds))
    shutil.rmtree(work)
    print(
        f"\n{len(videos)} clips, {frames} frames; {platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    print(f"| {'stage':<44} | frames/s | x real time |\n|{'-' * 46}|---------:|------------:|")
    for name, rate in rows:
        print(f"| {name:<44} | {rate:8.0f} | {rate / 25:11.1f} |")


if __name__ == "__main__":
    main()
