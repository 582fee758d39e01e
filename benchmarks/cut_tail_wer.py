"""How a model reads clips cut soon after the last word: WER with each clip read whole and cut K
frames after its last word's end (the manifest's word times). Live reading cuts a phrase after a
pause of still lips; the shorter the pause it can wait for, the sooner a phrase arrives.

    python benchmarks/cut_tail_wer.py --data DATASET --split ../shared/grid/splits/s1_val.txt
    python benchmarks/cut_tail_wer.py --data DATASET --split ... --checkpoint MODEL --tails 15 10 5 3
"""

from __future__ import annotations

import argparse
import math
import platform
from pathlib import Path

import torch
from tqdm import tqdm

from lipread.clips import ClipDataset, PixelNorm, read_dataset
from lipread.evaluate import select_utterances
from lipread.metrics import word_counts
from lipread.transcribe import Transcriber


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a dataset folder with word times")
    parser.add_argument("--split", type=Path, help="ids to read (default: all)")
    parser.add_argument("--checkpoint", type=Path, help="model folder or .ckpt (default: the shipped model)")
    parser.add_argument("--decoder", default="beam")
    parser.add_argument("--tails", type=int, nargs="+", default=[15, 10, 5, 3], help="frames kept after the last word")
    args = parser.parse_args()
    transcriber = Transcriber.from_checkpoint(args.checkpoint, "cpu")
    card = transcriber.card
    utterances = [u for u in select_utterances(read_dataset(args.data), args.split) if u.spans]
    clips = ClipDataset(utterances, card.channels, card.input_size, norm=PixelNorm.of(card))
    tails: list[int | None] = [None, *args.tails]
    readings: dict[int | None, list[str]] = {t: [] for t in tails}
    with torch.no_grad():
        for i, utterance in enumerate(tqdm(utterances, desc="cut-tail WER", unit="clip")):
            video = clips[i].video  # (C, T, H, W)
            for tail in tails:
                end = video.shape[1] if tail is None else min(video.shape[1], math.ceil(utterance.spans[-1][1]) + tail)
                log_probs = transcriber.model(video[None, :, :end], torch.tensor([end]))[0]
                best, _ = transcriber.read_window(log_probs, args.decoder, 1)
                readings[tail].append(best[0].text)
    references = [u.text for u in utterances]
    print(f"{transcriber.name}, {len(utterances)} clips of {args.data}, {args.decoder}, on {platform.machine()}")
    for tail in tails:
        name = "whole clip" if tail is None else f"cut {tail} frames after the last word"
        print(f"  {name:<36} WER {word_counts(references, readings[tail]).rate:.2%}")


if __name__ == "__main__":
    main()
