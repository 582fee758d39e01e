"""Milliseconds per frame to convert decoded frames to RGB, with swscale's default threads (one per
core) and with one, alone and beside a busy neighbour (as prep's second worker or a training run is).

    python benchmarks/frame_conversion.py [VIDEO] [--repeats 3]

Why: prep and transcription convert every frame, and data_prep.video.to_rgb uses one thread.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import av
import numpy as np

DEFAULT_VIDEO = Path(__file__).resolve().parents[1] / "examples" / "lgaf6p.mp4"


def _busy(stop) -> None:
    """A neighbour that keeps two cores' worth of threads busy."""
    import torch

    torch.set_num_threads(2)
    a = torch.randn(512, 512)
    while not stop.is_set():
        a = (a @ a).tanh()


def _ms_per_frame(frames: list[av.VideoFrame], threads: int | None) -> tuple[float, list[np.ndarray]]:
    start = time.perf_counter()
    out = [f.reformat(format="rgb24", threads=threads).to_ndarray() for f in frames]
    return (time.perf_counter() - start) / len(frames) * 1000, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with av.open(str(args.video)) as container:
        frames = list(container.decode(video=0))
    print(f"{args.video.name}: {len(frames)} frames of {frames[0].width}x{frames[0].height} {frames[0].format.name}")
    for neighbour in (False, True):
        stop = mp.Event()
        busy = mp.Process(target=_busy, args=(stop,)) if neighbour else None
        if busy:
            busy.start()
            time.sleep(2)
        for threads, label in ((None, "default threads"), (1, "one thread")):
            runs = [_ms_per_frame(frames, threads) for _ in range(args.repeats)]
            same = all(np.array_equal(a, b) for a, b in zip(runs[0][1], _ms_per_frame(frames, 1)[1]))
            ms = sorted(r[0] for r in runs)[len(runs) // 2]
            where = "beside a busy neighbour" if neighbour else "alone"
            print(f"{where:>24}, {label:>15}: {ms:.2f} ms/frame (median of {args.repeats}); same pixels: {same}")
        if busy:
            stop.set()
            busy.join()


if __name__ == "__main__":
    main()
