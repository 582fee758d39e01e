"""Silent video -> text with word timings: the Python API behind ``lipread transcribe``.

    from lipread.transcribe import Transcriber
    result = Transcriber.from_checkpoint().transcribe("clip.mp4")
    print(result.text, result.words)

Mouths are cut by :func:`data_prep.pipeline.extract_mouths` with the crop settings stored in the
checkpoint: the very code and settings that built the training data.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from data_prep.contracts import DecoderSettings
from data_prep.rejections import PrepError
from lipread.alignment import word_timings
from lipread.augment import centre_crop
from lipread.cli_options import resolve_device
from lipread.clips import Item, collate, to_model_input
from lipread.decoding import build_decoder
from lipread.pretrained import Model, load
from lipread.segmentation import pause_cuts

log = logging.getLogger(__name__)

#: The model that ships with the package (a GRID s1 LipNet); see RESULTS.md.
DEFAULT_MODEL = Path(__file__).with_name("pretrained")


class TranscriptionError(Exception):
    """A video that could not be transcribed; ``code`` is a prep reason code (no_face, ...)."""

    def __init__(self, path: str, code: str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.path, self.code, self.detail = path, code, detail


@dataclass
class Transcript:
    file: str
    text: str
    words: list[dict]
    duration: float
    model: str
    decoder: str
    timings: dict[str, float] = field(default_factory=dict)
    mouth_frames: np.ndarray | None = field(default=None, repr=False)  # (T, S, S, 3) uint8 crops

    def to_json(self) -> dict:
        data = asdict(self)
        data.pop("mouth_frames")
        data["timings"] = {k: round(v, 4) for k, v in self.timings.items()}
        return data


def default_model_path() -> Path:
    if not (DEFAULT_MODEL / "config.json").is_file():
        raise FileNotFoundError(
            "no model shipped with this install; train one with `lipread train --config "
            "configs/grid_lipnet.yaml` and pass --checkpoint runs/grid_lipnet/checkpoints/last.ckpt"
        )
    return DEFAULT_MODEL


class Transcriber:
    """A loaded model, its decoders and a face tracker, reused across videos."""

    def __init__(self, model: Model, device: str | torch.device = "cpu", beam: DecoderSettings | None = None,
                 max_segment: int = 100, min_segment: int = 40):  # fmt: skip
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.card = model.card
        self.name = self.card.name
        self.crop = self.card.crop
        self.fps = self.card.fps
        self.beam = beam or self.card.decoder
        self.max_segment, self.min_segment = max_segment, min_segment
        self._decoders: dict[str, object] = {}
        self._tracker = None

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | None = None, **kwargs) -> Transcriber:
        path = Path(path) if path else default_model_path()
        device = resolve_device(device)
        return cls(load(path), device, **kwargs)

    @property
    def tracker(self):
        if self._tracker is None:
            from data_prep.landmarks import FaceTracker

            self._tracker = FaceTracker()
        return self._tracker

    def decoder(self, kind: str):
        if kind not in self._decoders:
            self._decoders[kind] = build_decoder(kind, self.model.tokenizer, self.card, self.beam)
        return self._decoders[kind]

    # -- stages

    def mouths(self, path: str | Path, timings: dict[str, float]):
        """The crops (frames, transforms, landmarks) of a whole video, or a :class:`TranscriptionError`."""
        from data_prep.pipeline import extract_mouths

        path = str(path)
        if not Path(path).is_file():
            raise TranscriptionError(path, "unreadable", "no such file")
        try:
            (clip,), _ = extract_mouths(path, [(None, None)], self.tracker, self.crop, min_frames=10, timings=timings)
        except PrepError as err:
            raise TranscriptionError(path, err.reason, err.detail) from err
        if clip.error is not None:
            detail = clip.error.detail
            if clip.error.reason == "too_few_frames":
                detail = f"video too short: {detail}"
            raise TranscriptionError(path, clip.error.reason, detail)
        return clip.crops

    @torch.no_grad()
    def log_probs(self, clips: list[np.ndarray], batch_size: int = 16) -> list[torch.Tensor]:
        """Model outputs (T, V) for each crop sequence, batched."""
        card = self.card
        out: list[torch.Tensor] = []
        for i in range(0, len(clips), batch_size):
            items = [
                Item("", "", to_model_input(centre_crop(c, card.input_size), card.channels, card.pixel_mean, card.pixel_std),
                     torch.zeros(0, dtype=torch.long))
                for c in clips[i : i + batch_size]
            ]  # fmt: skip
            batch = collate(items)
            lp = self.model(batch.video.to(self.device), batch.lengths.to(self.device)).cpu()
            out.extend(lp[j, :n] for j, n in enumerate(batch.lengths.tolist()))
        return out

    def transcribe(self, path: str | Path, decoder: str = "beam") -> Transcript:
        return self.transcribe_many([path], decoder)[0]

    def transcribe_many(self, paths: list[str | Path], decoder: str = "beam", on_error=None) -> list[Transcript]:
        """Transcribe several videos, batching the model over all their windows.

        Videos longer than ``max_segment`` frames are cut at visual pauses
        (:func:`lipread.segmentation.pause_cuts`) and the pieces' words joined in order.
        A file that fails raises :class:`TranscriptionError`, unless ``on_error`` is given: then
        it is called with the error and that file is left out of the result.
        """
        prepared = []
        for path in paths:
            timings: dict[str, float] = {}
            try:
                crops = self.mouths(path, timings)
            except TranscriptionError as err:
                if on_error is None:
                    raise
                on_error(err)
                continue
            prepared.append((str(path), crops, timings))
        pieces = [
            (k, s, e)
            for k, (_, crops, _) in enumerate(prepared)
            for s, e in pause_cuts(crops.points, self.max_segment, self.min_segment)
        ]
        clock = time.perf_counter()
        outputs = self.log_probs([prepared[k][1].frames[s:e] for k, s, e in pieces])
        model_seconds = (time.perf_counter() - clock) / max(1, len(prepared))
        decode = self.decoder(decoder)
        results = []
        for k, (path, crops, timings) in enumerate(prepared):
            mine = [(s, e, lp) for (kk, s, e), lp in zip(pieces, outputs) if kk == k]
            timings["model"] = model_seconds
            clock = time.perf_counter()
            words = []
            for s, e, lp in mine:
                text = decode(lp[None], torch.tensor([len(lp)]))[0]
                piece = word_timings(lp, text, self.model.tokenizer, self.fps, offset=s / self.fps)
                words += piece or (_even_words(text, s / self.fps, e / self.fps) if text else [])
            timings["decoder"] = time.perf_counter() - clock
            results.append(
                Transcript(
                    file=path,
                    text=" ".join(w["word"] for w in words),
                    words=words,
                    duration=round(len(crops.frames) / self.fps, 3),
                    model=self.name,
                    decoder=decoder,
                    timings=timings,
                    mouth_frames=crops.frames,
                )
            )
        return results


def _even_words(text: str, start: float, end: float) -> list[dict]:
    words = text.split()
    step = (end - start) / len(words)
    return [
        {"word": w, "start": round(start + i * step, 3), "end": round(start + (i + 1) * step, 3), "confidence": 0.0}
        for i, w in enumerate(words)
    ]
