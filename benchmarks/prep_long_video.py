"""`lipread prep` of one long subtitled video: wall time and peak memory, with the video's cues
built in pieces (data_prep.builder.pieces, the default) and in one pass (pieces longer than the
video, as before pieces existed). The video is a GRID clip looped and upscaled
(benchmarks/hd_video.py) with a cue on each loop; each build runs in a process of its own.

    python benchmarks/prep_long_video.py --seconds 240 --height 720 --workers 2
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import srt
from hd_video import CLIP, write_hd_video

ROOT = Path(__file__).resolve().parents[1]
BUILD = (
    "import sys; from pathlib import Path; from data_prep import builder; "
    "builder.PIECE_S = float(sys.argv[3]); "
    "s = builder.build(builder.PrepOptions(Path(sys.argv[1]), Path(sys.argv[2]), workers=int(sys.argv[4]))); "
    "print(s.built, sum(s.rejected.values()))"
)


def peak_of_tree(proc: subprocess.Popen) -> tuple[float, str]:
    """The largest summed RSS (MB) of a process and its children, sampled every 0.2 s; its output."""
    import psutil

    top = 0.0
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            total = sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
            top = max(top, total / 2**20)
        except psutil.Error:
            pass
        time.sleep(0.2)
    return top, proc.stdout.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=240.0)
    parser.add_argument("--height", type=int, default=720)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        videos = Path(tmp) / "in" / "talks"
        videos.mkdir(parents=True)
        video = write_hd_video(CLIP, videos / "talk.mp4", args.seconds, args.height * 16 // 9, args.height)
        cues = int(args.seconds // 3)
        (videos / "talk.srt").write_text(srt.compose(
            srt.Subtitle(i + 1, timedelta(seconds=3 * i), timedelta(seconds=3 * i + 2.96), "bin blue at f four please")
            for i in range(cues)))  # fmt: skip
        print(f"{video.name}: {args.seconds:g} s at {args.height}p, {cues} cues; {args.workers} workers; "
              f"{platform.processor() or platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores")  # fmt: skip
        rows = {}
        for label, piece_s in (("pieces (default, 120 s)", 120.0), ("one pass (before)", 1e9)):
            start = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-c", BUILD, str(videos.parent), f"{tmp}/out_{piece_s:g}",
                                     str(piece_s), str(args.workers)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    text=True, cwd=ROOT)  # fmt: skip
            peak, out = peak_of_tree(proc)
            rows[label] = {"seconds": round(time.perf_counter() - start, 1), "peak_mb": round(peak),
                           "built, rejected": out.strip()}  # fmt: skip
            print(f"{label:<26} {rows[label]}")
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
