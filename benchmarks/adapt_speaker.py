"""Few-shot speaker adaptation: WER of the base model and of `lipread adapt`'s personal model on
clips of a new speaker that the fine-tune never saw, and how long adapting took. With --repeat 2
the same clips and seed are adapted twice, to show the result is reproducible.

    python benchmarks/adapt_speaker.py ../shared/grid/s4_hq --speaker s4            # 15 learn / 10 test
    python benchmarks/adapt_speaker.py ../shared/grid/s26 --speaker s26 \\
        --alignments ../shared/grid/alignments --train-count 5                     # 5 learn / 5 test
    python benchmarks/adapt_speaker.py ../shared/grid/s4_hq --speaker s4 --checkpoint BASE  # from another base

GRID videos without alignment files get their transcripts from their names
(:mod:`data_prep.grid_names`).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import random
import tempfile
from pathlib import Path

from data_prep.builder import PrepOptions, build
from data_prep.discover import find_videos
from data_prep.grid_names import sentence_from_name
from data_prep.native_logs import quiet_native_stderr
from lipread.adapt import adapt


def prep(videos: Path, speaker: str, alignments: Path | None, work: Path) -> Path:
    """The speaker's dataset folder (prepped once; a second run reuses it)."""
    inputs = work / "in" / speaker
    inputs.mkdir(parents=True, exist_ok=True)
    manifest = None
    found = find_videos(videos)
    for video in found:
        link = inputs / video.name
        if not link.exists():
            link.symlink_to(video.resolve())
    if alignments is None:
        manifest = work / "manifest.csv"
        with open(manifest, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "text", "speaker"])
            for video in found:
                writer.writerow([f"{speaker}/{video.name}", sentence_from_name(video.stem), speaker])
    out = work / "dataset"
    # Lossless clips: libx264 at the default crf may write other pixels run to run, and on ten held-out
    # clips of an unseen speaker that alone moved WER by 4 words of 60 between two runs of this script.
    build(PrepOptions(work / "in", out, alignments=alignments, manifest=manifest, workers=os.cpu_count() or 1,
                      crf=0))  # fmt: skip
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", type=Path, help="one speaker's GRID videos")
    parser.add_argument("--speaker", required=True)
    parser.add_argument("--alignments", type=Path, help="folder of <speaker>/<name>.align (else names spell it)")
    parser.add_argument("--train-count", type=int, help="learn from this many clips (drawn with --seed), test "
                        "on the rest (default: adapt's own hold-out, 40%% tested)")  # fmt: skip
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=1, help="adapt this many times from the same clips and seed")
    parser.add_argument("--work", type=Path, help="keep the dataset and models here (default: a temporary folder)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoint", type=Path, help="the base model folder (default: the shipped model)")
    args = parser.parse_args()
    quiet_native_stderr()  # mediapipe's own log lines would bury the table
    work = args.work or Path(tempfile.mkdtemp(prefix="adapt-bench-"))
    dataset = prep(args.videos, args.speaker, args.alignments, work)
    train_list = test_list = None
    if args.train_count:
        ids = sorted(f"{args.speaker}/{v.stem}" for v in find_videos(args.videos))
        random.Random(args.seed).shuffle(ids)
        train_list, test_list = work / "train.txt", work / "test.txt"
        train_list.write_text("".join(f"{i}\n" for i in sorted(ids[: args.train_count])))
        test_list.write_text("".join(f"{i}\n" for i in sorted(ids[args.train_count :])))
    reports = [
        adapt(
            dataset,
            work / f"model{run}",
            base=args.checkpoint,
            train_list=train_list,
            test_list=test_list,
            device=args.device,
            seed=args.seed,
        )  # fmt: skip
        for run in range(args.repeat)
    ]
    print(f"\n{args.speaker}: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {args.device}")
    print("| run | learn / test clips | WER before | WER after | after / before | CER before | CER after | seconds |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for run, r in enumerate(reports):
        ratio = r.after.wer / r.before.wer if r.before.wer else float("nan")
        print(f"| {run + 1} | {r.train_clips} / {r.test_clips} | {r.before.wer:.2%} | {r.after.wer:.2%} | {ratio:.2f} "
              f"| {r.before.cer:.2%} | {r.after.cer:.2%} | {r.seconds:.0f} |")  # fmt: skip
    if len(reports) > 1:
        same = all(r.after.readings == reports[0].after.readings for r in reports)
        print(f"same readings on every run: {same}")
    print(f"settings: {reports[0].settings}\nmodels and reports: {work}")


if __name__ == "__main__":
    main()
