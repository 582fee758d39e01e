"""``lipread compare``: two evaluation reports of the same utterances, and whether B's gain is real."""

from __future__ import annotations

import json
from pathlib import Path

import jiwer
import numpy as np
import pytest

from conftest import lipread
from lipread.metrics import bootstrap_interval, paired_difference


def test_identical_systems_differ_by_nothing():
    errors = [0, 2, 1, 0, 3]
    same = paired_difference(errors, errors, [6] * 5)
    assert (same.difference, same.low, same.high, same.b_better_share, same.b_worse_share) == (0, 0, 0, 0, 0)
    assert (same.b_better, same.b_worse) == (0, 0)


def test_the_paired_interval_sees_a_gain_that_the_two_rates_own_intervals_hide():
    """200 sentences of 6 words; A makes 0-3 errors in each, B one fewer in 30 of them. Each rate's own
    95% interval overlaps the other's, yet B is better on every resample that holds one of the 30."""
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, size=200)
    b = a.copy()
    fixed = rng.choice(np.flatnonzero(a > 0), size=30, replace=False)
    b[fixed] -= 1
    lengths = [6] * 200
    low_a, high_a = bootstrap_interval(a.tolist(), lengths)
    low_b, high_b = bootstrap_interval(b.tolist(), lengths)
    assert low_a < high_b  # the unpaired intervals overlap
    paired = paired_difference(a.tolist(), b.tolist(), lengths)
    assert paired.difference == pytest.approx(-30 / 1200)
    assert paired.low <= paired.difference <= paired.high < 0
    assert paired.b_better_share == 1.0 and paired.b_worse_share == 0.0
    assert (paired.b_better, paired.b_worse) == (30, 0)


@pytest.fixture(scope="module")
def two_reports(
    trained_tiny: Path, trained_tiny_windowed: Path, tiny_dataset: Path, tmp_path_factory
) -> tuple[Path, Path]:
    """The two tiny models (plain CTC, then fine-tuned with word windows) on the 7 tiny clips."""
    folders = []
    for name, model in (("plain", trained_tiny), ("windowed", trained_tiny_windowed)):
        out = tmp_path_factory.mktemp(name)
        result = lipread(
            "evaluate", "--checkpoint", model, "--data", tiny_dataset, "--decoder", "greedy,beam", "-o", out
        )
        assert result.returncode == 0, result.stderr[-2000:]
        folders.append(out)
    return folders[0], folders[1]


def test_compare_two_real_reports(two_reports: tuple[Path, Path], tmp_path: Path):
    a, b = two_reports
    result = lipread("compare", a, b / "report.json", "-o", tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    out = json.loads((tmp_path / "comparison.json").read_text())
    reports = [json.loads((f / "report.json").read_text()) for f in (a, b)]
    refs = reports[0]["references"]
    assert [d["decoder"] for d in out["decoders"]] == ["greedy", "beam"]
    for compared in out["decoders"]:
        kind = compared["decoder"]
        ids = sorted(refs)
        hyps_a, hyps_b = (r["hypotheses"][kind] for r in reports)
        assert compared["wer_a"] == pytest.approx(reports[0]["decoders"][kind]["wer"])
        assert compared["wer_b"] == pytest.approx(reports[1]["decoders"][kind]["wer"])
        count = [_errors(refs[i], hyps_a[i]) for i in ids]
        count_b = [_errors(refs[i], hyps_b[i]) for i in ids]
        paired = compared["paired"]
        assert paired["b_better"] == sum(y < x for x, y in zip(count, count_b))
        assert paired["b_worse"] == sum(y > x for x, y in zip(count, count_b))
        assert paired["difference"] == pytest.approx(compared["wer_b"] - compared["wer_a"])
        assert len(compared["changed"]) == paired["b_better"] + paired["b_worse"]
        for side, report in (("errors_a", reports[0]), ("errors_b", reports[1])):  # GRID sentences: GRID's slots
            words = report["decoders"][kind]["words"]
            assert sum(slot[side] for slot in compared["slots"]) == words["substitutions"] + words["deletions"]
        assert [slot["slot"] for slot in compared["slots"]][:2] == ["command", "colour"]
        assert f"{kind}: A {compared['wer_a']:.2%} -> B {compared['wer_b']:.2%}" in result.stdout
    assert sum(len(d["changed"]) for d in out["decoders"]) > 0  # the two models do read differently
    page = (tmp_path / "comparison.md").read_text()
    assert "| greedy | 7 |" in page and "| beam | 7 |" in page and "## beam: misread words by slot" in page
    assert (tmp_path / "comparison.png").stat().st_size > 5000


def _errors(reference: str, hypothesis: str) -> int:
    words = jiwer.process_words(reference, hypothesis)
    return words.substitutions + words.deletions + words.insertions


def test_a_report_without_references_reads_them_from_its_dataset(two_reports: tuple[Path, Path], tmp_path: Path):
    """Reports made before they kept their references still compare while their dataset is there."""
    a, b = two_reports
    old = json.loads((a / "report.json").read_text())
    del old["references"]
    (tmp_path / "old.json").write_text(json.dumps(old))
    now = lipread("compare", tmp_path / "old.json", b, "--decoder", "beam")
    assert now.returncode == 0, now.stderr
    assert now.stdout == lipread("compare", a, b, "--decoder", "beam").stdout.replace(
        str(a), str(tmp_path / "old.json")
    )
    old["data"] = str(tmp_path / "gone")
    (tmp_path / "old.json").write_text(json.dumps(old))
    gone = lipread("compare", tmp_path / "old.json", b)
    assert gone.returncode == 2 and "holds no reference transcripts" in gone.stderr and "Traceback" not in gone.stderr


def test_reports_of_different_utterances_are_refused(two_reports: tuple[Path, Path], tmp_path: Path):
    a, b = two_reports
    fewer = json.loads((b / "report.json").read_text())
    for kind in fewer["hypotheses"]:
        fewer["hypotheses"][kind].pop(sorted(fewer["hypotheses"][kind])[0])
    (tmp_path / "fewer.json").write_text(json.dumps(fewer))
    result = lipread("compare", a, tmp_path / "fewer.json")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "the reports read different utterances (1 only in A, 0 only in B)" in result.stderr
    missing = lipread("compare", a, tmp_path / "nothing-here")
    assert missing.returncode == 2 and "no such report" in missing.stderr
