"""What ``lipread evaluate`` measured, as typed records: written as ``report.json``, read back by
``lipread compare`` and by anyone's scripts.

A report is the one file that outlives an evaluation, and two of them are compared weeks apart, so
it is read strictly (pydantic, against these dataclasses): a missing field or a field of the wrong
type is refused with the file and the field named, and a report from a newer lipread is refused
rather than half-read. Fields added since the first reports have defaults, so older reports still
read; before 2026-12-04 reports kept no reference transcripts, and :func:`read_report` takes them
from the report's dataset folder while it is still there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lipread.alignment import TimingSummary
from lipread.errors import UserError
from lipread.metrics import Confusion, ErrorCounts, SlotErrors

#: The report format written by this code; a report without ``format`` is from before it had one.
REPORT_FORMAT = "lipread-report/1"


@dataclass(frozen=True)
class SpeakerRates:
    """One speaker's corpus WER and CER."""

    utterances: int
    wer: float
    cer: float


@dataclass(frozen=True)
class WorstUtterance:
    """An utterance with many word errors, and its aligned reading (REF/HYP lines)."""

    id: str
    errors: int
    reference: str
    hypothesis: str
    alignment: str


@dataclass(frozen=True)
class CoverageRow:
    """The WER of the most confident ``share`` of utterances: what a confidence threshold buys."""

    share: float
    utterances: int
    wer: float
    min_confidence: float


@dataclass(frozen=True)
class DecoderResult:
    """One decoder's readings of the split, scored."""

    wer: float  # corpus-level: word errors summed over reference words summed
    cer: float
    sentence_accuracy: float
    words: ErrorCounts
    chars: ErrorCounts
    per_speaker: dict[str, SpeakerRates]
    worst: list[WorstUtterance]  # most errors first
    wer_ci95: tuple[float, float] | None = None  # 95% bootstrap interval over utterances
    cer_ci95: tuple[float, float] | None = None
    confusions: list[Confusion] = field(default_factory=list)  # the most frequent word errors first
    slots: list[SlotErrors] = field(default_factory=list)  # per grammar slot, when decoded in a slot grammar
    coverage: list[CoverageRow] = field(default_factory=list)
    out_of_domain_rate: float | None = None  # the share of utterances flagged "may not be speech it can read"
    decode_seconds: float | None = None  # the model's time and this decoder's

    def to_json(self) -> dict:
        return {
            **asdict(self),
            "words": self.words.to_json(),
            "chars": self.chars.to_json(),
            "slots": [s.to_json() for s in self.slots],
        }


@dataclass(frozen=True)
class EvaluationReport:
    """``report.json``: which model read which utterances with what settings, and how well."""

    model: str  # the checkpoint or model folder, as given
    data: str  # the dataset folder
    split: str | None  # the split file (None: the whole folder)
    utterances: int
    device: str
    beam_options: dict[str, Any]  # the beam decoder's settings (`DecoderSettings`)
    decoders: dict[str, DecoderResult]
    hypotheses: dict[str, dict[str, str]]  # decoder -> utterance id -> reading
    references: dict[str, str] = field(default_factory=dict)  # utterance id -> reference transcript
    model_name: str = ""
    model_digest: str = ""  # sha256 of the weights, shortened
    lipread_version: str = ""
    date: str = ""  # ISO 8601, UTC
    seconds: float | None = None
    utterances_per_second: float | None = None
    grammar: str | None = None  # the grammar the beam read in (None: lexicon + n-gram LM)
    vocabulary_words: int | None = None  # words of a --vocabulary, when one was given
    timing: TimingSummary = field(default_factory=TimingSummary)
    format: str = REPORT_FORMAT

    def to_json(self) -> dict:
        data = asdict(self)
        data["decoders"] = {name: result.to_json() for name, result in self.decoders.items()}
        return {"format": data.pop("format"), **data}

    def beam_reading(self) -> str:
        """How the beam decoder read: ``grid grammar, beam_size 300`` or ``lexicon + LM, beam_size 50, ...``
        (two reports compared may differ in this as well as in the model)."""
        settings = ", ".join(f"{k} {v}" for k, v in self.beam_options.items()
                             if self.grammar is None or k == "beam_size")  # fmt: skip
        return f"{f'{self.grammar} grammar' if self.grammar else 'lexicon + LM'}, {settings}"

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2))


def read_report(path: Path) -> EvaluationReport:
    """A ``report.json`` from ``lipread evaluate -o`` (the file, or the folder holding it), with its
    reference transcripts; anything that is not one is a :class:`UserError` naming what is wrong."""
    from pydantic import TypeAdapter, ValidationError

    file = path / "report.json" if path.is_dir() else path
    try:
        text = file.read_text()
    except FileNotFoundError:
        raise UserError(f"{file}: no such report (write one with `lipread evaluate ... -o FOLDER`)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{file}: not a report.json ({err})") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{file}: not a report.json ({err})") from None
    if not isinstance(record, dict) or "hypotheses" not in record:
        raise UserError(f"{file}: not a report of `lipread evaluate` (it has no hypotheses)")
    fmt = record.get("format", REPORT_FORMAT)
    if fmt != REPORT_FORMAT:
        newer = isinstance(fmt, str) and fmt.startswith("lipread-report/")
        raise UserError(f"{file}: report format {fmt!r} " + ("is newer than this lipread reads; upgrade lipread"
                        if newer else f"is not {REPORT_FORMAT}"))  # fmt: skip
    try:
        report = TypeAdapter(EvaluationReport).validate_json(text, strict=True)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'the report'}: {e['msg']}" for e in err.errors()[:3])
        raise UserError(f"{file}: not a valid report ({problems})") from None
    return report if report.references else replace(report, references=_dataset_references(report, file))


def _dataset_references(report: EvaluationReport, file: Path) -> dict[str, str]:
    """The reference transcripts of a report made before reports kept them: its dataset's."""
    manifest = Path(report.data) / "manifest.jsonl"
    if not manifest.is_file():
        raise UserError(f"{file}: the report holds no reference transcripts and its dataset ({manifest.parent}) "
                        "is not there; evaluate again with this version of lipread")  # fmt: skip
    from lipread.clips import read_dataset

    return {entry.id: entry.text for entry in read_dataset(manifest.parent).entries}
