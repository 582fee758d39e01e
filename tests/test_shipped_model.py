"""The GRID model that ships in lipread/pretrained: it loads, reads the sample clips, and keeps its
measured word error rate on s1_test (when ../shared/grid is present)."""

from __future__ import annotations

import shutil
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
    align_text,
    clip_path,
    frames_of,
    requires_shared_grid,
    write_video,
)
from data_prep.transcripts import read_grid_align
from lipread.evaluate import evaluate
from lipread.evaluation_report import EvaluationReport
from lipread.metrics import word_counts
from lipread.transcribe import Transcriber

pytestmark = pytest.mark.slow  # real models, face tracking or servers: the full tier


#: Word errors of the shipped model on the 1,530 words of s1_test, prepped losslessly (--crf 0, so
#: every prep gives the same crops) with the default decoders: greedy, and beam in the GRID grammar
#: (11.05% and 8.82% WER; measured 2026-12-03 on the 2-core CPU machine, for stage 7 of RESULTS.md
#: with clip levels; stage 7 without them made 169 / 132, the models before it 172 / 132, 173 / 135,
#: 231 / 172 and 381 / 229).
#: A rise of more than 3 words (0.2 points, for float differences between machines) is a regression.
SHIPPED_WORD_ERRORS = {"greedy": 169, "beam": 135}
#: Share of s1_test words whose force-aligned start and end both fall within 0.2 s of the .align
#: times, measured at shipping (0.987; the plain-CTC model of the first session: 0.0).
SHIPPED_TIMING_WITHIN_0_2_S = 0.987


@pytest.fixture(scope="module")
def shipped() -> Transcriber:
    return Transcriber.from_checkpoint(device="cpu")


def test_example_clip_reads_right(shipped: Transcriber):
    """With the default decoder (beam in the GRID grammar), words and their times."""
    result = shipped.transcribe(EXAMPLE)
    assert result.text == EXAMPLE_TEXT
    align = [(0.34, 0.79), (0.79, 1.01), (1.01, 1.16), (1.16, 1.29), (1.29, 1.64), (1.64, 2.09)]  # lgaf6p.align
    assert len(result.words) == 6 and all(
        abs(w.start - a) <= 0.2 + 1e-6 and abs(w.end - b) <= 0.2 + 1e-6 for w, (a, b) in zip(result.words, align)
    )


@pytest.mark.parametrize("name", ["bbaf2n", "bbas2p"])
def test_a_sentence_cut_at_its_words_reads_right_with_rest_added(shipped: Transcriber, tmp_path: Path, name: str):
    """GRID's clips have about a second of rest around each sentence, and the model learnt them so: cut
    to its words and a frame either side, a sentence reads wrong (and flagged) unless the reader adds
    the rest the model expects, and its words keep their times in the video."""
    said = read_grid_align(ALIGNMENTS / "s1" / f"{name}.align").words
    first = int((said[0]["start"] - 0.04) * 25)
    video = write_video(tmp_path / f"{name}.mp4", frames_of(clip_path(name))[first : int(said[-1]["end"] * 25) + 2])
    read = shipped.transcribe(video)
    assert read.text == align_text(name) and not read.out_of_domain, read.text
    assert all(abs(w.start - (r["start"] - first / 25)) <= 0.2 and abs(w.end - (r["end"] - first / 25)) <= 0.2
               for w, r in zip(read.words, said))  # fmt: skip
    assert 0 <= read.words[0].start and read.words[-1].end <= read.duration
    assert shipped.rest_frames == 12  # the shipped decoding.json's
    shipped.rest_frames = 0  # as read before: the cut frames alone
    try:
        bare = shipped.transcribe(video)
    finally:
        shipped.rest_frames = 12
    assert bare.text != read.text and bare.out_of_domain, bare.text


def _readme_python_example() -> str:
    """The README's "From Python" code: its indented block, blank lines inside it kept."""
    after = (ROOT / "README.md").read_text().split("### From Python", 1)[1]
    lines = after.split("\n    from lipread", 1)[1].splitlines()
    code = ["from lipread" + lines[0]]
    for line in lines[1:]:
        if line and not line.startswith("    "):
            break
        code.append(line[4:])
    return "\n".join(code)


def test_the_readmes_python_example_prints_what_it_says():
    """A user copies it first: it must run as written, from a fresh process, and print the example's
    words one a line after the text, as the README shows."""
    done = subprocess.run([sys.executable, "-c", _readme_python_example()], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    first, *words = done.stdout.splitlines()
    readme = (ROOT / "README.md").read_text()
    assert first.startswith(EXAMPLE_TEXT + " (confidence 0.") and first[:-3] in readme  # to a tenth
    assert [line.split()[0] for line in words] == EXAMPLE_TEXT.split()
    assert f"`{words[0].rsplit(' ', 1)[0]} " in readme  # the word and its times, as the README quotes them


@pytest.mark.parametrize("gain,offset", [(0.5, 0), (0.35, 5), (1.4, -60)], ids=["half-bright", "dark-flat", "harsh"])
def test_the_example_reads_right_in_other_light(shipped: Transcriber, tmp_path: Path, gain: float, offset: float):
    """The example re-filmed darker, flatter or harsher (every pixel scaled and shifted): the model
    matches each clip's levels to its training speaker's and reads it as it reads the original.
    Without that (the model shipped before 2026-12-03), half brightness read "set green in u eight soon"."""
    frames = np.clip(np.round(frames_of(EXAMPLE) * gain + offset), 0, 255).astype(np.uint8)
    assert shipped.transcribe(write_video(tmp_path / "relit.mp4", frames)).text == EXAMPLE_TEXT


def test_a_face_turned_away_is_out_of_domain_saying_how_far(shipped: Transcriber, turned_example: Path):
    """Turned this far, the model's outputs alone do not look out of domain (it reads "lay green at f
    eight please", measured 2026-12-05): the turn is what says so."""
    frontal = shipped.transcribe(EXAMPLE)
    assert abs(frontal.segments[0].yaw) < 5 and not frontal.out_of_domain
    turned = shipped.transcribe(turned_example)
    assert turned.segments[0].yaw < -shipped.calibration.max_yaw
    assert turned.out_of_domain and turned.reason.startswith("the face is turned "), turned.reason
    assert turned.confidence < frontal.confidence / 2


def test_a_face_tilted_down_is_out_of_domain_saying_how_far(shipped: Transcriber, tilted_example: Path):
    """A camera well above the face: the tilt is measured, and it, not the turn, is what the reading
    is flagged for."""
    tilted = shipped.transcribe(tilted_example)
    assert tilted.segments[0].pitch < -shipped.calibration.max_pitch
    assert abs(tilted.segments[0].yaw) < shipped.calibration.max_yaw / 2
    assert tilted.out_of_domain and tilted.reason.startswith("the face is tilted "), tilted.reason
    assert " degrees down from the camera (the model reads faces tilted at most 20)" in tilted.reason


def test_a_turned_face_is_read_as_if_seen_from_the_front(shipped: Transcriber, tmp_path: Path):
    """The example with the face turned 40 degrees the other way (lipread measures about 23): cut
    frontal (data_prep.crop.frontal_transform) it reads right and in domain; cut by the similarity
    the training crops use, it read "place green at f six please" (measured 2026-12-05)."""
    from data_prep.head_turn import write_turned

    video = tmp_path / "turned.mp4"
    write_turned(EXAMPLE, video, 40.0, crf=0)
    read = shipped.transcribe(video)
    assert 15 < read.segments[0].yaw < shipped.calibration.max_yaw
    assert read.text == EXAMPLE_TEXT and not read.out_of_domain, (read.text, read.reason)


@pytest.mark.parametrize("held", ["turned", "tilted"])
def test_live_calls_a_face_turned_or_tilted_away_out_of_domain_too(
    shipped: Transcriber, held: str, request: pytest.FixtureRequest
):
    from lipread.live import LiveReader, read_stream
    from lipread.live_sources import file_frames

    video = request.getfixturevalue(f"{held}_example")
    phrases = list(read_stream(LiveReader(shipped), file_frames(video, realtime=False)))
    assert phrases and all(p.out_of_domain and p.reason.startswith(f"the face is {held} ") for p in phrases)


def test_the_example_is_in_domain_for_the_lexicon_beam_too():
    """``--grammar none``: the lexicon beam puts one misspelt word of the free reading right (a gap
    of 0.021 nats a frame). Before 2026-12-04 the calibrated threshold was 0.009, twice a 95th
    percentile of about 0, and the README's own example was flagged "may not be speech the model can
    read"; the threshold now has a floor of 0.05 (benchmarks/confidence.py). Its first word starts
    0.34 s in, so it is read with rest added (lipread/rest.py): the lexicon beam then inserts a
    letter ("lay green at f n six please", measured 2026-12-05; s1_val's raw videos read 4.00% by
    that beam with and without the rest)."""
    result = Transcriber.from_checkpoint(device="cpu", grammar="none").transcribe(EXAMPLE)
    assert word_counts([EXAMPLE_TEXT], [result.text]).errors <= 1, result.text
    assert not result.out_of_domain, result.reason


def test_readme_main_command():
    result = subprocess.run(
        [sys.executable, "-m", "lipread.cli", "transcribe", str(EXAMPLE)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == EXAMPLE_TEXT


#: WER of the shipped model on the six s1 fixture clips (36 words): greedy; the default beam, in the
#: GRID grammar; the beam with the lexicon + trigram LM. All three read every word right (2026-12-02);
#: each bound allows one word (1/36), for float differences between machines.
SAMPLE_WER = {("greedy", "default"): 0.028, ("beam", "default"): 0.028, ("beam", "none"): 0.028}


@pytest.mark.parametrize("decoder,grammar", list(SAMPLE_WER))
def test_sample_clips_in_tests_data(decoder: str, grammar: str):
    """Six s1 fixture clips (four trained on, two from s1_test): the measured error rate holds, and
    the trigram LM, which knows the training sentences, reads the four trained-on clips right."""
    import jiwer

    names = ["bbaf4p", "bbaf5a", "bbal6n", "bbal7s", "bbaf2n", "bbas2p"]
    transcriber = Transcriber.from_checkpoint(device="cpu", grammar=grammar)
    results = transcriber.transcribe_many([clip_path(n) for n in names], decoder)
    refs = [align_text(n) for n in names]
    assert jiwer.wer(refs, [r.text for r in results]) <= SAMPLE_WER[decoder, grammar]
    if grammar == "none":
        assert [r.text for r in results[:4]] == refs[:4]  # the four trained-on clips read right


@pytest.fixture(scope="module")
def s1_test_dataset(tmp_path_factory) -> Path:
    from data_prep.builder import PrepOptions, build

    videos = tmp_path_factory.mktemp("s1_test") / "videos" / "s1"
    videos.mkdir(parents=True)
    for line in (SHARED_GRID / "splits" / "s1_test.txt").read_text().split():
        shutil.copy(SHARED_GRID / "s1" / f"{line.split('/')[1]}.mp4", videos)
    out = videos.parent.parent / "dataset"
    build(PrepOptions(videos.parent, out, alignments=SHARED_GRID / "alignments", workers=2, crf=0))
    return out


@pytest.fixture(scope="module")
def s1_test_report(s1_test_dataset: Path) -> EvaluationReport:
    return evaluate(None, s1_test_dataset, SHARED_GRID / "splits" / "s1_test.txt", ["greedy", "beam"], device="cpu")


@requires_shared_grid
@pytest.mark.parametrize("decoder", ["greedy", "beam"])
def test_s1_test_wer_does_not_regress(s1_test_report: EvaluationReport, decoder: str):
    assert s1_test_report.utterances == 255
    words = s1_test_report.decoders[decoder].words
    assert words.reference_length == 1530 and words.errors <= SHIPPED_WORD_ERRORS[decoder] + 3, words
    # where the errors are: GRID's letter slot is the weakest, and the confusions say which letters
    slots = {e.slot: e.rate for e in s1_test_report.decoders[decoder].slots}
    assert max(slots, key=slots.get) == "letter", slots
    assert s1_test_report.decoders[decoder].confusions[0].count >= 2


@requires_shared_grid
def test_s1_test_word_timings_hold(s1_test_report: EvaluationReport):
    timing = s1_test_report.timing
    assert timing.words == 6 * 255 and timing.within_0_2_s >= SHIPPED_TIMING_WITHIN_0_2_S - 0.01, timing
