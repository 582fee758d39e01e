"""Options several commands share, each defined once, with checks that turn bad values into usage
errors (exit 2) before any work starts."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from data_prep.arguments import finite_float, fraction, non_negative_int, positive_int, whole_number


def port_number(text: str) -> int:
    """A TCP port, 0-65535 (0: any free one)."""
    return whole_number(text, 0, 65535)


def prepare_output(folder: Path, option: str = "", create: bool = True) -> None:
    """Make an output folder now (or, without ``create``, only check that nothing is in its way),
    so an unusable one fails before the work, not after it; ``option`` names it in the message
    (``"-o "``)."""
    from lipread.errors import UserError

    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option}{folder}: exists and is not a folder")
    if not create:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"{option}{folder}: cannot create it ({err.strerror})") from None
    if not os.access(folder, os.W_OK):
        raise UserError(f"{option}{folder}: not writable")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, metavar="MODEL",
                        help="model folder or .ckpt (default: the shipped GRID model)")  # fmt: skip
    parser.add_argument("--device", choices=["cpu", "cuda"], help="where the model runs (default: cuda when present)")


def add_beam_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("beam decoder (defaults: the model's own)")
    group.add_argument("--beam-size", type=positive_int, help="hypotheses kept per frame")
    group.add_argument("--lm-weight", type=finite_float, help="weight of the word n-gram LM")
    group.add_argument("--word-score", type=finite_float, help="score added per word (longer outputs when higher)")


def add_decoding_options(parser: argparse.ArgumentParser, n_best: bool = True, min_confidence: bool = True) -> None:
    """``--grammar`` and ``--vocabulary``; for commands that write transcripts, ``--min-confidence``
    and ``--partial`` (and ``--n-best``). ``evaluate`` scores every reading of whole sentences, so it
    takes none of them: its report's coverage table shows the WER at each confidence instead."""
    group = parser.add_argument_group("what the beam decoder may say")
    group.add_argument("--grammar", default="default", metavar="FILE|NAME",
                       help="only sentences this grammar allows (one or more a phrase): a grammar file, a built-in name "
                       "(grid), or 'none' "
                       "for the lexicon + LM; 'default' is the model's own choice (the shipped model: grid)")  # fmt: skip
    group.add_argument("--vocabulary", type=Path, metavar="FILE",
                       help="a word list for the lexicon beam instead of the training words (used with --grammar none)")  # fmt: skip
    if min_confidence:
        group.add_argument("--min-confidence", type=fraction, default=0.0, metavar="C",
                           help="leave out phrases read with a confidence below C (0-1); JSON lists them under "
                           "'dropped' (0 keeps every phrase)")  # fmt: skip
        group.add_argument("--partial", action="store_true",
                           help="with a grammar: a phrase that no allowed sentence fits but part of one does (video "
                           "that starts or ends mid-sentence) reads as that part, marked partial, instead of the "
                           "whole sentence that fits it least badly")  # fmt: skip
    if n_best:
        group.add_argument("--n-best", type=non_negative_int, default=0, metavar="K",
                           help="JSON: up to K best sentences with their scores")  # fmt: skip


def decoding_choice(args: argparse.Namespace, alphabet: str) -> tuple[str, list[str] | None]:
    """The grammar spec and vocabulary asked for; a word list replaces the model's grammar."""
    from lipread.grammar import load_vocabulary

    vocabulary = load_vocabulary(args.vocabulary, alphabet) if args.vocabulary else None
    grammar = args.grammar
    if vocabulary is not None and grammar == "default":
        grammar = "none"
    if vocabulary is not None and grammar != "none":
        from lipread.errors import UserError

        raise UserError("--vocabulary and --grammar both say what may be read: give one of them")
    return grammar, vocabulary


def reader_recipe(args: argparse.Namespace, alphabet: str):
    """The model and decoding the command line asks for (``--checkpoint``, ``--device``, the grammar
    or vocabulary, the beam settings), as the :class:`~lipread.parallel_reading.ReaderRecipe` that a
    reader is built from, here or in a worker process."""
    from lipread.parallel_reading import ReaderRecipe

    grammar, vocabulary = decoding_choice(args, alphabet)
    return ReaderRecipe(
        args.checkpoint, resolve_device(args.device), grammar, vocabulary, beam_changes(args), args.partial
    )


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
