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
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        return self.errors / self.reference_length if self.reference_length else float(self.errors > 0)

    def to_json(self) -> dict:
        return {**asdict(self), "reference_length": self.reference_length, "rate": self.rate}


def word_counts(references: list[str], hypotheses: list[str]) -> ErrorCounts:
    return _counts(jiwer.process_words(references, hypotheses))


def char_counts(references: list[str], hypotheses: list[str]) -> ErrorCounts:
    return _counts(jiwer.process_characters(references, hypotheses))


def _counts(output) -> ErrorCounts:
    return ErrorCounts(output.substitutions, output.deletions, output.insertions, output.hits)


def word_alignment(reference: str, hypothesis: str) -> str:
    """Three lines (REF, HYP, and S/D/I marks under the errors), columns padded to the longer word.

    jiwer's own picture adds a sentence banner and counts meant for a corpus; a report wants the pair alone.
    """
    ref, hyp = reference.split(), hypothesis.split()
    columns: list[tuple[str, str, str]] = []
    for chunk in jiwer.process_words(reference, hypothesis).alignments[0]:
        r, h = ref[chunk.ref_start_idx : chunk.ref_end_idx], hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "equal":
            columns += [(a, b, "") for a, b in zip(r, h)]
        elif chunk.type == "substitute":
            columns += [(a, b, "S") for a, b in zip(r, h)]
        elif chunk.type == "delete":
            columns += [(a, "*" * len(a), "D") for a in r]
        else:
            columns += [("*" * len(b), b, "I") for b in h]
    widths = [max(len(a), len(b)) for a, b, _ in columns]
    rows = [" ".join(c[k].ljust(w) for c, w in zip(columns, widths)).rstrip() for k in range(3)]
    return f"REF: {rows[0]}\nHYP: {rows[1]}\n     {rows[2]}".rstrip()


def bootstrap_interval(
    errors: list[int], lengths: list[int], resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of a corpus error rate, resampling whole utterances.

    Utterances, not words, are the independent draws (errors within a sentence are correlated), so on
    the 50-100 utterances of a GRID test split the interval is wide enough to matter.
    """
    import numpy as np

    if not errors:
        return (0.0, 0.0)
    e, n = np.asarray(errors, dtype=np.float64), np.asarray(lengths, dtype=np.float64)
    picks = np.random.default_rng(seed).integers(0, len(e), size=(resamples, len(e)))
    rates = e[picks].sum(axis=1) / np.maximum(n[picks].sum(axis=1), 1)
    tail = (1 - level) / 2
    return (float(np.quantile(rates, tail)), float(np.quantile(rates, 1 - tail)))
