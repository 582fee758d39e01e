"""Silent video -> text with word timings: the Python API behind ``lipread transcribe``.

    from lipread import Transcriber
    result = Transcriber.from_checkpoint().transcribe("clip.mp4")
    print(result.text, [(w.word, w.start, w.end) for w in result.words])

Mouths are cut by :mod:`data_prep.pipeline` (one pass for face tracks, one for crops) with the crop settings stored in the
checkpoint: the very code and settings that built the training data.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from data_prep.contracts import DecoderSettings
from data_prep.face_tracks import Segment, uncovered
from data_prep.landmarks import FaceTracker
from data_prep.pipeline import VideoScan, crop_segments, scan_faces
from data_prep.progress import frame_bar
from data_prep.rejections import PrepError
from data_prep.video import TARGET_FPS
from lipread.alignment import word_timings
from lipread.augment import centre_crop
from lipread.cli_options import resolve_device
from lipread.clips import PixelNorm, to_model_input
from lipread.confidence import Assessment, assess, combine
from lipread.decoding import Hypothesis, build_decoder, combine_n_best
from lipread.grammar import Grammar
from lipread.grammar import load as load_grammar
from lipread.pretrained import DecodingDefaults, Model, decoding_defaults, load
from lipread.segmentation import PhraseSettings, phrase_cuts
from lipread.transcript import DroppedPhrase, TrackReading, Transcript, TranscriptWord, transcript_text

log = logging.getLogger(__name__)

#: The model that ships with the package (a GRID s1 LipNet); see RESULTS.md.
DEFAULT_MODEL = Path(__file__).with_name("pretrained")
#: Hypotheses each window is decoded into, at least, for its confidence (the best one's share).
CONFIDENCE_N_BEST = 10


class TranscriptionError(Exception):
    """A video that could not be transcribed; ``code`` is a prep reason code (no_face, ...)."""

    def __init__(self, path: str, code: str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.path, self.code, self.detail = path, code, detail


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
                 phrases: PhraseSettings | None = None, min_frames: int = 12, grammar: Grammar | None = None,
                 vocabulary: list[str] | None = None, defaults: DecodingDefaults | None = None):  # fmt: skip
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.card = model.card
        self.norm = PixelNorm.of(self.card)
        self.name = self.card.name
        self.crop = self.card.crop
        self.fps = self.card.fps
        self.beam = beam or self.card.decoder
        self.phrases = phrases or PhraseSettings()
        self.min_frames = min_frames  # the shortest video, and the shortest stretch of one face, to read
        self.grammar, self.vocabulary = grammar, vocabulary
        self.defaults = defaults or DecodingDefaults()  # the model folder's decoding.json
        self.calibration = self.defaults.calibration
        self._decoders: dict[str, object] = {}
        self._tracker = None
        self.progress = False  # bars for a long video's passes (the command line sets it at a terminal)

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | None = None, grammar: str | None = "default",
                        vocabulary: list[str] | None = None, **kwargs) -> Transcriber:  # fmt: skip
        """``grammar``: a grammar file or built-in name, ``"default"`` for the model folder's own
        (``decoding.json``), or None / ``"none"`` for the lexicon and n-gram LM."""
        path = Path(path) if path else default_model_path()
        return cls.for_model(load(path), path, device, grammar, vocabulary, **kwargs)

    @classmethod
    def for_model(cls, model: Model, path: Path, device: str | None = None, grammar: str | None = "default",
                  vocabulary: list[str] | None = None, **kwargs) -> Transcriber:  # fmt: skip
        """As :meth:`from_checkpoint`, for ``path``'s model already loaded (two readers of one
        model, as ``lipread evaluate --calibrate`` has, then share its weights)."""
        device = resolve_device(device)
        defaults = decoding_defaults(path)
        spec = defaults.grammar if grammar == "default" else (None if grammar in (None, "none") else grammar)
        chosen = load_grammar(spec, model.tokenizer.alphabet, base=path if path.is_dir() else None) if spec else None
        return cls(model, device, grammar=chosen, vocabulary=vocabulary, defaults=defaults, **kwargs)

    @property
    def tracker(self):
        if self._tracker is None:
            self._tracker = FaceTracker()
        return self._tracker

    def close(self) -> None:
        """Free the face tracker's native graphs (a server closes each live stream's own)."""
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None

    def decoder(self, kind: str):
        """The decoder of this kind for the current grammar (built once per grammar; a few are kept)."""
        key = (kind, id(self.grammar) if kind == "beam" else None)
        if key not in self._decoders:
            if len(self._decoders) >= 8:
                self._decoders.pop(next(iter(self._decoders)))
            self._decoders[key] = build_decoder(kind, self.model.tokenizer, self.card, self.beam,
                                                words=self.vocabulary, grammar=self.grammar)  # fmt: skip
        return self._decoders[key]

    # -- stages

    def readable_segments(self, path: str | Path, faces: str, timings: dict[str, float]) -> tuple[VideoScan, list]:
        """Every face's readable stretches (or only the largest face's where several overlap), and
        their mouth crops; a :class:`TranscriptionError` when there is none."""
        path = str(path)
        if not Path(path).is_file():
            raise TranscriptionError(
                path, "unreadable", "a folder, not a video" if Path(path).is_dir() else "no such file"
            )
        try:
            scan = scan_faces(path, self.tracker, self.crop, self.min_frames, timings, self.progress)
            if scan.num_frames < self.min_frames:
                raise PrepError("too_few_frames", f"video too short: {scan.num_frames} frames at 25 fps, "
                                f"fewer than {self.min_frames}")  # fmt: skip
            chosen = scan.readable if faces == "all" else largest_only(scan.readable)
            if not chosen:
                raise PrepError(*why_unreadable(scan, self.crop.min_mouth_width, self.min_frames))
            crops = crop_segments(scan.frames, chosen, self.crop, timings, self.progress)
        except PrepError as err:
            raise TranscriptionError(path, err.reason, err.detail) from err
        return scan, list(zip(chosen, crops))

    @torch.no_grad()
    def log_probs(self, clips: list[np.ndarray]) -> list[torch.Tensor]:
        """Model outputs (T, V) for each crop sequence, each read on its own: its numbers then do not
        depend on what it is read with (a live stream gets the very outputs a file gets), no time goes
        on padding (on 2 CPU cores one by one is 15% faster than batches), and memory is one phrase's
        (at most :attr:`PhraseSettings.max_frames`, about 0.6 MB a frame for LipNet)."""
        card = self.card
        out: list[torch.Tensor] = []
        with frame_bar(sum(map(len, clips)), "lips", self.progress) as bar:
            for clip in clips:
                video = to_model_input(centre_crop(clip, card.input_size), card.channels, self.norm)
                lengths = torch.tensor([len(clip)])
                out.append(self.model(video[None].to(self.device), lengths.to(self.device)).cpu()[0])
                bar.update(len(clip))
        return out

    def read_window(self, log_probs: torch.Tensor, decoder: str, k: int) -> tuple[list[Hypothesis], Assessment]:
        """The ``k`` best sentences for one window's (T, V) model outputs, and how far to trust the best."""
        hyps = self.decoder(decoder).n_best(log_probs, k)
        free = self.decoder("greedy").n_best(log_probs, 1)[0].text
        in_grammar = self.grammar is not None and decoder == "beam"
        judged = assess(log_probs, [(h.text, h.score) for h in hyps], free, self.model.tokenizer,
                        self.calibration.max_gap(decoder, in_grammar), self.calibration.max_entropy,
                        "the allowed sentences" if in_grammar else "the vocabulary's words")  # fmt: skip
        return hyps, judged

    def read_phrase(self, log_probs: torch.Tensor, start: float, end: float, decoder: str,
                    n_best: int = 0) -> tuple[list[TranscriptWord], list[Hypothesis], Assessment]:  # fmt: skip
        """One phrase's words (with times from ``start`` seconds), its best sentences and their assessment."""
        hyps, judged = self.read_window(log_probs, decoder, max(n_best, CONFIDENCE_N_BEST))
        text = hyps[0].text
        aligned = word_timings(log_probs, text, self.model.tokenizer, self.fps, offset=start)
        words = [TranscriptWord(w.word, w.start, w.end, w.confidence) for w in aligned]
        return words or TranscriptWord.spread(text, start, end), hyps, judged

    def transcribe(self, path: str | Path, decoder: str = "beam", faces: str = "all", n_best: int = 0,
                   min_confidence: float = 0.0) -> Transcript:  # fmt: skip
        return self.transcribe_many([path], decoder, faces=faces, n_best=n_best, min_confidence=min_confidence)[0]

    def transcribe_many(self, paths: list[str | Path], decoder: str = "beam", on_error=None,
                        faces: str = "all", n_best: int = 0, min_confidence: float = 0.0) -> list[Transcript]:  # fmt: skip
        """Transcribe several videos: each one's faces found and cropped, then the model over every phrase, then the decoder.

        Each face track's readable stretch is read on its own (``faces="largest"``: only the
        largest face where several overlap), cut into phrases where the lips pause, its still
        stretches left unread (:class:`lipread.segmentation.PhraseCutter`, as ``lipread live`` cuts). Each result (and segment) carries
        its confidence and out-of-domain flag, and with ``n_best`` its best sentences. Phrases whose
        confidence is below ``min_confidence`` are left out of the words and listed under ``dropped``
        (the video's confidence and flag still judge every phrase). A file that fails raises
        :class:`TranscriptionError`, unless ``on_error`` is given: then it is called with the error
        and that file is left out of the result. Each result holds its video's crops
        (``mouth_frames``): over a long list, call this a video at a time and keep what you need, as
        ``lipread transcribe`` does.
        """
        if faces not in FACES:
            raise ValueError(f"faces must be one of {FACES}, not {faces!r}")
        prepared = []
        for path in paths:
            timings: dict[str, float] = {}
            try:
                scan, found = self.readable_segments(path, faces, timings)
            except TranscriptionError as err:
                if on_error is None:
                    raise
                on_error(err)
                continue
            prepared.append((str(path), scan, found, timings))
        pieces = [
            (k, j, s, e)
            for k, (_, _, found, _) in enumerate(prepared)
            for j, (_, crops) in enumerate(found)
            for s, e in phrase_cuts(crops.points, self.phrases)
        ]
        clock = time.perf_counter()
        outputs = self.log_probs([prepared[k][2][j][1].frames[s:e] for k, j, s, e in pieces])
        model_seconds = (time.perf_counter() - clock) / max(1, len(prepared))
        by_segment: dict[tuple[int, int], list[tuple[int, int, torch.Tensor]]] = {}
        for (k, j, s, e), lp in zip(pieces, outputs):
            by_segment.setdefault((k, j), []).append((s, e, lp))
        results = []
        for k, (path, scan, found, timings) in enumerate(prepared):
            timings["model"] = model_seconds
            clock = time.perf_counter()
            numbers = {t: n for n, t in enumerate(dict.fromkeys(segment.track for segment, _ in found))}
            segments, all_hyps, all_judged, dropped = [], [], [], []
            for j, (segment, _) in enumerate(found):
                track = numbers[segment.track]
                words, hyps, judged = [], [], []
                for s, e, lp in by_segment.get((k, j), []):
                    start, end = (segment.start + s) / self.fps, (segment.start + e) / self.fps
                    piece, window_hyps, window_judged = self.read_phrase(lp, start, end, decoder, n_best)
                    if window_judged.confidence < min_confidence:
                        dropped.append(DroppedPhrase(track, round(start, 3), round(end, 3), window_hyps[0].text,
                                                     window_judged.confidence))  # fmt: skip
                    else:
                        words += piece
                    hyps.append(window_hyps)
                    judged.append(window_judged)
                words = [replace(w, track=track) for w in words]
                confidence, out, _ = combine(judged)
                segments.append(TrackReading(
                    track, round(segment.start / self.fps, 3), round(segment.end / self.fps, 3), segment.box,
                    " ".join(w.word for w in words), words, confidence, out,
                    combine_n_best(hyps, n_best) if n_best else [],
                ))  # fmt: skip
                all_hyps += hyps
                all_judged += judged
            timings["decoder"] = time.perf_counter() - clock
            covered = [(s.start, s.end) for s, _ in found]
            gaps = [[round(a / self.fps, 3), round(b / self.fps, 3)]
                    for a, b in uncovered(covered, scan.num_frames, self.min_frames)]  # fmt: skip
            words = sorted((w for seg in segments for w in seg.words), key=lambda w: (w.start, w.track))
            confidence, out, reason = combine(all_judged)
            results.append(
                Transcript(
                    file=path,
                    text=transcript_text(segments),
                    words=words,
                    duration=round(scan.num_frames / self.fps, 3),
                    model=self.name,
                    decoder=decoder,
                    segments=segments,
                    gaps=gaps,
                    confidence=confidence,
                    out_of_domain=out,
                    reason=reason,
                    grammar=self.grammar.name if self.grammar is not None and decoder == "beam" else None,
                    n_best=combine_n_best(all_hyps, n_best) if n_best else [],
                    dropped=dropped,
                    timings=timings,
                    mouth_frames=np.concatenate([crops.frames for _, crops in found]),
                )
            )
        return results


FACES = ("all", "largest")


def largest_only(found: list[Segment]) -> list[Segment]:
    """Where segments overlap in time, the one with the largest face (the nearest talker)."""
    by_size = sorted(found, key=lambda s: -s.box[2] * s.box[3])
    kept: list[Segment] = []
    for s in by_size:
        if all(s.end <= k.start or k.end <= s.start for k in kept):
            kept.append(s)
    return sorted(kept, key=lambda s: s.start)


def why_unreadable(scan: VideoScan, min_mouth_width: float, min_frames: int) -> tuple[str, str]:
    """The reason code and message for a video with no readable stretch."""
    small = [s for s in scan.segments if s.problem == "face_too_small"]
    if small:
        width = max(s.mouth_width for s in small)
        return "face_too_small", (
            f"the mouth is {width:.1f} px wide, below the {min_mouth_width:g} px the model needs: "
            "use a closer shot or a higher resolution"
        )
    if scan.segments:
        longest = max(s.end - s.start for s in scan.segments) / TARGET_FPS
        return "no_face", (
            f"no face stays in view long enough to read: the longest stretch is {longest:.2f} s, "
            f"{min_frames / TARGET_FPS:.2f} s are needed"
        )
    if scan.small_face:
        at, width = scan.small_face
        return "face_too_small", (
            f"a face about {width:.0f} px wide (at {at:.1f} s) is too small to find its lips: "
            "faces need about 120 px; use a closer shot or a higher resolution"
        )
    return "no_face", f"no face in any of {scan.num_frames} frames"
