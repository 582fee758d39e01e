"""``lipread transcribe VIDEO...``: text, JSON with word timings, SRT or VTT.

Several talkers in one video are labelled by face track: ``[0] ...`` lines in text and SRT, voice
tags in VTT; JSON has every segment (track, time range, face box) and the face-less gaps.
Printed output stays machine-readable with several files: JSON is one array, text one
``file<TAB>text`` line per file, SRT/VTT each under a ``==> file <==`` line. With ``-o DIR`` each
video gets its own file; videos from different folders keep their folders under DIR, so two
``clip.mp4`` never overwrite each other; ``-f all`` writes every format's file (as Whisper's
``-f all`` does, into the current folder without ``-o``), ``-f json,srt`` those two; ``-f png`` is a
picture, the mouth crop read at each word (:mod:`lipread.reading_sheet`), always a file.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING

from data_prep.arguments import positive_int, video_time
from data_prep.contracts import DECODERS
from lipread import interrupts
from lipread.cli_options import (
    add_beam_options,
    add_decoding_options,
    add_model_options,
    prepare_output,
    reader_recipe,
)
from lipread.errors import UserError

if TYPE_CHECKING:
    from lipread.transcript import Transcript

log = logging.getLogger("lipread.transcribe")

EXTENSIONS = {"text": "txt", "json": "json", "srt": "srt", "vtt": "vtt", "png": "png"}


def output_formats(text: str) -> list[str]:
    """``-f``: one format, several joined by commas (``json,srt``), or ``all``."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in (*EXTENSIONS, "all")]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: choose {', '.join(EXTENSIONS)}, several joined by commas (json,srt), or all"
        )
    return list(EXTENSIONS) if "all" in names else list(dict.fromkeys(names))


def to_files(formats: list[str]) -> bool:
    """Whether these formats are always written as files (into -o, else into the current folder):
    a picture, or more than one format per video, cannot go to the terminal."""
    return len(formats) > 1 or "png" in formats


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = "Read the lips in silent videos: print or write text, JSON with word timings, SRT or VTT."
    parser.add_argument("videos", nargs="+", type=Path,
                        help="video files (any container, frame rate and size), or folders: every video below them")  # fmt: skip
    parser.add_argument("--decoder", choices=DECODERS, default="beam", help="how outputs become words")
    parser.add_argument("-f", "--format", type=output_formats, default="text", metavar="{text,json,srt,vtt,png,all}",
                        help="output format, or several joined by commas (json,srt); 'png' draws the mouth crop read "
                        "at each word with the word under it; 'all' writes a file of each format per video (png and "
                        "several formats: into -o, else into the current folder)")  # fmt: skip
    parser.add_argument(
        "--cues", choices=["phrase", "word"], default="phrase", help="SRT/VTT: a cue per phrase or per word"
    )
    parser.add_argument("--faces", choices=["all", "largest"], default="all",
                        help="read every face (each talker labelled) or only the largest where several show")  # fmt: skip
    parser.add_argument("-o", "--output", "--output-dir", dest="output", type=Path,
                        help="write <video>.<format> files into this folder instead of printing")  # fmt: skip
    parser.add_argument("--start", type=video_time, default=0.0, metavar="TIME",
                        help="read each video from this time on: seconds (75.5) or [HH:]MM:SS[.ss]; the output's "
                        "times stay the video's own")  # fmt: skip
    parser.add_argument("--end", type=video_time, metavar="TIME",
                        help="read each video up to this time (default: its end); nothing after it is decoded")  # fmt: skip
    parser.add_argument("--workers", type=positive_int, default=1,
                        help="videos read at once, each in a process of its own (about 0.8 GB each); for a folder "
                        "on a machine with more than 2 cores")  # fmt: skip
    parser.add_argument("--skip-existing", action="store_true",
                        help="leave out videos whose files are all in the output folder already (to finish an "
                        "interrupted folder)")  # fmt: skip
    add_model_options(parser)
    add_decoding_options(parser)
    add_beam_options(parser)
    return parser


def render(result: Transcript, fmt: str, per: str) -> str:
    from lipread.subtitles import to_srt, to_vtt
    from lipread.transcript import sentence_lines

    if fmt == "json":
        return json.dumps(result.to_json(), indent=2)
    if fmt == "srt":
        return to_srt(result.words, per, result.sentences)
    if fmt == "vtt":
        return to_vtt(result.words, per, result.sentences)
    return sentence_lines(result.sentences)


def output_paths(videos: list[Path], folder: Path, extension: str) -> dict[str, Path]:
    """Where each video's output goes: ``folder/<name>.<ext>``; videos that share a name keep the
    folders that tell them apart (``a/clip.mp4`` -> ``folder/a/clip.<ext>``)."""
    names = Counter(v.stem for v in videos)
    targets = {}
    for video in videos:
        if names[video.stem] == 1:
            targets[str(video)] = folder / f"{video.stem}.{extension}"
            continue
        common = os.path.commonpath([os.path.abspath(v.parent) for v in videos if v.stem == video.stem])
        targets[str(video)] = folder / Path(os.path.abspath(video)).relative_to(common).with_suffix(f".{extension}")
    return targets


def expand_folders(paths: list[Path]) -> tuple[list[Path], list[Path]]:
    """Each folder among ``paths`` replaced by the videos below it (sorted, as ``prep`` finds
    them); also the folders that hold none."""
    from data_prep.discover import VIDEO_EXTENSIONS, find_videos

    videos, empty = [], []
    for path in paths:
        if not path.is_dir():
            videos.append(path)
        elif found := find_videos(path):
            videos += found
        else:
            empty.append(path)
            log.error("%s: a folder without videos (%s) [no_videos]", path, " ".join(sorted(VIDEO_EXTENSIONS)))
    return videos, empty


def run(args: argparse.Namespace) -> int:
    from lipread.parallel_reading import ReadOptions, readings
    from lipread.transcribe import TranscriptionError
    from lipread.transcript import Span

    try:
        span = Span.asked(args.start, args.end)
    except ValueError as err:
        raise UserError(f"--start/--end: {err}") from None
    args.videos, empty = expand_folders(args.videos)
    if not args.videos:
        return 1
    formats = args.format
    if to_files(formats) and args.output is None:
        args.output = Path(".")
    if args.skip_existing and args.output is None:
        raise UserError(
            "--skip-existing looks for the files a run wrote: give -o DIR (or -f png, -f all or several formats, "
            "which write into the current folder)"
        )
    if args.output:
        prepare_output(args.output, "-o ")
    targets = {fmt: output_paths(args.videos, args.output, EXTENSIONS[fmt]) for fmt in formats} if args.output else {}
    if args.skip_existing:
        done = [v for v in args.videos if all(targets[fmt][str(v)].exists() for fmt in formats)]
        if done:
            log.info("%d of %d videos already have their files in %s: not read again (--skip-existing)",
                     len(done), len(args.videos), args.output)  # fmt: skip
        args.videos = [v for v in args.videos if v not in done]
        if not args.videos:
            return 1 if empty else 0
    from data_prep.text import ALPHABET

    recipe = reader_recipe(args, ALPHABET)
    transcriber = recipe.build()  # also with --workers: a bad model or grammar is one error, here, at once
    options = ReadOptions(args.decoder, args.faces, args.n_best, args.min_confidence, "png" in formats, span)
    failures: list[TranscriptionError] = []
    several = len(args.videos) > 1
    bodies = []  # printed JSON: one array at the end, so that it parses
    # Each video written (or printed) as soon as it is read, in the order given: a folder of long
    # videos holds one video's crops at a time (a worker's each), and an interrupted run keeps every
    # file it finished.
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from data_prep.native_logs import stderr_is_terminal

    parallel = args.workers > 1 and several
    transcriber.progress = stderr_is_terminal() and not parallel  # a long video's passes get bars of their own
    shown = several and stderr_is_terminal()
    results = readings(transcriber, recipe, [str(v) for v in args.videos], options, args.workers)
    with logging_redirect_tqdm(), tqdm(total=len(args.videos), desc="transcribe", unit="video", disable=not shown,
                                       dynamic_ncols=True) as bar, closing(results):  # fmt: skip
        # (closing: on Ctrl-C or an error too, the workers are stopped at once)
        for result in results:
            if isinstance(result, TranscriptionError):
                failures.append(result)
                log.error("%s: %s [%s]", result.path, result.detail, result.code)
            else:
                _warn(result, args.min_confidence)
                if args.output:
                    _write(result, formats, targets, args.cues)
                elif formats == ["json"]:
                    bodies.append(result.to_json())
                else:
                    bar.write(_printable(result, formats[0], args.cues, several), file=sys.stdout)
            bar.update()
    if bodies or (several and formats == ["json"] and not args.output):
        print(json.dumps(bodies if several else bodies[0], indent=2))
    return 1 if failures or empty else 0


def _warn(result: Transcript, min_confidence: float) -> None:
    if result.out_of_domain:
        log.warning("%s: warning: this may not be speech the model can read (confidence %.2f): %s",
                    result.file, result.confidence, result.reason)  # fmt: skip
    if result.partial:
        log.warning("%s: note: some of it was read as part of a sentence (--partial): no whole allowed sentence "
                    "fits a phrase that starts or ends mid-sentence; JSON marks such segments \"partial\"",
                    result.file)  # fmt: skip
    if result.dropped:
        log.warning("%s: %d phrase(s) read with a confidence below %g left out (JSON lists them under 'dropped')",
                    result.file, len(result.dropped), min_confidence)  # fmt: skip


def _write(result: Transcript, formats: list[str], targets: dict[str, dict[str, Path]], cues: str) -> None:
    """Every format's file for one result, or none: each is written whole under a temporary name,
    and they are renamed into place together, with Ctrl-C held until all are."""
    from data_prep.preview import write_png
    from lipread.reading_sheet import reading_sheet

    wanted = {targets[fmt][result.file]: fmt for fmt in formats}
    partials = {target: target.with_name(f".{target.name}.partial{target.suffix}") for target in wanted}
    try:
        for target, fmt in wanted.items():
            target.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "png":
                write_png(partials[target], reading_sheet(result))
            else:
                body = render(result, fmt, cues)
                partials[target].write_text(body if body.endswith("\n") else body + "\n")
        with interrupts.held():
            for target, partial in partials.items():
                partial.replace(target)
    finally:
        for partial in partials.values():
            partial.unlink(missing_ok=True)  # interrupted before the renames: no half-written file
    shown = targets[formats[0]][result.file]
    every = shown.with_suffix(".{" + ",".join(EXTENSIONS[f] for f in formats) + "}")
    log.info("%s -> %s", result.file, shown if len(formats) == 1 else every)


def _printable(result: Transcript, fmt: str, cues: str, several: bool) -> str:
    body = render(result, fmt, cues)
    if several and fmt == "text":
        return f"{result.file}\t{body.replace(chr(10), ' ')}"
    return f"==> {result.file} <==\n{body}" if several else body
