"""A model folder's out-of-domain thresholds and expected rest, measured on clips it should call in domain.

The thresholds (:class:`~lipread.confidence.Calibration` in the folder's ``decoding.json``) say how
far a video may stray from what the model knows before transcripts carry "may not be speech the
model can read". Defaults are guesses; a model reads its own speakers with its own entropy and
gaps, so a folder gets thresholds measured on its validation clips (``lipread evaluate
--calibrate``), or, for a personal model, on its speaker's held-out clips (``lipread adapt``).
The same clips give ``rest_frames``, the still lips the model expects around a phrase
(:func:`lipread.rest.expected_rest`): a model learns the silence its training clips hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from data_prep.head_pose import HeadPose
from lipread.clips import Utterance
from lipread.confidence import Assessment, Calibration, calibrated
from lipread.errors import UserError
from lipread.evaluate import model_outputs
from lipread.pretrained import CONFIG, DECODING, Model, load
from lipread.rest import blank_ends, expected_rest
from lipread.transcribe import CONFIDENCE_N_BEST, Transcriber


@dataclass(frozen=True)
class Calibrated:
    """New thresholds, and how many of the clips they were measured on each set calls out of domain;
    the rest the model expects around a phrase, before and as measured."""

    calibration: Calibration
    clips: int
    flagged_before: int  # by the thresholds the folder had (its default decoding)
    flagged_after: int
    rest_before: int
    rest_frames: int


class FolderCalibration:
    """A model folder's thresholds in the making: fed the model's outputs on clips it should call in
    domain (by :func:`calibrate_folder`, or by ``lipread evaluate`` as it reads them, so the model
    runs once), it reads each with the folder's default decoding and the lexicon beam and notes the
    blank at either end of its best path, then :meth:`write` measures the thresholds and the rest and
    writes them into the folder's ``decoding.json``."""

    def __init__(self, folder: Path, device: str = "cpu", model: Model | None = None):
        """``model``: the folder's model when the caller has loaded it already."""
        if not (Path(folder) / CONFIG).is_file():
            raise UserError(f"{folder} is not a model folder: thresholds are written into a model folder's {DECODING}")
        self.folder = Path(folder)
        self.reader = Transcriber.for_model(model or load(self.folder), self.folder, device, grammar="default")
        self.defaults = self.reader.defaults
        lexicon = Transcriber(self.reader.model, self.reader.device, beam=self.reader.beam, defaults=self.defaults)
        self.readers = [lexicon] if self.reader.grammar is None else [lexicon, self.reader]
        self.by_reader: list[list[Assessment]] = [[] for _ in self.readers]
        self.ends: list[int] = []  # blank frames at either end of each clip's best path

    def read(self, log_probs: torch.Tensor, lengths: list[int]) -> None:
        """One batch of the model's log-probabilities (B, T, V) and each clip's frame count."""
        for lp, n in zip(log_probs, lengths):
            for reader, judged in zip(self.readers, self.by_reader):
                judged.append(reader.read_window(lp[:n], "beam", CONFIDENCE_N_BEST)[1])
            self.ends.extend(blank_ends(lp[:n], self.reader.model.tokenizer.blank) or ())

    def write(self, source: str, base: Calibration | None = None, poses: list[HeadPose] = ()) -> Calibrated:
        """Thresholds from the clips read so far (from ``base``'s to a few times them, when given:
        :func:`~lipread.confidence.calibrated`) and the rest they show, written into the folder,
        keeping its default grammar (and its rest, when no clip was read as anything)."""
        by_lexicon = self.by_reader[0]
        by_grammar = self.by_reader[1] if len(self.by_reader) > 1 else []
        calibration = calibrated(
            [a.gap for a in by_grammar],
            [a.gap for a in by_lexicon],
            [a.entropy for a in by_lexicon],
            source,
            base,
            poses,
        )
        rest = expected_rest(self.ends) if self.ends else self.defaults.rest_frames
        (self.folder / DECODING).write_text(
            json.dumps(replace(self.defaults, calibration=calibration, rest_frames=rest).to_json(), indent=2) + "\n"
        )
        judged = by_grammar or by_lexicon  # what the folder's default decoding says of the clips
        return Calibrated(calibration, len(judged), sum(a.out_of_domain for a in judged),
                          sum(calibration.flags(a, "beam", bool(by_grammar)) for a in judged),
                          self.defaults.rest_frames, rest)  # fmt: skip


def calibrate_folder(folder: Path, utterances: list[Utterance], source: str, device: str = "cpu",
                     base: Calibration | None = None) -> Calibrated:  # fmt: skip
    """Measure ``folder``'s thresholds and rest on ``utterances`` and write them (:class:`FolderCalibration`)."""
    calibration = FolderCalibration(folder, device)
    for batch, log_probs, _ in model_outputs(calibration.reader, utterances, desc="calibrating"):
        calibration.read(log_probs, batch.lengths.tolist())
    return calibration.write(source, base, [u.pose for u in utterances if u.pose is not None])
