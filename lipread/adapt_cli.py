"""``lipread adapt``: the command line over :mod:`lipread.adapt` (light to import, so ``--help``
answers at once)."""

from __future__ import annotations

import argparse
from pathlib import Path

from data_prep.arguments import non_negative_float, non_negative_int, positive_float, positive_int
from lipread.cli_options import add_model_options, prepare_output, resolve_device


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Fine-tune a model on a new speaker's clips (a dataset folder from `lipread prep`) into a personal model "
        "folder, and measure WER before and after on clips held out from the fine-tune. The new folder keeps the "
        "base model's grammar, decoder and crop settings: give it to any command with --checkpoint MODEL_DIR."
    )
    parser.add_argument("dataset", type=Path, metavar="DATASET", help="the speaker's dataset folder")
    parser.add_argument("-o", "--out", type=Path, required=True, metavar="MODEL_DIR", help="model folder to write")
    add_model_options(parser)
    parser.set_defaults(checkpoint=None)
    parser.add_argument("--train-list", type=Path, metavar="IDS", help="clip ids to learn from, one a line "
                        "(default: the clips not in --test-list)")  # fmt: skip
    parser.add_argument("--test-list", type=Path, metavar="IDS", help="clip ids to measure on, one a line "
                        "(default: 40%% of the clips, drawn with --seed, or those not in --train-list)")  # fmt: skip
    parser.add_argument("--seed", type=non_negative_int, default=0, help="draws of the held-out clips, batches and "
                        "augmentation: the same seed and clips give the same model")  # fmt: skip
    parser.add_argument("--grammar", default="default", metavar="FILE|NAME",
                        help="what the beam decoder may say when WER is measured (as for transcribe)")  # fmt: skip
    tuning = parser.add_argument_group("training (epochs and batch size are chosen from the number of clips)")
    tuning.add_argument("--layers", choices=["all", "frontend", "backend", "norm"],
                        help="which part learns: everything, the visual front-end, the sequence model, or only "
                        "the normalisation layers' scales and shifts (default: all)")  # fmt: skip
    tuning.add_argument(
        "--lr", type=positive_float, help="peak learning rate (AdamW, warm-up then cosine; default: 1e-4)"
    )
    tuning.add_argument("--epochs", type=positive_int, help="passes over the training clips (default: about 120 "
                        "updates in all, 4 to 60 passes)")  # fmt: skip
    tuning.add_argument(
        "--batch-size", type=positive_int, help="clips per update (default: 8; fewer for under 8 clips)"
    )
    tuning.add_argument("--kl-weight", type=non_negative_float, help="pull towards the base model's outputs, so words the "
                        "clips never show keep their odds (KL-regularised adaptation; default: 0)")  # fmt: skip
    tuning.add_argument("--spliced-per-clip", type=non_negative_int, help="new sentences spliced from the clips' "
                        "words, per clip and pass (default: 0)")  # fmt: skip
    return parser


def run(args: argparse.Namespace) -> int:
    from lipread.adapt import adapt

    prepare_output(args.out, "--out ", create=False)  # a file in the way fails now, not after adapting
    device = resolve_device(args.device)
    report = adapt(args.dataset, args.out, args.checkpoint, args.train_list, args.test_list, device, args.grammar,
                   layers=args.layers, lr=args.lr, epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                   kl_weight=args.kl_weight, spliced_per_clip=args.spliced_per_clip)  # fmt: skip
    print(summary(report, args.out))
    return 0


def summary(report, out: Path) -> str:
    """The before/after table the command prints."""
    rows = [("before (base model)", report.before), ("after (adapted)", report.after)]
    lines = [f"{'':22}{'WER':>8}{'CER':>8}"]
    lines += [f"{name:22}{s.wer:8.2%}{s.cer:8.2%}" for name, s in rows]
    minutes, seconds = divmod(round(report.seconds), 60)
    lines += [
        f"learnt from {report.train_clips} clips, measured on {report.test_clips} held out "
        f"({report.decoder} decoder), in {minutes} min {seconds:02d} s on {report.device}",
        f"model: {out}  (use it with --checkpoint {out}; report: {out}/adapt_report.json and .png)",
    ]
    flagged = report.out_of_domain
    if flagged:
        lines.append(
            f"out-of-domain warnings: thresholds measured on the held-out clips; they flag {flagged['held_out_flagged']} "
            f"of the {report.test_clips} (the base model's, from its own speaker, would flag "
            f"{flagged['held_out_flagged_by_base_thresholds']})"
        )
    if report.after.wer > report.before.wer:
        lines.append(
            f"note: the adapted model reads the held-out clips worse than the base ({report.after.wer:.2%} against "
            f"{report.before.wer:.2%}): keep using the base, or adapt again from more clips"
        )
    return "\n".join(lines)
