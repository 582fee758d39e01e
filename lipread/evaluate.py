"""Corpus-level WER/CER of a model on a dataset folder, per decoder and per speaker, with the
most frequent confusions, errors per grammar slot and the worst utterances, as terminal table,
JSON, Markdown and a PNG chart."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from data_prep.contracts import Batch, ContractError
from lipread import __version__
from lipread.alignment import timing_errors, timing_summary
from lipread.clips import (
    ClipDataset,
    DatasetFolder,
    PixelNorm,
    Utterance,
    check_crop_matches,
    collate,
    ids_in,
    read_dataset,
)
from lipread.confidence import Assessment
from lipread.evaluation_report import CoverageRow, DecoderResult, EvaluationReport, SpeakerRates, WorstUtterance
from lipread.grammar import Grammar
from lipread.metrics import (
    ErrorCounts,
    bootstrap_interval,
    char_counts,
    confusions,
    slot_errors,
    word_alignment,
    word_counts,
)
from lipread.pretrained import Model, load, weights_digest
from lipread.text import CharTokenizer
from lipread.transcribe import CONFIDENCE_N_BEST, Transcriber, default_model_path

log = logging.getLogger("lipread.evaluate")


def score(ids: list[str], speakers: list[str], refs: list[str], hyps: list[str], worst: int = 10,
          confidences: list[float] | None = None, flags: list[bool] | None = None,
          grammar: Grammar | None = None) -> DecoderResult:  # fmt: skip
    """Corpus WER/CER, sentence accuracy, error types, the most frequent word confusions, per
    speaker, the worst utterances, (with ``confidences``) the WER of the most confident 50%, 80%
    and 100% of utterances, and (with a slot ``grammar``) the error rate of each slot."""
    words, chars = word_counts(refs, hyps), char_counts(refs, hyps)
    by_speaker: dict[str, list[int]] = defaultdict(list)
    for i, spk in enumerate(speakers):
        by_speaker[spk].append(i)
    per_speaker = {}
    for spk in sorted(by_speaker):
        idx = by_speaker[spk]
        r, h = [refs[i] for i in idx], [hyps[i] for i in idx]
        per_speaker[spk] = SpeakerRates(len(idx), word_counts(r, h).rate, char_counts(r, h).rate)
    per_words = [word_counts([r], [h]) for r, h in zip(refs, hyps)]
    per_chars = [char_counts([r], [h]) for r, h in zip(refs, hyps)]
    ranked = sorted((-c.errors, ids[i], i) for i, c in enumerate(per_words) if c.errors)
    return DecoderResult(
        wer=words.rate,
        wer_ci95=bootstrap_interval([c.errors for c in per_words], [c.reference_length for c in per_words]),
        cer=chars.rate,
        cer_ci95=bootstrap_interval([c.errors for c in per_chars], [c.reference_length for c in per_chars]),
        sentence_accuracy=sum(r == h for r, h in zip(refs, hyps)) / max(1, len(refs)),
        words=words,
        chars=chars,
        confusions=confusions(refs, hyps),
        slots=slot_errors(refs, hyps, grammar) if grammar and grammar.slots else [],
        per_speaker=per_speaker,
        worst=[
            WorstUtterance(ids[i], per_words[i].errors, refs[i], hyps[i], word_alignment(refs[i], hyps[i]))
            for _, _, i in ranked[:worst]
        ],  # fmt: skip
        coverage=coverage(per_words, confidences) if confidences else [],
        out_of_domain_rate=sum(flags) / len(flags) if flags else None,
    )


def coverage(per_words: list[ErrorCounts], confidences: list[float], shares=(0.5, 0.8, 1.0)) -> list[CoverageRow]:
    """WER of the most confident share of utterances, for each share: what a confidence threshold buys."""
    ranked = sorted(range(len(per_words)), key=lambda i: -confidences[i])
    out = []
    for share in shares:
        kept = ranked[: max(1, round(share * len(ranked)))]
        errors = sum(per_words[i].errors for i in kept)
        words = sum(per_words[i].reference_length for i in kept)
        out.append(CoverageRow(share, len(kept), errors / max(1, words), round(min(confidences[i] for i in kept), 4)))
    return out


def evaluate(checkpoint: Path | None, data: Path, split: Path | None, decoders: list[str], batch_size: int = 16,
             workers: int = 2, worst: int = 10, beam: dict | None = None, device: str | None = None,
             grammar: str | None = "default", vocabulary: list[str] | None = None,
             on_outputs: Callable[[torch.Tensor, list[int]], None] | None = None,
             model: Model | None = None) -> EvaluationReport:  # fmt: skip
    """``grammar`` and ``vocabulary`` as for :meth:`Transcriber.from_checkpoint` (they shape ``beam``);
    ``on_outputs(log_probs, lengths)`` sees each batch's model outputs too (calibration reads them);
    ``model``: the checkpoint's model, when the caller has loaded it already."""
    model_path = Path(checkpoint or default_model_path())
    transcriber = Transcriber.for_model(model or load(model_path), model_path, device, grammar, vocabulary)
    model, card, device = transcriber.model, transcriber.card, transcriber.device
    folder = read_dataset(data)
    check_crop_matches(card.crop, folder.crop, str(folder.root), card.name)
    utterances = select_utterances(folder, split)
    options = card.decoder.replace(**(beam or {}))
    transcriber.beam = options
    spans = {u.id: u.spans for u in utterances}
    speaker_of = {u.id: u.speaker for u in utterances}
    ids, speakers, refs, timing = [], [], [], []
    hyps: dict[str, list[str]] = {k: [] for k in decoders}
    judged: dict[str, list] = {k: [] for k in decoders}
    seconds = {k: 0.0 for k in decoders}
    model_seconds = 0.0
    start = time.perf_counter()
    for batch, log_probs, took in model_outputs(transcriber, utterances, batch_size, workers):
        model_seconds += took
        if on_outputs is not None:
            on_outputs(log_probs, batch.lengths.tolist())
        for kind in decoders:
            clock = time.perf_counter()
            for i, n in enumerate(batch.lengths.tolist()):
                best, assessment = transcriber.read_window(log_probs[i, :n], kind, CONFIDENCE_N_BEST)
                hyps[kind].append(best[0].text)
                judged[kind].append(assessment)
            seconds[kind] += time.perf_counter() - clock
        for i, (uid, text) in enumerate(zip(batch.ids, batch.texts)):
            if spans[uid]:  # the reference transcript force-aligned, against the manifest's word times
                timing += timing_errors(log_probs[i, : batch.lengths[i]], text, spans[uid], model.tokenizer, card.fps)
        ids += batch.ids
        refs += batch.texts
        speakers += [speaker_of[u] for u in batch.ids]
    total = time.perf_counter() - start
    results = {}
    for kind in decoders:
        result = score(ids, speakers, refs, hyps[kind], worst, [a.confidence for a in judged[kind]],
                       [a.out_of_domain for a in judged[kind]], transcriber.grammar)  # fmt: skip
        results[kind] = replace(result, decode_seconds=round(seconds[kind] + model_seconds, 2))
    return EvaluationReport(
        model=str(model_path),
        model_name=card.name,
        model_digest=weights_digest(Path(model_path)),
        lipread_version=__version__,
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        data=str(data),
        split=str(split) if split else None,
        utterances=len(ids),
        seconds=round(total, 2),
        utterances_per_second=round(len(ids) / total, 2) if total else None,
        device=str(device),
        beam_options=options.to_json(),
        grammar=transcriber.grammar.name if transcriber.grammar is not None else None,
        vocabulary_words=len(vocabulary) if vocabulary else None,
        timing=timing_summary(timing),
        decoders=results,
        references=dict(zip(ids, refs)),  # so that two reports compare without their dataset
        hypotheses={k: dict(zip(ids, v)) for k, v in hyps.items()},
    )


def model_outputs(transcriber: Transcriber, utterances: list[Utterance], batch_size: int = 16, workers: int = 0,
                  desc: str = "evaluate") -> Iterator[tuple[Batch, torch.Tensor, float]]:  # fmt: skip
    """The model's log-probabilities over utterances' clips, a batch at a time (on the CPU), with
    the seconds the model took: what every decoder then reads."""
    card = transcriber.card
    dataset = ClipDataset(utterances, card.channels, card.input_size, norm=PixelNorm.of(card))
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate)
    with torch.no_grad():
        for batch in tqdm(loader, desc=desc, unit="batch", leave=False):
            clock = time.perf_counter()
            log_probs = transcriber.model(batch.video.to(transcriber.device), batch.lengths.to(transcriber.device))
            yield batch, log_probs.cpu(), time.perf_counter() - clock


def read_utterances(transcriber: Transcriber, utterances: list[Utterance], decoder: str = "beam",
                    batch_size: int = 16, desc: str = "evaluate") -> dict[str, str]:  # fmt: skip
    """Each utterance's best reading by one decoder, by id (what ``transcribe`` would say of its clip)."""
    readings = {}
    for batch, log_probs, _ in model_outputs(transcriber, utterances, batch_size, desc=desc):
        for uid, lp, n in zip(batch.ids, log_probs, batch.lengths.tolist()):
            readings[uid] = transcriber.decoder(decoder).n_best(lp[:n], 1)[0].text
    return readings


def read_and_assess(transcriber: Transcriber, utterances: list[Utterance], decoder: str = "beam",
                    desc: str = "assess") -> dict[str, tuple[str, Assessment]]:  # fmt: skip
    """Each utterance's best reading and its assessment (confidence, out-of-domain measures), by id:
    what out-of-domain thresholds are calibrated on."""
    return read_and_assess_each([transcriber], utterances, decoder, desc)[0]


def read_and_assess_each(transcribers: list[Transcriber], utterances: list[Utterance], decoder: str = "beam",
                         desc: str = "assess") -> list[dict[str, tuple[str, Assessment]]]:  # fmt: skip
    """:func:`read_and_assess` for several transcribers of one model (a grammar and the lexicon, say):
    the model runs once, and each reads its outputs."""
    outs: list[dict[str, tuple[str, Assessment]]] = [{} for _ in transcribers]
    for batch, log_probs, _ in model_outputs(transcribers[0], utterances, desc=desc):
        for uid, lp, n in zip(batch.ids, log_probs, batch.lengths.tolist()):
            for transcriber, out in zip(transcribers, outs):
                hyps, assessment = transcriber.read_window(lp[:n], decoder, CONFIDENCE_N_BEST)
                out[uid] = (hyps[0].text, assessment)
    return outs


def select_utterances(folder: DatasetFolder, split: Path | None) -> list[Utterance]:
    """The split's utterances (all without one) that CTC can score; the others are named in a warning."""
    tokenizer = CharTokenizer()
    by_id = {e.id: e for e in folder.entries}
    ids = ids_in(split, by_id, str(folder.root), "--split") if split else list(by_id)
    chosen = [Utterance.from_entry(by_id[i], folder.root, tokenizer) for i in ids]
    if not chosen:
        raise ContractError(f"no utterances to evaluate in {folder.root}")  # a split's were checked by ids_in
    return chosen
