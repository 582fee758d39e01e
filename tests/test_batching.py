"""Batches by a frame budget: every clip once a pass, within the budget, similar lengths together,
new batches each pass, and disjoint shards of equal size."""

from __future__ import annotations

import random

import pytest
import torch

from lipread.batching import FrameBudgetBatches, mean_fill, padded_frames


def lrs_like_lengths(count: int = 300, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(25, 250) for _ in range(count)]  # 1 to 10 s at 25 fps


def test_every_clip_once_within_the_budget_and_lengths_kept_together() -> None:
    lengths = lrs_like_lengths() + [400]  # one clip longer than the budget
    sampler = FrameBudgetBatches(lengths, max_frames=1000, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert [400] in [[lengths[i] for i in b] for b in batches if len(b) == 1]  # alone, not dropped
    assert all(padded_frames([lengths[i] for i in b]) <= 1000 for b in batches if len(b) > 1)
    assert mean_fill(batches, lengths) > 0.9  # similar lengths: little padding
    shuffled = [list(range(k, k + 6)) for k in range(0, 300, 6)]  # fixed batches of 6 in random order
    order = list(range(300))
    random.Random(0).shuffle(order)
    assert mean_fill([[order[i] for i in b] for b in shuffled], lengths) < 0.7
    assert len(sampler) == len(list(sampler))


def test_batches_change_each_pass_but_a_seed_repeats_them() -> None:
    lengths = lrs_like_lengths()
    sampler = FrameBudgetBatches(lengths, max_frames=800, seed=3)
    first, second = list(sampler), list(sampler)
    assert first != second
    assert FrameBudgetBatches(lengths, max_frames=800, seed=3).batches(1) == second
    fixed = FrameBudgetBatches(lengths, max_frames=800, shuffle=False)
    assert list(fixed) == list(fixed)


def test_ranks_get_disjoint_batches_of_the_same_number() -> None:
    lengths = lrs_like_lengths(301)
    ranks = [FrameBudgetBatches(lengths, max_frames=700, seed=5, shard=(r, 3)).batches(0) for r in range(3)]
    assert len({len(r) for r in ranks}) == 1
    seen = [i for r in ranks for b in r for i in b]
    assert len(seen) == len(set(seen))
    with pytest.raises(ValueError, match="max_frames must be at least 1"):
        FrameBudgetBatches(lengths, max_frames=0)


@pytest.mark.slow
def test_training_batches_follow_max_frames(tiny_dataset) -> None:
    from lipread.data import LipreadDataModule

    data = LipreadDataModule(str(tiny_dataset), num_workers=0, max_frames=160, batch_size=99)
    data.setup()
    torch.manual_seed(0)
    batches = list(data.train_dataloader())
    assert sum(len(b.ids) for b in batches) == len(data.splits["train"])
    assert all(len(b.ids) * int(b.lengths.max()) <= 160 or len(b.ids) == 1 for b in batches)
    assert max(len(b.ids) for b in batches) < len(data.splits["train"])  # not one batch of batch_size 99


@pytest.mark.slow
def test_lipread_train_runs_on_frame_budget_batches(tiny_dataset, tmp_path) -> None:
    from conftest import logged, run_tiny_training

    run = tmp_path / "run"
    stderr = run_tiny_training(tiny_dataset, run, "--data.max_frames", "160", "--trainer.max_epochs", "3")
    assert "max_frames 160: " in stderr and "% of padded frames real" in stderr
    assert len(logged(run, "train_loss")) >= 3


@pytest.mark.slow
def test_loaders_use_no_more_workers_than_cpus(tiny_dataset, monkeypatch, caplog) -> None:
    """The shipped configs ask for 4 loader workers; on a machine with fewer CPUs each loader gets
    one a CPU (PyTorch would warn about, and slow down with, more), said once."""
    import logging
    import os

    from lipread.data import LipreadDataModule

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    data = LipreadDataModule(str(tiny_dataset), num_workers=4, val_list=None)
    data.setup()
    with caplog.at_level(logging.INFO, logger="lipread"):
        assert data.train_dataloader().num_workers == 2
        assert data._loader("train", shuffle=False).num_workers == 2
    assert [r.getMessage() for r in caplog.records if "num_workers" in r.getMessage()] == [
        "--data.num_workers 4: 2, one for each CPU here"
    ]
    one = LipreadDataModule(str(tiny_dataset), num_workers=1)
    one.setup()
    assert one.train_dataloader().num_workers == 1


@pytest.mark.slow
def test_a_resumed_run_draws_its_next_epochs_batches(tiny_dataset, tmp_path, monkeypatch) -> None:
    """Lightning tells the batches drawn here which epoch it is, so a run stopped after epoch 1 goes
    on with epoch 2's batches (and joins), not epoch 0's again."""
    from conftest import TINY
    from lipread.batching import EpochBatches
    from lipread.train import main

    told = []
    monkeypatch.setattr(
        EpochBatches, "set_epoch", lambda self, epoch: (told.append(epoch), setattr(self, "epoch", epoch))
    )
    args = ["--config", str(TINY), "--data.root", str(tiny_dataset), "--data.joined_sentences", "0.5",
            "--trainer.default_root_dir", str(tmp_path / "run"), "--trainer.enable_progress_bar", "false"]  # fmt: skip
    assert main([*args, "--trainer.max_epochs", "2"]) == 0 and told == [0, 1]
    told.clear()
    assert main([*args, "--trainer.max_epochs", "4"]) == 0 and told == [2, 3]
