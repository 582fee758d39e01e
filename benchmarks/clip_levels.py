"""The typical brightness and contrast of a dataset's clips: the mean, over clips, of each clip's
mean and standard deviation (0-1 scale, over its centre crops, grey). A model folder given with
--write gets them as its ``clip_levels``: every command then matches each clip it reads to them
before the model sees it (lipread.clips.PixelNorm). The shipped model's came from

    python benchmarks/clip_levels.py --data data/grid_s1 --split ../shared/grid/splits/s1_train.txt \\
        --write lipread/pretrained
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from data_prep.contracts import ModelCard
from lipread.augment import centre_crop
from lipread.clips import ClipDataset, levels_of, read_dataset
from lipread.evaluate import select_utterances


def typical_levels(clips: ClipDataset) -> tuple[float, float]:
    """Mean over ``clips`` of each centre-cropped clip's levels (as PixelNorm measures them), 0-1 scale."""
    levels = []
    for i in tqdm(range(len(clips)), desc="levels", unit="clip"):
        crop = torch.from_numpy(centre_crop(clips.frames(i), clips.input_size)).double()[None] / 255.0
        levels.append([float(v) for v in levels_of(crop)])
    mean, std = np.mean(levels, axis=0)
    return round(float(mean), 4), round(float(std), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a prepped dataset folder")
    parser.add_argument("--split", type=Path, help="file of utterance ids (default: every clip)")
    parser.add_argument("--input-size", type=int, default=88, help="side of the centre crop the model reads")
    parser.add_argument("--write", type=Path, help="a model folder whose config.json gets these clip_levels")
    args = parser.parse_args()
    utterances = select_utterances(read_dataset(args.data), args.split)
    levels = typical_levels(ClipDataset(utterances, 1, args.input_size))
    print(f"clip_levels over {len(utterances)} clips: mean {levels[0]}, std {levels[1]}")
    if args.write:
        config = args.write / "config.json"
        record = json.loads(config.read_text())
        card = ModelCard.from_json(record, str(config)).replace(clip_levels=levels)  # (older formats upgraded)
        config.write_text(json.dumps({**card.to_json(), "weights": record.get("weights")}, indent=1))
        print(f"wrote {config}")


if __name__ == "__main__":
    main()
