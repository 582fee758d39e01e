"""Alignment-constrained CTC: which character may fire where, and what the loss does with it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from data_prep.contracts import ContractError, Word
from lipread.clips import collate
from lipread.data import LipreadDataModule
from lipread.module import LipreadModule
from lipread.text import CharTokenizer
from lipread.word_windows import allowed_classes, word_frame_spans

pytestmark = pytest.mark.slow  # real models, face tracking or servers: the full tier

TOK = CharTokenizer()


def _frames_allowing(allowed: torch.Tensor, ch: str) -> list[int]:
    return torch.nonzero(allowed[:, TOK.encode(ch)[0]]).flatten().tolist()


def test_windows_follow_the_words():
    words = [Word("bin", 0.4, 0.64), Word("now", 0.64, 1.0)]
    spans = word_frame_spans(words, "bin now", fps=25.0)
    assert spans == [(10.0, 16.0), (16.0, 25.0)]
    allowed = allowed_classes("bin now", spans, 40, TOK, margin=2)
    assert allowed[:, TOK.blank].all()
    assert allowed[:8].sum() == 8 and allowed[28:].sum() == 12  # silence: blank only
    assert _frames_allowing(allowed, "b") == list(range(8, 14))  # first third of "bin", +-2
    n_frames = set(_frames_allowing(allowed, "n"))
    assert n_frames == set(range(12, 18)) | set(range(14, 21))  # end of "bin", start of "now"
    assert _frames_allowing(allowed, "w") == list(range(20, 27))
    assert _frames_allowing(allowed, " ") == list(range(14, 18))  # around the word boundary


def test_spans_need_times_that_match_the_text():
    words = [Word("bin", 0.4, 0.64)]
    assert word_frame_spans(words, "bin now", 25.0) is None
    assert word_frame_spans([], "bin", 25.0) is None
    with pytest.raises(ContractError, match="field 'start' should be float"):  # caught when the manifest is read
        Word.from_json({"word": "bin", "start": None, "end": 1})


def test_speed_perturbed_clips_get_stretched_windows(tiny_dataset: Path):
    dm = LipreadDataModule(root=str(tiny_dataset), num_workers=0, flip=False, time_mask_frames=0, speed_perturb=0.2)
    dm.setup()
    dataset = dm.datasets["train"]
    utt = dataset.utterances[0]
    first_char = TOK.encode(utt.text[0])[0]
    lengths = set()
    for _ in range(8):  # random speeds 0.8x..1.2x
        item = dataset[0]
        length = item.video.shape[1]
        assert item.allowed.shape == (length, TOK.vocab_size)
        onset = int(torch.nonzero(item.allowed[:, first_char])[0])
        expected = utt.spans[0][0] * length / utt.num_frames - 2
        assert abs(onset - expected) <= 1, (onset, expected)
        lengths.add(length)
    assert len(lengths) > 1


def test_mixed_batches_and_the_plain_ctc_fallback(tiny_dataset: Path):
    dm = LipreadDataModule(root=str(tiny_dataset), num_workers=0, flip=False, time_mask_frames=0)
    dm.setup()
    items = [dm.datasets["train"][i] for i in range(2)]
    no_times = dataclasses.replace(items[1], allowed=None)
    batch = collate([items[0], no_times])
    assert batch.allowed[1].all() and not batch.allowed[0].all()  # no times: anything anywhere

    torch.manual_seed(0)
    module = LipreadModule(
        arch_options={"channels": [4, 8, 8], "hidden_size": 16, "num_layers": 1, "dropout": 0.0}
    ).train()
    plain, _ = module._loss(dataclasses.replace(batch, allowed=None))
    windowed, _ = module._loss(batch)
    assert plain < windowed < plain + 10  # the window costs a little on an untrained model
    impossible = dataclasses.replace(batch, allowed=torch.zeros_like(batch.allowed))
    impossible.allowed[..., TOK.blank] = True  # blank only: no path spells the text
    fallback, _ = module._loss(impossible)
    assert torch.isclose(fallback, plain)
