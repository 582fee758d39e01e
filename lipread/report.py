"""An evaluation report as people read it: a terminal table, Markdown and a PNG chart.

Every rate carries its 95% bootstrap interval, and the Markdown names what produced it (model,
weights digest, decoder settings, lipread version, date), so a number can be traced and compared.
"""

from __future__ import annotations

from pathlib import Path

from lipread.evaluation_report import DecoderResult, EvaluationReport
from lipread.metrics import Confusion


def _rate(r: DecoderResult, key: str) -> str:
    rate, interval = getattr(r, key), getattr(r, f"{key}_ci95")
    return f"{rate:.2%}" + (f" ({interval[0]:.1%}-{interval[1]:.1%})" if interval else "")


def markdown(report: EvaluationReport, worst_picture: tuple[str, str] | None = None) -> str:
    """The report for people; ``worst_picture``, (decoder, file name), links the picture of that
    decoder's worst utterances (:func:`lipread.reading_sheet.worst_sheet`) under their list."""
    settings = ", ".join(f"{k} {v}" for k, v in report.beam_options.items())
    lines = [
        f"# Evaluation: {report.model_name or report.model} on {report.data}",
        "",
        f"- model: `{report.model}` (weights sha256 `{report.model_digest}`)",
        f"- data: split `{report.split or 'all'}`, {report.utterances} utterances",
        f"- decoder settings (beam): {settings}; grammar: {report.grammar or 'none (lexicon + LM)'}",
        f"- lipread {report.lipread_version}, {report.date}, on {report.device}",
        "",
        "Corpus-level rates (jiwer): errors summed over the split over reference words summed. "
        "In brackets, 95% bootstrap intervals (1000 resamples of utterances).",
        "",
        "| decoder | WER | CER | sentence acc. | subs | dels | ins | words |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in report.decoders.items():
        w = r.words
        lines.append(
            f"| {kind} | {_rate(r, 'wer')} | {_rate(r, 'cer')} | {r.sentence_accuracy:.2%} | "
            f"{w.substitutions} | {w.deletions} | {w.insertions} | {w.reference_length} |"
        )
    lines += _coverage_lines(report)
    t = report.timing
    if t.words:
        lines += [
            "",
            (
                f"Word timings (reference force-aligned, {t.words} words against the manifest's times): "
                f"{t.within_0_1_s:.1%} within 0.1 s, {t.within_0_2_s:.1%} within 0.2 s (start and end); "
                f"median error: start {t.median_start_error_s} s, end {t.median_end_error_s} s."
            ),
        ]
    lines += [
        "",
        "## Per speaker (WER)",
        "",
        "| speaker | utterances | " + " | ".join(report.decoders) + " |",
        "|---|---|" + "---|" * len(report.decoders),
    ]
    first = next(iter(report.decoders.values()))
    for spk, row in first.per_speaker.items():
        rates = " | ".join(f"{r.per_speaker[spk].wer:.2%}" for r in report.decoders.values())
        lines.append(f"| {spk} | {row.utterances} | {rates} |")
    lines += _error_lines(report)
    for kind, r in report.decoders.items():
        lines += ["", f"## Worst utterances ({kind})", ""]
        if not r.worst:
            lines.append("Every utterance is right.")
        for item in r.worst:
            count = f"{item.errors} error" + ("s" if item.errors != 1 else "")
            lines += [f"`{item.id}`: {count}", "```", item.alignment, "```"]
        if worst_picture and worst_picture[0] == kind and r.worst:
            lines += ["", "The mouth at each reference word and what was read in its place (red: misread):", "",
                      f"![the worst utterances' mouths]({worst_picture[1]})"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _word(word: str | None, missing: str) -> str:
    return word if word is not None else missing


def confusion_text(c: Confusion) -> str:
    """One confusion as people read it: ``f -> s``, ``at -> (deleted)``, ``(inserted) -> again``."""
    return f"{_word(c.reference, '(inserted)')} -> {_word(c.hypothesis, '(deleted)')}"


def _error_lines(report: EvaluationReport, top: int = 10) -> list[str]:
    """Where the errors are: each slot's error rate, and the most frequent word confusions."""
    lines: list[str] = []
    decoders = report.decoders
    first = next(iter(decoders.values()))
    if first.slots:
        names = [e.slot for e in first.slots]
        lines += [
            "",
            f"## Errors by slot of the {report.grammar} grammar",
            "",
            "Share of each slot's reference words read wrong (substituted or deleted).",
            "",
            "| decoder | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
        ]
        for kind, r in decoders.items():
            rates = {e.slot: e for e in r.slots}
            lines.append(f"| {kind} | " + " | ".join(f"{rates[n].rate:.1%} ({rates[n].errors})" for n in names) + " |")
    for kind, r in decoders.items():
        lines += ["", f"## Most frequent word errors ({kind})", ""]
        if not r.confusions:
            lines.append("None.")
            continue
        lines += ["| reference -> hypothesis | count |", "|---|---|"]
        lines += [f"| {confusion_text(c)} | {c.count} |" for c in r.confusions[:top]]
    return lines


def _coverage_lines(report: EvaluationReport) -> list[str]:
    """What a confidence threshold buys: WER of the most confident shares, and the flag's rate."""
    covered = {kind: r.coverage for kind, r in report.decoders.items() if r.coverage}
    if not covered:
        return []
    shares = [c.share for c in next(iter(covered.values()))]
    lines = [
        "",
        "WER of the most confident utterances (by each utterance's `confidence`), and the share flagged "
        "`out_of_domain`:",
        "",
        "| decoder | " + " | ".join(f"most confident {s:.0%}" for s in shares) + " | out_of_domain |",
        "|---|" + "---|" * (len(shares) + 1),
    ]
    for kind, rows in covered.items():
        rate = report.decoders[kind].out_of_domain_rate or 0.0
        lines.append(f"| {kind} | " + " | ".join(f"{c.wer:.2%}" for c in rows) + f" | {rate:.1%} |")
    return lines


def chart(report: EvaluationReport, path: Path) -> None:
    """WER per decoder with its interval, per speaker when there are several, and error types."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    decoders = list(report.decoders)
    results = [report.decoders[d] for d in decoders]
    speakers = list(results[0].per_speaker)
    slots = [e.slot for e in results[0].slots]
    panels = 3 + (len(speakers) > 1) + bool(slots)
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 4))

    wer = [100 * r.wer for r in results]
    intervals = [r.wer_ci95 or (r.wer, r.wer) for r in results]
    below = [w - 100 * low for w, (low, _) in zip(wer, intervals)]
    above = [100 * high - w for w, (_, high) in zip(wer, intervals)]
    names = [f"{d}\n{_rate(r, 'wer')}" for d, r in zip(decoders, results)]
    axes[0].bar(names, wer, yerr=[below, above], capsize=6, color="tab:blue", ecolor="dimgray")
    axes[0].set_ylabel("WER (%)")
    axes[0].set_title("WER, 95% bootstrap interval")

    if len(speakers) > 1:
        width = 0.8 / len(decoders)
        for k, (kind, r) in enumerate(zip(decoders, results)):
            values = [100 * r.per_speaker[s].wer for s in speakers]
            bars = axes[1].bar([i + k * width for i in range(len(speakers))], values, width, label=kind)
            axes[1].bar_label(bars, fmt="%.0f", fontsize=7)
        axes[1].set_xticks([i + width * (len(decoders) - 1) / 2 for i in range(len(speakers))], speakers, rotation=45)
        axes[1].set_ylabel("WER (%)")
        axes[1].set_title("WER per speaker")
        axes[1].legend()

    if slots:
        by_slot = axes[-3]
        width = 0.8 / len(decoders)
        for k, (kind, r) in enumerate(zip(decoders, results)):
            values = [100 * e.rate for e in r.slots]
            by_slot.bar([i + k * width for i in range(len(slots))], values, width, label=kind)
        by_slot.set_xticks([i + width * (len(decoders) - 1) / 2 for i in range(len(slots))], slots, rotation=45)
        by_slot.set_ylabel("words read wrong (%)")
        by_slot.set_title(f"Errors by slot ({report.grammar} grammar)")
        by_slot.legend()

    best = min(results, key=lambda r: r.wer)
    shown = best.confusions[:10][::-1]
    confused = axes[-2]
    confused.barh([confusion_text(c) for c in shown], [c.count for c in shown], color="tab:red")
    confused.xaxis.set_major_locator(MaxNLocator(integer=True))
    confused.set_xlabel("count")
    confused.set_title(f"Most frequent errors ({decoders[results.index(best)]})")

    types = axes[-1]
    bottom = [0] * len(decoders)
    for kind_of_error in ("substitutions", "deletions", "insertions"):
        values = [getattr(r.words, kind_of_error) for r in results]
        bars = types.bar(decoders, values, bottom=bottom, label=kind_of_error)
        types.bar_label(bars, labels=[str(v) if v else "" for v in values], label_type="center")
        bottom = [b + v for b, v in zip(bottom, values)]
    types.set_ylabel("word errors")
    types.set_title("Error types")
    types.legend()
    fig.suptitle(f"{report.model_name}: {report.utterances} utterances of {Path(report.data).name}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(report: EvaluationReport) -> str:
    rows = [f"{'decoder':<10}{'WER (95% interval)':>26}{'CER':>9}{'sent.acc':>10}{'S':>6}{'D':>6}{'I':>6}"]
    for kind, r in report.decoders.items():
        w = r.words
        rows.append(
            f"{kind:<10}{_rate(r, 'wer'):>26}{r.cer:>9.2%}{r.sentence_accuracy:>10.2%}"
            f"{w.substitutions:>6}{w.deletions:>6}{w.insertions:>6}"
        )
    for kind, r in report.decoders.items():
        top = ", ".join(f"{confusion_text(c)} {c.count}" for c in r.confusions[:5])
        rows.append(f"{kind}: most frequent errors {top or 'none'}")
        if r.slots:
            rows.append(
                f"{kind}: errors by slot " + ", ".join(f"{e.slot} {e.rate:.1%} ({e.errors}/{e.words})" for e in r.slots)
            )
    for kind, r in report.decoders.items():
        if r.coverage:
            shares = ", ".join(f"{c.share:.0%} {c.wer:.2%}" for c in r.coverage)
            rows.append(f"{kind}: WER of the most confident {shares}; out_of_domain {r.out_of_domain_rate or 0.0:.1%}")
    t = report.timing
    if t.words:
        rows.append(
            f"word timings: {t.within_0_2_s:.1%} of {t.words} words within 0.2 s of the manifest's times "
            f"(median start error {t.median_start_error_s} s, end {t.median_end_error_s} s)"
        )
    return "\n".join(rows)
