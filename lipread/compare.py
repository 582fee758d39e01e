"""Two evaluation reports of the same utterances side by side: is B's lower WER a real gain?

Each rate's own bootstrap interval is wide on a test split of a few hundred sentences, and two
systems' intervals overlap even when one is better on almost every draw. The paired bootstrap
(:func:`lipread.metrics.paired_difference`) scores both on the same resampled utterances, which
answers the question asked: how sure is it that B makes fewer errors than A here?
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from lipread.errors import UserError
from lipread.evaluation_report import EvaluationReport
from lipread.grammar import Grammar
from lipread.metrics import PairedDifference, paired_difference, slot_errors, word_alignment, word_counts


@dataclass(frozen=True)
class ChangedReading:
    """An utterance that the two systems read with different numbers of word errors."""

    id: str
    reference: str
    a: str
    b: str
    errors_a: int
    errors_b: int


@dataclass(frozen=True)
class SlotChange:
    """A grammar slot's misread words in A and in B (GRID's letter slot, say)."""

    slot: str
    words: int
    errors_a: int
    errors_b: int


@dataclass(frozen=True)
class DecoderComparison:
    """One decoder's word error rates in reports A and B, and their paired difference."""

    decoder: str
    utterances: int
    words: int
    wer_a: float
    wer_b: float
    paired: PairedDifference
    changed: list[ChangedReading]  # the largest changes first
    slots: list[SlotChange]  # when the references fit a built-in slot grammar (GRID's), else empty

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """``comparison.json``: which two reports, and each decoder's comparison."""

    a: str  # the reports' paths, as given
    b: str
    decoders: list[DecoderComparison]

    def to_json(self) -> dict:
        return asdict(self)


def compare(a: EvaluationReport, b: EvaluationReport, decoders: list[str] | None = None, changed: int = 10,
            resamples: int = 1000) -> list[DecoderComparison]:  # fmt: skip
    """Each decoder both reports ran (or ``decoders``), compared on their common utterances, which
    must be all of each: a comparison over different sentences says nothing about the systems."""
    common = [d for d in a.hypotheses if d in b.hypotheses]
    for name in decoders or []:
        if name not in common:
            raise UserError(f"--decoder {name}: not in both reports (both have: {', '.join(common) or 'none'})")
    if not common:
        raise UserError(f"the reports share no decoder (A: {', '.join(a.hypotheses)}; B: {', '.join(b.hypotheses)})")
    grammar = slot_grammar(list(a.references.values()))
    return [_compare_one(a, b, name, changed, resamples, grammar) for name in (decoders or common)]


def slot_grammar(references: list[str]) -> Grammar | None:
    """The built-in grammar with slots that allows every reference (GRID's for GRID), if one does:
    where errors moved, slot by slot, whatever grammar either system decoded with."""
    from lipread.grammar import fitting_builtin, load

    name = fitting_builtin(references)
    grammar = load(name) if name else None
    return grammar if grammar is not None and grammar.slots else None


def _compare_one(
    a: EvaluationReport, b: EvaluationReport, decoder: str, top: int, resamples: int, grammar: Grammar | None
) -> DecoderComparison:
    hyps_a, hyps_b = a.hypotheses[decoder], b.hypotheses[decoder]
    if set(hyps_a) != set(hyps_b):
        only_a, only_b = len(set(hyps_a) - set(hyps_b)), len(set(hyps_b) - set(hyps_a))
        raise UserError(f"{decoder}: the reports read different utterances ({only_a} only in A, {only_b} only in B); "
                        "evaluate both on the same --data and --split")  # fmt: skip
    ids = sorted(hyps_a)
    missing = [i for i in ids if i not in a.references or i not in b.references]
    if missing:
        raise UserError(f"{decoder}: no reference transcript for {len(missing)} utterances (first: {missing[0]})")
    differ = [i for i in ids if a.references[i] != b.references[i]]
    if differ:
        raise UserError(f"the reports' reference transcripts differ for {len(differ)} utterances (first: {differ[0]}); "
                        "were they made on different datasets?")  # fmt: skip
    refs = [a.references[i] for i in ids]
    read_a, read_b = [hyps_a[i] for i in ids], [hyps_b[i] for i in ids]
    counts = [word_counts([r], [h]) for r, h in zip(refs, read_a)]
    errors_a = [c.errors for c in counts]
    errors_b = [word_counts([r], [h]).errors for r, h in zip(refs, read_b)]
    lengths = [c.reference_length for c in counts]
    words = sum(lengths)  # corpus rates below: errors summed over words summed, as jiwer's
    moved = sorted((i for i in range(len(ids)) if errors_a[i] != errors_b[i]),
                   key=lambda i: (-abs(errors_b[i] - errors_a[i]), ids[i]))  # fmt: skip
    return DecoderComparison(
        decoder=decoder,
        utterances=len(ids),
        words=words,
        wer_a=sum(errors_a) / max(words, 1),
        wer_b=sum(errors_b) / max(words, 1),
        paired=paired_difference(errors_a, errors_b, lengths, resamples),
        changed=[
            ChangedReading(ids[i], refs[i], read_a[i], read_b[i], errors_a[i], errors_b[i]) for i in moved[:top]
        ],  # fmt: skip
        slots=_slot_changes(refs, read_a, read_b, grammar),
    )


def _slot_changes(refs: list[str], hyps_a: list[str], hyps_b: list[str], grammar: Grammar | None) -> list[SlotChange]:
    if grammar is None:
        return []
    pairs = zip(slot_errors(refs, hyps_a, grammar), slot_errors(refs, hyps_b, grammar))
    return [SlotChange(x.slot, x.words, x.errors, y.errors) for x, y in pairs]


def _interval(p: PairedDifference) -> str:
    return f"{p.low * 100:+.2f} to {p.high * 100:+.2f}"


def verdict(c: DecoderComparison) -> str:
    """One line: the two rates, the difference with its interval, and how often B was better."""
    p = c.paired
    return (f"{c.decoder}: A {c.wer_a:.2%} -> B {c.wer_b:.2%} (B - A {p.difference * 100:+.2f} points, 95% paired "
            f"interval {_interval(p)}); of {p.resamples} resamples B made fewer errors in "
            f"{p.b_better_share:.1%}, more in {p.b_worse_share:.1%}; utterances: {p.b_better} better, {p.b_worse} worse, "
            f"{c.utterances - p.b_better - p.b_worse} the same" + _slot_line(c))  # fmt: skip


def _slot_line(c: DecoderComparison) -> str:
    moved = [f"{s.slot} {s.errors_a} -> {s.errors_b}" for s in c.slots if s.errors_a or s.errors_b]
    return f"\n{c.decoder}: misread words by slot, A -> B: {', '.join(moved)}" if moved else ""


def markdown(
    a: EvaluationReport, b: EvaluationReport, names: tuple[str, str], comparisons: list[DecoderComparison]
) -> str:
    """The comparison as a page: which reports, the table, and the utterances that changed most."""
    lines = ["# Comparison of two evaluations", ""]
    for label, report, name in (("A", a, names[0]), ("B", b, names[1])):
        lines.append(f"- {label}: `{name}`: {report.model_name or '?'} (weights sha256 "
                     f"`{report.model_digest or '?'}`), beam: {report.beam_reading()}; lipread "
                     f"{report.lipread_version or '?'}, {report.date or '?'}")  # fmt: skip
    lines += [
        "",
        "Corpus-level WER on the same utterances; the interval is the paired bootstrap's (both systems scored on "
        "the same resampled utterances) for B - A.",
        "",
        "| decoder | utterances | A | B | B - A (points) | 95% interval | B fewer / more errors in | utterances better / worse |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in comparisons:
        p = c.paired
        lines.append(f"| {c.decoder} | {c.utterances} | {c.wer_a:.2%} | {c.wer_b:.2%} | {p.difference * 100:+.2f} | "
                     f"{_interval(p)} | {p.b_better_share:.1%} / {p.b_worse_share:.1%} of resamples | "
                     f"{p.b_better} / {p.b_worse} |")  # fmt: skip
    for c in comparisons:
        if c.slots:
            lines += ["", f"## {c.decoder}: misread words by slot", "", "| slot | words | A | B |", "|---|---|---|---|"]
            lines += [f"| {s.slot} | {s.words} | {s.errors_a} | {s.errors_b} |" for s in c.slots]
    for c in comparisons:
        if c.changed:
            lines += ["", f"## {c.decoder}: the utterances that changed most", ""]
            for r in c.changed:
                shown = [line.replace("HYP:", f"{label}:  ") for label, hyp in (("A", r.a), ("B", r.b))
                         for line in word_alignment(r.reference, hyp).splitlines()]  # fmt: skip
                lines += [f"- `{r.id}`: {r.errors_a} -> {r.errors_b} errors", "", "  ```",
                          *(f"  {line}" for line in shown), "  ```", ""]  # fmt: skip
    return "\n".join(lines) + "\n"


def chart(comparisons: list[DecoderComparison], path: Path, title: str = "") -> None:
    """Left, A's and B's WER per decoder; right, B - A with its paired interval against zero: an
    interval clear of zero is a difference the utterances support."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [c.decoder for c in comparisons]
    fig, (rates, gap) = plt.subplots(1, 2, figsize=(10, 4))
    spots = range(len(names))
    for shift, label, values, colour in ((-0.2, "A", [c.wer_a for c in comparisons], "tab:gray"),
                                         (0.2, "B", [c.wer_b for c in comparisons], "tab:blue")):  # fmt: skip
        bars = rates.bar([i + shift for i in spots], [100 * v for v in values], 0.4, label=label, color=colour)
        rates.bar_label(bars, fmt="%.2f", fontsize=8)
    rates.set_xticks(list(spots), names)
    rates.set_ylabel("WER (%)")
    rates.set_title(f"WER on the same {comparisons[0].utterances} utterances")
    rates.legend()
    middle = [100 * c.paired.difference for c in comparisons]
    below = [m - 100 * c.paired.low for m, c in zip(middle, comparisons)]
    above = [100 * c.paired.high - m for m, c in zip(middle, comparisons)]
    colours = ["tab:green" if c.paired.high < 0 else "tab:red" if c.paired.low > 0 else "tab:gray" for c in comparisons]
    gap.errorbar(list(spots), middle, yerr=[below, above], fmt="none", ecolor="dimgray", capsize=8)
    gap.scatter(list(spots), middle, c=colours, s=60, zorder=3)
    gap.axhline(0, color="black", linewidth=0.8)
    gap.set_xticks(list(spots), names)
    gap.set_xlim(-0.6, len(names) - 0.4)
    gap.set_ylabel("B - A (WER points)")
    gap.set_title("B - A, 95% paired bootstrap interval")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
