"""Confidence and out-of-domain detection, measured: WER against coverage on labelled data, the
out-of-domain flag's rate on labelled (in-domain) data and on other videos, and (with --calibrate) the
thresholds written next to the model as calibration.json.

    python benchmarks/confidence.py --data DATASET --split ../shared/grid/splits/s1_val.txt --calibrate
    python benchmarks/confidence.py --data DATASET --split ../shared/grid/splits/s1_test.txt \\
        --videos ../shared/real/*.mp4

Calibrate on validation data only; report on test data.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path

import numpy as np

from data_prep.native_logs import quiet_native_stderr
from lipread.clips import read_dataset
from lipread.confidence import calibrated
from lipread.evaluate import read_and_assess_each, select_utterances
from lipread.metrics import word_counts
from lipread.pretrained import DECODING, DecodingDefaults, decoding_defaults
from lipread.transcribe import Transcriber, TranscriptionError, default_model_path

#: The grammar stays the default unless the lexicon beam reads validation data better by more than
#: this (one point: 3 words of GRID's s1_val); within it the two are level, and the grammar's output
#: is always a sentence it allows.
GRAMMAR_TOLERANCE = 0.01


def labelled(model_path: Path, data: Path, split: Path, grammar: str) -> dict[str | None, list[dict]]:
    """Per decoding (beam in ``grammar``, then the lexicon + LM beam, keyed None), per utterance:
    word errors, confidence and the out-of-domain measures (flags by the model's stored
    thresholds). The model runs once; both decoders read its outputs."""
    reader = Transcriber.from_checkpoint(model_path, "cpu", grammar=grammar)
    lexicon = Transcriber(reader.model, reader.device, defaults=decoding_defaults(model_path))
    utterances = select_utterances(read_dataset(data), split)
    readings = read_and_assess_each([reader, lexicon], utterances, "beam", desc=f"grammar {grammar} and lexicon")
    rows: dict[str | None, list[dict]] = {}
    for key, judged in zip((grammar, None), readings):
        rows[key] = []
        for u in utterances:
            text, a = judged[u.id]
            counts = word_counts([u.text], [text])
            rows[key].append({"id": u.id, "errors": counts.errors, "words": counts.reference_length,
                              "confidence": a.confidence, "gap": a.gap, "entropy": a.entropy,
                              "out_of_domain": a.out_of_domain})  # fmt: skip
    return rows


def wer(rows: list[dict]) -> float:
    return sum(r["errors"] for r in rows) / max(1, sum(r["words"] for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, default=None, help="model folder (default: the shipped one)")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--grammar", default="grid", help="the grammar to compare with the lexicon + LM beam")
    parser.add_argument("--videos", type=Path, nargs="*", default=[], help="other videos: the flag's rate on them")
    parser.add_argument("--calibrate", action="store_true",
                        help=f"choose the default decoding and thresholds; write them to the model's {DECODING}")  # fmt: skip
    args = parser.parse_args()
    quiet_native_stderr()  # mediapipe's own log lines would bury the table
    model_path = args.checkpoint or default_model_path()
    rows = labelled(model_path, args.data, args.split, args.grammar)
    name = args.split.name
    print(f"{model_path.name} on {name}; CPU: {platform.machine()}, {os.cpu_count()} cores")
    print("| decoding | WER | WER, most confident 50% | 80% | 100% | out_of_domain |\n|---|---:|---:|---:|---:|---:|")
    for g, r in rows.items():
        shares = coverage(r)
        flagged = sum(x["out_of_domain"] for x in r)
        print(
            f"| {'grammar ' + g if g else 'lexicon + LM'} | {wer(r):.2%} | "
            + " | ".join(f"{w:.2%}" for _, w in shares)
            + f" | {flagged}/{len(r)} ({flagged / len(r):.1%}) |"
        )
    for g, r in rows.items():
        for key in ("gap", "entropy"):
            v = np.array([x[key] for x in r])
            print(f"{'grammar' if g else 'lexicon'} {key}: median {np.median(v):.3f}, 95th percentile "
                  f"{np.percentile(v, 95):.3f}, 99th {np.percentile(v, 99):.3f}, max {v.max():.3f}")  # fmt: skip
    if args.calibrate:
        better = wer(rows[args.grammar]) <= wer(rows[None]) + GRAMMAR_TOLERANCE
        defaults = DecodingDefaults(
            grammar=args.grammar if better else None,
            calibration=calibrated(
                [x["gap"] for x in rows[args.grammar]],
                [x["gap"] for x in rows[None]],
                [x["entropy"] for x in rows[None]],
                f"{name}, {len(rows[None])} utterances",
            ),
            chosen_on=f"{name}: WER {wer(rows[args.grammar]):.2%} with grammar {args.grammar}, "
            f"{wer(rows[None]):.2%} with the lexicon + LM beam (the grammar unless the beam is better by more "
            f"than {GRAMMAR_TOLERANCE:.0%})",
            rest_frames=decoding_defaults(model_path).rest_frames,  # (not measured here: kept)
        )
        (model_path / DECODING).write_text(json.dumps(defaults.to_json(), indent=2) + "\n")
        print(f"wrote {model_path / DECODING}: grammar {defaults.grammar}, {defaults.calibration}")
    if args.videos:
        transcriber = Transcriber.from_checkpoint(args.checkpoint)
        flags = []
        for video in args.videos:
            try:
                t = transcriber.transcribe(video)
            except TranscriptionError as err:
                print(f"  {video.name}: no transcript ({err.code})")
                continue
            flags.append(t.out_of_domain)
            print(f"  {video.name}: out_of_domain={t.out_of_domain} confidence={t.confidence:.2f} {t.text[:50]!r}")
        print(f"out_of_domain on the videos (default decoding): {sum(flags)}/{len(flags)}")


def coverage(rows: list[dict]) -> list[tuple[float, float]]:
    """WER of the most confident 50%, 80% and 100% of utterances."""
    ranked = sorted(rows, key=lambda r: -r["confidence"])
    return [(share, wer(ranked[: max(1, round(share * len(ranked)))])) for share in (0.5, 0.8, 1.0)]


if __name__ == "__main__":
    main()
