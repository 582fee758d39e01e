"""``lipread evaluate``: the command line over :mod:`lipread.evaluate` (light to import, so
``--help`` answers at once)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from data_prep.arguments import non_negative_int, positive_int
from data_prep.contracts import DECODERS
from lipread.cli_options import (
    add_beam_options,
    add_decoding_options,
    add_model_options,
    beam_changes,
    decoding_choice,
    prepare_output,
    resolve_device,
)

log = logging.getLogger("lipread.evaluate")


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = "Word and character error rates of a model on a dataset folder (corpus-level, jiwer)."
    parser.add_argument("--data", type=Path, required=True, help="dataset folder from `lipread prep`")
    parser.add_argument("--split", type=Path, help="file of utterance ids (default: every utterance)")
    parser.add_argument("--decoder", default="greedy,beam", help=f"comma-separated, of: {', '.join(DECODERS)}")
    parser.add_argument("-o", "--output", type=Path, help="write report.json, report.md and report.png here")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="clips per model call")
    parser.add_argument("--workers", type=non_negative_int, default=2, help="clip-decoding processes")
    parser.add_argument("--worst", type=non_negative_int, default=10, help="how many worst utterances to list")
    parser.add_argument("--calibrate", action="store_true",
                        help="also measure the out-of-domain thresholds and the rest the model expects around a "
                        "phrase (rest_frames) on these clips (a validation split) and write them into the "
                        "--checkpoint model folder's decoding.json")  # fmt: skip
    add_model_options(parser)
    add_decoding_options(parser, n_best=False, min_confidence=False)
    add_beam_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    decoders = [d.strip() for d in args.decoder.split(",") if d.strip()]
    unknown = [d for d in decoders if d not in DECODERS]
    if unknown:
        log.error(
            "lipread: --decoder: no decoder %s; choose from %s", ", ".join(map(repr, unknown)), ", ".join(DECODERS)
        )
        return 2
    from data_prep.preview import write_png
    from data_prep.text import ALPHABET
    from lipread.evaluate import evaluate, read_dataset, select_utterances
    from lipread.reading_sheet import worst_sheet
    from lipread.report import chart, markdown, table

    if args.calibrate and (args.checkpoint is None or not Path(args.checkpoint).is_dir()):
        log.error("--calibrate writes into a model folder: give --checkpoint MODEL_DIR (from `lipread export`)")
        return 2
    if args.output:
        prepare_output(args.output, "-o ")  # before the evaluation, not after it
    device = resolve_device(args.device)
    grammar, vocabulary = decoding_choice(args, ALPHABET)
    calibration = None
    if args.calibrate:  # it reads the evaluation's own model outputs, so the model runs once
        from lipread.calibration import FolderCalibration

        calibration = FolderCalibration(Path(args.checkpoint), device)
    report = evaluate(args.checkpoint, args.data, args.split, decoders, args.batch_size, args.workers, args.worst,
                      beam_changes(args), device, grammar, vocabulary,
                      on_outputs=calibration.read if calibration else None,
                      model=calibration.reader.model if calibration else None)  # fmt: skip
    print(table(report))
    if args.output:
        report.write(args.output / "report.json")
        chart(report, args.output / "report.png")
        decoder = "beam" if "beam" in report.decoders else decoders[0]
        sheet = worst_sheet(report, decoder)
        if sheet is not None:
            write_png(args.output / "worst.png", sheet)
        (args.output / "report.md").write_text(markdown(report, (decoder, "worst.png") if sheet is not None else None))
        print(
            f"report: {args.output}/report.{{json,md,png}}"
            + (f" and {args.output}/worst.png" if sheet is not None else "")
        )
    if calibration is not None:
        source = f"{args.split.name if args.split else args.data.name}, {report.utterances} utterances"
        faces = select_utterances(read_dataset(args.data), args.split)
        done = calibration.write(source, poses=[u.pose for u in faces if u.pose is not None])
        c = done.calibration
        print(f"out-of-domain thresholds written to {Path(args.checkpoint) / 'decoding.json'}: entropy "
              f"{c.max_entropy}, gap {c.max_gap_grammar} in a grammar, {c.max_gap_lexicon} with the lexicon "
              f"(nats a frame); they flag {done.flagged_after} of these {done.clips} clips, the folder's "
              f"thresholds before flagged {done.flagged_before}; faces turned more than {c.max_yaw:g} degrees from the "
              f"camera, or tilted more than {c.max_pitch:g} up or down, are out of domain too")  # fmt: skip
        print(f"rest_frames {done.rest_frames} (was {done.rest_before}): the still frames the model reads at 9 in 10 of "
              f"these clips' ends; a phrase with fewer is read with its first or last mouth held that long")  # fmt: skip
    return 0
