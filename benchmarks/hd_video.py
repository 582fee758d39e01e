"""A long 1080p test video made from a GRID clip (upscaled to full height, looped), for the memory
and HD-speed measurements; nothing here is downloaded.

    python benchmarks/hd_video.py tests/data/grid/s1/bbaf4p.mp4 /tmp/hd_120s.mp4 --seconds 120
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from data_prep.video import iter_frames

#: the GRID clip the benchmarks loop into long videos
CLIP = Path(__file__).resolve().parents[1] / "tests" / "data" / "grid" / "s1" / "bbaf4p.mp4"


def write_hd_video(source: Path, out: Path, seconds: float, width: int = 1920, height: int = 1080) -> Path:
    """``seconds`` of ``source`` looped, scaled to ``height`` and centred on a ``width`` x ``height`` frame."""
    frames = [f for _, f in iter_frames(source)]
    scale = height / frames[0].shape[0]
    size = (int(round(frames[0].shape[1] * scale)) // 2 * 2, height)
    left = (width - size[0]) // 2
    canvas = np.zeros((height, width, 3), np.uint8)
    with av.open(str(out), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "23"}
        for i in range(int(seconds * 25)):
            canvas[:, left : left + size[0]] = cv2.resize(frames[i % len(frames)], size, interpolation=cv2.INTER_LINEAR)
            for packet in stream.encode(av.VideoFrame.from_ndarray(canvas)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    write_hd_video(args.source, args.out, args.seconds)
