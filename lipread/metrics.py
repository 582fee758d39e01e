"""Corpus-level word and character error rates with jiwer.

Errors are summed over the corpus and divided by the reference length summed over the corpus
(what papers report), never a mean of per-utterance rates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import jiwer


@dataclass
class ErrorCounts:
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    hits: int = 0

    @property
    def reference_length(self) -> int:
        return self.substitutions + self.deletions + self.hits

    @property
    def rate(self) -> float:
        errors = self.substitutions + self.deletions + self.insertions
        return errors / self.reference_length if self.reference_length else float(errors > 0)

    def to_json(self) -> dict:
        return {**asdict(self), "reference_length": self.reference_length, "rate": self.rate}


def word_counts(references: list[str], hypotheses: list[str]) -> ErrorCounts:
    return _counts(jiwer.process_words(references, hypotheses))


def char_counts(references: list[str], hypotheses: list[str]) -> ErrorCounts:
    return _counts(jiwer.process_characters(references, hypotheses))


def _counts(output) -> ErrorCounts:
    return ErrorCounts(output.substitutions, output.deletions, output.insertions, output.hits)
