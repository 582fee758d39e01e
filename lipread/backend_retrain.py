"""Retraining a LipNet's sequence model (its back-end) on cached front-end features, on a CPU.

The 3D-conv front-end is most of a LipNet's compute. With it frozen, its output for every training
clip (a few views of each: centred, flipped, shifted crops) is computed once and kept in memory, and
the back-end (GRU or temporal convolutions, and the CTC head) then trains for dozens of epochs in
minutes on two cores. Word splicing (:mod:`lipread.splice`) works on features as it does on
frames, since the front-end sees only a few frames either side of each one: every pass adds new
sentences made of real word segments, so each GRID letter is seen in far more contexts than the
~28 fixed sentences that hold it, and the sequence model cannot learn letters from their context.
On GRID s1, though, more passes over the real clips did better than splicing (RESULTS.md), so
splicing is off by default.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from lipread.augment import CUT_JITTER, centre_crop, cut_to_run, join_sentences, time_mask_spans
from lipread.clips import ClipDataset, PixelNorm, Utterance, pad_windows, to_model_input
from lipread.errors import UserError
from lipread.joined_clips import JoinPartners
from lipread.metrics import word_counts
from lipread.objective import adamw, ctc_loss, freeze, keep_frozen_in_eval, warmup_cosine
from lipread.pretrained import Model
from lipread.splice import splice
from lipread.text import CharTokenizer
from lipread.word_windows import allowed_classes

log = logging.getLogger("lipread.backend_retrain")

Spans = list[tuple[float, float]]


@dataclass(frozen=True)
class BackendSettings:
    """How the back-end is retrained. The defaults are the run that did best on GRID s1_val
    (RESULTS.md, "Stage 5"): many passes over the real clips beat spliced sentences there, but a
    corpus with fewer clips per word may still gain from splicing."""

    epochs: int = 120
    lr: float = 1e-3
    batch_size: int = 32
    spliced_per_clip: float = 0.0  # spliced sentences per real clip and pass
    views: int = 4  # feature views per clip: centred, flipped, then random shifts (flipped at random)
    channel_dropout: float = 0.5  # the front-end's own Dropout3d, applied to the cached features
    time_mask_frames: int = 0  # a mask of up to this many frames a second (the clip's mean features)
    cut_words: float = 0.0  # share of clips cut to a random run of their words (lipread.augment.word_run)
    joined: float = 0.0  # share of clips followed by another's words after a short rest (lipread.joined_clips)
    word_window_margin: float | None = 2.0  # alignment-constrained CTC (frames), as in training
    weight_decay: float = 0.01
    warmup_share: float = 0.05
    min_lr_ratio: float = 0.02
    seed: int = 1


@dataclass
class FeatureBank:
    """Front-end features of a set of clips: ``features[i]`` is (views, T, F) float16."""

    ids: list[str]
    texts: list[str]
    spans: list[Spans | None]
    features: list[torch.Tensor]
    channels: int  # the front-end's output channels (F = channels x positions): what channel dropout drops
    speakers: list[str] | None = None  # (None in caches made before joined sentences: one speaker)

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class FeatureBatch:
    """Padded features with their CTC labels: :class:`~data_prep.contracts.Batch`'s label fields."""

    features: torch.Tensor  # (B, T, F)
    lengths: torch.Tensor
    labels: torch.Tensor
    label_lengths: torch.Tensor
    allowed: torch.Tensor | None = None


@dataclass
class EvalPoint:
    """Validation WER after ``epoch`` epochs, by decoder."""

    epoch: int
    loss: float
    wer: dict[str, float] = field(default_factory=dict)


def lipnet_of(model: Model) -> nn.Module:
    net = model.model
    if not hasattr(net, "visual_features"):
        raise UserError(f"back-end retraining needs a LipNet; {model.card.arch} has no separate front-end features")
    return net


def crop_views(frames: np.ndarray, size: int, views: int, rng: np.random.Generator) -> list[np.ndarray]:
    """The centred crop, its mirror image, then ``views - 2`` random crops (each flipped at random)."""
    centred = centre_crop(frames, size)
    out = [centred, centred[:, :, ::-1]][:views]
    h, w = frames.shape[1:3]
    while len(out) < views:
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        crop = frames[:, top : top + size, left : left + size]
        out.append(crop[:, :, ::-1] if rng.integers(0, 2) else crop)
    return out


@torch.no_grad()
def build_bank(
    model: Model, utterances: list[Utterance], views: int, seed: int = 0, desc: str = "features"
) -> FeatureBank:
    """Each clip's front-end features for ``views`` crops, the model in eval mode."""
    net = lipnet_of(model).eval()
    card = model.card
    clips = ClipDataset(utterances, card.channels, card.input_size)
    norm = PixelNorm.of(card)
    rng = np.random.default_rng(seed)
    features = []
    for i in tqdm(range(len(utterances)), desc=desc, unit="clip"):
        crops = crop_views(clips.frames(i), card.input_size, views, rng)
        video = torch.stack([to_model_input(c, card.channels, norm) for c in crops])
        lengths = torch.full((len(crops),), video.shape[2])
        features.append(net.visual_features(video, lengths).half())
    channels = net.blocks[-1][0].out_channels
    return FeatureBank([u.id for u in utterances], [u.text for u in utterances], [u.spans for u in utterances],
                       features, channels, [u.speaker for u in utterances])  # fmt: skip


def frontend_digest(model: Model) -> str:
    """The first 12 hex digits of the SHA-256 of the front-end's weights and batch-norm statistics:
    back-ends retrained from one model share it, so they share its cached features."""
    net = lipnet_of(model)
    digest = hashlib.sha256()
    for name, tensor in net.state_dict().items():
        if name.startswith(net.FRONTEND):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:12]


def cached_bank(
    model: Model, utterances: list[Utterance], views: int, seed: int, desc: str, cache: Path | None
) -> FeatureBank:
    """:func:`build_bank`, kept in ``cache`` (a folder) under a name that depends on the front-end's
    weights and input normalisation, the clip files and their texts, the views and the seed: a later
    run with the same front-end reads it in seconds, and any change builds a new one."""
    if cache is None:
        return build_bank(model, utterances, views, seed, desc)
    key = hashlib.sha256()
    key.update(frontend_digest(model).encode())
    levels = model.card.clip_levels
    if levels is not None:  # (caches made before clip levels existed keep their names)
        key.update(f"clip_levels={levels}".encode())
    for u in utterances:
        stat = u.clip.stat()
        key.update(f"{u.id}\t{u.text}\t{u.spans}\t{u.clip}\t{stat.st_size}\t{stat.st_mtime_ns}\n".encode())
    key.update(f"views={views} seed={seed}".encode())
    path = Path(cache) / f"features-{key.hexdigest()[:16]}.pt"
    if path.exists():
        log.info("%s: read from %s", desc, path)
        return FeatureBank(**torch.load(path, weights_only=True))
    bank = build_bank(model, utterances, views, seed, desc)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(asdict(bank), partial)
    partial.replace(path)  # a run stopped while saving leaves no half-written cache behind
    return bank


def random_view(bank: FeatureBank, clip: int, rng: random.Random) -> torch.Tensor:
    """One of a clip's cached views (centred, flipped, shifted), at random."""
    views = bank.features[clip]
    return views[rng.randrange(len(views))]


def spliced_sample(bank: FeatureBank, usable: list[int], rng: random.Random) -> tuple[torch.Tensor, str, Spans]:
    """A new sentence: word ``i`` from a random clip of ``usable`` (all with as many words), lead and
    trail from another, each from a random view."""
    words = len(bank.spans[usable[0]])
    sources = [rng.choice(usable) for _ in range(words)]
    frame_clip = rng.choice(usable)
    clips = sorted({*sources, frame_clip})
    at = {c: k for k, c in enumerate(clips)}
    frames = [random_view(bank, c, rng) for c in clips]
    joined, text, spans = splice(frames, [bank.texts[c].split() for c in clips], [bank.spans[c] for c in clips],
                                 [at[c] for c in sources], at[frame_clip])  # fmt: skip
    return torch.as_tensor(joined), text, spans


def channel_dropout(features: torch.Tensor, channels: int, p: float) -> torch.Tensor:
    """Drop whole front-end channels with probability ``p`` (scaling the rest), as Dropout3d does."""
    x = features.float()
    if not p:
        return x
    keep = (torch.rand(channels) > p).float() / (1 - p)
    return (x.view(len(x), channels, -1) * keep[None, :, None]).view(len(x), -1)


def time_mask(features: torch.Tensor, frames: int, rng: random.Random, fps: float = 25.0) -> torch.Tensor:
    """One span of up to ``frames`` frames a second of the clip set to its mean features: the time
    masking whole-model training does on pixels (:class:`~lipread.augment.Augment`), on features."""
    t = len(features)
    if not frames or t <= frames:
        return features
    out = features.clone()
    mean = features.mean(dim=0)
    for start, width in time_mask_spans(t, frames, fps, rng.randrange):
        out[start : start + width] = mean
    return out


def make_batch(samples: list[tuple[torch.Tensor, str, Spans | None]], tokenizer: CharTokenizer,
               margin: float | None) -> FeatureBatch:  # fmt: skip
    lengths = torch.tensor([len(f) for f, _, _ in samples])
    features = nn.utils.rnn.pad_sequence([f for f, _, _ in samples], batch_first=True)
    labels = [torch.tensor(tokenizer.encode(text), dtype=torch.long) for _, text, _ in samples]
    windows = [allowed_classes(text, spans, len(f), tokenizer, margin) if margin is not None and spans is not None else None
               for f, text, spans in samples]  # fmt: skip
    allowed = pad_windows(windows, int(lengths.max()))
    return FeatureBatch(features, lengths, nn.utils.rnn.pad_sequence(labels, batch_first=True),
                        torch.tensor([len(x) for x in labels]), allowed)  # fmt: skip


@torch.no_grad()
def read_bank(
    model: Model, bank: FeatureBank, decode: Callable[[torch.Tensor], str], batch_size: int = 25
) -> list[str]:
    """Each clip's reading from its first view (the centred crop), by ``decode(log_probs)``."""
    net = lipnet_of(model).eval()
    readings = []
    for start in range(0, len(bank), batch_size):
        chunk = [f[0].float() for f in bank.features[start : start + batch_size]]
        lengths = torch.tensor([len(f) for f in chunk])
        log_probs = net.sequence_logits(nn.utils.rnn.pad_sequence(chunk, batch_first=True), lengths).log_softmax(-1)
        readings += [decode(lp[:n]) for lp, n in zip(log_probs, lengths.tolist())]
    return readings


def train_backend(model: Model, bank: FeatureBank, settings: BackendSettings, evaluate: Callable[[int, float], None],
                  eval_every: int = 4) -> list[float]:  # fmt: skip
    """Train ``model``'s back-end in place on ``bank`` (the front-end's weights never change);
    ``evaluate(epoch, loss)`` every ``eval_every`` epochs and after the last. The mean loss of each epoch."""
    net = lipnet_of(model)
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    tokenizer = model.tokenizer
    counts = {len(s) for s in bank.spans if s}
    usable = [i for i, s in enumerate(bank.spans) if s and len(s) == max(counts, default=0)]
    spliced = int(round(settings.spliced_per_clip * len(bank))) if len(usable) >= 2 else 0
    if settings.spliced_per_clip and not spliced:
        log.warning("no two clips with word times of the same length: training without spliced sentences")
    partners = JoinPartners(bank.spans, bank.speakers or [""] * len(bank))
    if settings.joined and not partners:
        log.warning("no two clips of one speaker with word times: training without joined sentences")
    frontend = net.FRONTEND
    freeze(net, frontend)
    optimizer = adamw(net, settings.lr, settings.weight_decay)
    steps_per_epoch = -(-(len(bank) + spliced) // settings.batch_size)
    total = settings.epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, int(total * settings.warmup_share), total, settings.min_lr_ratio)
    )
    losses = []
    with tqdm(total=total, desc="back-end", unit="step") as bar:
        for epoch in range(1, settings.epochs + 1):
            net.train()
            keep_frozen_in_eval(net, frontend)
            order = [("clip", i) for i in range(len(bank))] + [("spliced", -1)] * spliced
            rng.shuffle(order)
            epoch_losses = []
            for start in range(0, len(order), settings.batch_size):
                samples = []
                for kind, i in order[start : start + settings.batch_size]:
                    if kind == "clip":
                        sample = (random_view(bank, i, rng), bank.texts[i], bank.spans[i])
                        join = partners.draw(i, settings.joined, rng.random, rng.randrange) if settings.joined else None
                        if join is not None:
                            second = join.second
                            sample = join_sentences(*sample, random_view(bank, second, rng), bank.texts[second],
                                                    bank.spans[second], join.rest)  # fmt: skip
                        elif settings.cut_words and rng.random() < settings.cut_words:
                            sample = cut_to_run(*sample, CUT_JITTER, rng.randrange)
                    else:
                        sample = spliced_sample(bank, usable, rng)
                    features = channel_dropout(sample[0], bank.channels, settings.channel_dropout)
                    samples.append((time_mask(features, settings.time_mask_frames, rng), *sample[1:]))
                batch = make_batch(samples, tokenizer, settings.word_window_margin)
                log_probs = net.sequence_logits(batch.features, batch.lengths).float().log_softmax(-1)
                loss = ctc_loss(log_probs, batch, tokenizer.blank, windows=settings.word_window_margin is not None)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                epoch_losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
            losses.append(float(np.mean(epoch_losses)))
            if epoch % eval_every == 0 or epoch == settings.epochs:
                evaluate(epoch, losses[-1])
                net.train()
    for p in net.parameters():
        p.requires_grad_(True)
    net.eval()
    return losses


def bank_wer(model: Model, bank: FeatureBank, decode: Callable[[torch.Tensor], str]) -> float:
    """Corpus WER of ``bank``'s clips, read from their centred crops."""
    return word_counts(bank.texts, read_bank(model, bank, decode)).rate
