"""The typed, versioned shapes that pass between lipread's parts, in one place.

- :class:`Word` and :class:`ManifestEntry`: a line of a dataset folder's ``manifest.jsonl``
  (written by ``lipread prep``, read by training and evaluation);
- :class:`CropSettings`: how mouths are cut (``meta.json``, and every model trained on them);
- :class:`DecoderSettings` and :class:`ModelCard`: what a model folder's ``config.json`` says
  about the model (written by ``lipread export``, validated by every load);
- :class:`Batch`: what the data loader hands the model.

It lives at the bottom of the import chain (``serve -> lipread -> data_prep``) so that every part
reads these shapes through the same code; it imports nothing heavier than the standard library.
Reading is strict: a missing field, a field of the wrong type or a file from a newer format is a
:class:`ContractError` that names the file and the field, never a ``KeyError`` three calls later.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the batch holds tensors; data_prep itself never needs torch
    import torch

#: Version of the manifest line written by this code (``"v"`` is absent in lines from before it).
MANIFEST_VERSION = 1
#: Model folder format written by this code; ``lipread-model/1`` folders are read and upgraded.
MODEL_FORMAT = "lipread-model/2"
MODEL_FORMATS_READ = ("lipread-model/1", MODEL_FORMAT)


class ContractError(ValueError):
    """A file that does not hold the shape it should; the message names where and what."""


def _require(record: dict, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in record:
        raise ContractError(f"{where}: missing field {name!r}")
    value = record[name]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise ContractError(f"{where}: field {name!r} should be {expected}, got {value!r}")
    return value


def _optional(record: dict, name: str, kind: type, where: str, default: Any = None) -> Any:
    if record.get(name) is None:
        return default
    return _require(record, name, kind, where)


def _check_settings(cls: type, record: Any, where: str, what: str) -> None:
    """A settings object: a JSON object naming only fields ``cls`` has."""
    if not isinstance(record, dict):
        raise ContractError(f"{where}: expected an object, got {record!r}")
    unknown = sorted(set(record) - {f.name for f in fields(cls)})
    if unknown:
        raise ContractError(f"{where}: unknown {what} setting(s) {unknown}")


# ---------------------------------------------------------------- the dataset folder


@dataclass(frozen=True)
class Word:
    """A word and when it was said, in seconds from the clip's (or video's) first frame."""

    word: str
    start: float
    end: float
    confidence: float | None = None  # set by transcription (forced alignment), not by prep

    def to_json(self) -> dict:
        data = {"word": self.word, "start": self.start, "end": self.end}
        if self.confidence is not None:
            data["confidence"] = self.confidence
        return data

    @classmethod
    def from_json(cls, record: dict, where: str = "word") -> Word:
        if not isinstance(record, dict):
            raise ContractError(f"{where}: a word should be an object, got {record!r}")
        word = cls(
            word=_require(record, "word", str, where),
            start=_require(record, "start", float, where),
            end=_require(record, "end", float, where),
            confidence=_optional(record, "confidence", float, where),
        )
        if word.end < word.start:
            raise ContractError(f"{where}: {word.word!r} ends ({word.end}) before it starts ({word.start})")
        return word


@dataclass(frozen=True)
class ManifestEntry:
    """One utterance of a dataset folder: a line of ``manifest.jsonl`` (see DESIGN.md)."""

    id: str
    speaker: str
    text: str  # normalised: lower case, the model's alphabet
    clip: str  # relative to the dataset folder
    num_frames: int
    fps: float
    words: tuple[Word, ...] = ()
    source: str = ""
    source_start: float = 0.0
    source_end: float | None = None
    source_fps: float | None = None
    faces: int | None = None  # most faces seen, when more than one
    note: str | None = None
    yaw: float | None = None  # how far the face is turned from the camera, degrees (median; data_prep.head_pose)
    pitch: float | None = None  # how far it is tilted up (+) or down, degrees (median; data_prep.head_pose)

    def to_json(self) -> dict:
        data: dict[str, Any] = {"v": MANIFEST_VERSION}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "words":
                value = [w.to_json() for w in value]
            elif value is None and f.name in ("faces", "note", "source_fps", "yaw", "pitch"):
                continue
            data[f.name] = value
        return data

    @classmethod
    def from_json(cls, record: dict, where: str = "manifest line") -> ManifestEntry:
        if not isinstance(record, dict):
            raise ContractError(f"{where}: expected a JSON object, got {type(record).__name__}")
        version = record.get("v", MANIFEST_VERSION)
        if not isinstance(version, int) or version > MANIFEST_VERSION:
            raise ContractError(
                f"{where}: manifest line version {version!r} is newer than this lipread reads "
                f"({MANIFEST_VERSION}); upgrade lipread"
            )
        uid = _require(record, "id", str, where)
        where = f"{where} ({uid})"
        words = _optional(record, "words", list, where, [])
        return cls(
            id=uid,
            speaker=_optional(record, "speaker", str, where) or uid.split("/")[0],
            text=_require(record, "text", str, where),
            clip=_require(record, "clip", str, where),
            num_frames=_require(record, "num_frames", int, where),
            fps=_optional(record, "fps", float, where, 25.0),
            words=tuple(Word.from_json(w, f"{where} word {i + 1}") for i, w in enumerate(words)),
            source=_optional(record, "source", str, where, ""),
            source_start=_optional(record, "source_start", float, where, 0.0),
            source_end=_optional(record, "source_end", float, where),
            source_fps=_optional(record, "source_fps", float, where),
            faces=_optional(record, "faces", int, where),
            note=_optional(record, "note", str, where),
            yaw=_optional(record, "yaw", float, where),
            pitch=_optional(record, "pitch", float, where),
        )


@dataclass(frozen=True)
class CropSettings:
    """How crops are cut; stored in ``meta.json`` and in every model trained on them."""

    size: int = 96  # output side in pixels
    scale: float = 1.1  # output side in inter-ocular distances (the mouth spans about half)
    color: str = "rgb"  # "rgb" or "gray"
    max_gap: int = 12  # longest run of face-less frames (at 25 fps) that is interpolated
    max_missing: float = 0.25  # most face-less frames, as a fraction of the clip
    smooth: int = 5  # moving-average window (frames) over the rigid face points
    min_mouth_width: float = 10.0  # pixels in the source; smaller faces are rejected

    #: The settings that change the pixels a model sees (the others only decide what is rejected).
    PIXEL_FIELDS = ("size", "scale", "color", "smooth")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict, where: str = "crop settings") -> CropSettings:
        _check_settings(cls, record, where, "crop")
        defaults = cls()
        values = {f.name: _optional(record, f.name, type(getattr(defaults, f.name)), where, getattr(defaults, f.name))
                  for f in fields(cls)}  # fmt: skip
        if values["color"] not in ("rgb", "gray"):
            raise ContractError(f"{where}: color must be 'rgb' or 'gray', got {values['color']!r}")
        return cls(**values)

    def pixel_differences(self, other: CropSettings) -> list[str]:
        """``"scale 1.1 vs 1.3"`` for each setting that makes ``other``'s crops look different."""
        return [
            f"{name} {getattr(self, name)} vs {getattr(other, name)}"
            for name in self.PIXEL_FIELDS
            if getattr(self, name) != getattr(other, name)
        ]


# ---------------------------------------------------------------- the model folder


#: The decoders every command and the HTTP API accept.
DECODERS = ("greedy", "beam", "beam-nolex")


@dataclass(frozen=True)
class DecoderSettings:
    """The beam decoder's settings: a model card's defaults, overridable per call."""

    #: Hypotheses kept per frame. At 50 the grammar beam lost the best sentence on 4 of GRID s1_val's
    #: 50 clips (and on 18 of 25 clips of an unseen face); from 300 on s1_val reads as at 3,000
    #: (RESULTS.md, "A wider grammar beam"). About 40 ms of search for a 3 s clip on two cores.
    beam_size: int = 300
    lm_weight: float = 1.0
    word_score: float = 0.0
    lm_order: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.beam_size, int) or self.beam_size < 1:
            raise ContractError(f"beam size must be a whole number of at least 1, got {self.beam_size!r}")
        if not isinstance(self.lm_order, int) or self.lm_order < 1:
            raise ContractError(f"LM order must be a whole number of at least 1, got {self.lm_order!r}")
        for name in ("lm_weight", "word_score"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value != value or value in (float("inf"), float("-inf")):
                raise ContractError(f"{name.replace('_', ' ')} must be a finite number, got {value!r}")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict, where: str = "decoder settings") -> DecoderSettings:
        _check_settings(cls, record, where, "decoder")
        return cls(**record)

    def replace(self, **changes: Any) -> DecoderSettings:
        """A copy with the given (non-None) settings changed, checked like the original."""
        return DecoderSettings(**{**self.to_json(), **{k: v for k, v in changes.items() if v is not None}})


@dataclass(frozen=True)
class ModelCard:
    """Everything needed to use a trained model besides its weights: ``config.json``."""

    arch: str
    arch_options: dict = field(default_factory=dict)
    name: str = "lipread-model"
    crop: CropSettings = field(default_factory=CropSettings)
    channels: int = 1
    input_size: int = 88
    fps: float = 25.0
    alphabet: str = " 'abcdefghijklmnopqrstuvwxyz"
    pixel_mean: float = 0.42
    pixel_std: float = 0.17
    clip_levels: tuple[float, float] | None = None  # each clip's (mean, std) brightness is matched to these
    decoder: DecoderSettings = field(default_factory=DecoderSettings)
    grammar: str | None = None  # a grammar file inside the model folder, used by default
    train_words: tuple[str, ...] = ()  # the beam decoder's lexicon
    train_texts: tuple[str, ...] = ()  # the beam decoder's n-gram LM is estimated from these
    training: dict = field(default_factory=dict)  # how it was trained (optimiser settings ...)
    format: str = MODEL_FORMAT

    def __post_init__(self) -> None:
        checked_channels(self.channels)
        if self.input_size > self.crop.size:
            raise ContractError(f"input size {self.input_size} is larger than the crops ({self.crop.size})")
        if self.pixel_std <= 0:
            raise ContractError(f"pixel_std must be positive, got {self.pixel_std!r}")
        object.__setattr__(self, "clip_levels", checked_clip_levels(self.clip_levels))

    def to_json(self) -> dict:
        data = asdict(self)
        data["crop"] = self.crop.to_json()
        data["decoder"] = self.decoder.to_json()
        data["train_words"], data["train_texts"] = list(self.train_words), list(self.train_texts)
        return {"format": data.pop("format"), **data}

    def replace(self, **changes: Any) -> ModelCard:
        return ModelCard(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})

    @classmethod
    def from_json(cls, record: dict, where: str = "config.json") -> ModelCard:
        if not isinstance(record, dict):
            raise ContractError(f"{where}: expected a JSON object")
        fmt = record.get("format")
        if fmt not in MODEL_FORMATS_READ:
            newer = isinstance(fmt, str) and fmt.startswith("lipread-model/")
            raise ContractError(
                f"{where}: model format {fmt!r} "
                + ("is newer than this lipread reads; upgrade lipread (pip install -U lipread)" if newer
                   else f"is not a lipread model folder (expected one of {', '.join(MODEL_FORMATS_READ)})")
            )  # fmt: skip
        if fmt == "lipread-model/1":
            record = _upgrade_v1(record, where)
        known = {f.name for f in fields(cls)} | {"weights"}
        unknown = sorted(set(record) - known)
        if unknown:
            raise ContractError(f"{where}: unknown field(s) {unknown}")
        try:
            return cls(
                format=MODEL_FORMAT,
                arch=_require(record, "arch", str, where),
                arch_options=_optional(record, "arch_options", dict, where, {}),
                name=_optional(record, "name", str, where, "lipread-model"),
                crop=CropSettings.from_json(_optional(record, "crop", dict, where, {}), f"{where} crop"),
                channels=_optional(record, "channels", int, where, 1),
                input_size=_optional(record, "input_size", int, where, 88),
                fps=_optional(record, "fps", float, where, 25.0),
                alphabet=_require(record, "alphabet", str, where),
                pixel_mean=_optional(record, "pixel_mean", float, where, 0.42),
                pixel_std=_optional(record, "pixel_std", float, where, 0.17),
                clip_levels=_optional(record, "clip_levels", (list, tuple), where),
                decoder=DecoderSettings.from_json(_optional(record, "decoder", dict, where, {}), f"{where} decoder"),
                grammar=_optional(record, "grammar", str, where),
                train_words=tuple(_optional(record, "train_words", list, where, [])),
                train_texts=tuple(_optional(record, "train_texts", list, where, [])),
                training=_optional(record, "training", dict, where, {}),
            )
        except TypeError as err:  # e.g. a decoder setting of the wrong type
            raise ContractError(f"{where}: {err}") from None


def checked_channels(value: int, name: str = "channels") -> int:
    """1 (grey) or 3 (RGB), or a ContractError naming ``name`` (a card's field, ``--data.channels``)."""
    if value not in (1, 3):
        raise ContractError(f"{name} must be 1 (grey) or 3 (RGB), got {value!r}")
    return value


def checked_clip_levels(value: list | tuple | None) -> tuple[float, float] | None:
    """Clip levels as a card keeps them, (mean, std) floats on the 0-1 scale, or a ContractError
    that says what is wrong (a model card's field, ``lipread train --data.clip_levels``)."""
    if value is None:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ContractError(f"clip_levels must be [mean, std] numbers, got {list(value)!r}")
    levels = tuple(float(v) for v in value)
    if not (len(levels) == 2 and 0 <= levels[0] <= 1 and 0 < levels[1] <= 1):
        raise ContractError(f"clip_levels must be [mean, std] on the 0-1 scale, got {list(levels)!r}")
    return levels  # type: ignore[return-value]


#: Model hyper-parameters that say what the network is; the rest of them say how it was trained.
ARCH_KEYS = ("arch", "arch_options", "in_channels", "input_size")


def training_settings(hparams: dict) -> dict:
    """The hyper-parameters a card keeps as ``training``: those that do not define the network."""
    return {k: v for k, v in hparams.items() if k not in ARCH_KEYS and not k.startswith("_")}


def _upgrade_v1(record: dict, where: str) -> dict:
    """``lipread-model/1`` kept Lightning's hyper-parameters and the data settings apart."""
    hp = _require(record, "hyper_parameters", dict, where)
    data = dict(_require(record, "data", dict, where))
    return {
        "arch": hp.get("arch", "lipnet"),
        "arch_options": hp.get("arch_options") or {},
        "name": data.pop("name", "lipread-model"),
        "crop": data.pop("crop", {}),
        "channels": data.pop("channels", hp.get("in_channels", 1)),
        "input_size": data.pop("input_size", hp.get("input_size", 88)),
        "training": training_settings(hp),
        **data,
    }


# ---------------------------------------------------------------- training batches


@dataclass
class Batch:
    """Clips padded along time, with their CTC labels; lengths keep padding out of model and loss."""

    ids: list[str]
    texts: list[str]
    video: torch.Tensor  # (B, C, T, H, W) float, normalised
    lengths: torch.Tensor  # (B,) frames
    labels: torch.Tensor  # (B, L) label ids, 0-padded
    label_lengths: torch.Tensor  # (B,)
    allowed: torch.Tensor | None = None  # (B, T, V) bool word windows, when the clips have word times

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: Any, non_blocking: bool = False) -> Batch:
        """The same batch with its tensors on ``device``."""
        moved = {
            f.name: value.to(device, non_blocking=non_blocking)
            if hasattr(value, "to") and not isinstance(value, list)
            else value
            for f in fields(self)
            for value in [getattr(self, f.name)]
        }
        return Batch(**moved)
