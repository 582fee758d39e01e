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
from data_prep.crop import interpolate, transforms
from data_prep.face_tracks import Segment, uncovered
from data_prep.head_pose import HeadPose, pose_degrees
from data_prep.landmarks import FaceTracker
from data_prep.pipeline import VideoFrames, VideoScan, cut_mouths, scan_faces
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
from lipread.rest import PhraseOutputs, rest_to_add, with_rest
from lipread.segmentation import PhraseSettings, phrase_cuts
from lipread.transcript import (
    DroppedPhrase,
    Sentence,
    Span,
    TrackReading,
    Transcript,
    TranscriptWord,
    transcript_text,
)

log = logging.getLogger(__name__)

#: The model that ships with the package (a GRID s1 LipNet); see RESULTS.md.
DEFAULT_MODEL = Path(__file__).with_name("pretrained")
#: Hypotheses each window is decoded into, at least, for its confidence (the best one's share).
CONFIDENCE_N_BEST = 10
#: Crops held at once while a video is read (about 27 kB each at 96 px): a long video's mouths are
#: cut, read by the model and let go a batch of this many frames at a time.
BATCH_FRAMES = 3000
#: With ``partial``, a phrase whose whole-sentence reading the grammar fits badly (out of domain by its
#: gap) is read as a part of a sentence when that takes at least this share of the gap away. Tuned on
#: s1_val clips cut after or before each word (RESULTS.md, "Phrases cut mid-sentence"): no whole clip
#: changes reading, and nearly every cut one is read as the part it holds.
PARTIAL_GAIN = 0.5


class TranscriptionError(Exception):
    """A video that could not be transcribed; ``code`` is a prep reason code (no_face, ...)."""

    def __init__(self, path: str, code: str, detail: str):
        super().__init__(f"{path}: {detail}")
        self.path, self.code, self.detail = path, code, detail

    def __reduce__(self):  # from a worker process (lipread.parallel_reading), whole
        return type(self), (self.path, self.code, self.detail)


def default_model_path() -> Path:
    if not (DEFAULT_MODEL / "config.json").is_file():
        raise FileNotFoundError(
            "no model shipped with this install; train one with `lipread train --config grid_lipnet` "
            "and pass --checkpoint runs/grid_lipnet/checkpoints/last.ckpt"
        )
    return DEFAULT_MODEL


class Transcriber:
    """A loaded model, its decoders and a face tracker, reused across videos."""

    def __init__(self, model: Model, device: str | torch.device = "cpu", beam: DecoderSettings | None = None,
                 phrases: PhraseSettings | None = None, min_frames: int = 12, grammar: Grammar | None = None,
                 vocabulary: list[str] | None = None, defaults: DecodingDefaults | None = None,
                 partial: bool = False):  # fmt: skip
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
        #: read a phrase that no allowed sentence fits, but a part of one does, as that part (video cut
        #: mid-sentence) instead of the whole sentence that fits it least badly
        self.partial = partial
        self.defaults = defaults or DecodingDefaults()  # the model folder's decoding.json
        self.rest_frames = self.defaults.rest_frames  # still frames the model should see either side of a phrase
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

    def decoder(self, kind: str, fragments: bool = False):
        """The decoder of this kind for the current grammar (built once per grammar; a few are kept).
        The beam reads one or more of the grammar's sentences in a row (:meth:`Grammar.repeated`);
        with ``fragments``, any run of consecutive words of them (:meth:`Grammar.fragments`)."""
        key = (kind, id(self.grammar) if kind == "beam" else None, fragments)
        if key not in self._decoders:
            if len(self._decoders) >= 8:
                self._decoders.pop(next(iter(self._decoders)))
            grammar = self.grammar.repeated() if self.grammar is not None else None
            grammar = grammar.fragments() if fragments else grammar
            self._decoders[key] = build_decoder(kind, self.model.tokenizer, self.card, self.beam,
                                                words=self.vocabulary, grammar=grammar)  # fmt: skip
        return self._decoders[key]

    # -- stages

    def readable_segments(self, path: str | Path, faces: str, timings: dict[str, float],
                          span: Span | None = None) -> tuple[VideoScan, list]:  # fmt: skip
        """Every face's readable stretches (or only the largest face's where several overlap), found
        by one pass over the video (``span``: over those seconds of it); a :class:`TranscriptionError`
        when there is none."""
        path = str(path)
        if not Path(path).is_file():
            raise TranscriptionError(
                path, "unreadable", "a folder, not a video" if Path(path).is_dir() else "no such file"
            )
        try:
            scan = scan_faces(path, self.tracker, self.crop, self.min_frames, timings, self.progress,
                              span.bounds if span else (0.0, None))  # fmt: skip
            if scan.frames_read < self.min_frames:
                what = "video" if span is None else f"the part read ({span}) is"
                raise PrepError("too_few_frames", f"{what} too short: {frame_count(scan.frames_read)} at 25 fps, "
                                f"fewer than {self.min_frames}")  # fmt: skip
            chosen = scan.readable if faces == "all" else largest_only(scan.readable)
            if not chosen:
                raise PrepError(*why_unreadable(scan, self.crop.min_mouth_width, self.min_frames))
        except PrepError as err:
            raise TranscriptionError(path, err.reason, err.detail) from err
        return scan, chosen

    @torch.no_grad()
    def log_probs(self, clips: list[np.ndarray], bar=None) -> list[PhraseOutputs]:
        """Model outputs for each crop sequence, each read on its own: its numbers then do not
        depend on what it is read with (a live stream gets the very outputs a file gets), no time goes
        on padding (on 2 CPU cores one by one is 15% faster than batches), and memory is one phrase's
        (at most :attr:`PhraseSettings.max_frames`, about 0.6 MB a frame for LipNet). A phrase the
        model sees less than :attr:`rest_frames` of rest around is read again with a still mouth
        added (:mod:`lipread.rest`). ``bar``: a progress bar to count the frames on."""
        out: list[PhraseOutputs] = []
        for clip in clips:
            plain = self._forward(clip)
            before, after = rest_to_add(plain, self.model.tokenizer.blank, self.rest_frames)
            rested = None if before == after == 0 else self._forward(with_rest(clip, before, after))
            out.append(PhraseOutputs(plain, rested, before))
            if bar is not None:
                bar.update(len(clip))
        return out

    def _forward(self, clip: np.ndarray) -> torch.Tensor:
        """The model's (T, V) log-probabilities for one (T, S, S, 3) uint8 crop sequence."""
        card = self.card
        video = to_model_input(centre_crop(clip, card.input_size), card.channels, self.norm)
        lengths = torch.tensor([len(clip)])
        return self.model(video[None].to(self.device), lengths.to(self.device)).cpu()[0]

    def read_lips(self, scan: VideoScan, chosen: list[Segment], timings: dict[str, float], keep_crops: bool = False,
                  decoder: str = "beam") -> tuple[dict[int, list[tuple[int, int, PhraseOutputs]]], np.ndarray | None]:  # fmt: skip
        """The model's outputs for every phrase of every chosen segment: ``{segment index: [(first
        frame, end frame, PhraseOutputs)]}``, frames counted from the segment's start.

        The mouths are cut and read a batch of at most :data:`BATCH_FRAMES` frames at a time (each
        batch decoded from the keyframe before it; in one batch where the container cannot seek),
        so a long video holds one batch's crops, not all of them; only the phrases' frames are cut.
        With ``keep_crops`` every segment's crops are cut and kept, and returned (in segment order)
        for the reading sheet (``-f png``).
        """
        points = [interpolate(segment.points) for segment in chosen]
        cuts = [phrase_cuts(p, self.phrases) for p in points]
        # what is cut, a unit at a time: (segment, first frame, end frame, the phrases inside it)
        if keep_crops:  # every frame, in stretches that never split a phrase
            units = [(j, a, b, [(s, e) for s, e in cuts[j] if a <= s and e <= b])
                     for j, p in enumerate(points) for a, b in stretches(len(p), cuts[j])]  # fmt: skip
        else:  # the phrases alone
            units = [(j, s, e, [(s, e)]) for j, c in enumerate(cuts) for s, e in c]
        units.sort(key=lambda u: (chosen[u[0]].start + u[1], u[0]))
        matrices = [transforms(p, self.crop) for p in points]
        outputs: dict[int, list[tuple[int, int, PhraseOutputs]]] = {}
        kept: dict[tuple[int, int], np.ndarray] = {}
        name = Path(scan.frames.path).name
        model_seconds = sentence_seconds = 0.0
        to_cut = sum(b - a for _, a, b, _ in units)
        with frame_bar(to_cut, f"{name}: mouths", self.progress) as mouths, \
                frame_bar(sum(e - s for c in cuts for s, e in c), f"{name}: lips", self.progress) as lips:  # fmt: skip
            # (a container without a keyframe index would be decoded from its start for every batch: one batch)
            for n, batch in enumerate(batches(units, BATCH_FRAMES if scan.frames.info.seekable else to_cut)):
                first = chosen[batch[0][0]].start + batch[0][1]
                reuse = n == 0 and scan.frames.kept  # a short video's frames, still held from the scan
                frames = scan.frames if reuse else VideoFrames(scan.frames.path, scan.frames.info,
                                                                max(0.0, first / self.fps - 1.0))  # fmt: skip
                spans = [((chosen[j].start + a) / self.fps, (chosen[j].start + b) / self.fps) for j, a, b, _ in batch]
                crops = cut_mouths(frames, spans, [matrices[j][a:b] for j, a, b, _ in batch],
                                   [points[j][a:b] for j, a, b, _ in batch], self.crop, timings, mouths)  # fmt: skip
                phrases = [(j, s, e, unit.frames[s - a : e - a]) for (j, a, _, inside), unit in zip(batch, crops)
                           for s, e in inside]  # fmt: skip
                phrases = [p for p in phrases if len(p[3])]  # (a video that ends sooner than its scan said)
                clock = time.perf_counter()
                read = self.log_probs([p[3] for p in phrases], lips)
                model_seconds += time.perf_counter() - clock
                clock = time.perf_counter()  # (decoding, to find the sentences: the decoder's time)
                for (j, s, e, mouths_read), lp in zip(phrases, read):
                    for a, b, piece in self.each_sentence(mouths_read, lp, decoder):
                        outputs.setdefault(j, []).append((s + a, s + b, piece))
                sentence_seconds += time.perf_counter() - clock
                if keep_crops:
                    kept.update({(j, a): unit.frames for (j, a, _, _), unit in zip(batch, crops)})
        timings["model"] = timings.get("model", 0.0) + model_seconds
        timings["decoder"] = timings.get("decoder", 0.0) + sentence_seconds
        for j in outputs:
            outputs[j].sort(key=lambda o: o[0])
        if not keep_crops:
            return outputs, None
        return outputs, np.concatenate([kept[key] for key in sorted(kept)]) if kept else None

    def read_window(self, log_probs: torch.Tensor, decoder: str, k: int,
                    own: slice = slice(None)) -> tuple[list[Hypothesis], Assessment]:  # fmt: skip
        """The ``k`` best sentences for one window's (T, V) model outputs, and how far to trust the best
        (with :attr:`partial`, maybe the best parts of sentences: see :data:`PARTIAL_GAIN`); ``own``:
        the window's own frames, when rest was added around it (:attr:`PhraseOutputs.own`)."""
        free = self.decoder("greedy").n_best(log_probs, 1)[0].text
        in_grammar = self.grammar is not None and decoder == "beam"
        max_gap = self.calibration.max_gap(decoder, in_grammar)

        def judge(hyps: list[Hypothesis]) -> Assessment:
            return assess(log_probs, [(h.text, h.score) for h in hyps], free, self.model.tokenizer, max_gap,
                          self.calibration.max_entropy,
                          "the allowed sentences" if in_grammar else "the vocabulary's words", own)  # fmt: skip

        hyps = self.decoder(decoder).n_best(log_probs, k)
        judged = judge(hyps)
        if self.partial and in_grammar and judged.gap > max_gap:
            parts = self.decoder(decoder, fragments=True).n_best(log_probs, k)
            part = judge(parts)
            if part.gap < PARTIAL_GAIN * judged.gap:
                return parts, replace(part, partial=not self.grammar.repeated().allows(parts[0].text))
        return hyps, judged

    def each_sentence(self, crops: np.ndarray, outputs: PhraseOutputs, decoder: str
                      ) -> list[tuple[int, int, PhraseOutputs]]:  # fmt: skip
        """A phrase read as several of the grammar's sentences, cut between them (midway between one's
        last word and the next one's first) and each piece read on its own, with the rest around it
        that the join lacked: ``[(first frame, end frame, outputs)]``, frames of the phrase. Other
        phrases come back whole. On s1_val's sentences joined 5 a video 0.12/0.24/0.4 s apart
        (``benchmarks/continuous_speech_wer.py``): 22.3/17.7/9.7% -> 17.0/13.0/5.7% WER (RESULTS.md,
        "A still mouth around each phrase")."""
        if self.grammar is None or decoder != "beam":
            return [(0, len(crops), outputs)]
        read = self.read_outputs(outputs, decoder, CONFIDENCE_N_BEST)
        whole = [(0, len(crops), replace(outputs, reading=((decoder, CONFIDENCE_N_BEST), read)))]
        hyps, _, log_probs, before = read
        pieces = self.grammar.split(hyps[0].text)
        if pieces is None or len(pieces) < 2:
            return whole
        words = word_timings(log_probs, hyps[0].text, self.model.tokenizer, 1.0, offset=-before)  # in frames
        if not words:
            return whole
        cuts, said = [0], 0
        for piece in pieces[:-1]:
            said += len(piece.split())
            cuts.append(round((words[said - 1].end + words[said].start) / 2))
        cuts.append(len(crops))
        if any(b - a < self.phrases.min_phrase for a, b in zip(cuts, cuts[1:])):
            return whole
        return [(a, b, self.log_probs([crops[a:b]])[0]) for a, b in zip(cuts, cuts[1:])]

    def read_outputs(self, outputs: PhraseOutputs, decoder: str, k: int
                     ) -> tuple[list[Hypothesis], Assessment, torch.Tensor, int]:  # fmt: skip
        """:meth:`read_window` of a phrase's outputs: the rested reading where there is one. With
        :attr:`partial`, a rested reading that is not a whole sentence in domain gives way to a plain
        one that is a part of a sentence (a cut mid-sentence is not followed by rest: held still, its
        last mouth shape reads as more words). Also the log-probabilities read and the still frames
        ahead of the phrase in them, for word times. A reading already made (:attr:`PhraseOutputs.reading`)
        is given again."""
        if outputs.reading is not None and outputs.reading[0] == (decoder, k):
            return outputs.reading[1]
        if outputs.rested is None:
            return *self.read_window(outputs.plain, decoder, k), outputs.plain, 0
        hyps, judged = self.read_window(outputs.rested, decoder, k, outputs.own)
        if self.partial and (judged.out_of_domain or judged.partial):
            plain_hyps, plain_judged = self.read_window(outputs.plain, decoder, k)
            if plain_judged.partial:
                return plain_hyps, plain_judged, outputs.plain, 0
        return hyps, judged, outputs.rested, outputs.before

    def read_phrase(self, outputs: PhraseOutputs, start: float, end: float, decoder: str,
                    n_best: int = 0) -> tuple[list[TranscriptWord], list[Hypothesis], Assessment]:  # fmt: skip
        """One phrase's words (with times from ``start`` seconds), its best sentences and their assessment."""
        hyps, judged, log_probs, before = self.read_outputs(outputs, decoder, max(n_best, CONFIDENCE_N_BEST))
        text = hyps[0].text
        aligned = word_timings(log_probs, text, self.model.tokenizer, self.fps, offset=start - before / self.fps)
        within = lambda t: round(min(max(t, start), end), 3)  # noqa: E731 (a word aligned onto the still frames)
        words = [TranscriptWord(w.word, within(w.start), within(w.end), w.confidence) for w in aligned]
        return words or TranscriptWord.spread(text, start, end), hyps, judged

    def sentences(self, words: list[TranscriptWord], judged: Assessment, decoder: str,
                  track: int = 0) -> list[Sentence]:  # fmt: skip
        """One phrase's words as the sentences they spell: in the grammar (the beam), each of its
        sentences (:meth:`Grammar.split`; with a part read, each run of words inside one); else the
        phrase as one. Each carries the phrase's confidence (a phrase of several sentences was cut
        between them by :meth:`each_sentence` where it could be)."""
        texts = [" ".join(w.word for w in words)] if words else []
        if words and self.grammar is not None and decoder == "beam":
            split = self.grammar.split(texts[0])
            if split is None and judged.partial:
                split = self.grammar.fragments().split(texts[0])
            texts = split or texts
        out, first = [], 0
        for text in texts:
            mine = words[first : first + len(text.split())]
            first += len(mine)
            partial = judged.partial and self.grammar is not None and not self.grammar.allows(text)
            out.append(Sentence(track, mine[0].start, mine[-1].end, text, judged.confidence, partial))
        return out

    def transcribe(self, path: str | Path, decoder: str = "beam", faces: str = "all", n_best: int = 0,
                   min_confidence: float = 0.0, keep_crops: bool = False, span: Span | None = None) -> Transcript:  # fmt: skip
        return self.transcribe_many([path], decoder, faces=faces, n_best=n_best, min_confidence=min_confidence,
                                    keep_crops=keep_crops, span=span)[0]  # fmt: skip

    def transcribe_many(self, paths: list[str | Path], decoder: str = "beam", on_error=None, faces: str = "all",
                        n_best: int = 0, min_confidence: float = 0.0, keep_crops: bool = False,
                        span: Span | None = None) -> list[Transcript]:  # fmt: skip
        """Transcribe several videos, one after the other: each one's faces found, its phrases' mouths
        cut and read by the model a batch at a time, then the decoder.

        Each face track's readable stretch is read on its own (``faces="largest"``: only the
        largest face where several overlap), cut into phrases where the lips pause, its still
        stretches left unread (:class:`lipread.segmentation.PhraseCutter`, as ``lipread live`` cuts). Each result (and segment) carries
        its confidence and out-of-domain flag, and with ``n_best`` its best sentences. Phrases whose
        confidence is below ``min_confidence`` are left out of the words and listed under ``dropped``
        (the video's confidence and flag still judge every phrase). A file that fails raises
        :class:`TranscriptionError`, unless ``on_error`` is given: then it is called with the error
        and that file is left out of the result. Memory is one batch of crops (:data:`BATCH_FRAMES`)
        however long the video; with ``keep_crops``, each result also holds its video's crops
        (``mouth_frames``, for :func:`lipread.reading_sheet.reading_sheet`), which grow with it.
        ``span``: read only those seconds of each video (decoded from the keyframe before its start,
        not beyond its end); the times in the transcripts stay the video's own.
        """
        if faces not in FACES:
            raise ValueError(f"faces must be one of {FACES}, not {faces!r}")
        results = []
        for path in paths:
            timings: dict[str, float] = {}
            try:
                scan, found = self.readable_segments(path, faces, timings, span)
            except TranscriptionError as err:
                if on_error is None:
                    raise
                on_error(err)
                continue
            outputs, mouth_frames = self.read_lips(scan, found, timings, keep_crops, decoder)
            results.append(self._reading(str(path), scan, found, outputs, decoder, n_best, min_confidence,
                                         timings, mouth_frames, span))  # fmt: skip
        return results

    def _reading(self, path: str, scan: VideoScan, found: list[Segment],
                 by_segment: dict[int, list[tuple[int, int, PhraseOutputs]]], decoder: str, n_best: int,
                 min_confidence: float, timings: dict[str, float], mouth_frames: np.ndarray | None,
                 span: Span | None = None) -> Transcript:  # fmt: skip
        """One video's transcript from its phrases' model outputs: each phrase decoded, timed and judged."""
        clock = time.perf_counter()
        numbers = {t: n for n, t in enumerate(dict.fromkeys(segment.track for segment in found))}
        segments, all_hyps, all_judged, dropped, sentences = [], [], [], [], []
        for j, segment in enumerate(found):
            track = numbers[segment.track]
            words, hyps, judged = [], [], []
            poses = pose_degrees(segment.points)  # (frames, 2): yaw, pitch
            for s, e, lp in by_segment.get(j, []):
                start, end = (segment.start + s) / self.fps, (segment.start + e) / self.fps
                piece, window_hyps, window_judged = self.read_phrase(lp, start, end, decoder, n_best)
                window_judged = self.calibration.facing(window_judged, HeadPose.typical(poses[s:e]))
                if window_judged.confidence < min_confidence:
                    dropped.append(DroppedPhrase(track, round(start, 3), round(end, 3), window_hyps[0].text,
                                                 window_judged.confidence))  # fmt: skip
                else:
                    words += piece
                    sentences += self.sentences(piece, window_judged, decoder, track)
                hyps.append(window_hyps)
                judged.append(window_judged)
            words = [replace(w, track=track) for w in words]
            confidence, out, _ = combine(judged)
            segments.append(TrackReading(
                track, round(segment.start / self.fps, 3), round(segment.end / self.fps, 3), segment.box,
                " ".join(w.word for w in words), words, confidence, out,
                combine_n_best(hyps, n_best) if n_best else [], any(j.partial for j in judged),
                *(round(angle, 1) for angle in HeadPose.median(poses)),  # yaw, pitch
            ))  # fmt: skip
            all_hyps += hyps
            all_judged += judged
        timings["decoder"] = timings.get("decoder", 0.0) + time.perf_counter() - clock
        covered = [(s.start, s.end) for s in found]
        gaps = [[round(a / self.fps, 3), round(b / self.fps, 3)]
                for a, b in uncovered(covered, scan.num_frames, self.min_frames, scan.first)]  # fmt: skip
        words = sorted((w for seg in segments for w in seg.words), key=lambda w: (w.start, w.track))
        confidence, out, reason = combine(all_judged)
        return Transcript(
            file=path,
            text=transcript_text(segments),
            words=words,
            duration=round(scan.frames_read / self.fps, 3),
            span=[round(scan.first / self.fps, 3), round(scan.num_frames / self.fps, 3)] if span else None,
            model=self.name,
            decoder=decoder,
            segments=segments,
            sentences=sorted(sentences, key=lambda s: (s.start, s.track)),
            gaps=gaps,
            confidence=confidence,
            out_of_domain=out,
            reason=reason,
            grammar=self.grammar.name if self.grammar is not None and decoder == "beam" else None,
            partial=any(j.partial for j in all_judged),
            n_best=combine_n_best(all_hyps, n_best) if n_best else [],
            dropped=dropped,
            timings=timings,
            mouth_frames=mouth_frames,
        )


def stretches(length: int, cuts: list[tuple[int, int]], most: int | None = None) -> list[tuple[int, int]]:
    """``[0, length)`` in consecutive pieces of at most ``most`` frames (default :data:`BATCH_FRAMES`),
    each ending where no phrase of ``cuts`` is under way (a phrase is never split)."""
    most = BATCH_FRAMES if most is None else most
    out, a = [], 0
    while a < length:
        b = min(a + most, length)
        inside = [(s, e) for s, e in cuts if s < b < e]
        while inside:  # back to the start of the phrase under way (phrases may overlap by a few frames)
            b = min(s for s, _ in inside)
            inside = [(s, e) for s, e in cuts if s < b < e]
        if b <= a:  # a phrase longer than ``most`` (never, with PhraseSettings.max_frames): keep it whole
            b = max(e for s, e in cuts if s <= a < e)
        out.append((a, b))
        a = b
    return out


def batches(units: list[tuple], most: int) -> list[list[tuple]]:
    """Consecutive ``(segment, first, end, ...)`` units grouped so that each group holds at most
    ``most`` frames (a longer unit alone)."""
    out: list[list[tuple]] = []
    total = most
    for unit in units:
        size = unit[2] - unit[1]
        if total + size > most:
            out.append([])
            total = 0
        out[-1].append(unit)
        total += size
    return out


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
    return "no_face", f"no face in any of {frame_count(scan.frames_read)}"


def frame_count(frames: int) -> str:
    return f"{frames} frame" if frames == 1 else f"{frames} frames"
