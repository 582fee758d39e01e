"""Dataset folders (see DESIGN.md) as batches of mouth-crop videos and CTC labels."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from data_prep.video import read_clip
from lipread.augment import Augment, centre_crop
from lipread.text import CharTokenizer, ctc_min_frames
from lipread.word_windows import allowed_classes, word_frame_spans

log = logging.getLogger(__name__)

#: Grey-level normalisation (mean, std over GRID crops, 0-1 scale); RGB uses it per channel.
PIXEL_MEAN, PIXEL_STD = 0.42, 0.17


@dataclass
class Utterance:
    id: str
    text: str
    clip: Path
    num_frames: int
    speaker: str
    labels: list[int]
    #: (start, end) frame of each word when the manifest has word times, else None.
    spans: list[tuple[float, float]] | None = None


def read_dataset(root: Path) -> tuple[dict, list[dict]]:
    """A dataset folder's ``meta.json`` and manifest lines."""
    root = Path(root)
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(f"{root} is not a dataset folder (no manifest.jsonl); build it with `lipread prep`")
    meta_path = root / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    entries = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    return meta, entries


def read_id_list(path: str | Path) -> list[str]:
    """A split file: one utterance id a line (``speaker/name``)."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])


def to_grey(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, H, W, 1) uint8 luma."""
    return np.round(frames @ GREY_WEIGHTS).astype(np.uint8)[..., None]


def to_model_input(frames: np.ndarray, channels: int) -> torch.Tensor:
    """(T, H, W, 1|3) uint8 -> (C, T, H, W) float, normalised (RGB becomes grey if C is 1)."""
    if channels == 1 and frames.shape[-1] == 3:
        frames = to_grey(frames)
    x = torch.from_numpy(np.ascontiguousarray(frames)).float().div_(255.0)
    return ((x - PIXEL_MEAN) / PIXEL_STD).permute(3, 0, 1, 2)


class ClipDataset(Dataset):
    """Decoded, augmented clips with their label ids."""

    def __init__(
        self,
        utterances: list[Utterance],
        channels: int = 1,
        input_size: int = 88,
        augment: Augment | None = None,
        cache: bool = False,
        word_window_margin: float | None = None,
    ):
        self.utterances = utterances
        self.channels = channels
        self.input_size = input_size
        self.augment = augment
        self.word_window_margin = word_window_margin
        self._tokenizer = CharTokenizer()
        self._cache: list[np.ndarray] | None = None
        if cache:
            self._cache = [self._load(u) for u in tqdm(utterances, desc="caching clips", unit="clip")]

    def _load(self, utt: Utterance) -> np.ndarray:
        frames = read_clip(utt.clip)
        return to_grey(frames) if self.channels == 1 else frames  # one uint8 plane: small cache

    def __len__(self) -> int:
        return len(self.utterances)

    def __getitem__(self, index: int) -> dict:
        utt = self.utterances[index]
        frames = self._cache[index] if self._cache is not None else self._load(utt)
        stored_length = len(frames)
        if self.augment is not None:
            frames = self.augment(frames)
        else:
            frames = centre_crop(frames, self.input_size)
        x = to_model_input(frames, self.channels)
        item = {"id": utt.id, "video": x, "labels": torch.tensor(utt.labels, dtype=torch.long), "text": utt.text}
        if self.word_window_margin is not None and utt.spans is not None:
            scale = len(frames) / stored_length  # speed perturbation stretches the word times too
            spans = [(s * scale, e * scale) for s, e in utt.spans]
            item["allowed"] = allowed_classes(utt.text, spans, len(frames), self._tokenizer, self.word_window_margin)
        return item


def collate(items: list[dict]) -> dict:
    """Pad videos along time; keep lengths so padding never reaches the loss or the model."""
    lengths = torch.tensor([it["video"].shape[1] for it in items])
    c, _, h, w = items[0]["video"].shape
    video = torch.zeros(len(items), c, int(lengths.max()), h, w)
    for i, it in enumerate(items):
        video[i, :, : it["video"].shape[1]] = it["video"]
    labels = torch.nn.utils.rnn.pad_sequence([it["labels"] for it in items], batch_first=True)
    batch = {
        "ids": [it["id"] for it in items],
        "texts": [it["text"] for it in items],
        "video": video,
        "lengths": lengths,
        "labels": labels,
        "label_lengths": torch.tensor([len(it["labels"]) for it in items]),
    }
    if any("allowed" in it for it in items):  # items without word times may emit anything anywhere
        vocab = next(it["allowed"].shape[1] for it in items if "allowed" in it)
        allowed = torch.ones(len(items), int(lengths.max()), vocab, dtype=torch.bool)
        for i, it in enumerate(items):
            if "allowed" in it:
                allowed[i, : len(it["allowed"])] = it["allowed"]
        batch["allowed"] = allowed
    return batch


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
    ):
        super().__init__()
        self.save_hyperparameters()
        self.roots = [Path(r) for r in ([root] if isinstance(root, str) else root)]
        self.tokenizer = CharTokenizer()
        self.meta: dict = {}
        self.splits: dict[str, list[Utterance]] = {}
        self.datasets: dict[str, ClipDataset] = {}

    # -- reading

    def _all_utterances(self) -> dict[str, Utterance]:
        utterances: dict[str, Utterance] = {}
        for root in self.roots:
            meta, entries = read_dataset(root)
            self._check_meta(root, meta)
            for e in entries:
                utterances[e["id"]] = Utterance(
                    id=e["id"],
                    text=e["text"],
                    clip=root / e["clip"],
                    num_frames=int(e["num_frames"]),
                    speaker=e.get("speaker", e["id"].split("/")[0]),
                    labels=self.tokenizer.encode(e["text"]),
                    spans=word_frame_spans(e.get("words") or [], e["text"], float(e.get("fps", 25.0))),
                )
        return utterances

    def _check_meta(self, root: Path, meta: dict) -> None:
        crop = meta.get("crop", {})
        if not self.meta:
            self.meta = {"crop": crop, "fps": meta.get("fps", 25.0), "color": meta.get("color", "rgb")}
        elif crop and crop != self.meta["crop"]:
            raise ValueError(f"{root} was cropped differently ({crop}) from {self.roots[0]} ({self.meta['crop']})")
        size = crop.get("size", 96)
        if self.hparams.input_size > size:
            raise ValueError(f"input_size {self.hparams.input_size} is larger than the clips ({size})")

    def _select(self, utterances: dict[str, Utterance], id_list: str | None, name: str) -> list[Utterance]:
        if id_list is None:
            chosen = list(utterances.values())
        else:
            ids = read_id_list(id_list)
            missing = [i for i in ids if i not in utterances]
            if missing:
                log.warning("%s: %d ids not in the dataset(s) (rejected in prep?), e.g. %s", name, len(missing), missing[:3])
            chosen = [utterances[i] for i in ids if i in utterances]
        return self._check_ctc(chosen, name)

    def _check_ctc(self, chosen: list[Utterance], name: str) -> list[Utterance]:
        """CTC needs at least one frame per label (two for repeats): fail loudly, naming the clip."""
        bad = [u for u in chosen if u.num_frames < ctc_min_frames(u.labels)]
        if bad and not self.hparams.drop_invalid:
            shown = "; ".join(f"{u.id} ({u.num_frames} frames < {ctc_min_frames(u.labels)} needed for {u.text!r})" for u in bad[:5])
            raise ValueError(
                f"{len(bad)} {name} utterance(s) are too short for their transcript under CTC: {shown}. "
                "Set --data.drop_invalid true to skip them."
            )
        if bad:
            log.warning("%s: dropping %d utterances too short for CTC, e.g. %s", name, len(bad), bad[0].id)
        return [u for u in chosen if u not in bad]

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        utterances = self._all_utterances()
        hp = self.hparams
        self.splits["train"] = self._select(utterances, hp.train_list, "train")
        for name, id_list in (("val", hp.val_list), ("test", hp.test_list)):
            if id_list is not None:
                self.splits[name] = self._select(utterances, id_list, name)
        augment = Augment(hp.input_size, hp.flip, hp.time_mask_frames, hp.speed_perturb)
        for name, utts in self.splits.items():
            train = name == "train"
            self.datasets[name] = ClipDataset(
                utts, hp.channels, hp.input_size, augment if train else None, hp.cache,
                hp.word_window_margin if train else None,
            )  # fmt: skip
        log.info("data: %s", {k: len(v) for k, v in self.splits.items()})

    # -- what a checkpoint must remember

    def info(self) -> dict:
        """Everything inference needs to feed a model like the one trained on this data."""
        words = sorted({w for u in self.splits.get("train", []) for w in u.text.split()})
        return {
            "alphabet": self.tokenizer.alphabet,
            "crop": self.meta.get("crop", {}),
            "fps": self.meta.get("fps", 25.0),
            "channels": self.hparams.channels,
            "input_size": self.hparams.input_size,
            "pixel_mean": PIXEL_MEAN,
            "pixel_std": PIXEL_STD,
            "train_words": words,
            "train_texts": [u.text for u in self.splits.get("train", [])],
        }

    # -- loaders

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            self.datasets[name],
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            num_workers=workers,
            collate_fn=collate,
            persistent_workers=workers > 0,
            pin_memory=torch.cuda.is_available(),
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False) if "val" in self.datasets else []

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
