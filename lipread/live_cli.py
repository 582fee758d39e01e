"""``lipread live``: read the lips of a camera, or of a video played as if it were one, phrase by phrase.

Each phrase is printed the moment it is read: ``text`` as ``[start - end] words``, a line for each
sentence it holds, ``jsonl`` as one JSON object a line (text, words with start/end/confidence,
sentences, start, end, latency, track, confidence, out_of_domain, reason, dropped, partial). Times
are stream seconds; latency is the seconds from the phrase's end in the stream to its printing. A
summary (frames read and dropped, latency) goes to stderr at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from data_prep.arguments import non_negative_int
from data_prep.contracts import DECODERS
from lipread.cli_options import (
    add_beam_options,
    add_decoding_options,
    add_model_options,
    reader_recipe,
)

log = logging.getLogger("lipread.live")


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Read the lips of a camera, or of a video played as if it were one, printing each phrase as soon as it ends."
    )
    parser.add_argument("video", nargs="?", type=Path, help="a video file to read as a stream (instead of --camera)")
    parser.add_argument(
        "--camera", type=non_negative_int, metavar="N", help="read camera N (OpenCV's numbering: 0 is the first)"
    )
    parser.add_argument("--realtime", action="store_true",
                        help="play VIDEO at its own frame rate, dropping frames the reader cannot keep up with, "
                        "as a camera would (default: read every frame as fast as possible)")  # fmt: skip
    parser.add_argument("-f", "--format", choices=["text", "jsonl"], default="text", help="how each phrase is printed")
    parser.add_argument("--decoder", choices=DECODERS, default="beam", help="how outputs become words")
    add_model_options(parser)
    add_decoding_options(parser, n_best=False)
    add_beam_options(parser)
    return parser


def render(phrase, fmt: str) -> str:
    if fmt == "jsonl":
        return json.dumps(phrase.to_json())
    speaker = f"[{phrase.track}] " if phrase.track else ""
    unsure = "  (?)" if phrase.out_of_domain else ""
    said = [(s.start, s.end, s.text, s.partial) for s in phrase.sentences] or [
        (phrase.start, phrase.end, phrase.text, phrase.partial)
    ]
    return "\n".join(f"[{start:7.2f} - {end:7.2f}] {speaker}{text}{unsure}" + ("  (part of a sentence)" if part else "")
                     for start, end, text, part in said)  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from lipread.errors import UserError

    if (args.video is None) == (args.camera is None):
        raise UserError("give a VIDEO or --camera N (one of them)")
    if args.realtime and args.video is None:
        raise UserError("--realtime plays a VIDEO at its own pace; a camera is always real time")
    from data_prep.rejections import PrepError
    from data_prep.text import ALPHABET
    from lipread.live import LiveReader, read_stream
    from lipread.live_sources import FrameFeed, camera_frames, file_frames

    try:
        source = camera_frames(args.camera) if args.video is None else file_frames(args.video, args.realtime)
    except PrepError as err:
        log.error("%s: %s [%s]", args.video, err.detail, err.reason)
        return 1
    transcriber = reader_recipe(args, ALPHABET).build()
    reader = LiveReader(transcriber, args.decoder, args.min_confidence)
    feed = FrameFeed.pumped(source, drop=args.realtime or args.video is None)
    latencies = []
    try:
        for phrase in read_stream(reader, feed):
            latencies.append(phrase.latency)
            if not (phrase.dropped and args.format == "text"):  # jsonl keeps it, marked dropped
                print(render(phrase, args.format), flush=True)
    except PrepError as err:
        log.error("%s: %s [%s]", args.video, err.detail, err.reason)
        return 1
    finally:
        feed.close()
    summary = f"{len(latencies)} phrases from {reader.count} frames at 25 fps ({feed.dropped} of {feed.received} source frames dropped)"
    if latencies:
        ordered = sorted(latencies)
        summary += f"; latency median {ordered[len(ordered) // 2]:.2f} s, max {ordered[-1]:.2f} s"
    print(summary, file=sys.stderr)
    return 0
