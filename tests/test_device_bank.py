"""Clips held as one uint8 tensor and augmented a batch at a time give the batches the DataLoader
path gives: the same centred crops, labels and word windows; crops, flips and time masks of the
real clips when augmenting; the same draws for the same seed."""

from __future__ import annotations

import math

import pytest
import torch

from lipread.clips import ClipDataset, PixelNorm, Utterance, centre_crop, collate, read_dataset, to_model_input
from lipread.device_bank import DeviceBatches, DeviceClipBank
from lipread.text import CharTokenizer

pytestmark = pytest.mark.slow  # preps the tiny dataset with mediapipe


@pytest.fixture(scope="module")
def utterances(tiny_dataset) -> list[Utterance]:
    folder = read_dataset(tiny_dataset)
    return [Utterance.from_entry(e, folder.root, CharTokenizer()) for e in folder.entries]


@pytest.mark.parametrize("norm", [PixelNorm(), PixelNorm(levels=(0.5577, 0.0906))], ids=["fixed", "clip_levels"])
def test_unaugmented_batches_equal_the_dataloaders(utterances, norm: PixelNorm) -> None:
    bank = DeviceClipBank(utterances, word_window_margin=2.0, norm=norm)
    index = torch.tensor([3, 0, 5])
    ours = bank.batch(index, augment=False)
    theirs = collate([ClipDataset(utterances, word_window_margin=2.0, norm=norm)[i] for i in index.tolist()])
    assert ours.ids == theirs.ids and ours.texts == theirs.texts
    assert torch.equal(ours.lengths, theirs.lengths) and torch.equal(ours.label_lengths, theirs.label_lengths)
    assert torch.equal(ours.labels, theirs.labels) and torch.equal(ours.allowed, theirs.allowed)
    assert torch.allclose(ours.video, theirs.video, atol=1e-5)


def test_augmented_clips_are_crops_flips_and_masks_of_the_real_ones(utterances) -> None:
    bank = DeviceClipBank(utterances, time_mask_frames=8)
    data = ClipDataset(utterances)
    batch = bank.batch(torch.arange(len(utterances)), torch.Generator().manual_seed(0))
    flipped = 0
    for b, utt in enumerate(utterances):
        frames = data.frames(b)
        n = len(frames)
        video = batch.video[b, :, :n]
        assert (batch.video[b, :, n:] == 0).all()  # padding stays zero
        h, w = frames.shape[1:3]
        matches = []
        for top in range(h - 88 + 1):
            for left in range(w - 88 + 1):
                crop = frames[:, top : top + 88, left : left + 88]
                for flip in (False, True):
                    expected = to_model_input(crop[:, :, ::-1] if flip else crop, 1)
                    same = torch.isclose(video, expected, atol=1e-5).flatten(2).all(-1).squeeze(0)  # per frame
                    if same.sum() >= n - 8 * max(1, n // 25):  # all but the masked frames
                        matches.append((top, left, flip, same))
        assert len(matches) == 1, f"clip {utt.id}: {len(matches)} crops fit"
        top, left, flip, same = matches[0]
        flipped += flip
        crop = frames[:, top : top + 88, left : left + 88]
        crop = crop[:, :, ::-1] if flip else crop
        mean = to_model_input(crop.mean(axis=0, keepdims=True).astype("uint8"), 1)[:, 0]
        for t in torch.nonzero(~same).flatten().tolist():  # a masked frame is the clip's mean frame
            assert torch.allclose(video[:, t], mean, atol=1e-5)
    assert 0 < flipped < len(utterances)
    assert (centre_crop(data.frames(0), 88).shape[1:3]) == (88, 88)


def test_the_same_seed_draws_the_same_batches(utterances) -> None:
    bank = DeviceClipBank(utterances)
    first = [b.video for b in DeviceBatches(bank, batch_size=3, seed=5)]
    again = [b.video for b in DeviceBatches(bank, batch_size=3, seed=5)]
    other = [b.video for b in DeviceBatches(bank, batch_size=3, seed=6)]
    assert len(first) == 3 == len(DeviceBatches(bank, batch_size=3))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(first, other))
    halves = [DeviceBatches(bank, batch_size=8, seed=1, shard=(r, 2)) for r in (0, 1)]
    ids = [set(next(iter(h)).ids) for h in halves]
    assert not ids[0] & ids[1] and len(ids[0] | ids[1]) == len(utterances)  # ranks see disjoint clips


def test_trimmed_clips_are_stretches_of_the_real_ones_with_their_word_windows(utterances) -> None:
    stored = ClipDataset(utterances).frames(0).shape[1]
    bank = DeviceClipBank(utterances, input_size=stored, flip=False, time_mask_frames=0, trim_edges=1.0, trim_keep=2)
    plain = ClipDataset(utterances, input_size=stored, word_window_margin=2.0)
    batch = bank.batch(torch.arange(len(utterances)), torch.Generator().manual_seed(3))
    for b, utt in enumerate(utterances):
        n = int(batch.lengths[b])
        whole = plain[b]
        starts = [s for s in range(utt.num_frames - n + 1)
                  if torch.allclose(batch.video[b, :, :n], whole.video[:, s : s + n], atol=1e-5)]  # fmt: skip
        assert len(starts) == 1 and n < utt.num_frames, (utt.id, starts, n)
        s = starts[0]
        first, last = utt.spans[0][0], utt.spans[-1][1]
        assert s <= max(0, math.floor(first) - 2) and s + n >= min(utt.num_frames, math.ceil(last) + 2)  # words kept
        assert torch.equal(batch.allowed[b, :n], whole.allowed[s : s + n])  # word windows moved with them
        assert batch.allowed[b, n:].all() and (batch.video[b, :, n:] == 0).all()  # padding as collate's


def test_clips_as_a_slower_camera_shows_them_repeat_real_frames_in_time(utterances) -> None:
    """``low_frame_rate``: each clip's frames are the real ones, some repeated, never one ahead of its
    time; lengths, labels and word windows are the clip's own (the words keep their times)."""
    stored = ClipDataset(utterances).frames(0).shape[1]
    bank = DeviceClipBank(utterances, input_size=stored, flip=False, time_mask_frames=0, low_frame_rate=1.0)
    plain = ClipDataset(utterances, input_size=stored, word_window_margin=2.0)
    batch = bank.batch(torch.arange(len(utterances)), torch.Generator().manual_seed(4))
    for b, utt in enumerate(utterances):
        whole, n = plain[b], utt.num_frames
        assert int(batch.lengths[b]) == n and torch.equal(batch.allowed[b, :n], whole.allowed)
        shown = [next(i for i in range(n) if torch.allclose(batch.video[b, :, t], whole.video[:, i], atol=1e-5))
                 for t in range(n)]  # fmt: skip
        assert all(a <= b for a, b in zip(shown, shown[1:])) and all(i <= t for t, i in enumerate(shown))
        assert n * 10 / 25 - 1 <= len(set(shown)) < n, (utt.id, len(set(shown)))
    assert torch.equal(batch.labels, bank.batch(torch.arange(len(utterances)), augment=False).labels)


def test_clips_cut_to_runs_of_words_keep_those_words_frames_labels_and_windows(utterances) -> None:
    """``cut_words``: as the DataLoader path cuts them (``lipread.augment.word_run``), on the bank."""
    stored = ClipDataset(utterances).frames(0).shape[1]
    bank = DeviceClipBank(utterances, input_size=stored, flip=False, time_mask_frames=0, cut_words=1.0)
    plain = ClipDataset(utterances, input_size=stored, word_window_margin=2.0)
    tokenizer = CharTokenizer()
    batch = bank.batch(torch.arange(len(utterances)), torch.Generator().manual_seed(3))
    for b, utt in enumerate(utterances):
        n, text = int(batch.lengths[b]), batch.texts[b]
        words, kept = utt.text.split(), text.split()
        first = next(i for i in range(len(words)) if words[i : i + len(kept)] == kept)
        assert 1 <= len(kept) < len(words) and batch.ids[b] == utt.id
        labels = batch.labels[b, : int(batch.label_lengths[b])].tolist()
        assert labels == tokenizer.encode(text) and not batch.labels[b, len(labels) :].any()
        whole = plain[b]
        starts = [s for s in range(utt.num_frames - n + 1)
                  if torch.allclose(batch.video[b, :, :n], whole.video[:, s : s + n], atol=1e-5)]  # fmt: skip
        assert len(starts) == 1, (utt.id, starts, n)
        s = starts[0]
        for start, end in utt.spans[first : first + len(kept)]:
            assert s <= (start + end) / 2 <= s + n  # the middle of every kept word is in the frames
        assert torch.equal(batch.allowed[b, :n], whole.allowed[s : s + n])  # word windows moved with them
        assert batch.allowed[b, n:].all() and (batch.video[b, :, n:] == 0).all()  # padding as collate's
    assert DeviceClipBank(utterances, cut_words=0.0).batch(torch.arange(2)).texts == [u.text for u in utterances[:2]]


def test_lipread_train_learns_from_the_device_bank(tiny_dataset, tmp_path) -> None:
    """`--data.device_cache true`: Lightning trains from the bank's batches and the loss falls."""
    from conftest import logged, run_tiny_training

    run = tmp_path / "run"
    stderr = run_tiny_training(tiny_dataset, run, "--data.device_cache", "true", "--trainer.max_epochs", "30",
                               "--model.lr", "0.01", "--data.time_mask_frames", "4")  # fmt: skip
    assert "training clips on cpu" in stderr
    losses = logged(run, "train_loss")
    assert len(losses) >= 60 and sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses
