"""The typed contracts: manifest lines, model cards and model folders are read strictly, and what
does not fit is refused with the file and the field named."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import ROOT
from data_prep.contracts import (
    MODEL_FORMAT,
    ContractError,
    CropSettings,
    DecoderSettings,
    ManifestEntry,
    ModelCard,
    Word,
)
from lipread.clips import check_crop_matches, read_dataset
from lipread.pretrained import Model, decoding_defaults, load, weights_digest

SHIPPED = ROOT / "lipread" / "pretrained"

LINE = {
    "id": "s1/bbaf2n", "speaker": "s1", "text": "bin blue", "clip": "clips/s1/bbaf2n.mp4", "num_frames": 75,
    "fps": 25.0, "words": [{"word": "bin", "start": 0.95, "end": 1.18}, {"word": "blue", "start": 1.18, "end": 1.36}],
    "source": "s1/bbaf2n.mpg", "source_start": 0.0, "source_end": 3.0,
}  # fmt: skip


def test_manifest_line_round_trip():
    entry = ManifestEntry.from_json(LINE)
    assert entry.words[1] == Word("blue", 1.18, 1.36)
    again = entry.to_json()
    assert again["v"] == 1 and {k: again[k] for k in LINE} == LINE
    assert ManifestEntry.from_json(again) == entry


@pytest.mark.parametrize(
    "change,message",
    [
        ({"num_frames": "75"}, r"manifest\.jsonl:3 \(s1/bbaf2n\): field 'num_frames' should be int"),
        ({"clip": None}, r"\(s1/bbaf2n\): field 'clip' should be str"),
        ({"words": [{"word": "bin", "start": 1.2, "end": 1.0}]}, r"word 1: 'bin' ends \(1\.0\) before it starts"),
        ({"v": 7}, r"version 7 is newer than this lipread reads"),
    ],
)
def test_bad_manifest_lines_are_named(change: dict, message: str):
    with pytest.raises(ContractError, match=message):
        ManifestEntry.from_json({**LINE, **change}, "manifest.jsonl:3")
    with pytest.raises(ContractError, match="missing field 'text'"):
        ManifestEntry.from_json({k: v for k, v in LINE.items() if k != "text"})


def test_shipped_v1_folder_upgrades_to_a_card():
    card = load(SHIPPED).card
    assert card.format == MODEL_FORMAT and card.name == "lipnet-grid-s1" and card.arch == "lipnet"
    assert card.crop == CropSettings() and card.channels == 1 and card.input_size == 88
    assert card.decoder == DecoderSettings(beam_size=300, lm_weight=0.25, word_score=2.0)
    assert len(card.train_words) == 51 and card.training["lr"] == 1e-4


def copy_model(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(SHIPPED, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return folder


def test_a_missing_tensor_is_refused(tmp_path: Path):
    folder = copy_model(tmp_path)
    weights = folder / "model-01-of-01.safetensors"
    tensors = load_file(weights)
    gone = next(k for k in tensors if k.endswith("weight_ih_l0"))
    del tensors[gone]
    save_file(tensors, weights)
    with pytest.raises(ContractError, match=rf"1 missing \(e\.g\. {gone}\)"):
        load(folder)


def test_newer_and_foreign_formats_are_refused(tmp_path: Path):
    folder = copy_model(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "format": "lipread-model/9"}))
    with pytest.raises(ContractError, match="newer than this lipread reads; upgrade lipread"):
        load(folder)
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ContractError, match="is not a lipread model folder"):
        load(folder)


def test_export_names_and_decoder_defaults(tmp_path: Path):
    from lipread.pretrained import export

    out = export(SHIPPED, tmp_path / "mine", name="my-lips", decoder_options={"lm_weight": 0.5})
    card = load(out).card
    assert card.name == "my-lips" and card.decoder.lm_weight == 0.5 and card.decoder.word_score == 2.0
    # the folder's grammar and out-of-domain thresholds come along, as its card does
    assert decoding_defaults(out) == decoding_defaults(SHIPPED) and decoding_defaults(out).grammar == "grid"
    again = export(out, out, name="renamed in place")  # onto itself: the same defaults, no SameFileError
    assert load(again).card.name == "renamed in place" and decoding_defaults(again) == decoding_defaults(SHIPPED)
    assert json.loads((out / "config.json").read_text())["format"] == MODEL_FORMAT
    with pytest.raises(ContractError, match="beam size must be a whole number of at least 1"):
        DecoderSettings(beam_size=0)
    with pytest.raises(ContractError, match="lm weight must be a finite number"):
        card.decoder.replace(lm_weight=float("nan"))


def test_export_averages_several_models(tmp_path: Path):
    """Checkpoint averaging: the weights are the mean, the card says what went in, and a model of
    another shape (here another alphabet, so another output layer) is refused by name."""
    from lipread.pretrained import export, save

    shipped = load(SHIPPED)
    shifted = save(shipped.card, {k: v + 0.5 if v.is_floating_point() else v for k, v in shipped.state_dict().items()},
                   tmp_path / "shifted", dtype=torch.float32)  # fmt: skip
    out = export([SHIPPED, shifted], tmp_path / "averaged", dtype=torch.float32)
    averaged = load(out)
    head = [k for k, v in averaged.state_dict().items() if v.is_floating_point()][-1]
    assert torch.allclose(averaged.state_dict()[head], shipped.state_dict()[head] + 0.25, atol=1e-6)
    assert [a["digest"] for a in averaged.card.training["averaged"]] == [
        weights_digest(SHIPPED), weights_digest(shifted)]  # fmt: skip
    other = Model(shipped.card.replace(alphabet=" abc"))
    save(other.card, other.state_dict(), tmp_path / "abc")
    with pytest.raises(ContractError, match=r"cannot average .*abc with .*pretrained: .*of the wrong shape"):
        export([SHIPPED, tmp_path / "abc"], tmp_path / "bad")


def test_card_checks_its_settings():
    with pytest.raises(ContractError, match="input size 112 is larger than the crops"):
        ModelCard(arch="lipnet", input_size=112)
    with pytest.raises(ContractError, match="unknown crop setting"):
        ModelCard.from_json({"format": MODEL_FORMAT, "arch": "lipnet", "alphabet": "ab", "crop": {"zoom": 2}})
    with pytest.raises(ContractError, match=r"clip_levels must be \[mean, std\] on the 0-1 scale, got \[140.0, 25.0\]"):
        ModelCard.from_json({"format": MODEL_FORMAT, "arch": "lipnet", "alphabet": "ab", "clip_levels": [140, 25]})
    with pytest.raises(ContractError, match=r"clip_levels must be \[mean, std\] numbers, got \['bright', 0.1\]"):
        ModelCard.from_json(
            {"format": MODEL_FORMAT, "arch": "lipnet", "alphabet": "ab", "clip_levels": ["bright", 0.1]}
        )


def test_clip_levels_survive_the_model_folder(tmp_path: Path):
    """A card's clip levels are written to config.json and read back, so every command that loads the
    folder matches clips the same way; a card without them (older folders) reads clips as stored."""
    card = ModelCard(arch="lipnet", alphabet=" ab", clip_levels=(0.55, 0.09))
    again = ModelCard.from_json(json.loads(json.dumps(card.to_json())))
    assert again.clip_levels == (0.55, 0.09) and again == card
    assert ModelCard.from_json({"format": MODEL_FORMAT, "arch": "lipnet", "alphabet": "ab"}).clip_levels is None


def test_a_dataset_cut_otherwise_is_refused(tmp_path: Path):
    data = tmp_path / "ds"
    data.mkdir()
    (data / "manifest.jsonl").write_text(json.dumps(LINE) + "\n")
    (data / "meta.json").write_text(json.dumps({"crop": {**CropSettings().to_json(), "scale": 1.3, "color": "gray"}}))
    with pytest.raises(ContractError, match=r"scale 1\.1 vs 1\.3; color rgb vs gray.*--scale 1\.1 --color rgb"):
        check_crop_matches(CropSettings(), read_dataset(data).crop, str(data), "lipnet-grid-s1")
    (data / "meta.json").write_text(json.dumps({"crop": {**CropSettings().to_json(), "max_gap": 30}}))
    check_crop_matches(
        CropSettings(), read_dataset(data).crop, str(data), "lipnet-grid-s1"
    )  # rejection thresholds only: fine


REPORTS = "lipread.evaluation_report"
TRANSCRIPTS = "lipread.transcript"
DOCUMENTED = {
    "ManifestEntry": "data_prep.contracts", "Word": "data_prep.contracts", "CropSettings": "data_prep.contracts",
    "DecoderSettings": "data_prep.contracts", "ModelCard": "data_prep.contracts",
    "DecodingDefaults": "lipread.pretrained", "EpochRecord": "lipread.run_logs",
    "EvaluationReport": REPORTS, "DecoderResult": REPORTS, "SpeakerRates": REPORTS, "WorstUtterance": REPORTS,
    "CoverageRow": REPORTS, "TimingSummary": "lipread.alignment", "ErrorCounts": "lipread.metrics",
    "Confusion": "lipread.metrics", "SlotErrors": "lipread.metrics", "PairedDifference": "lipread.metrics",
    "DecoderComparison": "lipread.compare", "ChangedReading": "lipread.compare", "SlotChange": "lipread.compare",
    "Comparison": "lipread.compare", "Transcript": TRANSCRIPTS, "TranscriptWord": TRANSCRIPTS,
    "TrackReading": TRANSCRIPTS, "DroppedPhrase": TRANSCRIPTS, "Hypothesis": "lipread.decoding",
    "LivePhrase": "lipread.live", "Cue": "lipread.subtitles",
}  # fmt: skip


@pytest.mark.parametrize("kind", DOCUMENTED)
def test_the_formats_page_names_every_field(kind: str):
    """docs/formats.md is where users read the files' shapes: a field added to a contract without
    a word there fails here."""
    import dataclasses
    import importlib

    module = DOCUMENTED[kind]
    cls = getattr(importlib.import_module(module), kind)
    page = (ROOT / "docs" / "formats.md").read_text()
    assert f"`{kind}`" in page
    start = page.index(f"`{kind}`")  # its fields are named in the same section of the page, after it
    section = page[start : page.find("\n## ", start) % (len(page) + 1)]
    written_as = {"calibration": "out_of_domain"}  # DecodingDefaults' field, under its JSON name
    missing = [f.name for f in dataclasses.fields(cls) if f"`{written_as.get(f.name, f.name)}`" not in section]
    assert not missing, f"docs/formats.md does not name {kind}'s {missing} where it describes {kind}"
