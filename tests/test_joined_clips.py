"""Two sentences joined into one training sample (``--data.joined_sentences``): the first clip's
frames up to a short rest after its words, then the second's from a short rest before its words;
both texts, word times moved with the frames, word windows that let CTC spell both; partners of
the same speaker only; the DataLoader path and the device bank join alike."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
from test_splice import numbered_clip

from lipread.augment import JOIN_REST, join_range, join_sentences
from lipread.clips import ClipDataset, Utterance, read_dataset
from lipread.joined_clips import JoinPartners
from lipread.text import CharTokenizer
from lipread.word_windows import allowed_classes, mask_log_probs

FIRST = (numbered_clip(0, 50), "bin blue", [(10.0, 20.0), (22.0, 30.0)])
SECOND = (numbered_clip(1, 45), "set red", [(12.0, 18.0), (20.0, 28.0)])


def test_the_second_sentence_follows_the_first_after_the_rest() -> None:
    clip, text, spans = join_sentences(*FIRST, *SECOND, rest=5)
    assert text == "bin blue set red"
    # 2 frames of rest after "blue" (frames 30, 31 of the first clip), 3 before "set" (9-11 of the second)
    assert [int(f[0, 0]) for f in clip] == list(range(32)) + [100 + t for t in range(9, 45)]
    assert spans == [(10.0, 20.0), (22.0, 30.0), (35.0, 41.0), (43.0, 51.0)]
    assert spans[2][0] - spans[1][1] == 5  # the rest asked for, word end to word start
    for (start, end), word_frames in zip(spans[2:], [(12, 18), (20, 28)]):  # each word on its own frames
        assert (
            int(clip[int(start)][0, 0]) == 100 + word_frames[0] and int(clip[int(end) - 1][0, 0]) == 99 + word_frames[1]
        )
    # a clip with less rest than asked gives what it has
    assert join_range(FIRST[2], 31, SECOND[2], 8) == (31, 8)
    assert join_range(FIRST[2], 50, [(1.5, 4.0)], 8) == (34, 0)


def test_cached_features_join_as_frames_do() -> None:
    features = [(torch.as_tensor(c, dtype=torch.float32).flatten(1), t, s) for c, t, s in (FIRST, SECOND)]
    joined, text, spans = join_sentences(*features[0], *features[1], rest=5)
    frames = join_sentences(*FIRST, *SECOND, rest=5)[0]
    assert isinstance(joined, torch.Tensor) and torch.equal(joined, torch.as_tensor(frames).float().flatten(1))


@pytest.mark.parametrize("rest", [1, 3, JOIN_REST])
def test_a_joined_clips_word_windows_let_ctc_spell_both_sentences(rest: int) -> None:
    """The word break between the sentences may fire in the rest between them: without it, no CTC
    path would spell the joined text and the sample would teach nothing (or fall back to plain CTC)."""
    tokenizer = CharTokenizer()
    clip, text, spans = join_sentences(*FIRST, *SECOND, rest=rest)
    allowed = allowed_classes(text, spans, len(clip), tokenizer, 2.0)
    space = tokenizer.encode(" ")[0]
    assert allowed[int(spans[1][1]) : int(spans[2][0]), space].any()
    log_probs = mask_log_probs(torch.zeros(1, len(clip), tokenizer.vocab_size).log_softmax(-1), allowed[None])
    labels = torch.tensor([tokenizer.encode(text)])
    loss = torch.nn.functional.ctc_loss(log_probs.transpose(0, 1), labels, torch.tensor([len(clip)]),
                                        torch.tensor([labels.shape[1]]), blank=tokenizer.blank)  # fmt: skip
    assert torch.isfinite(loss) and loss < 1e3  # masked entries cost 1e4 each: no path goes through one


def test_partners_are_other_clips_of_the_same_speaker_with_word_times() -> None:
    spans = [[(1.0, 2.0)], [(1.0, 2.0)], None, [(1.0, 2.0)], [(1.0, 2.0)]]
    partners = JoinPartners(spans, ["a", "a", "a", "a", "b"])
    rng = random.Random(0)
    drawn = {first: set() for first in range(5)}
    rests = set()
    for _ in range(300):
        for first in range(5):
            join = partners.draw(first, 1.0, rng.random, rng.randrange)
            if join is not None:
                drawn[first].add(join.second)
                rests.add(join.rest)
    assert drawn == {0: {1, 3}, 1: {0, 3}, 2: set(), 3: {0, 1}, 4: set()}  # each other one, never itself
    assert rests == set(range(1, JOIN_REST + 1))
    assert all(partners.draw(0, 0.0, rng.random, rng.randrange) is None for _ in range(50))
    assert not JoinPartners([[(1.0, 2.0)], None], ["a", "a"])  # no two clips to join


@pytest.fixture(scope="module")
def utterances(tiny_dataset) -> list[Utterance]:
    folder = read_dataset(tiny_dataset)
    return [Utterance.from_entry(e, folder.root, CharTokenizer()) for e in folder.entries]


def rest_of(first: Utterance, second: Utterance, frames: int) -> int:
    """The rest a joined clip of ``frames`` frames was made with (its length grows by one a frame)."""
    for rest in range(1, JOIN_REST + 1):
        end, start = join_range(first.spans, first.num_frames, second.spans, rest)
        if end + second.num_frames - start == frames:
            return rest
    raise AssertionError(f"no rest gives {frames} frames")


@pytest.mark.slow
def test_the_data_module_joins_training_clips_when_asked(tiny_dataset) -> None:
    from lipread.data import LipreadDataModule

    data = LipreadDataModule(str(tiny_dataset), num_workers=0, joined_sentences=1.0, time_mask_frames=0,
                             batch_size=3)  # fmt: skip
    data.setup()
    torch.manual_seed(0)
    train = data.splits["train"]
    by_id = {u.id: u for u in train}
    tokenizer = CharTokenizer()
    batches = list(data.train_dataloader())
    assert sorted(i.split("+")[0] for b in batches for i in b.ids) == sorted(by_id)  # each clip once, first
    for batch in batches:
        for k, sample in enumerate(batch.ids):
            first, *second = (by_id[i] for i in sample.split("+"))
            if first.speaker == "s2":  # its speaker has no other clip: never joined
                assert not second and batch.texts[k] == first.text
                continue
            (second,) = second
            assert second.speaker == first.speaker and second is not first
            assert batch.texts[k] == f"{first.text} {second.text}"
            labels = batch.labels[k, : int(batch.label_lengths[k])].tolist()
            assert labels == tokenizer.encode(batch.texts[k])
            assert rest_of(first, second, int(batch.lengths[k])) in range(1, JOIN_REST + 1)
            assert batch.allowed is not None and batch.allowed[k, : int(batch.lengths[k])].shape[0] == batch.lengths[k]
    plain = LipreadDataModule(str(tiny_dataset), num_workers=0)
    plain.setup()
    assert next(iter(plain.train_dataloader())).texts[0] in {u.text for u in train}  # off by default
    assert all("+" not in i for b in plain.train_dataloader() for i in b.ids)


def test_the_dataloader_path_batches_joined_pairs_together() -> None:
    """As on the device bank: a pass shows every sample once, and at most one batch mixes joined
    pairs with single sentences (one pair would pad a whole batch to two sentences' length); with
    ``max_frames`` each batch's padded size counts a pair at its own length."""
    from lipread.batching import padded_frames
    from lipread.joined_clips import Join, JoinedBatches

    utterances = [Utterance(f"c{i}", "bin blue", Path(f"c{i}.mp4"), 75, "a" if i < 10 else "b", [1],
                            [(20.0, 30.0), (32.0, 45.0)]) for i in range(14)]  # fmt: skip
    lengths = [75] * 14 + [60] * 3  # three spliced sentences after the clips: never joined
    mixed = 0
    for seed in range(5):
        sampler = JoinedBatches(utterances, lengths, share=0.5, batch_size=4, seed=seed)
        for epoch in range(2):
            batches = sampler.batches(epoch)
            firsts = sorted(k.first if isinstance(k, Join) else k for b in batches for k in b)
            assert firsts == list(range(17)) and all(len(b) <= 4 for b in batches)
            kinds = [{isinstance(k, Join) for k in b} for b in batches]
            assert sum(len(k) == 2 for k in kinds) <= 1 and any(k == {True} for k in kinds)
            mixed += sum(len(k) == 2 for k in kinds)
            joins = [k for b in batches for k in b if isinstance(k, Join)]
            assert all(j.first < 14 and utterances[j.second].speaker == utterances[j.first].speaker for j in joins)
        assert sampler.batches(0) == JoinedBatches(utterances, lengths, 0.5, 4, seed=seed).batches(0)  # seeded
    assert mixed < 10
    budget = JoinedBatches(utterances, lengths, share=0.5, batch_size=99, max_frames=300, seed=1)
    batches = budget.batches(0)
    assert all(padded_frames([budget.length(k) for k in b]) <= 300 for b in batches)
    pair = next(k for b in batches for k in b if isinstance(k, Join))
    assert budget.length(pair) == 45 + pair.rest // 2 + 75 - (20 - (pair.rest - pair.rest // 2))
    halves = [JoinedBatches(utterances, lengths, 0.5, 4, seed=3, shard=(r, 2)).batches(0) for r in (0, 1)]
    firsts = [{k.first if isinstance(k, Join) else k for b in half for k in b} for half in halves]
    assert len(halves[0]) == len(halves[1]) and not firsts[0] & firsts[1]  # DDP: as many batches, none shared


@pytest.mark.slow
def test_the_device_bank_joins_clips_as_the_dataloader_path_does(utterances) -> None:
    from lipread.device_bank import DeviceClipBank

    stored = ClipDataset(utterances).frames(0).shape[1]
    bank = DeviceClipBank(utterances, input_size=stored, flip=False, time_mask_frames=0, joined_sentences=1.0,
                          word_window_margin=2.0)  # fmt: skip
    plain = ClipDataset(utterances, input_size=stored, word_window_margin=2.0)
    by_text = {u.text: (i, u) for i, u in enumerate(utterances)}
    batch = bank.batch(torch.arange(len(utterances)), torch.Generator().manual_seed(2))
    joined = 0
    for b, utt in enumerate(utterances):
        n = int(batch.lengths[b])
        if batch.texts[b] == utt.text:
            assert utt.speaker == "s2" and torch.equal(batch.video[b, :, :n], plain[b].video)
            continue
        j, second = by_text[batch.texts[b][len(utt.text) + 1 :]]
        rest = rest_of(utt, second, n)
        frames, text, spans = join_sentences(plain.frames(b), utt.text, utt.spans, plain.frames(j), second.text,
                                             second.spans, rest)  # fmt: skip
        theirs = plain.make_item(utt.id, text, frames, spans, whole=True)
        assert torch.allclose(batch.video[b, :, :n], theirs.video, atol=1e-5) and (batch.video[b, :, n:] == 0).all()
        labels = batch.labels[b, : int(batch.label_lengths[b])]
        assert torch.equal(labels, theirs.labels) and not batch.labels[b, len(labels) :].any()
        assert torch.equal(batch.allowed[b, :n], theirs.allowed) and batch.allowed[b, n:].all()
        joined += 1
    assert joined == len(utterances) - 1
    assert DeviceClipBank(utterances).batch(torch.arange(3)).texts == [u.text for u in utterances[:3]]


@pytest.mark.slow
def test_the_device_bank_batches_joined_clips_together(utterances) -> None:
    """An epoch shows every clip once, in as many batches as without joins, and at most one batch
    mixes joined pairs with single sentences (one pair would pad a whole batch to two sentences)."""
    from lipread.device_bank import DeviceBatches, DeviceClipBank

    bank = DeviceClipBank(utterances, joined_sentences=0.5, time_mask_frames=0)
    single = {u.text for u in utterances}
    mixed = 0
    for seed in range(4):
        batches = list(DeviceBatches(bank, batch_size=2, seed=seed))
        assert len(batches) == len(DeviceBatches(bank, batch_size=2)) == 4
        assert sorted(i.split("+")[0] for b in batches for i in b.ids) == sorted(u.id for u in utterances)
        kinds = [{t in single for t in b.texts} for b in batches]
        mixed += sum(len(k) == 2 for k in kinds)
        assert sum(len(k) == 2 for k in kinds) <= 1 and any(k == {False} for k in kinds), kinds
    assert mixed < 4  # not every epoch mixes (7 clips, 2 a batch)
