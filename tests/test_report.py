"""Scoring and the evaluation report, from known references and hypotheses (no model)."""

from __future__ import annotations

from pathlib import Path

import jiwer
import pytest
from PIL import Image

from lipread.evaluate import score
from lipread.metrics import bootstrap_interval, word_alignment
from lipread.report import chart, markdown, table


def test_word_alignment_marks_each_error_under_its_word():
    lines = word_alignment("bin blue at f two now", "bin blue at s two now again").splitlines()
    assert lines == [
        "REF: bin blue at f two now *****",
        "HYP: bin blue at s two now again",
        "                 S         I",
    ]
    assert word_alignment("set red now", "set now").splitlines()[1:] == ["HYP: set *** now", "         D"]


def test_bootstrap_interval_brackets_the_rate_and_narrows_with_data():
    errors, lengths = [1, 0, 2, 0, 1] * 10, [6] * 50
    low, high = bootstrap_interval(errors, lengths)
    rate = sum(errors) / sum(lengths)
    assert low < rate < high
    wide = bootstrap_interval(errors[:10], lengths[:10])
    assert wide[1] - wide[0] > high - low
    assert bootstrap_interval([0] * 5, [6] * 5) == (0.0, 0.0)


def _report(speakers: list[str]) -> dict:
    refs = ["bin blue at f two now", "set red", "lay green by a one soon"]
    hyps = ["bin blue at s two now", "set red", "lay green by one soon"]
    ids = [f"{s}/u{i}" for i, s in enumerate(speakers)]
    return {
        "model": "/models/grid", "model_name": "grid-lipnet", "model_digest": "0123456789ab",
        "lipread_version": "9.9", "date": "2026-11-24T10:00:00+00:00", "device": "cpu",
        "data": "/data/grid_s1", "split": None, "utterances": 3,
        "beam_options": {"beam_size": 50, "lm_weight": 0.25},
        "decoders": {"greedy": score(ids, speakers, refs, hyps), "beam": score(ids, speakers, refs, refs)},
    }  # fmt: skip


def test_markdown_names_what_produced_it_and_carries_intervals():
    text = markdown(_report(["s1", "s1", "s1"]))
    for expected in ("grid-lipnet", "`0123456789ab`", "lipread 9.9", "2026-11-24", "beam_size 50, lm_weight 0.25"):
        assert expected in text
    wer = jiwer.wer(["bin blue at f two now", "set red", "lay green by a one soon"],
                    ["bin blue at s two now", "set red", "lay green by one soon"])  # fmt: skip
    assert f"| greedy | {wer:.2%} (" in text
    assert "SENTENCE" not in text and "(1 errors)" not in text
    assert "`s1/u0`: 1 error\n```\nREF: bin blue at f two now" in text
    assert "Every utterance is right." in text  # the beam decoder's list


@pytest.mark.parametrize("speakers,panels", [(["s1", "s1", "s1"], 2), (["s1", "s1", "s2"], 3)])
def test_chart_draws_the_speaker_panel_only_for_several_speakers(speakers, panels, tmp_path: Path):
    chart(_report(speakers), tmp_path / "report.png")
    width, _ = Image.open(tmp_path / "report.png").size
    assert width == pytest.approx(4.5 * panels * 110, abs=2)


def test_table_shows_the_interval():
    first = table(_report(["s1"] * 3)).splitlines()[1]
    assert first.startswith("greedy") and "%-" in first


def test_coverage_ranks_by_confidence_and_reaches_the_reports():
    refs = ["bin blue at f two now", "lay red by g nine again", "set white in a one soon", "place green at b six now"]
    hyps = ["bin blue at f two now", "lay red by e nine again", "set white in a one soon", "place red at d six now"]
    # the two right sentences are the most confident: half coverage has no errors
    result = score(["a", "b", "c", "d"], ["s1"] * 4, refs, hyps, confidences=[0.9, 0.2, 0.8, 0.1],
                   flags=[False, False, False, True])  # fmt: skip
    assert [c["wer"] for c in result["coverage"]] == [0.0, pytest.approx(1 / 18), pytest.approx(3 / 24)]
    assert result["coverage"][0]["min_confidence"] == 0.8 and result["out_of_domain_rate"] == 0.25
    report = _report(["s1"] * 3)
    report["decoders"]["beam"] = result
    assert "| beam | 0.00% | 5.56% | 12.50% | 25.0% |" in markdown(report)
    assert "beam: WER of the most confident 50% 0.00%" in table(report)
