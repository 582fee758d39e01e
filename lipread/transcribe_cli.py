"""``lipread transcribe VIDEO...``: text, JSON with word timings, SRT or VTT."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from lipread.decoding import DECODERS
from lipread.subtitles import to_srt, to_vtt
from lipread.transcribe import Transcriber, TranscriptionError

log = logging.getLogger("lipread.transcribe")


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="lipread transcribe")
    parser.description = "Read the lips in silent videos: print or write text, JSON with word timings, SRT or VTT."
    parser.add_argument("videos", nargs="+", type=Path)
    parser.add_argument("--checkpoint", type=Path, help="model folder or .ckpt (default: the shipped GRID model)")
    parser.add_argument("--decoder", choices=DECODERS, default="beam")
    parser.add_argument("--format", choices=["text", "json", "srt", "vtt"], default="text")
    parser.add_argument("--cues", choices=["phrase", "word"], default="phrase", help="SRT/VTT: a cue per phrase or per word")
    parser.add_argument("-o", "--output-dir", type=Path, help="write <video>.<format> files here instead of printing")
    parser.add_argument("--beam-size", type=int)
    parser.add_argument("--lm-weight", type=float)
    parser.add_argument("--word-score", type=float)
    parser.add_argument("--device", help="cpu, cuda (default: cuda when present)")
    return parser


def render(result, fmt: str, per: str) -> str:
    if fmt == "json":
        return json.dumps(result.to_json(), indent=2)
    if fmt == "srt":
        return to_srt(result.words, per)
    if fmt == "vtt":
        return to_vtt(result.words, per)
    return result.text


def run(args: argparse.Namespace) -> int:
    try:
        transcriber = Transcriber.from_checkpoint(args.checkpoint, args.device)
    except FileNotFoundError as err:
        log.error("%s", err)
        return 2
    beam = transcriber.beam
    for name in ("beam_size", "lm_weight", "word_score"):
        if getattr(args, name) is not None:
            setattr(beam, name, getattr(args, name))
    failures: list[TranscriptionError] = []

    def on_error(err: TranscriptionError) -> None:
        failures.append(err)
        log.error("%s [%s]", err, err.code)

    results = transcriber.transcribe_many([str(v) for v in args.videos], args.decoder, on_error=on_error)
    extension = {"text": "txt", "json": "json", "srt": "srt", "vtt": "vtt"}[args.format]
    for result in results:
        body = render(result, args.format, args.cues)
        if args.output_dir:
            args.output_dir.mkdir(parents=True, exist_ok=True)
            target = args.output_dir / f"{Path(result.file).stem}.{extension}"
            target.write_text(body + ("\n" if not body.endswith("\n") else ""))
            log.info("%s -> %s", result.file, target)
        elif len(args.videos) > 1 and args.format == "text":
            print(f"{result.file}\t{body}")
        else:
            print(body)
    return 1 if failures else 0
