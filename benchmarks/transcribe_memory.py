"""Peak memory (RSS) and wall time of `lipread transcribe`, and of prep's per-video work (one
whole-video cue, as for a transcript without times), against video length, on 1080p video made
from a GRID clip (benchmarks/hd_video.py). Each length and command runs in a fresh process.
``--folder N`` measures instead ``lipread transcribe FOLDER -o OUT`` over N such videos of the
first length (a folder's peak memory should be one video's, not grow with the folder).
``--span START END`` also reads only those seconds of each video (``transcribe --start/--end``):
its cost should be the span's, not the video's.

    python benchmarks/transcribe_memory.py --seconds 30 60 120
    python benchmarks/transcribe_memory.py --seconds 30 300 900 --no-prep
    python benchmarks/transcribe_memory.py --seconds 30 --folder 1 4 8
    python benchmarks/transcribe_memory.py --seconds 900 --no-prep --span 420 480
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hd_video import CLIP, write_hd_video

ROOT = Path(__file__).resolve().parents[1]
MEASURE = (
    "import json, resource, sys, time; from lipread.transcribe import Transcriber; "
    "from lipread.transcript import Span; t = Transcriber.from_checkpoint(device='cpu'); "
    "span = Span(*map(float, sys.argv[2:])) if sys.argv[2:] else None; "
    "start = time.perf_counter(); r = t.transcribe(sys.argv[1], span=span); "
    "print(json.dumps({'peak_mb': peak_mb(), "
    "'seconds': time.perf_counter() - start, 'words': len(r.words), 'timings': r.timings}))"
)
PREP = (
    "import json, resource, sys, time; from data_prep.contracts import CropSettings; "
    "from data_prep.landmarks import FaceTracker; from data_prep.pipeline import extract_mouths; "
    "start = time.perf_counter(); (clip,), _ = extract_mouths(sys.argv[1], [(None, None)], FaceTracker(), "
    "CropSettings()); print(json.dumps({'peak_mb': peak_mb(), "
    "'seconds': time.perf_counter() - start, 'frames': clip.num_frames}))"
)


#: This process's own peak memory (VmHWM): ru_maxrss would keep the forking parent's peak across exec.
PEAK = "import re\ndef peak_mb(): return int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)) / 1024\n"


def measure(script: str, video: Path, *extra: float) -> dict:
    run = subprocess.run([sys.executable, "-c", PEAK + script, str(video), *map(str, extra)], capture_output=True,
                         text=True, check=True)  # fmt: skip
    return json.loads(run.stdout.strip().splitlines()[-1])


def measure_folder(video: Path, count: int, where: Path) -> tuple[float, float]:
    """Peak RSS (MB) and wall time of the CLI over a folder of ``count`` copies of ``video``."""
    folder, out = where / f"folder_{count}", where / f"out_{count}"
    folder.mkdir()
    for k in range(count):
        os.link(video, folder / f"video{k:02d}.mp4")
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "lipread.cli", "transcribe", str(folder), "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"lipread transcribe {folder} failed (wait status {status})")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[30, 60, 120])
    parser.add_argument("--folder", type=int, nargs="+", help="videos in a folder (of the first length)")
    parser.add_argument(
        "--no-prep", action="store_true", help="measure transcribe only (prep's pass is slow on long video)"
    )
    parser.add_argument("--span", type=float, nargs=2, metavar=("START", "END"),
                        help="also transcribe only these seconds of each video")  # fmt: skip
    args = parser.parse_args()
    if args.folder:
        print(f"CPU: {platform.machine()}, {os.cpu_count()} cores; folders of {args.seconds[0]:g} s 1080p videos")
        print("| videos | peak RSS | wall |\n|---:|---:|---:|")
        with tempfile.TemporaryDirectory() as tmp:
            video = write_hd_video(CLIP, Path(tmp) / "hd.mp4", args.seconds[0])
            for count in args.folder:
                peak, wall = measure_folder(video, count, Path(tmp))
                print(f"| {count} | {peak:.0f} MB | {wall:.0f} s |", flush=True)
        return
    print(f"CPU: {platform.machine()}, {os.cpu_count()} cores; 1920x1080 H.264, 25 fps")
    print("| video | transcribe peak RSS | wall | real-time factor | words | prep peak RSS | prep wall | crops |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for seconds in args.seconds:
            video = write_hd_video(CLIP, Path(tmp) / f"hd_{seconds:g}s.mp4", seconds)
            m = measure(MEASURE, video)
            p = (
                {"peak_mb": float("nan"), "seconds": float("nan"), "frames": "-"}
                if args.no_prep
                else measure(PREP, video)
            )
            print(f"| {seconds:g} s | {m['peak_mb']:.0f} MB | {m['seconds']:.1f} s | {m['seconds'] / seconds:.2f} "
                  f"| {m['words']} | {p['peak_mb']:.0f} MB | {p['seconds']:.1f} s | {p['frames']} |", flush=True)  # fmt: skip
            if args.span:
                s = measure(MEASURE, video, *args.span)
                length = args.span[1] - args.span[0]
                print(f"| {args.span[0]:g}-{args.span[1]:g} s of it | {s['peak_mb']:.0f} MB | {s['seconds']:.1f} s "
                      f"| {s['seconds'] / length:.2f} of the span | {s['words']} | | | |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
