"""``lipread compare``: the command line over :mod:`lipread.compare` (light to import)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from data_prep.arguments import non_negative_int, positive_int
from lipread.cli_options import prepare_output


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Whether model B reads the same utterances better than model A: both WERs, B - A with its 95% paired "
        "bootstrap interval, how often B wins, and the utterances that changed. A and B are `lipread evaluate "
        "-o` folders (or their report.json) of the same --data and --split."
    )
    parser.add_argument("a", type=Path, metavar="A", help="the baseline's report")
    parser.add_argument("b", type=Path, metavar="B", help="the report compared with it")
    parser.add_argument("--decoder", default=None, help="comma-separated (default: every decoder in both reports)")
    parser.add_argument("--resamples", type=positive_int, default=1000, help="bootstrap resamples")
    parser.add_argument("--changed", type=non_negative_int, default=10,
                        help="how many changed utterances to list in -o's comparison.md")  # fmt: skip
    parser.add_argument("-o", "--output", type=Path, help="write comparison.json, .md and .png here")
    return parser


def run(args: argparse.Namespace) -> int:
    from lipread.compare import Comparison, chart, compare, markdown, verdict
    from lipread.evaluation_report import read_report

    if args.output:
        prepare_output(args.output, "-o ")
    a, b = read_report(args.a), read_report(args.b)
    decoders = [d.strip() for d in args.decoder.split(",") if d.strip()] if args.decoder else None
    comparisons = compare(a, b, decoders, args.changed, args.resamples)
    for label, path, report in (("A", args.a, a), ("B", args.b, b)):
        print(f"{label}: {path} ({report.model_name or '?'}; beam: {report.beam_reading()})")
    for c in comparisons:
        print(verdict(c))
    if args.output:
        record = Comparison(str(args.a), str(args.b), comparisons).to_json()
        (args.output / "comparison.json").write_text(json.dumps(record, indent=2))
        (args.output / "comparison.md").write_text(markdown(a, b, (str(args.a), str(args.b)), comparisons))
        names = [f"{label}: {r.model_name or '?'} ({path})" for label, r, path in (("A", a, args.a), ("B", b, args.b))]
        chart(comparisons, args.output / "comparison.png", "   ".join(names))
        print(f"comparison: {args.output}/comparison.{{json,md,png}}")
    return 0
