"""Corpus-level word and character error rates with jiwer.

Errors are summed over the corpus and divided by the reference length summed over the corpus
(what papers report), never a mean of per-utterance rates.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

import jiwer

from lipread.grammar import Grammar


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


def aligned_words(reference: str, hypothesis: str) -> list[tuple[str | None, str | None]]:
    """The two sentences' words paired by jiwer's alignment, in order: equal and substituted words
    as (ref, hyp), a deleted reference word as (ref, None), an inserted word as (None, hyp)."""
    ref, hyp = reference.split(), hypothesis.split()
    if not ref or not hyp:
        return [(w, None) for w in ref] + [(None, w) for w in hyp]
    pairs: list[tuple[str | None, str | None]] = []
    for chunk in jiwer.process_words(reference, hypothesis).alignments[0]:
        r, h = ref[chunk.ref_start_idx : chunk.ref_end_idx], hyp[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type in ("equal", "substitute"):
            pairs += list(zip(r, h))
        elif chunk.type == "delete":
            pairs += [(a, None) for a in r]
        else:
            pairs += [(None, b) for b in h]
    return pairs


def word_alignment(reference: str, hypothesis: str) -> str:
    """Three lines (REF, HYP, and S/D/I marks under the errors), columns padded to the longer word.

    jiwer's own picture adds a sentence banner and counts meant for a corpus; a report wants the pair alone.
    """
    columns = [
        (
            r or "*" * len(h or ""),
            h or "*" * len(r or ""),
            "" if r == h else "I" if r is None else "D" if h is None else "S",
        )
        for r, h in aligned_words(reference, hypothesis)
    ]
    widths = [max(len(a), len(b)) for a, b, _ in columns]
    rows = [" ".join(c[k].ljust(w) for c, w in zip(columns, widths)).rstrip() for k in range(3)]
    return f"REF: {rows[0]}\nHYP: {rows[1]}\n     {rows[2]}".rstrip()


@dataclass(frozen=True)
class Confusion:
    """One kind of word error and how often it happened: ``hypothesis`` None is a deletion,
    ``reference`` None an insertion."""

    reference: str | None
    hypothesis: str | None
    count: int


def confusions(references: list[str], hypotheses: list[str], top: int = 20) -> list[Confusion]:
    """The most frequent word errors over a corpus (reference -> hypothesis), most frequent first
    (ties alphabetically): where a model's errors concentrate, for instance GRID's letter slot."""
    counts: Counter[tuple[str | None, str | None]] = Counter()
    for ref, hyp in zip(references, hypotheses):
        counts.update(pair for pair in aligned_words(ref, hyp) if pair[0] != pair[1])
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0][0] or "", item[0][1] or ""))
    return [Confusion(r, h, n) for (r, h), n in ranked[:top]]


@dataclass(frozen=True)
class SlotErrors:
    """How often a grammar slot's reference word was misread (substituted or deleted)."""

    slot: str
    words: int
    errors: int

    @property
    def rate(self) -> float:
        return self.errors / self.words if self.words else 0.0

    def to_json(self) -> dict:
        return {**asdict(self), "rate": self.rate}


def slot_errors(references: list[str], hypotheses: list[str], grammar: Grammar) -> list[SlotErrors]:
    """Errors per slot of ``grammar`` (in the grammar's order; words of whole phrases under
    "phrase"), counted over the references the grammar allows. Insertions belong to no slot."""
    counts: dict[str, list[int]] = {name: [0, 0] for name in grammar.slots}
    for ref, hyp in zip(references, hypotheses):
        slots = grammar.slot_of_each_word(ref)
        if slots is None:
            continue
        read = [h for r, h in aligned_words(ref, hyp) if r is not None]
        for slot, word, heard in zip(slots, ref.split(), read):
            tally = counts.setdefault(slot or "phrase", [0, 0])
            tally[0] += 1
            tally[1] += heard != word
    return [SlotErrors(name, words, errors) for name, (words, errors) in counts.items() if words]


def _resamples(count: int, resamples: int, seed: int):
    """``resamples`` draws of ``count`` utterance indices with replacement (utterances, not words,
    are the independent draws: errors within a sentence are correlated)."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, count, size=(resamples, count))


def bootstrap_interval(
    errors: list[int], lengths: list[int], resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of a corpus error rate, resampling whole utterances: on the
    50-100 utterances of a GRID test split the interval is wide enough to matter."""
    import numpy as np

    if not errors:
        return (0.0, 0.0)
    e, n = np.asarray(errors, dtype=np.float64), np.asarray(lengths, dtype=np.float64)
    picks = _resamples(len(e), resamples, seed)
    rates = e[picks].sum(axis=1) / np.maximum(n[picks].sum(axis=1), 1)
    tail = (1 - level) / 2
    return (float(np.quantile(rates, tail)), float(np.quantile(rates, 1 - tail)))


@dataclass(frozen=True)
class PairedDifference:
    """How much system B's corpus error rate differs from system A's on the same utterances."""

    difference: float  # B's rate minus A's: below 0, B makes fewer errors
    low: float  # the difference's paired-bootstrap interval
    high: float
    b_better_share: float  # the share of resamples in which B made fewer errors than A
    b_worse_share: float  # ... more errors (the rest: as many)
    b_better: int  # utterances with fewer errors from B
    b_worse: int
    resamples: int


def paired_difference(
    errors_a: list[int], errors_b: list[int], lengths: list[int], resamples: int = 1000, level: float = 0.95,
    seed: int = 0,
) -> PairedDifference:  # fmt: skip
    """The paired bootstrap of two systems' error rates (Koehn, 2004): both are scored on the same
    resampled utterances, so the interval is that of the difference itself, much narrower than the
    two rates' own intervals, which overlap even when one system is better on nearly every draw."""
    import numpy as np

    a, b = np.asarray(errors_a, dtype=np.float64), np.asarray(errors_b, dtype=np.float64)
    n = np.asarray(lengths, dtype=np.float64)
    words = max(n.sum(), 1)
    if not len(a):
        return PairedDifference(0.0, 0.0, 0.0, 0.0, 0.0, 0, 0, resamples)
    picks = _resamples(len(a), resamples, seed)
    diffs = (b[picks].sum(axis=1) - a[picks].sum(axis=1)) / np.maximum(n[picks].sum(axis=1), 1)
    tail = (1 - level) / 2
    return PairedDifference(
        difference=float((b.sum() - a.sum()) / words),
        low=float(np.quantile(diffs, tail)),
        high=float(np.quantile(diffs, 1 - tail)),
        b_better_share=float((diffs < 0).mean()),
        b_worse_share=float((diffs > 0).mean()),
        b_better=int((b < a).sum()),
        b_worse=int((b > a).sum()),
        resamples=resamples,
    )
