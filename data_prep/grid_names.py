"""GRID file names spell their sentences (bbaf2n = "bin blue at f two now"): a manifest from names
alone, for GRID clips that come without alignment files.

    python -m data_prep.grid_names VIDEO_DIR > manifest.csv
    lipread prep VIDEO_DIR --manifest manifest.csv --out DATASET
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from data_prep.discover import find_videos

COMMANDS = {"b": "bin", "l": "lay", "p": "place", "s": "set"}
COLOURS = {"b": "blue", "g": "green", "r": "red", "w": "white"}
PREPOSITIONS = {"a": "at", "b": "by", "i": "in", "w": "with"}
DIGITS = dict(zip("z123456789", "zero one two three four five six seven eight nine".split()))
ADVERBS = {"a": "again", "n": "now", "p": "please", "s": "soon"}


def sentence_from_name(name: str) -> str:
    """The sentence a six-letter GRID name spells; ValueError if it is not one."""
    name = name.lower()
    try:
        if len(name) != 6 or not name[3].isalpha():
            raise KeyError(name)
        return " ".join(
            [COMMANDS[name[0]], COLOURS[name[1]], PREPOSITIONS[name[2]], name[3], DIGITS[name[4]], ADVERBS[name[5]]]
        )
    except KeyError:
        raise ValueError(f"{name!r} is not a GRID sentence name") from None


def main() -> None:
    root = Path(sys.argv[1])
    writer = csv.writer(sys.stdout)
    writer.writerow(["path", "text", "speaker"])
    for video in find_videos(root):
        writer.writerow([video.relative_to(root).as_posix(), sentence_from_name(video.stem), video.parent.name])


if __name__ == "__main__":
    main()
