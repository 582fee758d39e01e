"""Dataset folders (see DESIGN.md) as model inputs: reading manifests, decoding and normalising
clips, and padding them into a :class:`~data_prep.contracts.Batch`.

Nothing here imports Lightning, so transcription and evaluation start quickly; the training
data module (:mod:`lipread.data`) builds on it.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from data_prep.contracts import Batch, ContractError, CropSettings, ManifestEntry, ModelCard
from data_prep.head_pose import HeadPose
from data_prep.video import read_clip
from lipread.augment import Augment, centre_crop
from lipread.text import CharTokenizer
from lipread.word_windows import allowed_classes, word_frame_spans

log = logging.getLogger(__name__)

#: Grey-level normalisation (mean, std over GRID crops, 0-1 scale); RGB uses it per channel.
PIXEL_MEAN, PIXEL_STD = 0.42, 0.17


@dataclass
class Utterance:
    """A manifest entry resolved against its dataset folder, with its CTC labels."""

    id: str
    text: str
    clip: Path
    num_frames: int
    speaker: str
    labels: list[int]
    #: (start, end) frame of each word when the manifest has word times, else None.
    spans: list[tuple[float, float]] | None = None
    yaw: float | None = None  # how far the face is turned from the camera, degrees (the manifest's)
    pitch: float | None = None  # how far it is tilted up or down, degrees (the manifest's)

    @classmethod
    def from_entry(cls, entry: ManifestEntry, root: Path, tokenizer: CharTokenizer) -> Utterance:
        return cls(
            id=entry.id,
            text=entry.text,
            clip=root / entry.clip,
            num_frames=entry.num_frames,
            speaker=entry.speaker,
            labels=tokenizer.encode(entry.text),
            spans=word_frame_spans(list(entry.words), entry.text, entry.fps),
            yaw=entry.yaw,
            pitch=entry.pitch,
        )

    @property
    def pose(self) -> HeadPose | None:
        """How the face is held (NaN pitch for manifests from before it was measured); None when unknown."""
        return None if self.yaw is None else HeadPose(self.yaw, math.nan if self.pitch is None else self.pitch)


@dataclass(frozen=True)
class DatasetFolder:
    """A dataset folder's settings (``meta.json``) and its manifest entries."""

    root: Path
    crop: CropSettings | None  # None for folders whose meta.json does not say
    fps: float
    entries: list[ManifestEntry]


def read_dataset(root: str | Path) -> DatasetFolder:
    """Read and check a dataset folder written by ``lipread prep``."""
    root = Path(root)
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        raise FileNotFoundError(f"{root} is not a dataset folder (no manifest.jsonl); build it with `lipread prep`")
    meta_path = root / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    crop = CropSettings.from_json(meta["crop"], f"{meta_path} crop") if meta.get("crop") else None
    entries = []
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ContractError(f"{manifest}:{number}: not JSON ({err.msg})") from None
        entries.append(ManifestEntry.from_json(record, f"{manifest}:{number}"))
    return DatasetFolder(root, crop, float(meta.get("fps", 25.0)), entries)


def check_crop_matches(model_crop: CropSettings, data_crop: CropSettings | None, data: str, model: str) -> None:
    """Refuse data cut differently from what the model was trained on: its WER (or its fine-tuning)
    would be wrong. ``data`` and ``model`` name them in the message."""
    if data_crop is None:
        return
    differences = model_crop.pixel_differences(data_crop)
    if differences:
        raise ContractError(
            f"{data} was cropped with other settings than the model {model} "
            f"({'; '.join(differences)}, model vs dataset); prep it again with the model's settings "
            f"(lipread prep ... {' '.join(_prep_options(model_crop))})"
        )


def _prep_options(crop: CropSettings) -> list[str]:
    return [f"--size {crop.size}", f"--scale {crop.scale:g}", f"--color {crop.color}"]


def read_id_list(path: str | Path) -> list[str]:
    """A split file: one utterance id a line (``speaker/name``)."""
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def ids_in(path: str | Path, known: dict, where: str, option: str = "") -> list[str]:
    """The ids of split file ``path`` that ``known`` (a dataset's, by id) has, in the file's order.
    Some missing (rejected in prep, say) is a warning; none found is refused, naming an id of each,
    since a list of another dataset's ids would otherwise train or score on nothing."""
    ids = read_id_list(path)
    found = [i for i in ids if i in known]
    missing = [i for i in ids if i not in known]
    label = f"{option} {path}" if option else str(path)
    if not found:
        raise ContractError(
            f"{label}: none of its {len(ids)} ids is in {where} (its first: {ids[0]!r}; {where}'s ids look like "
            f"{next(iter(known), None)!r})"
            if ids
            else f"{label}: holds no ids (one a line)"
        )
    if missing:
        log.warning("%d ids of %s are not in %s (rejected in prep?), e.g. %s", len(missing), path, where, missing[:3])
    return found


GREY_WEIGHTS = np.array([0.299, 0.587, 0.114])


def to_grey(frames: np.ndarray) -> np.ndarray:
    """(T, H, W, 3) uint8 RGB -> (T, H, W, 1) uint8 luma."""
    return np.round(frames @ GREY_WEIGHTS).astype(np.uint8)[..., None]


@dataclass(frozen=True)
class PixelNorm:
    """How stored pixels become the network's input. With ``levels`` (a clip's mean and standard
    deviation on the 0-1 scale: the training speaker's typical clip, ``ModelCard.clip_levels``)
    each clip's brightness and contrast are first matched to them, so a face filmed in other light
    reaches the network as bright as the faces it learnt from (RESULTS.md, "Matching each clip's
    levels"); ``None`` leaves clips as they are. Then ``(x - mean) / std`` for every pixel."""

    mean: float = PIXEL_MEAN
    std: float = PIXEL_STD
    levels: tuple[float, float] | None = None

    @classmethod
    def of(cls, card: ModelCard) -> PixelNorm:
        return cls(card.pixel_mean, card.pixel_std, card.clip_levels)

    def __call__(self, pixels: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, H, W, C) pixels (0-255, any float dtype) normalised; ``valid`` (B, T) marks the
        frames that count towards a clip's levels (padding does not)."""
        x = pixels / 255.0
        if self.levels is not None:
            mean, spread = levels_of(x, valid)
            x = (x - mean) / spread.clamp_min(1e-3) * self.levels[1] + self.levels[0]
        return (x - self.mean) / self.std


def levels_of(x: torch.Tensor, valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Each clip's levels: the mean and standard deviation of its pixels, (B, 1, 1, 1, 1) each,
    of (B, T, H, W, C) ``x``; with ``valid`` (B, T), over the frames it marks only."""
    dims = (1, 2, 3, 4)
    if valid is None:
        return x.mean(dim=dims, keepdim=True), x.std(dim=dims, keepdim=True, correction=0)
    weight = valid.to(x.dtype)[:, :, None, None, None].expand_as(x)
    count = weight.sum(dim=dims, keepdim=True).clamp_min(1.0)
    mean = (x * weight).sum(dim=dims, keepdim=True) / count
    return mean, (((x - mean) * weight) ** 2).sum(dim=dims, keepdim=True).div(count).sqrt()


def to_model_input(frames: np.ndarray, channels: int, norm: PixelNorm = PixelNorm()) -> torch.Tensor:
    """(T, H, W, 1|3) uint8 -> (C, T, H, W) float, normalised (RGB becomes grey if C is 1)."""
    if channels == 1 and frames.shape[-1] == 3:
        frames = to_grey(frames)
    x = torch.from_numpy(np.ascontiguousarray(frames)).float()
    return norm(x[None])[0].permute(3, 0, 1, 2)


@dataclass
class Item:
    """One decoded (and maybe augmented) clip with its labels, before padding."""

    id: str
    text: str
    video: torch.Tensor  # (C, T, H, W)
    labels: torch.Tensor
    allowed: torch.Tensor | None = None  # (T, V) word windows


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
        norm: PixelNorm = PixelNorm(),
    ):
        self.utterances = utterances
        self.norm = norm
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

    def frames(self, index: int) -> np.ndarray:
        """Clip ``index``'s stored (T, H, W[, C]) uint8 frames, before cropping."""
        return self._cache[index] if self._cache is not None else self._load(self.utterances[index])

    def __getitem__(self, index: int) -> Item:
        utt = self.utterances[index]
        return self.make_item(utt.id, utt.text, self.frames(index), utt.spans)

    def make_item(self, uid: str, text: str, frames: np.ndarray, spans: list[tuple[float, float]] | None,
                  whole: bool = False) -> Item:  # fmt: skip
        """Crop (augmented when training), normalise and label stored frames: a clip's, a sentence
        spliced from several clips (:mod:`lipread.splice`), or two joined (:mod:`lipread.joined_clips`);
        ``whole``: never cut to a run of its words or trimmed."""
        if self.augment is not None and not whole:
            frames, text, spans = self.augment.cut(frames, text, spans)
            frames, spans = self.augment.trim(frames, spans)
        stored_length = len(frames)
        frames = self.augment(frames) if self.augment is not None else centre_crop(frames, self.input_size)
        item = Item(
            uid,
            text,
            to_model_input(frames, self.channels, self.norm),
            torch.tensor(self._tokenizer.encode(text), dtype=torch.long),
        )
        if self.word_window_margin is not None and spans is not None:
            scale = len(frames) / stored_length  # speed perturbation stretches the word times too
            spans = [(s * scale, e * scale) for s, e in spans]
            item.allowed = allowed_classes(text, spans, len(frames), self._tokenizer, self.word_window_margin)
        return item


def pad_windows(windows: list[torch.Tensor | None], max_len: int) -> torch.Tensor | None:
    """(B, max_len, V) bool word windows from each item's (T_i, V), or None when no item has any:
    an item without word times (None) may emit anything anywhere, as may padding."""
    present = [w for w in windows if w is not None]
    if not present:
        return None
    allowed = torch.ones(len(windows), max_len, present[0].shape[1], dtype=torch.bool)
    for i, w in enumerate(windows):
        if w is not None:
            allowed[i, : len(w)] = w
    return allowed


def collate(items: list[Item]) -> Batch:
    """Pad videos along time; keep lengths so padding never reaches the loss or the model."""
    lengths = torch.tensor([it.video.shape[1] for it in items])
    c, _, h, w = items[0].video.shape
    video = torch.zeros(len(items), c, int(lengths.max()), h, w)
    for i, it in enumerate(items):
        video[i, :, : it.video.shape[1]] = it.video
    labels = torch.nn.utils.rnn.pad_sequence([it.labels for it in items], batch_first=True)
    allowed = pad_windows([it.allowed for it in items], int(lengths.max()))
    return Batch(
        ids=[it.id for it in items],
        texts=[it.text for it in items],
        video=video,
        lengths=lengths,
        labels=labels,
        label_lengths=torch.tensor([len(it.labels) for it in items]),
        allowed=allowed,
    )
