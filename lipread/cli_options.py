"""Options several commands share, each defined once, with checks that turn bad values into usage
errors (exit 2) before any work starts."""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, metavar="MODEL",
                        help="model folder or .ckpt (default: the shipped GRID model)")  # fmt: skip
    parser.add_argument("--device", choices=["cpu", "cuda"], help="where the model runs (default: cuda when present)")


def add_beam_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("beam decoder (defaults: the model's own)")
    group.add_argument("--beam-size", type=positive_int, help="hypotheses kept per frame")
    group.add_argument("--lm-weight", type=finite_float, help="weight of the word n-gram LM")
    group.add_argument("--word-score", type=finite_float, help="score added per word (longer outputs when higher)")


def beam_changes(args: argparse.Namespace) -> dict:
    """The beam settings given on the command line (the model's defaults stand for the rest)."""
    return {k: getattr(args, k) for k in ("beam_size", "lm_weight", "word_score") if getattr(args, k) is not None}


def resolve_device(requested: str | None) -> str:
    """``cuda`` only where there is one: asking for it on a machine without is a usage error."""
    import torch

    if requested == "cuda" and not torch.cuda.is_available():
        from lipread.errors import UserError

        raise UserError("--device cuda: no CUDA GPU is available here; use --device cpu (or leave it out)")
    return requested or ("cuda" if torch.cuda.is_available() else "cpu")
