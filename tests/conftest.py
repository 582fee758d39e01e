"""Shared fixtures: the real GRID clips under tests/data and helpers to make test videos."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from data_prep.transcripts import read_grid_align
from data_prep.video import iter_frames, write_clip

DATA = Path(__file__).parent / "data"
GRID = DATA / "grid"
ALIGNMENTS = GRID / "alignments"
SHARED_GRID = Path(__file__).resolve().parents[1].parent / "shared" / "grid"
TRAIN_CLIPS = ["bbaf4p", "bbaf5a", "bbal6n", "bbal7s"]

os.environ.setdefault("GLOG_minloglevel", "2")


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
