"""Word error rate of `lipread transcribe` itself on raw GRID videos: the whole path a user's
video takes (face tracking, phrase cutting, crops cut from the source frames), where `lipread
evaluate` reads a prepped dataset's stored crops, one clip per sentence. The same corpus-level
scoring (lipread.evaluate.score); a video read as several phrases is joined in time order.

    python benchmarks/transcribe_wer.py ../shared/grid/s1 --alignments ../shared/grid/alignments \\
        --split ../shared/grid/splits/s1_val.txt --workers 2
"""

from __future__ import annotations

import argparse
import os
import platform
import time

from grid_split import add_grid_arguments, split_names

from data_prep.native_logs import quiet_native_stderr
from data_prep.transcripts import read_grid_align
from lipread.alignment import timing_summary
from lipread.evaluate import score
from lipread.parallel_reading import ReaderRecipe, ReadOptions, readings
from lipread.report import confusion_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_grid_arguments(parser, "ids to read, 's1/bbaf2n' a line (default: every video)", split_required=False)
    parser.add_argument("--decoder", default="beam")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    quiet_native_stderr()
    speaker = args.videos.name
    videos = sorted(p for p in args.videos.iterdir() if p.suffix in (".mp4", ".mpg"))
    if args.split:
        wanted = set(split_names(args.split))
        videos = [v for v in videos if v.stem in wanted]
    recipe = ReaderRecipe(args.checkpoint)
    reader = recipe.build()
    start = time.perf_counter()
    found = list(readings(reader, recipe, [str(v) for v in videos], ReadOptions(args.decoder), args.workers))
    seconds = time.perf_counter() - start
    refs, hyps, ids, timing = [], [], [], []
    for video, result in zip(videos, found):
        said = read_grid_align(args.alignments / speaker / f"{video.stem}.align")
        refs.append(said.text)
        hyps.append("" if isinstance(result, Exception) else " ".join(w.word for w in result.words))  # (in time order)
        ids.append(f"{speaker}/{video.stem}")
        if not isinstance(result, Exception) and len(result.words) == len(said.words):  # word for word
            timing += [(w.start - r["start"], w.end - r["end"]) for w, r in zip(result.words, said.words)]
    failed = sum(isinstance(r, Exception) for r in found)
    result = score(ids, [speaker] * len(ids), refs, hyps, worst=5, grammar=reader.grammar)
    print(f"CPU: {platform.machine()}, {os.cpu_count()} cores; {len(videos)} videos, {args.workers} worker(s), "
          f"{seconds:.1f} s; decoder {args.decoder}")  # fmt: skip
    print(f"WER {result.wer:.2%} ({result.words.errors} of {result.words.reference_length} words; 95% interval "
          f"{result.wer_ci95[0]:.2%}-{result.wer_ci95[1]:.2%}), CER {result.cer:.2%}, sentences right "
          f"{result.sentence_accuracy:.1%}; videos that failed: {failed}")  # fmt: skip
    times = timing_summary(timing)
    if times.words:
        print(f"word timings ({times.words} words of the videos read with as many words as said): "
              f"{times.within_0_1_s:.1%} within 0.1 s, {times.within_0_2_s:.1%} within 0.2 s of the .align "
              f"times; median start / end error {times.median_start_error_s:.3f} / {times.median_end_error_s:.3f} s")  # fmt: skip
    print("most confused:", ", ".join(confusion_text(c) for c in result.confusions[:8]))
    for w in result.worst:
        print(f"  {w.id}: {w.reference!r} -> {w.hypothesis!r}")


if __name__ == "__main__":
    main()
