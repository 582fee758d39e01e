"""How far to trust a transcript: a per-utterance confidence, and whether the video is out of domain.

Both come from the model's outputs for the utterance and the decoder's n-best list:

- ``posterior``: the share of the best sentence among the n-best (softmax of their scores); low
  when close alternatives compete (GRID's letters).
- ``gap``: nats per frame between the model's unconstrained reading (the best path, spelled freely)
  and the decoded sentence. Decoding within a vocabulary or grammar costs little on speech the
  model knows; on anything else the allowed sentences fit badly and the gap grows.
- ``entropy``: mean per-frame entropy of the model's outputs, in nats; unusually flat outputs mean
  the model is unsure what it sees.

``confidence`` is ``posterior`` scaled down by how far ``gap`` and ``entropy`` exceed what the
model shows on its validation data; ``out_of_domain`` is true when either exceeds its calibrated
threshold (:class:`Calibration`, stored in the model folder's ``decoding.json``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F

from data_prep.head_pose import HeadPose
from lipread.text import CharTokenizer

#: How far (degrees) a face may be turned from the camera before a reading of it is called out of
#: domain, unless a model's ``decoding.json`` says otherwise: measured for the shipped model on s1_val's
#: clips with the face turned (``benchmarks/turned_face_wer.py``).
MAX_YAW = 25.0
#: The same for a face tilted up or down (the same benchmark's ``--pitch``): a third of the words are
#: wrong from about 20 degrees down; tilted up the model holds out further, but one limit serves both.
MAX_PITCH = 20.0


@dataclass(frozen=True)
class Calibration:
    """Out-of-domain thresholds measured on a model's validation data (``benchmarks/confidence.py``
    writes them into the model folder's ``decoding.json``)."""

    max_entropy: float = 0.8  # nats per frame
    max_gap_grammar: float = 0.2  # nats per frame, decoding within a grammar
    max_gap_lexicon: float = 0.05  # nats per frame, the lexicon beam (with or without the LM)
    source: str = "default"  # what they were measured on
    #: degrees a face may be turned from the camera (a phrase's median, :mod:`data_prep.head_pose`);
    #: not measured on a validation split, whose faces are all frontal, but on turned ones (:data:`MAX_YAW`)
    max_yaw: float = MAX_YAW
    #: degrees a face may be tilted up or down (a phrase's median, :data:`MAX_PITCH`)
    max_pitch: float = MAX_PITCH

    def max_gap(self, decoder: str, grammar: bool) -> float:
        if decoder == "greedy":
            return math.inf  # the free reading itself: no gap to measure
        return self.max_gap_grammar if grammar else self.max_gap_lexicon

    def flags(self, assessment: Assessment, decoder: str, grammar: bool) -> bool:
        """Whether these thresholds call an assessed reading out of domain."""
        return bool(strayed(assessment.gap, assessment.entropy, self.max_gap(decoder, grammar), self.max_entropy))

    def facing(self, assessment: Assessment, pose: HeadPose) -> Assessment:
        """A phrase's assessment, knowing how its face is held (``pose``, degrees): turned past
        :attr:`max_yaw` or tilted past :attr:`max_pitch`, out of domain, saying so; its confidence
        lowered as :func:`assess` lowers it for the other measures (nothing within half a threshold,
        ``e^-excess`` beyond, by the further of the two)."""
        turn, tilt = abs(pose.yaw), abs(pose.pitch)
        shares = [share for share in (turn / self.max_yaw, tilt / self.max_pitch) if math.isfinite(share)]
        if not shares or max(shares) <= 0.5:
            return assessment
        reasons = [assessment.reason] if assessment.reason else []
        if turn > self.max_yaw:
            reasons.insert(0, f"the face is turned {turn:.0f} degrees from the camera (the model reads faces "
                              f"turned at most {self.max_yaw:g})")  # fmt: skip
        if tilt > self.max_pitch:
            reasons.insert(0, f"the face is tilted {tilt:.0f} degrees {'up' if pose.pitch > 0 else 'down'} from "
                              f"the camera (the model reads faces tilted at most {self.max_pitch:g})")  # fmt: skip
        return replace(
            assessment,
            confidence=round(assessment.confidence * math.exp(0.5 - max(shares)), 4),
            out_of_domain=assessment.out_of_domain or turn > self.max_yaw or tilt > self.max_pitch,
            reason="; ".join(reasons) or None,
        )

    def to_json(self) -> dict:
        return asdict(self)


#: Thresholds sit this far above what in-domain clips show: the gap's 95th percentile, the
#: entropy's 99th (the gap has a long tail on in-domain video: a misread word the grammar corrects).
GAP_MARGIN = 2.0
ENTROPY_MARGIN = 1.2
#: ...but a gap threshold is never below this (nats a frame). Where the free reading is nearly
#: always something the decoder may say (the lexicon beam on GRID: 46 of s1_val's 50 clips have a
#: gap of 0), the 95th percentile is about 0 and twice it flags in-domain clips whose one misspelt
#: word the lexicon puts right (on s1_val such corrections cost 0.008 and 0.038).
MIN_GAP = 0.05


#: A model adapted from a base keeps thresholds between the base's and this many times them. A
#: personal model that reads its own speaker badly is unsure on that speaker's clips; widening the
#: thresholds to take them all in would also take in video of anything else (GRID s26 adapted from 5
#: clips: entropy up to 0.72 on its own held-out clips; the talking-face videos of ../shared/real
#: show 0.46-0.83), so past this the warning stays: that model cannot read them either.
BASE_STRETCH = 2.0
#: A model's ``max_yaw`` and ``max_pitch`` admit the faces it was calibrated on: at least the 95th
#: percentile of how far they are turned (tilted), plus this (degrees; a phrase's median moves a few
#: degrees from its clip's).
POSE_MARGIN = 10.0


def calibrated(grammar_gaps: list[float], lexicon_gaps: list[float], entropies: list[float], source: str,
               base: Calibration | None = None, poses: list[HeadPose] = ()) -> Calibration:  # fmt: skip
    """Out-of-domain thresholds from in-domain clips' measures (an empty list keeps ``base``'s
    threshold, or the default); with ``base`` (a model adapted from another), each lies between the
    base's and :data:`BASE_STRETCH` times it. ``poses``: how the clips' faces are held (degrees);
    ``max_yaw`` and ``max_pitch`` are never below what they need (a personal model of someone filmed
    from the side, or from below, reads them so), nor below ``base``'s or the default."""
    floor = base or Calibration()

    def above(values: list[float], percentile: float, margin: float, lowest: float, kept: float) -> float:
        finite = [v for v in values if math.isfinite(v)]
        if not finite:
            return kept
        measured = max(
            margin * float(torch.quantile(torch.tensor(finite, dtype=torch.float64), percentile / 100)), lowest
        )
        return round(min(max(measured, kept), BASE_STRETCH * kept) if base else measured, 3)

    def admitting(angles: list[float], kept: float) -> float:
        sizes = [abs(a) for a in angles if math.isfinite(a)]
        if not sizes:
            return kept
        return max(kept, round(float(torch.quantile(torch.tensor(sizes, dtype=torch.float64), 0.95)) + POSE_MARGIN, 1))

    return Calibration(
        max_entropy=above(entropies, 99, ENTROPY_MARGIN, 0.0, floor.max_entropy),
        max_gap_grammar=above(grammar_gaps, 95, GAP_MARGIN, MIN_GAP, floor.max_gap_grammar),
        max_gap_lexicon=above(lexicon_gaps, 95, GAP_MARGIN, MIN_GAP, floor.max_gap_lexicon),
        max_yaw=admitting([p.yaw for p in poses], floor.max_yaw),
        max_pitch=admitting([p.pitch for p in poses], floor.max_pitch),
        source=f"{source}: gap {GAP_MARGIN}x its 95th percentile (at least {MIN_GAP}), entropy {ENTROPY_MARGIN}x "
        f"its 99th" + (f"; from the base model's to {BASE_STRETCH:g}x them" if base else ""),
    )


@dataclass(frozen=True)
class Assessment:
    """One utterance's confidence in [0, 1], out-of-domain flag and the measures behind them."""

    confidence: float
    out_of_domain: bool
    reason: str | None
    posterior: float
    gap: float
    entropy: float
    frames: int
    partial: bool = False  # read as part of an allowed sentence (``Transcriber.partial``), not a whole one


def ctc_log_likelihood(log_probs: torch.Tensor, text: str, tokenizer: CharTokenizer) -> float:
    """log p(text | video) under CTC, summed over alignments; -inf when it cannot fit the frames."""
    labels = tokenizer.encode(text)
    if not labels:
        return float(log_probs[:, tokenizer.blank].sum())
    loss = F.ctc_loss(
        log_probs.float()[:, None], torch.tensor([labels]), torch.tensor([len(log_probs)]),
        torch.tensor([len(labels)]), blank=tokenizer.blank, reduction="sum", zero_infinity=False,
    )  # fmt: skip
    return -float(loss)


def strayed(gap: float, entropy: float, max_gap: float, max_entropy: float,
            allowed: str = "the allowed sentences") -> list[str]:  # fmt: skip
    """Why a reading with this ``gap`` and ``entropy`` lies outside what the thresholds call in
    domain (empty when it does not): the one comparison behind :func:`assess` and
    :meth:`Calibration.flags`."""
    reasons = []
    if math.isinf(gap):  # the best the decoder found is its shortest allowed ending, forced
        reasons.append(f"too short for any of {allowed} (the reading shown is a guess that cannot fit its frames)")
    elif gap > max_gap:
        reasons.append(
            f"{allowed} fit the lips poorly ({gap:.2f} nats a frame from the model's free reading; "
            f"in-domain video stays under {max_gap:.2f})"
        )
    if entropy > max_entropy:
        reasons.append(
            f"the model is unsure on most frames (entropy {entropy:.2f}; in-domain video stays under {max_entropy:.2f})"
        )
    return reasons


def assess(log_probs: torch.Tensor, n_best: list[tuple[str, float]], free_text: str, tokenizer: CharTokenizer,
           max_gap: float, max_entropy: float, allowed: str = "the allowed sentences",
           own: slice = slice(None)) -> Assessment:  # fmt: skip
    """Judge the best of ``n_best`` (text, decoder score) for one utterance's (T, V) log-probabilities;
    ``free_text`` is the unconstrained (greedy) reading; the thresholds come from a :class:`Calibration`;
    ``allowed`` names what the decoder may say, for the reason (a grammar's sentences, a vocabulary's words).
    ``own``: the frames of the video itself, when still frames were added around it to read it (the
    measures are per frame of the video: added rest would dilute them)."""
    frames = max(1, len(log_probs[own]))
    scores = torch.tensor([s for _, s in n_best], dtype=torch.float64)
    finite = torch.isfinite(scores)
    posterior = float(torch.softmax(scores[finite], 0)[0]) if finite.any() and finite[0] else 0.0
    chosen = ctc_log_likelihood(log_probs, n_best[0][0], tokenizer)
    free = chosen if free_text == n_best[0][0] else ctc_log_likelihood(log_probs, free_text, tokenizer)
    gap = max(0.0, (free - chosen) / frames) if math.isfinite(chosen) else math.inf
    probs = log_probs[own].float().exp()
    entropy = float(-(probs * log_probs[own].float()).sum(-1).mean()) if len(probs) else 0.0
    reasons = strayed(gap, entropy, max_gap, max_entropy, allowed)
    penalty = math.exp(-max(0.0, gap / max_gap - 0.5) - max(0.0, entropy / max_entropy - 0.5))
    # (a measure well inside its in-domain range costs nothing; beyond half its threshold, e^-excess)
    return Assessment(
        confidence=round(posterior * penalty, 4) if math.isfinite(gap) else 0.0,
        out_of_domain=bool(reasons),
        reason="; ".join(reasons) or None,
        posterior=round(posterior, 4),
        gap=round(gap, 4) if math.isfinite(gap) else gap,
        entropy=round(entropy, 4),
        frames=frames,
    )


def combine(parts: list[Assessment]) -> tuple[float, bool, str | None]:
    """A whole video's (or face segment's) confidence, flag and reason from its pieces: confidence
    weighted by frames; out of domain when most of the frames are."""
    frames = sum(p.frames for p in parts)
    if not frames:
        return 0.0, False, None
    confidence = sum(p.confidence * p.frames for p in parts) / frames
    flagged = [p for p in parts if p.out_of_domain]
    out = sum(p.frames for p in flagged) > frames / 2
    reason = max(flagged, key=lambda p: p.frames).reason if out else None
    return round(confidence, 4), out, reason
