"""Train the two tiny models that tests read, and write them under tests/data/tiny_models.

Tests that transcribe, time words or retrain a back-end need a model that reads the fixture clips.
Training it inside every test run cost 8 of CI's minutes, and a seeded CPU run is not bit-for-bit
the same on another machine (one missed space flipped three tests): a committed model reads the
same on every machine. The recipe is configs/tiny.yaml on the five TINY_TRAIN_IDS clips:

- ``plain``: 240 epochs of plain CTC at lr 0.03 (tests/test_train.py trains its own for 360);
- ``windowed``: ``plain`` fine-tuned for 160 epochs with word windows (tiny.yaml's default) at
  lr 0.003, so its spikes fall inside the words' .align times.

Run from the repository root (about 4 minutes on 2 CPU cores): ``python tests/make_tiny_models.py``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from conftest import ALIGNMENTS, GRID, TINY_MODELS, train_tiny
from data_prep.builder import PrepOptions, build
from lipread.pretrained import export


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dataset = Path(tmp) / "dataset"
        build(PrepOptions(GRID, dataset, alignments=ALIGNMENTS, workers=1, crf=0))
        plain = train_tiny(dataset, Path(tmp) / "plain" / "run", "--data.word_window_margin", "null")
        shutil.rmtree(TINY_MODELS, ignore_errors=True)
        plain_model = export(plain / "checkpoints" / "last.ckpt", TINY_MODELS / "plain", name="tiny-plain")
        windowed = train_tiny(dataset, Path(tmp) / "windowed" / "run", "--init_from", str(plain_model),
                              "--trainer.max_epochs", "160", "--model.lr", "0.003")  # fmt: skip
        export(windowed / "checkpoints" / "last.ckpt", TINY_MODELS / "windowed", name="tiny-windowed")
    print(f"wrote {TINY_MODELS / 'plain'} and {TINY_MODELS / 'windowed'}")


if __name__ == "__main__":
    main()
