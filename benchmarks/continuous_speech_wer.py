"""Word error rate of `lipread transcribe` on sentences said one after another with short pauses:
commands to a device said without waiting, where one phrase (the lips rest for less than the
phrase cutter's 0.4 s) holds several sentences.

GRID videos of one speaker are cut to their words (plus half of ``--pause`` seconds either side)
and joined ``--per-video`` at a time into new videos (written once under ``--work``); each is
transcribed as a user's video is (with and without ``--partial``) and scored against the joined
sentences (corpus-level, jiwer).

    python benchmarks/continuous_speech_wer.py ../shared/grid/s1 --alignments ../shared/grid/alignments \\
        --split ../shared/grid/splits/s1_val.txt --pause 0.24 --per-video 5
"""

from __future__ import annotations

import argparse
import math
import platform
from pathlib import Path

import numpy as np
from grid_split import WRITE_CRF, add_grid_arguments, split_names
from tqdm import tqdm

from data_prep.native_logs import quiet_native_stderr
from data_prep.transcripts import read_grid_align
from data_prep.video import TARGET_FPS, iter_frames, write_clip
from lipread.metrics import word_counts
from lipread.transcribe import Transcriber


def joined_videos(videos: Path, alignments: Path, ids: list[str], pause: float, per_video: int, work: Path
                  ) -> list[tuple[Path, str]]:  # fmt: skip
    """``per_video`` sentences a video, each cut to its words and ``pause / 2`` seconds either side."""
    work.mkdir(parents=True, exist_ok=True)
    out = []
    for g in range(0, len(ids) - per_video + 1, per_video):
        group, frames, texts = ids[g : g + per_video], [], []
        path = work / f"{group[0]}-{per_video}-{pause:g}-crf{WRITE_CRF}.mp4"
        for name in group:
            sentence = read_grid_align(alignments / videos.name / f"{name}.align")
            texts.append(sentence.text)
            if path.exists():
                continue
            clip = np.stack([f for _, f in iter_frames(next(videos.glob(f"{name}.*")))])
            start = max(0, int((sentence.words[0]["start"] - pause / 2) * TARGET_FPS))
            end = min(len(clip), math.ceil((sentence.words[-1]["end"] + pause / 2) * TARGET_FPS))
            frames.append(clip[start:end])
        if not path.exists():
            write_clip(path, np.concatenate(frames), crf=WRITE_CRF)
        out.append((path, " ".join(texts)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_grid_arguments(parser, "ids to join, 's1/bbaf2n' a line")
    parser.add_argument("--pause", type=float, default=0.24, help="seconds of rest between two sentences")
    parser.add_argument("--per-video", type=int, default=5, help="sentences joined into each video")
    parser.add_argument("--work", type=Path, default=Path("/tmp/lipread-continuous"), help="where the videos go")
    args = parser.parse_args()
    quiet_native_stderr()
    ids = split_names(args.split)
    videos = joined_videos(args.videos, args.alignments, ids, args.pause, args.per_video, args.work)
    reader = Transcriber.from_checkpoint(args.checkpoint, "cpu")
    print(f"{reader.name}, grammar {reader.grammar.name if reader.grammar else None}; {len(videos)} videos of "
          f"{args.per_video} sentences with {args.pause:g} s between them; on {platform.machine()}")  # fmt: skip
    for partial in (False, True):
        reader.partial = partial
        refs, hyps = [], []
        for path, text in tqdm(videos, desc=f"partial={partial}", unit="video"):
            refs.append(text)
            hyps.append(" ".join(w.word for w in reader.transcribe(path).words))
        counts = word_counts(refs, hyps)
        print(f"  {'--partial' if partial else 'default':<10} WER {counts.rate:.2%} ({counts.substitutions} "
              f"substituted, {counts.deletions} left out, {counts.insertions} inserted of "
              f"{counts.reference_length} words)")  # fmt: skip


if __name__ == "__main__":
    main()
