"""``lipread export CKPT OUT``: a training checkpoint (or model folder) as a slim, shareable model folder."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from data_prep.contracts import DecoderSettings

log = logging.getLogger("lipread.export")


def _decoder_option(text: str) -> tuple[str, float | int]:
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    known = DecoderSettings.__dataclass_fields__
    if not sep or name not in known:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME one of {', '.join(known)}; got {text!r}")
    kind = int if known[name].type in ("int", int) else float
    try:
        return name, kind(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{name} takes a {'whole ' if kind is int else ''}number; got {value!r}"
        ) from None


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Write a checkpoint (.ckpt) or model folder as a model folder: config.json (the model card: "
        "architecture, crop settings, alphabet, decoder defaults, name) and safetensors weights, which "
        "every command takes as --checkpoint."
    )
    parser.add_argument(
        "checkpoint", type=Path, nargs="+",
        help="a .ckpt from `lipread train`, or a model folder; several (of one architecture) are averaged",
    )  # fmt: skip
    parser.add_argument("out", type=Path, help="model folder to write")
    parser.add_argument("--name", help="the model's name in outputs and /v1/models (default: kept, else OUT's name)")
    parser.add_argument(
        "--decoder-options", nargs="+", type=_decoder_option, default=[], metavar="NAME=VALUE",
        help="beam decoder defaults to store, e.g. lm_weight=0.25 word_score=2 beam_size=300 (default: kept)",
    )  # fmt: skip
    parser.add_argument("--dtype", choices=["float16", "float32"], default="float16", help="weight precision")
    return parser


def run(args: argparse.Namespace) -> int:
    import torch

    from lipread.cli_options import prepare_output
    from lipread.confidence import Calibration
    from lipread.pretrained import decoding_defaults, export

    prepare_output(args.out, create=False)  # a file in the way fails before the checkpoints are read
    out = export(list(args.checkpoint), args.out, args.name, dict(args.decoder_options), getattr(torch, args.dtype))
    print(f"model folder: {out}")
    defaults = decoding_defaults(out)
    if defaults.grammar:
        print(f"its beam reads in the grammar {defaults.grammar} unless told otherwise ({defaults.chosen_on}); "
              "`--grammar none` gives the lexicon + LM")  # fmt: skip
    measure = f"measure its own with `lipread evaluate --checkpoint {out} --data DATASET --split VAL_IDS --calibrate`"
    if defaults.calibration.source == Calibration().source:
        print(f"its out-of-domain thresholds are guesses and it reads phrases as cut (rest_frames 0): {measure}")
    elif args.checkpoint[0].is_dir() and (len(args.checkpoint) > 1 or args.decoder_options):
        print(f"its out-of-domain thresholds and rest_frames are {args.checkpoint[0]}'s: {measure}")
    return 0
