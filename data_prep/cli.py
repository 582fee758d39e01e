"""``lipread prep`` and ``lipread prep-merge``: argument parsing and the end-of-run summary."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from data_prep.arguments import (
    fraction,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    whole_number,
)
from data_prep.contracts import CropSettings
from data_prep.rejections import REASONS
from data_prep.video import CLIP_CRF

log = logging.getLogger("data_prep")


def _shard(value: str) -> tuple[int, int]:
    try:
        index, count = (int(x) for x in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard takes I/N, e.g. 0/4; got {value!r}") from None
    if not 0 <= index < count:
        raise argparse.ArgumentTypeError(f"--shard I/N needs 0 <= I < N; got {value!r}")
    return index, count


def crf_value(text: str) -> int:
    """x264's constant rate factor: 0 (lossless) to 51."""
    return whole_number(text, 0, 51)


def prep_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="lipread prep")
    parser.description = (
        "Turn a folder of talking-face videos and their transcripts into a mouth-crop dataset "
        "folder (manifest.jsonl, clips/, meta.json, rejected.jsonl). Transcripts: GRID .align "
        "files (--alignments), LRS-style .txt, .srt or .vtt beside each video, or a CSV/JSONL "
        "--manifest. Run the same command again to resume an interrupted build."
    )
    parser.add_argument("input_dir", type=Path, help="folder of videos, searched recursively")
    parser.add_argument("-o", "--output", "--out", dest="out", type=Path, required=True, help="dataset folder to write")
    parser.add_argument("--alignments", type=Path, help="folder of GRID .align files (matched by name)")
    parser.add_argument("--manifest", type=Path, help="CSV or JSONL: path,text[,start,end,speaker,id]")
    parser.add_argument(
        "--workers", type=positive_int, default=os.cpu_count() or 1, help="parallel processes (default: cores)"
    )
    parser.add_argument("--shard", type=_shard, help="build slice I of N (0 <= I < N); join with prep-merge")
    parser.add_argument("--preview", type=non_negative_int, default=0, metavar="N", help="write preview.png of N clips")
    parser.add_argument("--size", type=positive_int, default=CropSettings.size, help="crop side in pixels")
    parser.add_argument("--color", choices=["rgb", "gray"], default=CropSettings.color, help="crop colour")
    parser.add_argument(
        "--scale", type=positive_float, default=CropSettings.scale, help="crop side in inter-ocular distances"
    )
    parser.add_argument("--min-frames", type=positive_int, default=10, help="shorter utterances are rejected")
    parser.add_argument(
        "--max-gap",
        type=non_negative_int,
        default=CropSettings.max_gap,
        help="longest face-less run (frames) to interpolate",
    )
    parser.add_argument(
        "--max-missing", type=fraction, default=CropSettings.max_missing, help="most face-less frames (fraction)"
    )
    parser.add_argument(
        "--min-mouth-width", type=non_negative_float, default=CropSettings.min_mouth_width, help="pixels"
    )
    parser.add_argument(
        "--max-yaw",
        type=non_negative_float,
        default=None,
        metavar="DEGREES",
        help="reject utterances whose face is turned further from the camera (median); default: keep every one",
    )
    parser.add_argument(
        "--max-pitch",
        type=non_negative_float,
        default=None,
        metavar="DEGREES",
        help="reject utterances whose face is tilted further up or down (median); default: keep every one",
    )
    parser.add_argument(
        "--crf",
        type=crf_value,
        default=CLIP_CRF,
        metavar="0-51",
        help="x264 quality of the clips: 18 visually lossless; 0 lossless and reproducible, several times larger",
    )
    parser.add_argument("--dry-run", action="store_true",
                        help="say what would be built (videos, utterances, refusals, the first transcripts) without "
                        "decoding a frame or writing a file")  # fmt: skip
    parser.add_argument(
        "--retry-rejected",
        action="store_true",
        help="try earlier rejections again (those of reason error are tried again anyway)",
    )
    parser.epilog = "reason codes in rejected.jsonl: " + "; ".join(f"{k}: {v}" for k, v in REASONS.items())
    return parser


def run_prep(args: argparse.Namespace) -> int:
    from data_prep.builder import PrepOptions, build

    if args.input_dir.is_file():
        log.error("%s is a file: prep reads a folder of videos (put the video in a folder of its own, "
                  "with its transcript beside it or in --manifest)", args.input_dir)  # fmt: skip
        return 2
    if not args.input_dir.is_dir():
        log.error("input folder %s does not exist", args.input_dir)
        return 2
    if args.out.exists() and not args.out.is_dir():
        log.error("--out %s exists and is not a folder", args.out)
        return 2
    for name in ("alignments", "manifest"):
        value = getattr(args, name)
        if value is not None and not value.exists():
            log.error("--%s %s does not exist", name, value)
            return 2
    options = PrepOptions(
        input_dir=args.input_dir,
        out=args.out,
        alignments=args.alignments,
        manifest=args.manifest,
        workers=args.workers,
        shard=args.shard,
        preview=args.preview,
        min_frames=args.min_frames,
        max_yaw=args.max_yaw,
        max_pitch=args.max_pitch,
        retry_rejected=args.retry_rejected,
        crf=args.crf,
        crop=CropSettings(
            size=args.size,
            scale=args.scale,
            color=args.color,
            max_gap=args.max_gap,
            max_missing=args.max_missing,
            min_mouth_width=args.min_mouth_width,
        ),
    )
    if args.dry_run:
        return _dry_run(options, args)
    try:
        summary = build(options)
    except ValueError as err:  # e.g. continuing a dataset with other crop or codec settings
        log.error("%s", err)
        return 2
    if summary.built or summary.skipped or summary.rejected or summary.interrupted:
        for line in summary.lines():
            print(line, file=sys.stderr)
    if summary.interrupted:
        print("interrupted: run the same command again to finish", file=sys.stderr)
        return 130
    problem = _problem(summary, args)
    if problem:
        log.error("%s", problem)
        return 1
    print(f"dataset: {args.out}", file=sys.stderr)
    return 0


def _dry_run(options, args: argparse.Namespace) -> int:
    from data_prep.builder import BuildSummary, plan

    found = plan(options)
    print("\n".join(found.lines()))
    if found.utterances or found.done:
        return 0
    log.error("%s", _problem(BuildSummary(rejected=found.rejected), args))
    return 1


def _problem(summary, args: argparse.Namespace) -> str | None:
    """Why a finished build is not a usable dataset, with what to do; None when it is."""
    internal = summary.rejected.get("error", 0)
    if internal:
        return (f"{internal} input(s) failed with an internal error or a worker that died (the detail is in "
                f"{args.out}/rejected.jsonl): the same command tries them again; if they fail again, "
                "please report it")  # fmt: skip
    if summary.built or summary.skipped:
        return None
    if not summary.rejected:
        return f"no videos found under {args.input_dir} (looked for: .mp4 .mpg .avi .mov .mkv .webm ...)"
    if set(summary.rejected) == {"missing_transcript"}:
        return (
            f"none of the {summary.rejected['missing_transcript']} videos has a transcript: pass GRID "
            "alignments with --alignments DIR, a CSV/JSONL with --manifest FILE, put .txt/.srt/.vtt "
            "beside each video, or spell GRID file names with `python -m data_prep.grid_names DIR`"
        )
    return f"no clip was built: every input was rejected (see {args.out}/rejected.jsonl)"


def merge_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="lipread prep-merge")
    parser.description = "Join the shards of a dataset built with --shard I/N into its manifest."
    parser.add_argument("dataset", type=Path)
    return parser


def run_merge(args: argparse.Namespace) -> int:
    from data_prep.builder import merge_shards

    try:
        meta = merge_shards(args.dataset)
    except (FileNotFoundError, ValueError) as err:
        log.error("%s", err)
        return 2
    counts = meta["counts"]
    print(
        f"merged {meta['merged_shards']} shards: {counts['utterances']} clips, {counts['rejected']} rejected",
        file=sys.stderr,
    )
    return 0
