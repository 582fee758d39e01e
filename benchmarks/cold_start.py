"""Cold start: how long lipread commands take from a fresh process to exit (median of N runs).

    python benchmarks/cold_start.py [--runs 5]

Each run is a new Python process, as a user's shell starts it; the OS file cache is warm after the
first run, as it is for a user who has run lipread once.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "lgaf6p.mp4"

CASES = {
    "lipread --help": ["--help"],
    "lipread transcribe --help": ["transcribe", "--help"],
    "usage error (--beam-size 0)": ["transcribe", str(EXAMPLE), "--beam-size", "0"],
    "transcribe a 3 s clip (beam)": ["transcribe", str(EXAMPLE)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"{'command':<32}{'median s':>10}{'min s':>8}{'max s':>8}")
    for name, argv in CASES.items():
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "lipread.cli", *argv], capture_output=True, cwd=ROOT)
            times.append(time.perf_counter() - start)
        print(f"{name:<32}{statistics.median(times):>10.2f}{min(times):>8.2f}{max(times):>8.2f}")


if __name__ == "__main__":
    main()
