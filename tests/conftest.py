"""Shared fixtures: the real GRID clips under tests/data and helpers to make test videos."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from data_prep.transcripts import read_grid_align
from data_prep.video import iter_frames, write_clip
from lipread.shipped_configs import CONFIG_DIR

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
GRID = DATA / "grid"
ALIGNMENTS = GRID / "alignments"
SHARED_GRID = Path(__file__).resolve().parents[1].parent / "shared" / "grid"
TRAIN_CLIPS = ["bbaf4p", "bbaf5a", "bbal6n", "bbal7s"]
#: The README's example clip (GRID s1, test split) and what the shipped model reads in it.
EXAMPLE = ROOT / "examples" / "lgaf6p.mp4"
EXAMPLE_TEXT = "lay green at f six please"
#: A user's own grammar of three sentences, one of them the example's.
THREE_PHRASES = f"phrase: bin blue at f two now\nphrase: {EXAMPLE_TEXT}\nphrase: place red in a one soon\n"
#: What the tiny test model trains on: the four s1 train clips and the original MPEG-1 file of s2.
TINY_TRAIN_IDS = [f"s1/{n}" for n in TRAIN_CLIPS] + ["s2/swwp2s"]

os.environ.setdefault("GLOG_minloglevel", "2")


def lipread(*args: str | Path, cwd: Path = ROOT, timeout: float = 900) -> subprocess.CompletedProcess:
    """The ``lipread`` command as a user runs it, in a process of its own (``python -m lipread``, the
    console script's twin for where it is not on PATH)."""
    return subprocess.run([sys.executable, "-m", "lipread", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)  # fmt: skip


def clip_path(name: str, speaker: str = "s1") -> Path:
    suffix = ".mpg" if speaker != "s1" else ".mp4"
    return GRID / speaker / f"{name}{suffix}"


def align_text(name: str, speaker: str = "s1") -> str:
    return read_grid_align(ALIGNMENTS / speaker / f"{name}.align").text


def frames_of(path: Path) -> np.ndarray:
    return np.stack([f for _, f in iter_frames(path)])


def write_video(path: Path, frames: np.ndarray, fps: float = 25.0) -> Path:
    write_clip(path, frames, fps)
    return path


TINY = CONFIG_DIR / "tiny.yaml"


def train_cmd(dataset: Path, run_dir: Path, *extra: str) -> list[str]:
    ids = run_dir.parent / "train_ids.txt"
    ids.parent.mkdir(parents=True, exist_ok=True)
    ids.write_text("".join(f"{i}\n" for i in TINY_TRAIN_IDS))
    return [
        sys.executable, "-m", "lipread.cli", "train", "--config", str(TINY),
        "--data.root", str(dataset), "--data.train_list", str(ids), "--data.val_list", str(ids),
        "--trainer.default_root_dir", str(run_dir), "--trainer.enable_progress_bar", "false", *extra,
    ]  # fmt: skip


@pytest.fixture
def grid_input(tmp_path: Path) -> Path:
    """A copy of a few s1 clips in the layout users have: <input>/<speaker>/<name>.mp4."""
    root = tmp_path / "videos"
    (root / "s1").mkdir(parents=True)
    for name in TRAIN_CLIPS[:2]:
        shutil.copy(clip_path(name), root / "s1")
    return root


requires_shared_grid = pytest.mark.skipif(
    not (SHARED_GRID / "s1").is_dir(), reason="needs the full GRID set in ../shared/grid"
)


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """tests/data/grid prepared once: 7 real clips (6 of s1, 1 of s2). Lossless clips (crf 0) decode to
    the same pixels every run, and training is seeded, so the tiny models below come out the same
    on every run on a machine: a test that passes once does not flake."""
    from data_prep.builder import PrepOptions, build

    out = tmp_path_factory.mktemp("tiny") / "dataset"
    build(PrepOptions(GRID, out, alignments=ALIGNMENTS, workers=1, crf=0))
    return out


def run_tiny_training(dataset: Path, run_dir: Path, *extra: str, timeout: float = 900) -> str:
    """``lipread train`` on the tiny config in a child process; its stderr (the run must succeed)."""
    import subprocess

    result = subprocess.run(train_cmd(dataset, run_dir, *extra), capture_output=True, text=True, cwd=ROOT,
                            timeout=timeout)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def logged(run_dir: Path, column: str) -> list[float]:
    """One column of a run's ``metrics.csv``, the rows that have it."""
    import csv

    with open(run_dir / "metrics.csv") as f:
        return [float(r[column]) for r in csv.DictReader(f) if r.get(column)]


#: The tiny models that tests read, trained by tests/make_tiny_models.py and committed: a seeded CPU
#: run is not bit-for-bit the same on every machine, a committed model reads the same everywhere.
TINY_MODELS = DATA / "tiny_models"


def train_tiny(tiny_dataset: Path, run_dir: Path, *extra: str) -> Path:
    """configs/tiny.yaml trained on the 5 clips of TINY_TRAIN_IDS, for 240 epochs at lr 0.03 unless
    ``extra`` says otherwise (about 2.5 minutes on 2 CPU cores; 600 epochs at lr 0.01 took 6 minutes and
    read them no better: 1 word of 30 wrong against 2)."""
    import subprocess

    # validated (and checkpointed) every 20 epochs, not every one: a third of the time, the same weights
    cmd = train_cmd(tiny_dataset, run_dir, "--trainer.max_epochs", "240", "--model.lr", "0.03",
                    "--trainer.check_val_every_n_epoch", "20", *extra)  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


@pytest.fixture(scope="session")
def trained_tiny_run(tiny_dataset: Path, tmp_path_factory) -> Path:
    """A tiny run made here with plain CTC, for the tests of training itself: 360 epochs, as 240
    read the clips with 1 word of 30 wrong on one 2-core machine and 7 on another (2026-12-03: 0 at 360)."""
    return train_tiny(tiny_dataset, tmp_path_factory.mktemp("tiny_run") / "run", "--data.word_window_margin", "null",
                      "--trainer.max_epochs", "360")  # fmt: skip


def _committed_tiny(name: str, tmp_path_factory) -> Path:
    """A copy of a committed tiny model folder, so that no test can change the original."""
    return Path(shutil.copytree(TINY_MODELS / name, tmp_path_factory.mktemp("tiny_models") / name))


@pytest.fixture(scope="session")
def trained_tiny(tmp_path_factory) -> Path:
    """The tiny model trained with plain CTC: its greedy transcripts are exact (with word windows,
    greedy sometimes drops a word's first or last letter on these 5 clips)."""
    return _committed_tiny("plain", tmp_path_factory)


@pytest.fixture(scope="session")
def trained_tiny_windowed(tmp_path_factory) -> Path:
    """The plain tiny model fine-tuned with word windows (tiny.yaml's default): for timings."""
    return _committed_tiny("windowed", tmp_path_factory)


@pytest.fixture(scope="session")
def turned_example(tmp_path_factory) -> Path:
    """The example with the speaker's face turned 50 degrees (its nose to the right of the picture),
    redrawn from its own FaceMesh mesh (lossless); lipread measures about 29 (FaceMesh sees a redrawn
    face turned less than it was: the hair and outline stay put), past the shipped model's 25."""
    from data_prep.head_turn import write_turned

    out = tmp_path_factory.mktemp("turned") / "turned.mp4"
    write_turned(EXAMPLE, out, -50.0, crf=0)
    return out


@pytest.fixture(scope="session")
def tilted_example(tmp_path_factory) -> Path:
    """The example with the speaker's face tilted 40 degrees down (as a camera above the face sees
    it), redrawn as :func:`turned_example` is; lipread measures about 36 down, past the shipped
    model's 20."""
    from data_prep.head_turn import write_turned

    out = tmp_path_factory.mktemp("tilted") / "tilted.mp4"
    write_turned(EXAMPLE, out, 0.0, -40.0, crf=0)
    return out
