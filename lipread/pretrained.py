"""Model folders: ``config.json`` (a :class:`~data_prep.contracts.ModelCard`) and safetensors weights.

A Lightning checkpoint holds optimiser state and pickled objects (tens of MB, and unpickling is
unsafe for files from strangers); inference needs only the weights and the card. :func:`export`
writes a folder; :func:`load` reads a folder or a ``.ckpt`` into a :class:`Model`, checking the
card and that every weight is there (a missing tensor would leave a layer random). Nothing here
imports Lightning, so commands that only run a model start fast.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from data_prep.contracts import ContractError, ModelCard
from data_prep.dataset_folder import write_json
from lipread.confidence import Calibration
from lipread.models import build_model, ctc_log_probs
from lipread.text import CharTokenizer

CONFIG = "config.json"
#: A model folder's decoding defaults, chosen on its validation data: the grammar to decode in
#: (if any), the out-of-domain thresholds (:class:`~lipread.confidence.Calibration`) and the rest
#: the model expects around a phrase.
DECODING = "decoding.json"


@dataclass(frozen=True)
class DecodingDefaults:
    grammar: str | None = None  # a built-in grammar's name, or a file in the model folder
    calibration: Calibration = Calibration()
    chosen_on: str | None = None  # the measurement behind the choice
    #: Still frames the model should see either side of a phrase: one read with fewer is read again with
    #: its first and last crops repeated up to this (``Transcriber.log_probs``); 0 reads phrases as cut.
    #: A model that learnt sentences with rest around them (GRID's clips: about a second) reads a phrase
    #: cut close to its words far better so (RESULTS.md, "A still mouth around each phrase").
    rest_frames: int = 0

    def to_json(self) -> dict:
        return {"grammar": self.grammar, "chosen_on": self.chosen_on, "rest_frames": self.rest_frames,
                "out_of_domain": self.calibration.to_json()}  # fmt: skip


def decoding_defaults(path: Path | None) -> DecodingDefaults:
    """The defaults stored with a model folder; none for a checkpoint or a folder without them."""
    record_path = path / DECODING if path is not None and path.is_dir() else None
    if record_path is None or not record_path.is_file():
        return DecodingDefaults()
    try:
        record = json.loads(record_path.read_text())
        return DecodingDefaults(record.get("grammar"), Calibration(**record.get("out_of_domain", {})),
                                record.get("chosen_on"), int(record.get("rest_frames", 0)))  # fmt: skip
    except (ValueError, TypeError) as err:
        raise ContractError(f"{record_path}: not a valid {DECODING} ({err})") from None


class Model(nn.Module):
    """A network with its card and tokenizer: what transcription and evaluation run.

    Parameter names match :class:`lipread.module.LipreadModule`'s (``model.*``), so weights move
    between training and inference unchanged.
    """

    def __init__(self, card: ModelCard):
        super().__init__()
        self.card = card
        self.tokenizer = CharTokenizer(card.alphabet)
        self.model = build_model(
            card.arch, card.channels, self.tokenizer.vocab_size, input_size=card.input_size, **card.arch_options
        )

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, T, V) in float32."""
        return ctc_log_probs(self.model, video, lengths)


def load(path: str | Path, map_location: str | torch.device = "cpu") -> Model:
    """A model folder (from :func:`export`) or a Lightning ``.ckpt``, ready for inference."""
    path = Path(path)
    if path.is_dir():
        card, state = _read_folder(path)
    elif path.is_file():
        card, state = _read_checkpoint(path)
    else:
        raise FileNotFoundError(f"no model at {path}: give a model folder (with {CONFIG}) or a .ckpt file")
    model = Model(card)
    _load_weights(model, state, path)
    return model.to(map_location).eval()


def _read_folder(path: Path) -> tuple[ModelCard, dict[str, torch.Tensor]]:
    config_path = path / CONFIG
    if not config_path.is_file():
        raise FileNotFoundError(f"{path} is not a model folder (no {CONFIG})")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as err:
        raise ContractError(f"{config_path}: not JSON ({err.msg}, line {err.lineno})") from None
    card = ModelCard.from_json(config, str(config_path))
    state: dict[str, torch.Tensor] = {}
    for name in config.get("weights") or []:
        if not (path / name).is_file():
            raise ContractError(f"{path}: weight file {name} named in {CONFIG} is missing")
        state.update(load_file(path / name))
    return card, state


def card_from_checkpoint(ckpt: dict, where: str) -> ModelCard:
    """The card a training run stored in its checkpoint (older runs stored loose data settings)."""
    stored = ckpt.get("lipread") or {}
    if "format" in stored:
        return ModelCard.from_json(stored, where)
    hparams = {k: v for k, v in dict(ckpt.get("hyper_parameters") or {}).items() if not k.startswith("_")}
    return ModelCard.from_json({"format": "lipread-model/1", "hyper_parameters": hparams, "data": stored}, where)


def _read_checkpoint(path: Path) -> tuple[ModelCard, dict[str, torch.Tensor]]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - torch raises many types for a file that is not a checkpoint
        raise ContractError(
            f"{path} is not a lipread checkpoint or model folder ({type(err).__name__}: {err})"
        ) from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise ContractError(f"{path} is not a Lightning checkpoint (no state_dict)")
    state = {k: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    return card_from_checkpoint(ckpt, str(path)), state


def weights_digest(path: Path) -> str:
    """The first 12 hex digits of the SHA-256 of a model's weights: which model a report is about,
    whatever its folder is called. A checkpoint is hashed whole; a folder, its weight files in order."""
    files = [path] if path.is_file() else sorted(path.glob("*.safetensors"))
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:12]


def weight_mismatch(model: nn.Module, state: dict[str, torch.Tensor]) -> str | None:
    """What keeps ``state`` from filling ``model`` exactly (missing, unexpected or wrong-shaped
    tensors), or None when every parameter and buffer is there, no more, no fewer."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    parts = [
        f"{len(names)} {label} (e.g. {', '.join(names[:3])})"
        for label, names in (("missing", missing), ("unexpected", unexpected), ("of the wrong shape", wrong))
        if names
    ]
    return "; ".join(parts) or None


def _load_weights(model: nn.Module, state: dict[str, torch.Tensor], where: Path) -> None:
    problem = weight_mismatch(model, state)
    if problem:
        raise ContractError(f"{where}: the weights do not fit the model its card describes: {problem}")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})


def save(card: ModelCard, state_dict: dict[str, torch.Tensor], out_dir: str | Path,
         dtype: torch.dtype = torch.float16, max_shard_mb: float = 15.0) -> Path:  # fmt: skip
    """Write ``card`` and the ``model.*`` tensors of ``state_dict`` (floats as ``dtype``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.to(dtype) if v.is_floating_point() else v).contiguous()
        for k, v in state_dict.items()
        if k.startswith("model.")
    }
    shards: list[dict] = [{}]
    size = 0
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_mb * 2**20:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    files = [f"model-{i + 1:02d}-of-{len(shards):02d}.safetensors" for i in range(len(shards))]
    for shard, name in zip(shards, files):
        save_file(shard, out / name)
    # last and whole (written aside, then renamed): a folder is a model only once its weights are all there
    write_json(out / CONFIG, {**card.to_json(), "weights": files})
    return out


def average_weights(models: list[Model], where: list[str]) -> dict[str, torch.Tensor]:
    """The element-wise mean of the models' floating-point tensors (integer buffers from the first).

    Averaging the last checkpoints of one run, or the fine-tunes of one model with other settings or
    seeds, often reads better than any one of them (Auto-AVSR averages its last ten epochs; "model
    soups"). It only makes sense for models of one architecture and alphabet, so any other is an error.
    """
    first = models[0]
    for model, name in zip(models[1:], where[1:]):
        problem = weight_mismatch(first, model.state_dict())
        if problem or model.card.alphabet != first.card.alphabet:
            raise ContractError(f"cannot average {name} with {where[0]}: {problem or 'their alphabets differ'}")
    states = [m.state_dict() for m in models]
    return {
        k: torch.stack([s[k].float() for s in states]).mean(0) if v.is_floating_point() else v
        for k, v in states[0].items()
    }


def export(
    source: str | Path | list[str | Path],
    out_dir: str | Path,
    name: str | None = None,
    decoder_options: dict | None = None,
    dtype: torch.dtype = torch.float16,
) -> Path:
    """Write a checkpoint or model folder as a slim model folder, optionally renamed and with other
    decoder defaults (``{"lm_weight": 0.25}``; the others are kept). Several sources are averaged
    (:func:`average_weights`) under the first one's card, which records what went in."""
    sources = [Path(s) for s in (source if isinstance(source, list) else [source])]
    models = [load(s) for s in sources]
    card = models[0].card
    state = models[0].state_dict()
    if len(models) > 1:
        state = average_weights(models, [str(s) for s in sources])
        card = card.replace(training={**card.training, "averaged": [
            {"name": m.card.name, "digest": weights_digest(s)} for m, s in zip(models, sources)
        ]})  # fmt: skip
    if decoder_options:
        card = card.replace(decoder=card.decoder.replace(**decoder_options))
    if name or card.name == "lipread-model":
        card = card.replace(name=name or Path(out_dir).name)
    out = save(card, state, out_dir, dtype)
    carry_decoding(sources[0], card, out)
    return out


def carry_decoding(source: Path, card: ModelCard, out: Path) -> None:
    """A model folder's decoding defaults go with it when it is exported again (renamed, averaged,
    other decoder weights), as its card does; a training checkpoint gets as its default the built-in
    grammar that every one of its training sentences fits, if one does (the shipped GRID model
    decodes in GRID's grammar; `--grammar none` still gives the lexicon + LM)."""
    if source.is_dir():
        copy_decoding(source, out)
        return
    from lipread.grammar import fitting_builtin

    name = fitting_builtin(card.train_texts or [], card.alphabet) if card.grammar is None else None
    if name:
        chosen = (
            f"every one of its {len(card.train_texts)} training sentences is a sentence of the built-in grammar {name}"
        )
        (out / DECODING).write_text(json.dumps(DecodingDefaults(name, chosen_on=chosen).to_json(), indent=2) + "\n")


def copy_decoding(base: Path, out: Path) -> None:
    """The base folder's decoding defaults and the grammar files they name go with a model made from it."""
    if not base.is_dir() or base.resolve() == out.resolve():  # (a folder exported onto itself keeps them)
        return
    names = [DECODING] if (base / DECODING).is_file() else []
    defaults = decoding_defaults(base)
    card_grammar = json.loads((base / CONFIG).read_text()).get("grammar")
    names += [g for g in (defaults.grammar, card_grammar) if g and (base / g).is_file()]
    for name in names:
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(base / name, target)
