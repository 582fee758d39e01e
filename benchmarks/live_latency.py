"""Live reading of joined GRID sentences: phrase latency, agreement with offline transcription, and memory
over a long stream.

    python benchmarks/live_latency.py ../shared/grid/s1 --split ../shared/grid/splits/s1_test.txt --clips 20
    python benchmarks/live_latency.py tests/data/grid/s1 --clips 6 --minutes 10   # + memory over 10 min

Joins ``--clips`` 3 s clips into one video (60 s for 20), plays it to ``lipread live --realtime -f jsonl``
at 25 fps and reports the latency of each phrase (from its end in the stream to its printing; and,
for reference, from the end of its last word), the frames dropped, and whether its words (and their
times) equal ``lipread transcribe`` of the same file. With ``--minutes M`` it then reads the video
over and over for M minutes of stream time, as fast as it can, in this process, and prints the
resident memory at each minute.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
from grid_split import split_names

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from data_prep.video import iter_frames, write_clip  # noqa: E402


def joined_video(folder: Path, ids: list[str], out: Path) -> tuple[Path, str]:
    frames, texts = [], []
    for name in ids:
        clip = next(folder.glob(f"{name}.*"))
        frames.append(np.stack([f for _, f in iter_frames(clip)])[:75])
        align = folder.parent / "alignments" / folder.name / f"{name}.align"
        if align.is_file():
            texts.append(" ".join(w for w in (line.split()[2] for line in align.open()) if w not in ("sil", "sp")))
    write_clip(out, np.concatenate(frames))
    return out, " ".join(texts)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def live_run(video: Path) -> tuple[list[dict], str, float]:
    begun = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "lipread.cli", "live", str(video), "--realtime", "-f", "jsonl"],
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    if done.returncode:
        sys.exit(done.stderr)
    return (
        [json.loads(line) for line in done.stdout.splitlines()],
        done.stderr.strip().splitlines()[-1],
        time.monotonic() - begun,
    )


def offline_words(video: Path) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "lipread.cli", "transcribe", str(video), "-f", "json"],
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    return json.loads(done.stdout)["words"]


def memory_run(video: Path, minutes: int) -> None:
    from data_prep.pipeline import LANDMARK_SIDE
    from data_prep.video import iter_frame_pairs
    from lipread.live import LiveFrame, LiveReader, read_stream
    from lipread.transcribe import Transcriber

    length = sum(1 for _ in iter_frames(video)) / 25.0  # seconds

    def looped():
        offset = 0.0
        while offset < minutes * 60:
            for t, small, full in iter_frame_pairs(video, LANDMARK_SIDE):
                yield offset + t, LiveFrame(small, full, full.shape[1] / small.shape[1])
            offset += length

    process = psutil.Process()
    reader = LiveReader(Transcriber.from_checkpoint(device="cpu"))
    marks: dict[int, float] = {}

    def each_frame(r: LiveReader) -> None:
        minute = r.count // (25 * 60)
        if r.count % (25 * 60) == 0:
            marks[minute] = process.memory_info().rss / 2**20

    begun = time.monotonic()
    phrases = sum(1 for _ in read_stream(reader, looped(), each_frame))
    marks[minutes] = process.memory_info().rss / 2**20
    print(f"\nmemory over {minutes} min of stream ({phrases} phrases, read in {time.monotonic() - begun:.0f} s):")
    print("| stream minute | resident memory |\n|---:|---:|")
    for minute, rss in sorted(marks.items()):
        print(f"| {minute} | {rss:.0f} MB |")
    after_first = [rss for m, rss in marks.items() if m >= 1]
    print(f"growth from minute 1 to {minutes}: {after_first[-1] - after_first[0]:+.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips_dir", type=Path, help="a folder of GRID clips (s1), alignments beside it")
    parser.add_argument("--split", type=Path, help="ids to take clips from, in order (speaker/name a line)")
    parser.add_argument("--clips", type=int, default=20, help="clips to join (3 s each)")
    parser.add_argument("--minutes", type=int, default=0, help="also measure memory over this many stream minutes")
    args = parser.parse_args()
    ids = (split_names(args.split) if args.split else sorted(p.stem for p in args.clips_dir.iterdir()))[: args.clips]
    with tempfile.TemporaryDirectory() as tmp:
        video, reference = joined_video(args.clips_dir, ids, Path(tmp) / "joined.mp4")
        phrases, summary, wall = live_run(video)
        offline = offline_words(video)
        latencies = [p["latency"] for p in phrases]
        after_words = [p["end"] - p["words"][-1]["end"] + p["latency"] for p in phrases if p["words"]]
        live_words = [(w["word"], w["start"], w["end"]) for p in phrases for w in p["words"]]
        same = live_words == [(w["word"], w["start"], w["end"]) for w in offline]
        print(f"{len(ids)} clips joined: {len(ids) * 3} s at 25 fps; `lipread live --realtime` took {wall:.1f} s")
        print(summary)
        print("| phrases | latency p50 | p95 | max | from last word's end p50 | p95 | words = offline |")
        print("|---:|---:|---:|---:|---:|---:|:---:|")
        print(f"| {len(phrases)} | {percentile(latencies, 50):.2f} s | {percentile(latencies, 95):.2f} s | "
              f"{max(latencies):.2f} s | {percentile(after_words, 50):.2f} s | {percentile(after_words, 95):.2f} s | "
              f"{'yes' if same else 'NO'} |")  # fmt: skip
        if reference:
            import jiwer

            text = " ".join(w for w, _, _ in live_words)
            print(f"WER of the live words against the sentences: {jiwer.wer(reference, text):.1%}")
        if args.minutes:
            memory_run(video, args.minutes)


if __name__ == "__main__":
    main()
