"""Few-shot speaker adaptation: a personal model from a few minutes of one person's clips.

Lip shapes differ from face to face far more than the words they make, so a model that has seen
one speaker misreads the next; a short fine-tune on the new speaker's own clips closes most of
that gap. :func:`adapt` fine-tunes a base model on the clips of a dataset folder, measures WER
before and after on clips it held out (with the decoder ``transcribe`` uses), and writes a model
folder that keeps the base model's lexicon, language model, grammar and crop settings.

The choices a user cannot make (which layers, learning rate, epochs) come from
:func:`choose_settings`, by the number of clips; a plain training loop (no Lightning) keeps the
command quick to start and exactly reproducible for a seed.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from lipread.alignment import word_timings
from lipread.augment import Augment
from lipread.calibration import calibrate_folder
from lipread.clips import ClipDataset, PixelNorm, Utterance, check_crop_matches, collate, ids_in, read_dataset
from lipread.errors import UserError
from lipread.evaluate import model_outputs, read_utterances
from lipread.metrics import char_counts, word_counts
from lipread.objective import adamw, ctc_loss, freeze, keep_frozen_in_eval, kl_to_reference, warmup_cosine
from lipread.pretrained import CONFIG, Model, copy_decoding, decoding_defaults, load, save, weights_digest
from lipread.splice import with_spliced
from lipread.text import CharTokenizer, ctc_min_frames
from lipread.transcribe import Transcriber, default_model_path

log = logging.getLogger("lipread.adapt")

REPORT = "adapt_report.json"
PICTURE = "adapt_report.png"
#: Fewest clips to learn from, and to measure on, that make an adaptation worth reporting.
MIN_TRAIN_CLIPS, MIN_TEST_CLIPS = 4, 1
#: Without a test list, this share of the clips is held out to measure before and after.
TEST_SHARE = 0.4
LAYERS = ("all", "frontend", "backend", "norm")


@dataclass(frozen=True)
class AdaptSettings:
    """How a speaker is learnt. :func:`choose_settings` picks them from the amount of data.

    ``layers``: ``all`` trains everything; ``frontend`` only the visual front-end (the part that
    looks at lips); ``backend`` only the sequence model and head; ``norm`` only the scales and
    shifts of the normalisation layers. The defaults are what did best on 5 clips held out of 15
    GRID s4 clips (RESULTS.md, "Speaker adaptation"): a low learning rate over every layer. Word
    splicing and the KL pull towards the base did worse there and are off unless asked for.
    """

    layers: str = "all"
    lr: float = 1e-4
    epochs: int = 40
    batch_size: int = 8
    weight_decay: float = 0.01
    warmup_share: float = 0.1
    min_lr_ratio: float = 0.05
    flip: bool = True
    time_mask_frames: int = 10
    kl_weight: float = 0.0  # pull towards the base model's outputs (objective.kl_to_reference)
    spliced_per_clip: int = 0  # new sentences spliced from the clips' words, per clip and pass
    word_window_margin: float | None = 2.0  # alignment-constrained CTC where clips have word times
    seed: int = 0

    def __post_init__(self) -> None:
        if self.layers not in LAYERS:
            raise UserError(f"layers must be one of {', '.join(LAYERS)}, not {self.layers!r}")
        if not self.lr > 0 or self.kl_weight < 0 or self.spliced_per_clip < 0:
            raise UserError(f"the learning rate must be above 0 (got {self.lr:g}), the KL weight and spliced "
                            f"sentences per clip at least 0 (got {self.kl_weight:g}, {self.spliced_per_clip})")  # fmt: skip


def choose_settings(train_clips: int, **given) -> AdaptSettings:
    """Settings for ``train_clips`` clips: few clips get more passes (a fixed number of updates,
    about 120, keeps the time and the risk of over-fitting in bounds); ``given`` overrides."""
    chosen = replace(AdaptSettings(), **{k: v for k, v in given.items() if v is not None})
    batch = given.get("batch_size") or (8 if train_clips >= 8 else max(2, train_clips // 2))
    samples = train_clips * (1 + chosen.spliced_per_clip)
    epochs = given.get("epochs") or max(4, min(60, round(120 / math.ceil(samples / batch))))
    return replace(chosen, batch_size=batch, epochs=epochs)


@dataclass
class Scores:
    """Corpus WER and CER of one model on the held-out clips, with what it read."""

    wer: float
    cer: float
    readings: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"wer": round(self.wer, 4), "cer": round(self.cer, 4), "readings": self.readings}


@dataclass
class AdaptReport:
    """``MODEL_DIR/adapt_report.json``."""

    base: str
    base_digest: str
    dataset: str
    before: Scores
    after: Scores
    train_clips: int
    test_clips: int
    seconds: float
    settings: AdaptSettings
    train_ids: list[str]
    test_ids: list[str]
    losses: list[float]
    decoder: str
    device: str
    out_of_domain: dict = field(default_factory=dict)  # the adapted model's thresholds (see recalibrate)

    def to_json(self) -> dict:
        record = asdict(self)
        record["before"], record["after"] = self.before.to_json(), self.after.to_json()
        record["seconds"] = round(self.seconds, 1)
        record["losses"] = [round(x, 4) for x in self.losses]
        return record


def split_clips(utterances: list[Utterance], train_list: Path | None, test_list: Path | None,
                seed: int) -> tuple[list[Utterance], list[Utterance]]:  # fmt: skip
    """The clips to learn from and to measure on. Without lists, :data:`TEST_SHARE` of the clips
    (drawn with ``seed``) are held out; with one list, the other part is every clip not in it."""
    by_id = {u.id: u for u in utterances}

    def chosen(path: Path, option: str) -> list[Utterance]:
        return [by_id[i] for i in ids_in(path, by_id, "the dataset", option)]

    if train_list is None and test_list is None:
        order = sorted(by_id)
        random.Random(seed).shuffle(order)
        held = max(MIN_TEST_CLIPS, round(TEST_SHARE * len(order)))
        test_ids = set(order[:held])
        test = [u for u in utterances if u.id in test_ids]
    else:
        test = chosen(test_list, "--test-list") if test_list else []
    test_ids = {u.id for u in test}
    if train_list is not None:
        train = chosen(train_list, "--train-list")
        if test_list is None:
            test = [u for u in utterances if u.id not in {t.id for t in train}]
    else:
        train = [u for u in utterances if u.id not in test_ids]
    overlap = sorted({u.id for u in train} & {u.id for u in test})
    if overlap:
        raise UserError(f"{len(overlap)} clips are in both the train and the test list (e.g. {overlap[0]}): "
                        "a held-out WER must come from clips the model did not learn from")  # fmt: skip
    return train, test


def usable_utterances(dataset: Path, tokenizer: CharTokenizer) -> tuple[list[Utterance], str]:
    """The dataset's clips that CTC can learn from, and a note of what was left out and why."""
    folder = read_dataset(dataset)
    utterances = [Utterance.from_entry(e, folder.root, tokenizer) for e in folder.entries]
    short = [u for u in utterances if u.num_frames < ctc_min_frames(u.labels)]
    rejected = _count_lines(folder.root / "rejected.jsonl")
    notes = [f"{len(short)} too short for their transcript"] if short else []
    if rejected:
        notes.append(f"{rejected} rejected in prep (see {folder.root / 'rejected.jsonl'})")
    return [u for u in utterances if u not in short], "; ".join(notes)


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.is_file() else 0


def check_enough(train: list[Utterance], test: list[Utterance], dataset: Path, notes: str) -> None:
    if len(train) >= MIN_TRAIN_CLIPS and len(test) >= MIN_TEST_CLIPS:
        return
    why = f" ({notes})" if notes else ""
    raise UserError(
        f"{dataset}: too few usable clips to adapt on: {len(train)} to learn from and {len(test)} to test on{why}; "
        f"adapting needs at least {MIN_TRAIN_CLIPS} and {MIN_TEST_CLIPS}. Record more sentences of the speaker "
        "(a minute of video, 15-20 sentences, is a good start) and prep them into the same folder."
    )


def score(transcriber: Transcriber, test: list[Utterance], decoder: str, desc: str) -> Scores:
    readings = read_utterances(transcriber, test, decoder, desc=desc)
    refs = [u.text for u in test]
    hyps = [readings[u.id] for u in test]
    return Scores(word_counts(refs, hyps).rate, char_counts(refs, hyps).rate, readings)


def train_speaker(model: Model, train: list[Utterance], settings: AdaptSettings, device: torch.device,
                  on_step: Callable[[int, int, float], None] | None = None) -> list[float]:  # fmt: skip
    """Fine-tune ``model`` in place on ``train``; returns the mean loss of each epoch.

    ``on_step(step, total, loss)`` after every update (the server's progress)."""
    card = model.card
    torch.manual_seed(settings.seed)  # weights, augmentation draws and batch order all follow it
    augment = Augment(card.input_size, settings.flip, settings.time_mask_frames, fps=card.fps)
    clips = ClipDataset(train, card.channels, card.input_size, augment, cache=True,
                        word_window_margin=settings.word_window_margin, norm=PixelNorm.of(card))  # fmt: skip
    loader = DataLoader(with_spliced(clips, settings.spliced_per_clip), batch_size=settings.batch_size, shuffle=True, collate_fn=collate,
                        generator=torch.Generator().manual_seed(settings.seed))  # fmt: skip
    frozen = frozen_prefixes(model, settings.layers)
    freeze(model, frozen)
    optimizer = adamw(model, settings.lr, settings.weight_decay)
    total = settings.epochs * len(loader)
    warmup = int(total * settings.warmup_share)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, warmup, total, settings.min_lr_ratio)
    )
    model.to(device)
    reference = copy.deepcopy(model).eval() if settings.kl_weight else None
    losses: list[float] = []
    step = 0
    with tqdm(total=total, desc="adapt", unit="step") as bar:
        for _ in range(settings.epochs):
            model.train()
            keep_frozen_in_eval(model, frozen)
            epoch_losses = []
            for batch in loader:
                batch = batch.to(device)
                log_probs = model(batch.video, batch.lengths)
                loss = ctc_loss(log_probs, batch, model.tokenizer.blank, windows=True)
                if reference is not None:
                    with torch.no_grad():
                        base = reference(batch.video, batch.lengths)
                    loss = loss + settings.kl_weight * kl_to_reference(log_probs, base, batch.lengths)
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"non-finite CTC loss on {batch.ids}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                step += 1
                epoch_losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}")
                if on_step:
                    on_step(step, total, loss.item())
            losses.append(sum(epoch_losses) / len(epoch_losses))
    for p in model.parameters():
        p.requires_grad_(True)
    return losses.copy()


def with_word_times(transcriber: Transcriber, utterances: list[Utterance]) -> list[Utterance]:
    """Clips whose manifest has no word times get them by forced alignment of their transcript
    with the base model, so that their words can be spliced into new sentences."""
    missing = {u.id for u in utterances if u.spans is None}
    if not missing:
        return utterances
    found: dict[str, list[tuple[float, float]]] = {}
    fps = transcriber.card.fps
    tokenizer = transcriber.model.tokenizer
    chosen = [u for u in utterances if u.id in missing]
    for batch, log_probs, _ in model_outputs(transcriber, chosen, desc="aligning words"):
        for uid, text, lp, n in zip(batch.ids, batch.texts, log_probs, batch.lengths.tolist()):
            words = word_timings(lp[:n], text, tokenizer, fps)
            if len(words) == len(text.split()):
                found[uid] = [(w.start * fps, w.end * fps) for w in words]
    return [replace(u, spans=found.get(u.id, u.spans)) for u in utterances]


def frozen_prefixes(model: Model, layers: str) -> tuple[str, ...]:
    """Parameter-name prefixes that stay fixed when only ``layers`` learn."""
    frontend = getattr(model.model, "FRONTEND", ())
    if layers == "all":
        return ()
    if layers == "norm":  # only the normalisation layers' scales and shifts learn
        norms = {n for n, m in model.named_modules() if isinstance(m, torch.nn.modules.batchnorm._NormBase)}
        return tuple(n for n, _ in model.named_parameters() if n.rsplit(".", 1)[0] not in norms)
    if not frontend:
        raise UserError(f"a {model.card.arch} model names no front-end; adapt it with layers 'all'")
    parts = [name for name, _ in model.model.named_children()]
    keep = [p for p in parts if p not in frontend] if layers == "frontend" else list(frontend)
    return tuple(f"model.{p}" for p in keep)


def adapt(dataset: Path, out: Path, base: Path | None = None, train_list: Path | None = None,
          test_list: Path | None = None, device: str = "cpu",
          grammar: str | None = "default", decoder: str = "beam",
          progress: Callable[[str, int, int], None] | None = None, **chosen) -> AdaptReport:  # fmt: skip
    """Fine-tune ``base`` (the shipped model by default) on ``dataset``'s speaker into model folder
    ``out``; WER before and after on the held-out clips. ``chosen`` overrides
    :func:`choose_settings` (``layers``, ``lr``, ``epochs``, ``batch_size``, ``seed``).
    ``progress(stage, done, total)`` hears of each stage and each training step (the server's page)."""
    progress = progress or (lambda stage, done, total: None)
    start = time.perf_counter()
    base = Path(base or default_model_path())
    out = Path(out)
    if out.resolve() == base.resolve():
        raise UserError(f"--out {out} is the base model's folder: adapting never overwrites its base")
    if out.exists() and any(out.iterdir()) and not (out / CONFIG).is_file():
        raise UserError(f"--out {out} is a folder with other files in it; give a new or a model folder")
    before_model = Transcriber.from_checkpoint(base, device, grammar)
    card = before_model.card
    folder_crop = read_dataset(dataset).crop
    check_crop_matches(card.crop, folder_crop, str(dataset), card.name)
    utterances, notes = usable_utterances(dataset, before_model.model.tokenizer)
    train, test = split_clips(utterances, train_list, test_list, chosen.get("seed") or 0)
    check_enough(train, test, dataset, notes)
    settings = choose_settings(len(train), **chosen)
    log.info("adapting %s on %d clips of %s, measuring on %d held out; %s", card.name, len(train), dataset,
             len(test), ", ".join(f"{k} {v}" for k, v in asdict(settings).items()))  # fmt: skip
    progress("measuring before", 0, 1)
    before = score(before_model, test, decoder, "WER before")
    model = load(base)
    if settings.spliced_per_clip:  # splicing needs word times; without it, the manifest's are enough
        train = with_word_times(before_model, train)
    progress("adapting", 0, 1)
    losses = train_speaker(model, train, settings, before_model.device,
                           on_step=lambda step, total, loss: progress("adapting", step, total))  # fmt: skip
    speakers = sorted({u.speaker for u in train})
    adapted_card = card.replace(
        name=f"{card.name}+{'+'.join(speakers)}",
        training={**card.training, "adapted": {"from": card.name, "base_digest": weights_digest(base),
                                               "clips": len(train), **asdict(settings)}},
    )  # fmt: skip
    save(adapted_card, model.state_dict(), out)
    copy_decoding(base, out)
    after_model = Transcriber.from_checkpoint(out, device, grammar)  # what every command will load
    progress("measuring after", 0, 1)
    after = score(after_model, test, decoder, "WER after")
    progress("calibrating", 0, 1)
    out_of_domain = recalibrate(base, out, test, speakers, device)
    report = AdaptReport(
        base=str(base), base_digest=weights_digest(base), dataset=str(dataset), before=before, after=after,
        train_clips=len(train), test_clips=len(test), seconds=time.perf_counter() - start, settings=settings,
        train_ids=[u.id for u in train], test_ids=[u.id for u in test], losses=losses, decoder=decoder,
        device=str(before_model.device), out_of_domain=out_of_domain,
    )  # fmt: skip
    (out / REPORT).write_text(json.dumps(report.to_json(), indent=1))
    draw_report(report, out / PICTURE)
    return report


def recalibrate(base: Path, out: Path, test: list[Utterance], speakers: list[str], device: str) -> dict:
    """The adapted folder's out-of-domain thresholds, measured on the held-out clips of its speaker,
    from the base model's up to a few times them. The base's come from its own speaker's validation
    clips: left as they are, a personal model calls most of its own speaker's video out of domain
    (8 of 10 held-out GRID s4 clips, RESULTS.md). The rest it expects around a phrase is measured on
    them too. For the report: the thresholds, how many held-out clips the base's and the new ones
    call out of domain, and the rest."""
    source = f"{len(test)} held-out clips of {'+'.join(speakers)}"
    done = calibrate_folder(out, test, source, device, base=decoding_defaults(base).calibration)
    return {"thresholds": done.calibration.to_json(), "held_out_flagged": done.flagged_after,
            "held_out_flagged_by_base_thresholds": done.flagged_before, "rest_frames": done.rest_frames}  # fmt: skip


def draw_report(report: AdaptReport, path: Path) -> None:
    """The adaptation at a glance (``adapt_report.png``): training loss by epoch, and held-out WER and
    CER before and after."""
    from matplotlib.figure import Figure  # no pyplot: nothing global, so any thread may draw

    fig = Figure(figsize=(9, 3.5))
    losses, scores = fig.subplots(1, 2)
    losses.plot(range(1, len(report.losses) + 1), report.losses)
    losses.set(xlabel="epoch", ylabel="CTC loss (epoch mean)", title=f"Training on {report.train_clips} clips")
    losses.grid(alpha=0.3)
    names = ["WER", "CER"]
    for k, (label, s) in enumerate((("before (base)", report.before), ("after (adapted)", report.after))):
        bars = scores.bar([i + 0.38 * k for i in range(2)], [100 * s.wer, 100 * s.cer], 0.38, label=label)
        scores.bar_label(bars, fmt="%.1f%%", fontsize=8)
    scores.set_xticks([0.19, 1.19], names)
    scores.set(ylabel="%", title=f"{report.test_clips} held-out clips ({report.decoder} decoder)")
    scores.legend()
    fig.suptitle(f"{report.base} adapted on {report.dataset}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
