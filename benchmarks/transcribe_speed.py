"""Transcription speed on CPU: per-stage wall time and real-time factor for one 3 s GRID clip,
then batch transcription of N clips (clips/s), then the two passes over a 1080p video (decode +
face tracking, decode + cropping) in frames per second.

    python benchmarks/transcribe_speed.py ../shared/grid/s1 --clips 50 --hd-seconds 20
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from data_prep.discover import find_videos
from data_prep.native_logs import quiet_native_stderr
from lipread.transcribe import Transcriber


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", type=Path)
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--decoder", default="beam")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--hd-seconds", type=float, default=20.0, help="length of the 1080p video (0: skip)")
    args = parser.parse_args()
    quiet_native_stderr()  # mediapipe's own log lines would bury the table
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
    if args.hd_seconds:
        hd_speed(transcriber, args.hd_seconds)


def hd_speed(transcriber: Transcriber, seconds: float) -> None:
    """Frames per second of each pass over a 1080p video (real time is 25)."""
    from hd_video import write_hd_video

    from data_prep.pipeline import crop_segments, scan_faces

    with tempfile.TemporaryDirectory() as tmp:
        video = write_hd_video(videos_clip(), Path(tmp) / "hd.mp4", seconds)
        clock = time.perf_counter()
        scan = scan_faces(str(video), transcriber.tracker, transcriber.crop, transcriber.min_frames)
        tracking = time.perf_counter() - clock
        clock = time.perf_counter()
        crop_segments(scan.frames, scan.readable, transcriber.crop)
        cropping = time.perf_counter() - clock
    frames = scan.num_frames
    print(f"\n1920x1080 H.264, {seconds:g} s ({frames} frames at 25 fps)")
    print("| pass | seconds | frames/s |\n|---|---:|---:|")
    print(f"| decode + face tracking | {tracking:.1f} | {frames / tracking:.0f} |")
    print(f"| decode + cropping | {cropping:.1f} | {frames / cropping:.0f} |")


def videos_clip() -> Path:
    return Path(__file__).resolve().parents[1] / "tests" / "data" / "grid" / "s1" / "bbaf4p.mp4"


if __name__ == "__main__":
    main()
