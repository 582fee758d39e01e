"""A model folder's out-of-domain thresholds, measured on clips it should call in domain.

The thresholds (:class:`~lipread.confidence.Calibration` in the folder's ``decoding.json``) say how
far a video may stray from what the model knows before transcripts carry "may not be speech the
model can read". Defaults are guesses; a model reads its own speakers with its own entropy and
gaps, so a folder gets thresholds measured on its validation clips (``lipread evaluate
--calibrate``), or, for a personal model, on its speaker's held-out clips (``lipread adapt``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from lipread.clips import Utterance
from lipread.confidence import Calibration, calibrated
from lipread.errors import UserError
from lipread.evaluate import read_and_assess_each
from lipread.pretrained import CONFIG, DECODING, decoding_defaults
from lipread.transcribe import Transcriber


@dataclass(frozen=True)
class Calibrated:
    """New thresholds, and how many of the clips they were measured on each set calls out of domain."""

    calibration: Calibration
    clips: int
    flagged_before: int  # by the thresholds the folder had (its default decoding)
    flagged_after: int


def calibrate_folder(folder: Path, utterances: list[Utterance], source: str, device: str = "cpu",
                     base: Calibration | None = None) -> Calibrated:  # fmt: skip
    """Measure ``folder``'s thresholds on ``utterances`` (from ``base``'s to a few times them, when
    given: :func:`~lipread.confidence.calibrated`) and write them into its ``decoding.json``,
    keeping its default grammar."""
    if not (Path(folder) / CONFIG).is_file():
        raise UserError(f"{folder} is not a model folder: thresholds are written into a model folder's {DECODING}")
    defaults = decoding_defaults(folder)
    reader = Transcriber.from_checkpoint(folder, device, grammar="default")
    lexicon = Transcriber(reader.model, reader.device, beam=reader.beam, defaults=defaults)
    readers = [lexicon] if reader.grammar is None else [lexicon, reader]  # one model: it runs once
    readings = read_and_assess_each(readers, utterances, desc="calibrating")
    by_lexicon = [a for _, a in readings[0].values()]
    by_grammar = [a for _, a in readings[1].values()] if len(readings) > 1 else []
    calibration = calibrated(
        [a.gap for a in by_grammar], [a.gap for a in by_lexicon], [a.entropy for a in by_lexicon], source, base
    )
    (Path(folder) / DECODING).write_text(
        json.dumps(replace(defaults, calibration=calibration).to_json(), indent=2) + "\n"
    )
    judged = by_grammar or by_lexicon  # what the folder's default decoding says of the clips
    return Calibrated(calibration, len(judged), sum(a.out_of_domain for a in judged),
                      sum(calibration.flags(a, "beam", bool(by_grammar)) for a in judged))  # fmt: skip
