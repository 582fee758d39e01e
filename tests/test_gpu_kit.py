"""The GPU kit's steps that run here: ``unpack`` the fetched tars, then ``judge`` the models they hold
against a baseline (the GPU session's own time is too short to find a broken step then)."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import ROOT
from lipread.pretrained import decoding_defaults


def _kit(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "benchmarks/gpu_kit.py", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)  # fmt: skip


@pytest.mark.slow
def test_unpack_then_judge_against_the_baseline(
    trained_tiny: Path, trained_tiny_windowed: Path, tiny_dataset: Path, tmp_path: Path
):
    fetched = tmp_path / "fetched"
    fetched.mkdir()
    with tarfile.open(fetched / "windowed.tar", "w") as tar:  # as `run` packs each recipe's best model
        tar.add(trained_tiny_windowed, arcname="windowed")
    unpacked = _kit("unpack", fetched, "--to", tmp_path / "gpu")
    assert unpacked.returncode == 0, unpacked.stderr[-2000:]
    assert (tmp_path / "gpu" / "windowed" / "config.json").is_file()

    split = tmp_path / "all.txt"
    split.write_text("".join(json.loads(line)["id"] + "\n" for line in (tiny_dataset / "manifest.jsonl").open()))
    out = tmp_path / "reports"
    baseline_decoding = decoding_defaults(trained_tiny)
    judged = _kit("judge", "--models", tmp_path / "gpu", "--baseline", trained_tiny, "--data", tiny_dataset,
                  "--split", split, "--out", out)  # fmt: skip
    assert judged.returncode == 0, judged.stderr[-2000:]
    # the new model's thresholds and rest measured on the split; the baseline's left as they were
    assert decoding_defaults(tmp_path / "gpu" / "windowed").calibration.source.startswith("all.txt, 7 utterances")
    assert decoding_defaults(trained_tiny) == baseline_decoding
    compared = {
        d["decoder"]: d for d in json.loads((out / "windowed-vs-baseline" / "comparison.json").read_text())["decoders"]
    }
    new = json.loads((out / "windowed" / "report.json").read_text())
    assert new["grammar"] == "grid" and compared["beam"]["wer_b"] == new["decoders"]["beam"]["wer"]
    letter = next(s for s in compared["beam"]["slots"] if s["slot"] == "letter")
    row = next(line for line in (out / "summary.md").read_text().splitlines() if line.startswith("| windowed |"))
    assert row.startswith(
        f"| windowed | {new['decoders']['greedy']['wer']:.2%} | {new['decoders']['beam']['wer']:.2%} |"
    )
    assert row.endswith(f"| {letter['errors_a']} -> {letter['errors_b']} |")
    again = _kit("judge", "--models", tmp_path / "gpu", "--baseline", trained_tiny, "--data", tiny_dataset,
                 "--split", split, "--out", out)  # fmt: skip
    assert again.returncode == 0 and json.loads((out / "windowed" / "report.json").read_text())["date"] == new["date"]
