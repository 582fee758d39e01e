"""Several back-end retraining runs' learning curves in one picture: validation WER by epoch, greedy
and beam side by side (the curve CSVs that ``benchmarks/retrain_backend.py --report`` writes).
RESULTS.md's picture of every CPU recipe tried came from

    python benchmarks/plot_curves.py -o results/backend_recipes.png \\
        "stage 4: spliced sentences, 24 epochs=results/backend_retrain_curve.csv" \\
        "stage 5: real clips only, 120 epochs=results/backend_retrain_stage5_curve.csv" \\
        "channel dropout 0.7 (stage 6's other half)=results/backend_retrain_cd07_curve.csv" \\
        "stage 7, shipped: stage 5's recipe, seed 3=results/backend_retrain_stage7_curve.csv" \\
        "channel dropout 0.6, seed 2=results/backend_retrain_cd06s2_curve.csv" \\
        "with clip levels (time mask 0)=results/backend_retrain_timemask0_curve.csv" \\
        "time mask 3 frames/s=results/backend_retrain_timemask3_curve.csv" \\
        "time mask 10 frames/s=results/backend_retrain_timemask10_curve.csv" \\
        "12 views, from the shipped model=results/backend_retrain_views12_curve.csv"

Each run read its own session's prep of s1_val with the decoding of its day, so curves a word or
two apart are not told apart by this picture (``lipread compare`` on two reports does that).
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path


def read_curve(path: Path) -> dict[str, list[float]]:
    """A curve CSV as columns: ``epoch``, ``train_loss``, ``val_wer_<decoder>`` ..."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "epoch" not in rows[0]:
        raise SystemExit(f"{path}: not a learning-curve CSV (no epoch column)")
    return {name: [float(row[name]) if row[name] not in ("", "nan") else math.nan for row in rows] for name in rows[0]}


def draw(curves: dict[str, dict[str, list[float]]], path: Path, decoders: tuple[str, ...] = ("greedy", "beam")) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6 * len(decoders), 4.5))
    axes = fig.subplots(1, len(decoders), sharey=True)
    for ax, decoder in zip(axes, decoders):
        column = f"val_wer_{decoder}"
        for label, curve in curves.items():
            if column not in curve:
                continue
            values = [100 * v for v in curve[column]]
            best = min(v for v in values if not math.isnan(v))
            ax.plot(curve["epoch"], values, marker=".", label=f"{label} (best {best:.2f}%)")
        ax.set(xlabel="epoch (0: the model it started from)", ylabel="s1_val WER (%)", title=f"{decoder}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Back-end retraining on cached front-end features: s1_val WER by epoch")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="LABEL=CSV", help="a run's label and its curve CSV")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args()
    curves = {}
    for run in args.runs:
        label, sep, file = run.rpartition("=")
        if not sep:
            raise SystemExit(f"{run!r}: give LABEL=CSV")
        curves[label] = read_curve(Path(file))
    draw(curves, args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
