"""Grammars, vocabularies, n-best lists, confidence and the out-of-domain flag, on real GRID clips."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    ALIGNMENTS,
    EXAMPLE,
    EXAMPLE_TEXT,
    ROOT,
    SHARED_GRID,
    THREE_PHRASES,
    clip_path,
    frames_of,
    write_video,
)
from data_prep.transcripts import read_grid_align
from lipread.errors import UserError
from lipread.grammar import GrammarError, fitting_builtin, load, load_vocabulary, parse
from lipread.live import LiveReader, read_stream
from lipread.live_cli import render as live_render
from lipread.live_sources import file_frames
from lipread.subtitles import cues
from lipread.transcribe_cli import render
from lipread.transcript import DroppedPhrase, Span


@pytest.fixture(scope="module")
def transcriber():
    from lipread.transcribe import Transcriber

    return Transcriber.from_checkpoint(device="cpu")


def test_grid_grammar_allows_grid_sentences_only():
    grid = load("grid")
    assert grid.slots == ["command", "colour", "preposition", "letter", "digit", "adverb"]
    assert len(grid.words) == 51
    assert grid.allows("bin blue at f two now")
    assert not grid.allows("place green in i o e soon")  # seven words: what the trigram once printed
    assert not grid.allows("bin blue at f two")
    assert not grid.allows("blue bin at f two now")


def test_the_builtin_grammar_that_training_sentences_fit():
    """What `lipread export` gives a training checkpoint as its default grammar."""
    assert fitting_builtin(["bin blue at f two now", "set red by z nine again"]) == "grid"
    assert fitting_builtin(["bin blue at f two now", "hello world"]) is None
    assert fitting_builtin([]) is None  # a card without its training sentences decodes as before


def test_optional_slots_phrases_and_weights():
    g = parse("slot verb: turn on | switch off (3)\nslot thing?: the light | the fan\nphrase: help", "lights")
    assert g.allows("turn on the light") and g.allows("switch off") and g.allows("help")
    assert not g.allows("turn on help") and not g.allows("the light")
    weights = {e.words: e.log_weight for e in g.edges if e.source == 0 and e.words != ("help",)}
    assert weights[("switch", "off")] > weights[("turn", "on")]


def test_fragments_are_the_runs_of_consecutive_words_of_allowed_sentences():
    grid = load("grid")
    parts = grid.fragments()
    for run in ("bin blue at f two now", "blue at", "eight please", "l", "at l eight", "bin blue"):
        assert parts.allows(run), run
    for wrong in ("at blue", "bin please", "blue at f two now please", "bin blue at zz"):
        assert not parts.allows(wrong), wrong
    assert not grid.allows("blue at")  # the grammar itself is left as it was
    assert parts.slot_of_each_word("l eight please") == ["letter", "digit", "adverb"]
    phrases = parse("phrase: call the nurse (3)\nphrase: i am thirsty\nslot a: yes | no thanks", "mixed").fragments()
    assert phrases.allows("the nurse") and phrases.allows("thanks") and phrases.allows("call the")
    assert not phrases.allows("call nurse") and not phrases.allows("the thirsty") and not phrases.allows("nurse i")
    # a phrase's weight stays on its first word: entering the chain later costs nothing more
    firsts = {e.words: e.log_weight for e in phrases.edges if e.words in {("call",), ("i",)}}
    assert firsts[("call",)] > firsts[("i",)]


def test_split_finds_where_each_sentence_of_a_run_begins():
    grid = load("grid")
    assert grid.split("bin blue at f two now lay red in a one soon") == [
        "bin blue at f two now",
        "lay red in a one soon",
    ]
    assert grid.split("bin blue at f two now") == ["bin blue at f two now"] and grid.split("") == []
    assert grid.split("bin blue") is None and grid.split("bin blue at f two now lay") is None
    # a part read (--partial): the fewest runs, each inside one sentence
    assert grid.fragments().split("f two now lay red") == ["f two now", "lay red"]
    assert grid.fragments().split("at f two") == ["at f two"]
    # where several splits fit: the fewest sentences, then the longest first
    choices = parse("phrase: call\nphrase: the nurse\nphrase: call the nurse\nphrase: call the", "choices")
    assert choices.split("call the nurse") == ["call the nurse"]
    assert choices.split("call the nurse call") == ["call the nurse", "call"]
    assert choices.split("call the the nurse") == ["call the", "the nurse"]
    multi = parse("slot a: thank you | yes\nslot b?: very much", "multi")  # multi-word alternatives
    assert multi.split("thank you very much yes thank you") == ["thank you very much", "yes", "thank you"]


@pytest.mark.parametrize(
    "text,says",
    [
        ("slot a: bin | lay\nslot b blue | green\n", "line 2: expected 'slot NAME: a | b | ...'"),
        ("slot a: bin |  | lay\n", "line 1: an empty alternative in slot 'a'"),
        ("# colours\nslot a: bin\nslot b: blue | Gr3en\n", "line 3: 'gr3en' has characters outside"),
        ("phrase: call the nurse (lots)\n", "line 1: weight 'lots' is not a number"),
        ("phrase: call the nurse (-1)\n", "line 1: weight '-1' must be a positive number"),
        ("slot a: x\nslot a: y\n", "line 2: slot 'a' is defined twice"),
        ("# nothing\n\n", "no slots and no phrases"),
    ],
)
def test_bad_grammar_names_its_line(text: str, says: str):
    with pytest.raises(GrammarError, match=None) as err:
        parse(text, "mine.txt")
    assert says in str(err.value) and str(err.value).startswith("mine.txt")
    assert isinstance(err.value, UserError)  # the CLI prints it as one line, exit 2


def test_vocabulary_file(tmp_path: Path):
    path = tmp_path / "words.txt"
    path.write_text("bin lay\n# colours\nblue green\n")
    assert load_vocabulary(path) == ["bin", "blue", "green", "lay"]
    path.write_text("bin\nlay-by\n")
    with pytest.raises(GrammarError, match="words.txt, line 2: 'lay-by'"):
        load_vocabulary(path)


def test_three_phrase_grammar_returns_one_of_them(transcriber, tmp_path: Path):
    from lipread.grammar import parse as parse_grammar

    transcriber.grammar = parse_grammar(THREE_PHRASES, "three")
    transcriber._decoders.clear()
    try:
        phrases = {line.split(": ", 1)[1] for line in THREE_PHRASES.splitlines()}
        for video in (EXAMPLE, clip_path("bbaf4p"), clip_path("bbal6n")):
            result = transcriber.transcribe(video, n_best=3)
            assert result.text in phrases, (video, result.text)
            assert result.grammar == "three"
        assert transcriber.transcribe(EXAMPLE).text == EXAMPLE_TEXT
    finally:
        transcriber.grammar = load("grid")
        transcriber._decoders.clear()


def test_n_best_is_ordered_distinct_and_led_by_the_transcript(transcriber):
    result = transcriber.transcribe(EXAMPLE, n_best=5)
    texts = [h.text for h in result.n_best]
    scores = [h.score for h in result.n_best]
    # up to five: a sure model's beam may hold fewer (characters under 1e-6 on a frame are not tried)
    assert 2 <= len(texts) <= 5 and len(set(texts)) == len(texts)
    assert texts[0] == result.text == EXAMPLE_TEXT
    assert scores == sorted(scores, reverse=True)
    assert all(load("grid").allows(t) for t in texts)
    assert result.segments[0].n_best == result.n_best


def test_flag_on_a_grid_clip_and_on_the_same_clip_played_backwards(transcriber, tmp_path: Path):
    forward = transcriber.transcribe(clip_path("bbaf4p"))
    assert not forward.out_of_domain and forward.reason is None
    assert 0.0 < forward.confidence <= 1.0
    backwards = write_video(tmp_path / "backwards.mp4", frames_of(clip_path("bbaf4p"))[::-1].copy())
    reversed_result = transcriber.transcribe(backwards)
    assert reversed_result.out_of_domain, reversed_result
    assert "nats a frame" in reversed_result.reason or "unsure" in reversed_result.reason
    assert reversed_result.confidence < forward.confidence


def test_phrases_below_the_minimum_confidence_are_dropped_but_listed(transcriber):
    video = clip_path("bbaf4p")
    kept = transcriber.transcribe(video)
    assert transcriber.transcribe(video, min_confidence=kept.confidence).text == kept.text  # at the bar: kept
    raised = transcriber.transcribe(video, min_confidence=min(1.0, kept.confidence + 1e-4))
    assert raised.text == "" and raised.words == [] and raised.segments[0].words == []
    dropped = raised.dropped[0]
    assert raised.dropped == [DroppedPhrase(0, dropped.start, dropped.end, kept.text, kept.confidence)]
    assert dropped.end > dropped.start and raised.confidence == kept.confidence


def test_a_phrase_cut_mid_sentence_reads_as_the_part_it_holds_with_partial(transcriber):
    """A video that ends (or starts) mid-sentence: in whole sentences the grammar can only invent the
    rest, flagged; with ``partial`` it reads the words the lips said and says it is a part."""
    grid = load("grid")
    words = read_grid_align(ALIGNMENTS / "s1" / "bbaf2n.align").words  # bin blue at f two now
    ends_early = Span(0.0, words[1]["end"] + 0.08)
    whole = transcriber.transcribe(clip_path("bbaf2n"), span=ends_early)
    assert grid.allows(whole.text) and len(whole.text.split()) == 6  # four words it never saw
    assert whole.out_of_domain and whole.confidence < 0.05 and not whole.partial
    transcriber.partial = True
    try:
        part = transcriber.transcribe(clip_path("bbaf2n"), span=ends_early)
        assert part.text.startswith("bin blue") and len(part.text.split()) < 6, part.text
        assert grid.fragments().allows(part.text) and not grid.allows(part.text)
        assert part.partial and part.segments[0].partial and part.to_json()["partial"] is True
        assert [(s.text, s.partial) for s in part.sentences] == [(part.text, True)]
        assert not part.out_of_domain and part.confidence > 0.5
        assert [w.word for w in part.words] == part.text.split() and part.words[-1].end <= ends_early.end
        late = read_grid_align(ALIGNMENTS / "s1" / "bbal6n.align").words  # bin blue at l six now
        starts_late = transcriber.transcribe(clip_path("bbal6n"), span=Span(late[4]["start"] - 0.08))
        assert starts_late.partial and starts_late.text.endswith("six now"), starts_late.text
        # a whole sentence is read as before: a part is read only where no whole sentence fits
        full = transcriber.transcribe(EXAMPLE)
        assert full.text == EXAMPLE_TEXT and not full.partial and not full.segments[0].partial
    finally:
        transcriber.partial = False


def test_sentences_said_one_after_another_are_each_read(transcriber, tmp_path: Path):
    """Two commands with a quarter second between them are one phrase (the cutter waits for 0.4 s of
    rest): both are read, each an allowed sentence, where one sentence a phrase left six words out."""

    def words_only(name: str) -> np.ndarray:  # the clip cut to its words and 0.12 s either side
        words = read_grid_align(ALIGNMENTS / "s1" / f"{name}.align").words
        return frames_of(clip_path(name))[
            int((words[0]["start"] - 0.12) * 25) : math.ceil((words[-1]["end"] + 0.12) * 25)
        ]

    video = write_video(tmp_path / "two.mp4", np.concatenate([words_only("bbaf5a"), words_only("bbas2p")]))
    result = transcriber.transcribe(video)
    assert len(result.segments) == 1 and result.text == "bin blue at f five again bin blue at s two please"
    grid = load("grid")
    assert grid.repeated().allows(result.text) and not grid.allows(result.text)
    assert grid.repeated().allows("bin blue at f two now lay red in a one soon") and not grid.repeated().allows(
        "bin blue"
    )
    # each sentence on its own, timed by its words: what a command interface acts on; the phrase was cut
    # between them and each read alone, so each has its own confidence
    first, second = result.sentences
    assert [first.text, second.text] == grid.split(result.text) and all(grid.allows(s.text) for s in result.sentences)
    assert (first.start, first.end) == (result.words[0].start, result.words[5].end)
    assert (second.start, second.end) == (result.words[6].start, result.words[11].end) and first.end <= second.start
    low, high = sorted([first.confidence, second.confidence])
    assert 0.5 < low and low <= result.segments[0].confidence <= high and not first.partial
    assert result.to_json()["sentences"][1] == {"track": 0, "start": second.start, "end": second.end,
                                                 "text": second.text, "confidence": second.confidence,
                                                 "partial": False}  # fmt: skip
    # a subtitle cue each (not 7 words and 5) and a line each as text
    assert [c.text for c in cues(result.words, "phrase", result.sentences)] == [first.text, second.text]
    assert [len(c.text.split()) for c in cues(result.words, "phrase")] == [7, 5]  # without them: cut at 7 words
    assert render(result, "text", "phrase") == f"{first.text}\n{second.text}"
    # read live, a phrase a sentence with the same words and times
    phrases = list(read_stream(LiveReader(transcriber), file_frames(video, realtime=False)))
    assert [s for p in phrases for s in p.sentences] == result.sentences
    assert [p.text for p in phrases] == [first.text, second.text] and phrases[0].end <= phrases[1].start
    assert [live_render(p, "text") for p in phrases] == [
        f"[{s.start:7.2f} - {s.end:7.2f}] {s.text}" for s in result.sentences
    ]


def test_cli_grammar_errors_and_n_best_json(tmp_path: Path):
    bad = tmp_path / "bad.txt"
    bad.write_text("slot a: bin | lay\nslot b: blue | Green!\n")
    run = [sys.executable, "-m", "lipread.cli", "transcribe", str(EXAMPLE)]
    result = subprocess.run([*run, "--grammar", str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert "bad.txt, line 2: 'green!' has characters outside" in result.stderr and "Traceback" not in result.stderr
    good = tmp_path / "three.txt"
    good.write_text(THREE_PHRASES)
    result = subprocess.run([*run, "--grammar", str(good), "--n-best", "2", "-f", "json"], capture_output=True,
                            text=True, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["text"] == EXAMPLE_TEXT and data["grammar"] == "three.txt"
    assert [h["text"] for h in data["n_best"]][0] == data["text"] and len(data["n_best"]) == 2
    assert data["out_of_domain"] is False and 0 < data["confidence"] <= 1
    assert data["partial"] is False and data["segments"][0]["partial"] is False
    cut = subprocess.run([*run, "--end", "1.2", "--partial", "-f", "json"], capture_output=True, text=True, cwd=ROOT)
    assert cut.returncode == 0, cut.stderr
    data = json.loads(cut.stdout)
    assert data["partial"] is True and data["text"].startswith("lay green") and len(data["text"].split()) < 6
    assert "note: some of it was read as part of a sentence (--partial)" in cut.stderr


@pytest.mark.slow
@pytest.mark.skipif(not SHARED_GRID.is_dir(), reason="needs ../shared/grid")
def test_every_grid_grammar_output_is_allowed_on_unseen_speakers(transcriber):
    grid = load("grid")
    # nine speakers' single clips and five of s4 at high resolution (all 25 of them took 40 s more)
    videos = sorted((SHARED_GRID / "others").glob("*/*.mpg")) + sorted((SHARED_GRID / "s4_hq").glob("*.mp4"))[:5]
    results = transcriber.transcribe_many(videos, n_best=3)
    assert len(results) == len(videos)
    for result in results:
        for segment in result.segments:
            assert grid.allows(segment.text), (result.file, segment.text)
            assert all(grid.allows(h.text) for h in segment.n_best)
