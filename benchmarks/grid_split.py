"""The raw GRID videos of one speaker and a split of them, as the WER benchmarks take them
(``transcribe_wer``, ``continuous_speech_wer``, ``frame_rate_wer``; ``live_latency`` reads a split)."""

from __future__ import annotations

import argparse
from pathlib import Path

#: How the benchmarks write the videos they make from GRID's (joined sentences, lower frame rates):
#: lossless, so that every writing has the same pixels and readings compare across runs and
#: machines (x264 at crf 18 writes slightly different pixels each time, which moved
#: ``continuous_speech_wer`` by up to 11 words of 300; and it blurs: 4 words of 300 on s1_val).
WRITE_CRF = 0


def add_grid_arguments(parser: argparse.ArgumentParser, split_help: str, split_required: bool = True) -> None:
    """``videos``, ``--alignments``, ``--split`` (``split_help`` says what the split's ids are for)
    and ``--checkpoint``, the model that reads them."""
    parser.add_argument("videos", type=Path, help="a folder of GRID videos of one speaker (<id>.mp4 or .mpg)")
    parser.add_argument("--alignments", type=Path, required=True, help="GRID .align files, <speaker>/<id>.align")
    parser.add_argument("--split", type=Path, required=split_required, help=split_help)
    parser.add_argument(
        "--checkpoint", type=Path, default=None, help="model folder or .ckpt (default: the shipped model)"
    )


def split_names(path: Path) -> list[str]:
    """A split file's clip names in order: ``s1/bbaf2n`` a line gives ``bbaf2n``."""
    return [line.strip().split("/")[-1] for line in path.read_text().splitlines() if line.strip()]
