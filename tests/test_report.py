"""Scoring and the evaluation report, from known references and hypotheses (no model)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jiwer
import pytest
from PIL import Image

from lipread.errors import UserError
from lipread.evaluate import score
from lipread.evaluation_report import REPORT_FORMAT, EvaluationReport, read_report
from lipread.grammar import load as load_grammar
from lipread.grammar import parse as parse_grammar
from lipread.metrics import Confusion, bootstrap_interval, confusions, slot_errors, word_alignment
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


def _report(speakers: list[str]) -> EvaluationReport:
    refs = ["bin blue at f two now", "set red", "lay green by a one soon"]
    hyps = ["bin blue at s two now", "set red", "lay green by one soon"]
    ids = [f"{s}/u{i}" for i, s in enumerate(speakers)]
    return EvaluationReport(
        model="/models/grid", model_name="grid-lipnet", model_digest="0123456789ab",
        lipread_version="9.9", date="2026-11-24T10:00:00+00:00", device="cpu",
        data="/data/grid_s1", split=None, utterances=3,
        beam_options={"beam_size": 50, "lm_weight": 0.25},
        decoders={"greedy": score(ids, speakers, refs, hyps), "beam": score(ids, speakers, refs, refs)},
        references=dict(zip(ids, refs)),
        hypotheses={"greedy": dict(zip(ids, hyps)), "beam": dict(zip(ids, refs))},
    )  # fmt: skip


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


@pytest.mark.parametrize("speakers,panels", [(["s1", "s1", "s1"], 3), (["s1", "s1", "s2"], 4)])
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
    assert [c.wer for c in result.coverage] == [0.0, pytest.approx(1 / 18), pytest.approx(3 / 24)]
    assert result.coverage[0].min_confidence == 0.8 and result.out_of_domain_rate == 0.25
    report = _report(["s1"] * 3)
    report.decoders["beam"] = result
    assert "| beam | 0.00% | 5.56% | 12.50% | 25.0% |" in markdown(report)
    assert "beam: WER of the most confident 50% 0.00%" in table(report)


def test_confusions_count_each_kind_of_word_error_most_frequent_first():
    refs = ["bin blue at f two now", "set red at f one soon", "lay white by f six now"]
    hyps = ["bin blue at s two now again", "set red f one soon", "lay white by s six now"]
    assert confusions(refs, hyps) == [
        Confusion("f", "s", 2),
        Confusion(None, "again", 1),  # an insertion
        Confusion("at", None, 1),  # a deletion
    ]
    assert confusions(refs, hyps, top=1) == [Confusion("f", "s", 2)]
    assert confusions(refs, refs) == []


def test_slot_errors_charge_each_reference_word_to_its_grammar_slot():
    grid = load_grammar("grid")
    refs = ["bin blue at f two now", "set red at f one soon", "hello there"]  # the last is outside GRID
    hyps = ["bin blue at s two now again", "set red f one soon", "bin blue"]
    rates = {e.slot: (e.words, e.errors) for e in slot_errors(refs, hyps, grid)}
    assert rates == {"command": (2, 0), "colour": (2, 0), "preposition": (2, 1), "letter": (2, 1),
                     "digit": (2, 0), "adverb": (2, 0)}  # fmt: skip
    # optional slots, words of several words, and whole phrases (counted as "phrase")
    lights = parse_grammar("slot verb: turn on | switch off\nslot thing?: the light | the fan\nphrase: help", "lights")
    refs, hyps = ["turn on the light", "switch off", "help"], ["turn on the fan", "switch of", ""]
    rates = {e.slot: (e.words, e.errors) for e in slot_errors(refs, hyps, lights)}
    assert rates == {"verb": (4, 1), "thing": (2, 1), "phrase": (1, 1)}


def test_reports_show_the_slot_and_the_confusions_where_the_errors_are(tmp_path: Path):
    refs = ["bin blue at f two now", "lay red by g nine again", "set white in a one soon", "place green at b six now"]
    hyps = ["bin blue at e two now", "lay red by e nine again", "set white in a one soon", "place green at b six now"]
    result = score(["a", "b", "c", "d"], ["s1"] * 4, refs, hyps, grammar=load_grammar("grid"))
    report = replace(_report(["s1"] * 3), grammar="grid", decoders={"beam": result})
    assert result.confusions[:2] == [Confusion("f", "e", 1), Confusion("g", "e", 1)]
    assert [e.slot for e in result.slots][3] == "letter" and result.slots[3].rate == 0.5
    text = markdown(report)
    assert "| beam | 0.0% (0) | 0.0% (0) | 0.0% (0) | 50.0% (2) | 0.0% (0) | 0.0% (0) |" in text
    assert "| f -> e | 1 |" in text
    lines = table(report)
    assert "beam: most frequent errors f -> e 1, g -> e 1" in lines
    assert "letter 50.0% (2/4)" in lines  # the words behind a rate: 1 of 3 fitting sentences is not 300
    chart(report, tmp_path / "report.png")  # WER, slots, confusions, error types
    assert Image.open(tmp_path / "report.png").size[0] == pytest.approx(4.5 * 4 * 110, abs=2)


def test_report_json_reads_back_as_it_was_written(tmp_path: Path):
    report = replace(_report(["s1", "s1", "s2"]), grammar="grid")
    report.write(tmp_path / "report.json")
    record = json.loads((tmp_path / "report.json").read_text())
    assert (
        record["format"] == REPORT_FORMAT
        and record["decoders"]["greedy"]["words"]["rate"] == report.decoders["greedy"].wer
    )  # computed fields are written for people's scripts, and ignored on reading
    assert read_report(tmp_path) == report
    assert report.beam_reading() == "grid grammar, beam_size 50"  # what `compare` says of each report
    assert replace(report, grammar=None).beam_reading() == "lexicon + LM, beam_size 50, lm_weight 0.25"


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda r: r["decoders"]["beam"].update(wer="12%"), r"decoders\.beam\.wer: Input should be a valid number"),
        (lambda r: r["decoders"]["greedy"].pop("words"), r"decoders\.greedy\.words: Field required"),
        (lambda r: r["hypotheses"]["beam"].update({"s1/u0": 3}), r"hypotheses\.beam\.s1/u0: Input should be a valid"),
        (lambda r: r.update(format="lipread-report/2"), "is newer than this lipread reads; upgrade lipread"),
        (lambda r: r.pop("hypotheses"), "not a report of `lipread evaluate`"),
    ],
)
def test_a_damaged_report_is_refused_naming_the_field(change, message: str, tmp_path: Path):
    record = _report(["s1"] * 3).to_json()
    change(record)
    (tmp_path / "report.json").write_text(json.dumps(record))
    with pytest.raises(UserError, match=message):
        read_report(tmp_path / "report.json")


def test_a_report_from_before_the_format_had_a_name_still_reads(tmp_path: Path):
    """The first reports had no format, intervals, confusions, slots, timing or references."""
    record = _report(["s1"] * 3).to_json()
    for name in ("format", "model_name", "model_digest", "lipread_version", "date", "grammar", "timing"):
        record.pop(name)
    for result in record["decoders"].values():
        for name in ("wer_ci95", "cer_ci95", "confusions", "slots", "coverage", "out_of_domain_rate"):
            result.pop(name)
    record["references"] = {}
    (tmp_path / "report.json").write_text(json.dumps(record))
    with pytest.raises(UserError, match="holds no reference transcripts"):  # and its dataset is gone
        read_report(tmp_path / "report.json")
    dataset = tmp_path / "data"
    dataset.mkdir()
    lines = [
        {"id": i, "text": t, "clip": f"clips/{i}.mp4", "num_frames": 75}
        for i, t in _report(["s1"] * 3).references.items()
    ]
    (dataset / "manifest.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    record["data"] = str(dataset)
    (tmp_path / "report.json").write_text(json.dumps(record))
    old = read_report(tmp_path / "report.json")
    assert old.references == _report(["s1"] * 3).references and old.decoders["beam"].wer_ci95 is None
    assert "| greedy | 14.29% |" in markdown(old) and "greedy" in table(old)
