"""Word splicing, edge trimming and cutting to a run of words: a spliced sentence's frames and word
times line up with its source words; a trimmed clip keeps its words and their times move with its
frames; a cut clip keeps the frames of the words it is labelled with."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from lipread.augment import Augment, ctc_frames, cut_to_run, trim_range
from lipread.clips import ClipDataset, Utterance, read_dataset
from lipread.splice import SplicedClips, splice, word_cuts
from lipread.text import CharTokenizer


def numbered_clip(clip: int, length: int) -> np.ndarray:
    """(T, 4, 4) frames whose pixels say which clip and frame they are: clip * 100 + frame."""
    return np.stack([np.full((4, 4), clip * 100 + t, dtype=np.int32) for t in range(length)])


def test_cuts_fall_halfway_through_pauses_and_stay_in_order() -> None:
    assert word_cuts([(5, 10), (14, 20), (20, 30)], 40) == [5, 12, 20, 30]
    assert word_cuts([(5, 12), (10, 20)], 15) == [5, 11, 15]  # clamped to the clip, never backwards
    assert word_cuts([(5, 9), (3, 4)], 15) == [5, 6, 6]


def test_spliced_words_are_the_source_words_frames() -> None:
    spans = [[(5, 10), (12, 20), (22, 30)], [(8, 15), (15, 19), (25, 33)], [(3, 6), (9, 14), (14, 18)]]
    frames = [numbered_clip(c, n) for c, n in enumerate([35, 40, 21])]
    words = [["bin", "blue", "now"], ["set", "red", "soon"], ["lay", "green", "again"]]
    out, text, new_spans = splice(frames, words, spans, sources=[2, 0, 1], frame_clip=1)
    assert text == "lay blue soon"
    for i, (clip, (start, end)) in enumerate(zip([2, 0, 1], new_spans)):
        source_start, source_end = spans[clip][i]
        assert end - start == source_end - source_start
        assert out[int(start), 0, 0] == clip * 100 + source_start  # the word's first frame
        assert out[int(end) - 1, 0, 0] == clip * 100 + source_end - 1  # and its last
    assert (out[:8, 0, 0] == 100 + np.arange(8)).all()  # silence before: clip 1's first 8 frames
    assert (out[-7:, 0, 0] == 100 + np.arange(33, 40)).all()  # and after its last word
    assert len(out) == 8 + 5 + 10 + 11 + 7  # lead, the three words cut at their pauses, tail


def test_trimmed_clips_keep_every_word_and_their_times_follow_the_frames() -> None:
    frames, spans = numbered_clip(0, 75), [(20.0, 28.0), (29.5, 40.0), (41.0, 52.4)]
    augment = Augment(trim_edges=1.0, trim_keep=3)
    rng = np.random.default_rng(0)
    starts, ends = set(), set()
    for _ in range(300):
        out, moved = augment.trim(frames, spans, rng)
        start = int(out[0, 0, 0])
        starts.add(start)
        ends.add(start + len(out))
        assert (out[:, 0, 0] == start + np.arange(len(out))).all()  # one unbroken stretch of the clip
        assert moved == [(s - start, e - start) for s, e in spans]
        assert moved[0][0] >= 3 or start == 0  # at least trim_keep frames before the first word
        assert len(out) - moved[-1][1] >= 2.6  # and after the last (52.4 rounds up to 53, + 3)
    assert starts == set(range(0, 18)) and ends == set(range(56, 76))  # every allowed edge is drawn
    assert Augment(trim_edges=0.0).trim(frames, spans) == (frames, spans)  # off by default
    assert Augment(trim_edges=1.0).trim(frames, None)[0] is frames  # no word times: nothing to keep
    assert trim_range([(0.0, 74.5)], 75, 3, rng) == (0, 75)  # speech from edge to edge


def test_a_clip_cut_to_a_run_of_words_keeps_those_words_frames_and_labels() -> None:
    """Phrases that start or end mid-sentence (``--data.cut_words``): the labels are a run of the
    sentence's words, the frames one unbroken stretch holding the middle of each of them, cut near
    where a kept word meets a dropped one; a sentence edge the run shares keeps the clip's own."""
    words = "bin blue at f two now".split()
    spans = [(23.75, 29.5), (29.5, 34.0), (34.0, 35.5), (35.5, 41.0), (41.0, 47.25), (47.25, 53.0)]  # bbaf2n, frames
    frames = numbered_clip(0, 75)
    draw = random.Random(0).randrange
    runs = set()
    for _ in range(400):
        out, text, moved = cut_to_run(frames, " ".join(words), spans, 2, draw)
        start = int(out[0, 0, 0])
        assert (out[:, 0, 0] == start + np.arange(len(out))).all()  # one unbroken stretch of the clip
        kept = text.split()
        first = next(i for i in range(len(words)) if words[i : i + len(kept)] == kept)
        last = first + len(kept)
        runs.add((first, last))
        assert 1 <= len(kept) < len(words)  # part of the sentence, never all of it
        assert len(out) >= ctc_frames(text)  # CTC can spell it: never an infinite loss
        for (s, e), (ms, me) in zip(spans[first:last], moved):  # each kept word's time follows the frames
            assert (ms, me) == (max(0.0, s - start), min(float(len(out)), e - start))
            assert start <= (s + e) / 2 <= start + len(out)  # and its middle is still there to read
        assert start == 0 if first == 0 else abs(start - spans[first][0]) <= 2.5
        assert start + len(out) == 75 if last == len(words) else abs(start + len(out) - spans[last - 1][1]) <= 2.5
    assert len(runs) == 20  # every run but the whole sentence: starts, ends and middles of it
    # a word shorter than its letters ("at": 1.5 frames) kept alone gets the frames CTC needs
    tight = [(10.0, 16.0), (16.0, 17.5), (17.5, 24.0)]
    alone = []
    for _ in range(200):
        out, text, _ = cut_to_run(frames, "bin at blue", tight, 2, draw)
        assert len(out) >= ctc_frames(text)
        alone += [int(out[0, 0, 0]) <= 16.75 <= int(out[-1, 0, 0]) + 1] if text == "at" else []
    assert alone and all(alone)
    assert cut_to_run(frames, "bin", [(20.0, 30.0)], 2, draw)[1] == "bin"  # one word: nothing to cut
    assert cut_to_run(frames, "bin blue", None, 2, draw)[0] is frames  # no word times: as it is
    assert Augment(cut_words=0.0).cut(frames, " ".join(words), spans)[1] == " ".join(words)  # off by default
    assert Augment(cut_words=1.0).cut(frames, " ".join(words), spans, np.random.default_rng(0))[1] != " ".join(words)


@pytest.mark.slow  # preps the tiny dataset with mediapipe
def test_spliced_clips_mix_real_clips_by_word_position(tiny_dataset) -> None:
    folder = read_dataset(tiny_dataset)
    tokenizer = CharTokenizer()
    utterances = [Utterance.from_entry(e, folder.root, tokenizer) for e in folder.entries]
    clips = ClipDataset(utterances, cache=True, word_window_margin=2.0)
    spliced = SplicedClips(clips, count=6)
    assert spliced.usable and len(spliced) == 6
    sentences = [u.text.split() for u in utterances]
    torch.manual_seed(0)
    first = [spliced[i] for i in range(6)]
    torch.manual_seed(0)
    again = [spliced[i] for i in range(6)]
    assert [it.text for it in first] == [it.text for it in again]
    assert torch.equal(first[0].video, again[0].video)
    assert any(it.text not in {u.text for u in utterances} for it in first)  # new sentences
    for item in first:
        words = item.text.split()
        assert all(any(s[i] == w for s in sentences if len(s) == len(words)) for i, w in enumerate(words))
        assert item.labels.tolist() == tokenizer.encode(item.text)
        assert item.allowed is not None and item.allowed.shape[0] == item.video.shape[1]


@pytest.mark.slow
def test_clips_without_word_times_are_not_spliced(tiny_dataset) -> None:
    folder = read_dataset(tiny_dataset)
    tokenizer = CharTokenizer()
    utterances = [Utterance.from_entry(e, folder.root, tokenizer) for e in folder.entries]
    for u in utterances:
        u.spans = None
    spliced = SplicedClips(ClipDataset(utterances), count=6)
    assert not spliced.usable and len(spliced) == 0


@pytest.mark.slow
def test_training_data_gets_spliced_sentences_when_asked(tiny_dataset) -> None:
    from lipread.data import LipreadDataModule

    data = LipreadDataModule(str(tiny_dataset), num_workers=0, spliced_per_clip=2)
    data.setup()
    clips = len(data.splits["train"])
    assert len(data.datasets["train"]) == 3 * clips
    texts = {u.text for u in data.splits["train"]}
    torch.manual_seed(1)
    spliced = [data.datasets["train"][i] for i in range(clips, 3 * clips)]
    assert all(it.id.startswith("spliced-") for it in spliced)
    assert any(it.text not in texts for it in spliced)


@pytest.mark.slow
def test_training_clips_are_cut_to_runs_of_words_when_asked(tiny_dataset) -> None:
    from lipread.data import LipreadDataModule

    data = LipreadDataModule(str(tiny_dataset), num_workers=0, cut_words=1.0, time_mask_frames=0)
    data.setup()
    torch.manual_seed(0)
    items = [data.datasets["train"][i] for i in range(len(data.splits["train"]))]
    tokenizer = CharTokenizer()
    for utt, item in zip(data.splits["train"], items):
        assert item.text in utt.text and len(item.text.split()) < len(utt.text.split())
        assert item.labels.tolist() == tokenizer.encode(item.text)
        assert item.video.shape[1] < utt.num_frames
        assert item.allowed is not None and item.allowed.shape[0] == item.video.shape[1]


@pytest.mark.slow
def test_training_clips_are_trimmed_when_asked(tiny_dataset) -> None:
    from lipread.data import LipreadDataModule

    data = LipreadDataModule(str(tiny_dataset), num_workers=0, trim_edges=1.0, trim_keep=2, time_mask_frames=0)
    data.setup()
    torch.manual_seed(0)
    items = [data.datasets["train"][i] for i in range(len(data.splits["train"]))]
    for utt, item in zip(data.splits["train"], items):
        assert item.video.shape[1] < utt.num_frames  # GRID clips have silence on both sides
        assert item.labels.tolist() == utt.labels
        assert item.allowed is not None and item.allowed.shape[0] == item.video.shape[1]
