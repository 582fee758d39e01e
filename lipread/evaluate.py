"""Corpus-level WER/CER of a model on a dataset folder, per decoder and
per speaker, with the worst utterances, as terminal table, JSON, Markdown and a PNG chart."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from pathlib import Path

import jiwer
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from data_prep.contracts import ContractError
from lipread.alignment import timing_errors, timing_summary
from lipread.cli_options import resolve_device
from lipread.clips import ClipDataset, DatasetFolder, Utterance, check_crop_matches, collate, read_dataset, read_id_list
from lipread.decoding import build_decoder
from lipread.metrics import char_counts, word_counts
from lipread.pretrained import load
from lipread.text import CharTokenizer
from lipread.transcribe import default_model_path

log = logging.getLogger("lipread.evaluate")


def score(ids: list[str], speakers: list[str], refs: list[str], hyps: list[str], worst: int = 10) -> dict:
    """Corpus WER/CER, sentence accuracy, error types, per speaker, and the worst utterances."""
    words, chars = word_counts(refs, hyps), char_counts(refs, hyps)
    by_speaker: dict[str, list[int]] = defaultdict(list)
    for i, spk in enumerate(speakers):
        by_speaker[spk].append(i)
    per_speaker = {}
    for spk in sorted(by_speaker):
        idx = by_speaker[spk]
        r, h = [refs[i] for i in idx], [hyps[i] for i in idx]
        per_speaker[spk] = {
            "utterances": len(idx),
            "wer": word_counts(r, h).rate,
            "cer": char_counts(r, h).rate,
        }
    errors = []
    for i, (r, h) in enumerate(zip(refs, hyps)):
        c = word_counts([r], [h])
        n = c.substitutions + c.deletions + c.insertions
        if n:
            errors.append((n, i))
    errors.sort(key=lambda x: (-x[0], ids[x[1]]))
    worst_list = []
    for n, i in errors[:worst]:
        aligned = jiwer.visualize_alignment(jiwer.process_words(refs[i], hyps[i]), show_measures=False)
        worst_list.append(
            {"id": ids[i], "errors": n, "reference": refs[i], "hypothesis": hyps[i], "alignment": aligned.strip()}
        )
    return {
        "wer": words.rate,
        "cer": chars.rate,
        "sentence_accuracy": sum(r == h for r, h in zip(refs, hyps)) / max(1, len(refs)),
        "words": words.to_json(),
        "chars": chars.to_json(),
        "per_speaker": per_speaker,
        "worst": worst_list,
    }


def evaluate(checkpoint: Path | None, data: Path, split: Path | None, decoders: list[str], batch_size: int = 16,
             workers: int = 2, worst: int = 10, beam: dict | None = None, device: str | None = None) -> dict:  # fmt: skip
    model_path = checkpoint or default_model_path()
    model = load(model_path)
    card = model.card
    device = resolve_device(device)
    model.to(device)
    folder = read_dataset(data)
    check_crop_matches(card.crop, folder.crop, str(folder.root), card.name)
    utterances = select_utterances(folder, split)
    dataset = ClipDataset(
        utterances, card.channels, card.input_size, pixel_mean=card.pixel_mean, pixel_std=card.pixel_std
    )
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    options = card.decoder.replace(**(beam or {}))
    built = {kind: build_decoder(kind, model.tokenizer, card, options) for kind in decoders}
    spans = {u.id: u.spans for u in utterances}
    speaker_of = {u.id: u.speaker for u in utterances}
    ids, speakers, refs, timing = [], [], [], []
    hyps: dict[str, list[str]] = {k: [] for k in decoders}
    seconds = {k: 0.0 for k in decoders}
    model_seconds = 0.0
    start = time.perf_counter()
    with torch.no_grad():
        for batch in tqdm(loader, desc="evaluate", unit="batch"):
            clock = time.perf_counter()
            log_probs = model(batch.video.to(device), batch.lengths.to(device)).cpu()
            model_seconds += time.perf_counter() - clock
            for kind, decode in built.items():
                clock = time.perf_counter()
                hyps[kind] += decode(log_probs, batch.lengths)
                seconds[kind] += time.perf_counter() - clock
            for i, (uid, text) in enumerate(zip(batch.ids, batch.texts)):
                if spans[uid]:  # the reference transcript force-aligned, against the manifest's word times
                    timing += timing_errors(
                        log_probs[i, : batch.lengths[i]], text, spans[uid], model.tokenizer, card.fps
                    )
            ids += batch.ids
            refs += batch.texts
            speakers += [speaker_of[u] for u in batch.ids]
    total = time.perf_counter() - start
    report = {
        "model": str(model_path),
        "model_name": card.name,
        "data": str(data),
        "split": str(split) if split else None,
        "utterances": len(ids),
        "seconds": round(total, 2),
        "utterances_per_second": round(len(ids) / total, 2) if total else None,
        "device": str(device),
        "beam_options": options.to_json(),
        "timing": timing_summary(timing),
        "decoders": {},
        "hypotheses": {k: dict(zip(ids, v)) for k, v in hyps.items()},
    }
    for kind in decoders:
        report["decoders"][kind] = score(ids, speakers, refs, hyps[kind], worst)
        report["decoders"][kind]["decode_seconds"] = round(seconds[kind] + model_seconds, 2)
    return report


def select_utterances(folder: DatasetFolder, split: Path | None) -> list[Utterance]:
    """The split's utterances (all without one) that CTC can score; the others are named in a warning."""
    tokenizer = CharTokenizer()
    by_id = {e.id: e for e in folder.entries}
    ids = read_id_list(split) if split else list(by_id)
    missing = [i for i in ids if i not in by_id]
    if missing:
        log.warning(
            "%d ids of %s are not in %s (rejected in prep?), e.g. %s", len(missing), split, folder.root, missing[:3]
        )
    chosen = [Utterance.from_entry(by_id[i], folder.root, tokenizer) for i in ids if i in by_id]
    if not chosen:
        raise ContractError(f"no utterances of {split or folder.root} to evaluate in {folder.root}")
    return chosen


def markdown(report: dict) -> str:
    lines = [
        f"# Evaluation: {Path(report['model']).name} on {report['data']}",
        "",
        f"Split: `{report['split'] or 'all'}`, {report['utterances']} utterances, corpus-level rates (jiwer).",
        "",
        "| decoder | WER | CER | sentence acc. | subs | dels | ins | words |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in report["decoders"].items():
        w = r["words"]
        lines.append(
            f"| {kind} | {r['wer']:.2%} | {r['cer']:.2%} | {r['sentence_accuracy']:.2%} | "
            f"{w['substitutions']} | {w['deletions']} | {w['insertions']} | {w['reference_length']} |"
        )
    t = report.get("timing", {})
    if t.get("words"):
        lines += [
            "",
            (
                f"Word timings (reference force-aligned, {t['words']} words against the manifest's times): "
                f"{t['within_0_1_s']:.1%} within 0.1 s, {t['within_0_2_s']:.1%} within 0.2 s (start and end); "
                f"median error: start {t['median_start_error_s']} s, end {t['median_end_error_s']} s."
            ),
        ]
    lines += [
        "",
        "## Per speaker (WER)",
        "",
        "| speaker | utterances | " + " | ".join(report["decoders"]) + " |",
        "|---|---|" + "---|" * len(report["decoders"]),
    ]
    first = next(iter(report["decoders"].values()))
    for spk, row in first["per_speaker"].items():
        rates = " | ".join(f"{r['per_speaker'][spk]['wer']:.2%}" for r in report["decoders"].values())
        lines.append(f"| {spk} | {row['utterances']} | {rates} |")
    for kind, r in report["decoders"].items():
        lines += ["", f"## Worst utterances ({kind})", ""]
        for item in r["worst"]:
            lines += [f"`{item['id']}` ({item['errors']} errors)", "```", item["alignment"], "```"]
    return "\n".join(lines) + "\n"


def chart(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    decoders = list(report["decoders"])
    speakers = list(report["decoders"][decoders[0]]["per_speaker"])
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / len(decoders)
    for k, kind in enumerate(decoders):
        values = [100 * report["decoders"][kind]["per_speaker"][s]["wer"] for s in speakers]
        ax1.bar([i + k * width for i in range(len(speakers))], values, width, label=kind)
    ax1.set_xticks([i + width * (len(decoders) - 1) / 2 for i in range(len(speakers))], speakers, rotation=45)
    ax1.set_ylabel("WER (%)")
    ax1.set_title("WER per speaker")
    ax1.legend()
    bottom = [0.0] * len(decoders)
    for kind_of_error in ("substitutions", "deletions", "insertions"):
        values = [report["decoders"][d]["words"][kind_of_error] for d in decoders]
        ax2.bar(decoders, values, bottom=bottom, label=kind_of_error)
        bottom = [b + v for b, v in zip(bottom, values)]
    ax2.set_ylabel("word errors")
    ax2.set_title("Error types")
    ax2.legend()
    fig.suptitle(f"{Path(report['model']).name}: {report['utterances']} utterances")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def table(report: dict) -> str:
    rows = [f"{'decoder':<12}{'WER':>9}{'CER':>9}{'sent.acc':>10}{'S':>6}{'D':>6}{'I':>6}"]
    for kind, r in report["decoders"].items():
        w = r["words"]
        rows.append(
            f"{kind:<12}{r['wer']:>9.2%}{r['cer']:>9.2%}{r['sentence_accuracy']:>10.2%}"
            f"{w['substitutions']:>6}{w['deletions']:>6}{w['insertions']:>6}"
        )
    t = report.get("timing", {})
    if t.get("words"):
        rows.append(
            f"word timings: {t['within_0_2_s']:.1%} of {t['words']} words within 0.2 s of the manifest's times "
            f"(median start error {t['median_start_error_s']} s, end {t['median_end_error_s']} s)"
        )
    return "\n".join(rows)
