"""The training data module: one or more dataset folders, split by id lists, as Lightning loaders.

Reading, decoding and batching live in :mod:`lipread.clips` (no Lightning there); this module adds
the splits, the CTC length check, augmentation and what a checkpoint must remember.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from data_prep.contracts import ContractError, CropSettings, ModelCard, checked_channels, checked_clip_levels
from lipread.augment import Augment
from lipread.batching import FrameBudgetBatches, mean_fill
from lipread.clips import (
    ClipDataset,
    DatasetFolder,
    PixelNorm,
    Utterance,
    collate,
    ids_in,
    read_dataset,
)
from lipread.device_bank import DeviceBatches, DeviceClipBank
from lipread.errors import UserError
from lipread.joined_clips import JoinedBatches, JoinedClips
from lipread.splice import with_spliced
from lipread.text import CharTokenizer, ctc_min_frames

log = logging.getLogger(__name__)


class LipreadDataModule(L.LightningDataModule):
    """One or more dataset folders, split by id lists.

    Args:
        root: dataset folder, or a list of them.
        train_list / val_list / test_list: files of utterance ids; None = every utterance (train)
            or no such split (val/test).
        channels: 1 (grey) or 3 (RGB) fed to the model.
        input_size: side of the crop taken from the stored clip (random in training, centre otherwise).
        cache: decode every clip once into memory (uint8) before training.
        drop_invalid: skip utterances with too few frames for their label (CTC) instead of failing.
        word_window_margin: where the manifest has word times, training may emit a word's
            characters only within this many frames of it (see :mod:`lipread.word_windows`);
            null trains plain CTC. Gives word timings that match the speech.
        spliced_per_clip: each epoch, this many new sentences per training clip, spliced from
            the words of clips with word times (:mod:`lipread.splice`); 0 = none.
        device_cache: hold the training clips on the accelerator as uint8 and augment them there
            (:mod:`lipread.device_bank`): a GPU is then fed as fast as the model runs. No speed
            perturbation or splicing on this path.
        trim_edges: the share of training clips (with word times) whose silence before the first
            word and after the last is trimmed at random, down to ``trim_keep`` frames: teaches
            the model to read phrases cut soon after the speech (live reading, cut windows).
        trim_keep: the fewest frames of silence a trimmed clip keeps on each side of its words.
        cut_words: the share of training clips (with word times) of which only a random run of
            consecutive words is kept, with its frames and labels (:func:`lipread.augment.word_run`):
            teaches the model to read phrases that start or end mid-sentence (``--partial``).
        low_frame_rate: the share of training clips shown as a slower camera (10 to 25 frames a
            second, at random) would show them, each frame repeated until its next, as lipread
            brings a slower video to 25 fps (:func:`lipread.augment.slower_camera`): teaches the
            model webcams' low frame rates, which a model without it reads far worse.
        joined_sentences: the share of training clips (with word times) each followed by another
            clip of the same speaker, with 1 to 12 frames of rest between one's last word and the
            next one's first (:mod:`lipread.joined_clips`): teaches the model commands said one
            after another, which a model that saw only single sentences reads far worse.
        max_frames: batch training clips of similar length, as many as fit in this many padded
            frames (clips x the longest), instead of ``batch_size`` clips
            (:mod:`lipread.batching`); for data whose clips vary in length. null = ``batch_size``.
        clip_levels: [mean, std] (0-1 scale) that each clip's brightness and contrast are matched
            to before normalising (:class:`lipread.clips.PixelNorm`); the model folder keeps them,
            so every command feeds the model the same way. null = clips as stored.
    """

    def __init__(
        self,
        root: str | list[str] = "data/grid_s1",
        train_list: str | None = None,
        val_list: str | None = None,
        test_list: str | None = None,
        batch_size: int = 16,
        num_workers: int = 2,
        channels: int = 1,
        input_size: int = 88,
        flip: bool = True,
        time_mask_frames: int = 10,
        speed_perturb: float = 0.0,
        cache: bool = False,
        drop_invalid: bool = False,
        word_window_margin: float | None = 2.0,
        spliced_per_clip: float = 0.0,
        device_cache: bool = False,
        trim_edges: float = 0.0,
        trim_keep: int = 3,
        cut_words: float = 0.0,
        low_frame_rate: float = 0.0,
        joined_sentences: float = 0.0,
        max_frames: int | None = None,
        clip_levels: list[float] | None = None,
    ):
        super().__init__()
        checked_clip_levels(clip_levels)  # a bad --data.clip_levels fails before any clip is read
        for name, value in (("batch_size", batch_size), ("max_frames", max_frames or 1), ("input_size", input_size)):
            if value < 1:
                raise ContractError(f"--data.{name} must be at least 1, got {value}")
        checked_channels(channels, "--data.channels")
        self.save_hyperparameters()
        self.roots = [Path(r) for r in ([root] if isinstance(root, str) else root)]
        self.tokenizer = CharTokenizer()
        self.crop: CropSettings | None = None
        self.fps = 25.0
        self.splits: dict[str, list[Utterance]] = {}
        self.datasets: dict[str, Dataset] = {}
        self._bank: DeviceClipBank | None = None

    # -- reading

    def _all_utterances(self) -> dict[str, Utterance]:
        utterances: dict[str, Utterance] = {}
        for root in self.roots:
            folder = read_dataset(root)
            self._check_folder(folder)
            for entry in folder.entries:
                utterances[entry.id] = Utterance.from_entry(entry, root, self.tokenizer)
        return utterances

    def _check_folder(self, folder: DatasetFolder) -> None:
        if folder.crop is not None:
            if self.crop is None:
                self.crop, self.fps = folder.crop, folder.fps
            elif differences := folder.crop.pixel_differences(self.crop):
                raise ContractError(
                    f"{folder.root} was cropped differently from {self.roots[0]}: {'; '.join(differences)}"
                )
        size = (folder.crop or CropSettings()).size
        if self.hparams.input_size > size:
            raise ContractError(f"--data.input_size {self.hparams.input_size} is larger than the clips ({size} px)")

    def _select(self, utterances: dict[str, Utterance], id_list: str | None, name: str) -> list[Utterance]:
        if id_list is None:
            chosen = list(utterances.values())
        else:
            chosen = [utterances[i] for i in ids_in(id_list, utterances, "the dataset", f"--data.{name}_list")]
        return self._check_ctc(chosen, name)

    def _check_ctc(self, chosen: list[Utterance], name: str) -> list[Utterance]:
        """CTC needs at least one frame per label (two for repeats): fail loudly, naming the clip."""
        bad = [u for u in chosen if u.num_frames < ctc_min_frames(u.labels)]
        if bad and not self.hparams.drop_invalid:
            shown = "; ".join(
                f"{u.id} ({u.num_frames} frames < {ctc_min_frames(u.labels)} needed for {u.text!r})" for u in bad[:5]
            )
            raise UserError(
                f"{len(bad)} {name} utterance(s) are too short for their transcript under CTC: {shown}. "
                "Set --data.drop_invalid true to skip them."
            )
        if bad:
            log.warning("%s: dropping %d utterances too short for CTC, e.g. %s", name, len(bad), bad[0].id)
        return [u for u in chosen if u not in bad]

    @property
    def norm(self) -> PixelNorm:
        """How clips become model input (and the card says so)."""
        return PixelNorm(levels=checked_clip_levels(self.hparams.clip_levels))

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        utterances = self._all_utterances()
        hp = self.hparams
        self.splits["train"] = self._select(utterances, hp.train_list, "train")
        for name, id_list in (("val", hp.val_list), ("test", hp.test_list)):
            if id_list is not None:
                self.splits[name] = self._select(utterances, id_list, name)
        augment = Augment(hp.input_size, hp.flip, hp.time_mask_frames, hp.speed_perturb, trim_edges=hp.trim_edges,
                          trim_keep=hp.trim_keep, cut_words=hp.cut_words, low_frame_rate=hp.low_frame_rate)  # fmt: skip
        for name, utts in self.splits.items():
            train = name == "train"
            clips = ClipDataset(
                utts, hp.channels, hp.input_size, augment if train else None, hp.cache,
                hp.word_window_margin if train else None, self.norm,
            )  # fmt: skip
            shown = with_spliced(clips, hp.spliced_per_clip) if train else clips
            self.datasets[name] = JoinedClips(clips, shown) if train and hp.joined_sentences else shown
        log.info("data: %s", ", ".join(f"{len(v)} {k} clips" for k, v in self.splits.items()))

    # -- what a checkpoint must remember

    def card(self, arch: str, arch_options: dict, training: dict) -> ModelCard:
        """Everything inference needs to feed a model like the one trained on this data."""
        train = self.splits.get("train", [])
        return ModelCard(
            arch=arch,
            arch_options=dict(arch_options),
            crop=self.crop or CropSettings(),
            channels=self.hparams.channels,
            input_size=self.hparams.input_size,
            fps=self.fps,
            alphabet=self.tokenizer.alphabet,
            pixel_mean=self.norm.mean,
            pixel_std=self.norm.std,
            clip_levels=self.norm.levels,
            train_words=tuple(sorted({w for u in train for w in u.text.split()})),
            train_texts=tuple(u.text for u in train),
            training=dict(training),
        )

    # -- loaders

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        workers = self._workers()
        common = dict(num_workers=workers, collate_fn=collate, persistent_workers=workers > 0,
                      pin_memory=torch.cuda.is_available())  # fmt: skip
        if name == "train" and (self.hparams.max_frames or self.hparams.joined_sentences):
            return DataLoader(self.datasets[name], batch_sampler=self._own_batches(), **common)
        return DataLoader(self.datasets[name], batch_size=self.hparams.batch_size, shuffle=shuffle, drop_last=False,
                          **common)  # fmt: skip

    def _workers(self) -> int:
        """``num_workers``, at most one a CPU this process may use: more only slow loading down (and
        PyTorch warns so on every loader), as the shipped configs' 4 would on a 2-core laptop."""
        asked = self.hparams.num_workers
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        if asked > cpus and not getattr(self, "_told_workers", False):
            log.info("--data.num_workers %d: %d, one for each CPU here", asked, cpus)
            self._told_workers = True
        return min(asked, cpus)

    def _own_batches(self) -> FrameBudgetBatches | JoinedBatches:
        """Training batches drawn here rather than by PyTorch's sampler: by ``max_frames`` (spliced
        sentences counted as long as the longest clip), and with ``joined_sentences`` each pass's
        joined pairs batched together (:class:`lipread.joined_clips.JoinedBatches`)."""
        hp = self.hparams
        clips = [u.num_frames for u in self.splits["train"]]
        lengths = clips + [max(clips)] * (len(self.datasets["train"]) - len(clips))
        trainer = getattr(self, "trainer", None)
        shard = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        option = "max_frames" if hp.max_frames else "joined_sentences"
        if shard[1] > 1 and trainer._accelerator_connector.use_distributed_sampler:
            raise ContractError(
                f"--data.{option} batches each rank itself: add --trainer.use_distributed_sampler false"
            )
        seed = torch.initial_seed() % 2**32
        if hp.joined_sentences:
            batches = JoinedBatches(self.splits["train"], lengths, hp.joined_sentences, hp.batch_size, hp.max_frames,
                                    seed, shard)  # fmt: skip
            size = batches.length
        else:
            batches, size = FrameBudgetBatches(lengths, hp.max_frames, seed=seed, shard=shard), lengths.__getitem__
        first = batches.batches(0)
        log.info("%s %s: %d batches a pass, %.0f%% of padded frames real", option, getattr(hp, option), len(first),
                 100 * mean_fill(first, size))  # fmt: skip
        return batches

    def train_dataloader(self) -> DataLoader | DeviceBatches:
        hp = self.hparams
        if not hp.device_cache:
            return self._loader("train", shuffle=True)
        if hp.speed_perturb or hp.spliced_per_clip:
            raise ContractError("device_cache does not do speed_perturb or spliced_per_clip; turn those off")
        trainer = getattr(self, "trainer", None)
        device = trainer.strategy.root_device if trainer is not None else torch.device("cpu")
        shard = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        if self._bank is None:
            self._bank = DeviceClipBank(self.splits["train"], hp.channels, hp.input_size, hp.word_window_margin,
                                        device, hp.flip, hp.time_mask_frames, self.fps, self.norm,
                                        trim_edges=hp.trim_edges, trim_keep=hp.trim_keep, cut_words=hp.cut_words,
                                        low_frame_rate=hp.low_frame_rate,
                                        joined_sentences=hp.joined_sentences)  # fmt: skip
            log.info("training clips on %s: %.2f GB as uint8", device, self._bank.nbytes / 1e9)
        return DeviceBatches(self._bank, hp.batch_size, seed=torch.initial_seed() % 2**32, shard=shard)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False) if "val" in self.datasets else []

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
