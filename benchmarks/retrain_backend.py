"""Retrain a LipNet's back-end on cached front-end features (optionally with spliced sentences), on
the CPU (lipread.backend_retrain); export the result as a model folder. The shipped model's
back-end is one run of this with its defaults and --seed 3, from stage 3's weights (RESULTS.md,
"Stage 7"; stage 6 was the mean, `lipread export A B OUT`, of two such runs):

    python benchmarks/retrain_backend.py --data data/grid_s1 --base STAGE3_MODEL --seed 3 \\
        --train-list ../shared/grid/splits/s1_train.txt --val-list ../shared/grid/splits/s1_val.txt \\
        --out exported/backend --report reports/backend --features-cache cache/

It reads the validation clips every --eval-every epochs with greedy and beam decoding (the base
model's own decoding settings and grammar) and writes the learning curve (CSV and PNG) to --report.
The front-end's weights are the base model's, bit for bit.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import platform
import time
from dataclasses import asdict, fields
from pathlib import Path

import torch

from lipread.backend_retrain import BackendSettings, EvalPoint, bank_wer, cached_bank, train_backend
from lipread.clips import read_dataset
from lipread.evaluate import select_utterances
from lipread.pretrained import copy_decoding, save, weights_digest
from lipread.transcribe import Transcriber, default_model_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="a prepped dataset folder with word times")
    parser.add_argument("--train-list", type=Path, required=True)
    parser.add_argument("--val-list", type=Path, required=True)
    parser.add_argument("--base", type=Path, default=None, help="model folder to start from (default: the shipped one)")
    parser.add_argument("--out", type=Path, required=True, help="the new model folder")
    parser.add_argument("--report", type=Path, default=Path("reports/backend"), help="learning curve (CSV, PNG)")
    parser.add_argument("--eval-every", type=int, default=4)
    parser.add_argument("--features-cache", type=Path, default=None,
                        help="keep the front-end features here, for later runs from the same front-end")  # fmt: skip
    parser.add_argument("--snapshots", action="store_true",
                        help="also keep the model's weights at every evaluation in --report (for averaging)")  # fmt: skip
    for f in fields(BackendSettings):
        kind = float if f.type in ("float", "float | None") else int
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=f.default,
                            help=f"default: {f.default}")  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = BackendSettings(**{f.name: getattr(args, f.name) for f in fields(BackendSettings)})
    base = args.base or default_model_path()
    transcriber = Transcriber.from_checkpoint(base, "cpu")
    model = transcriber.model
    folder = read_dataset(args.data)
    begun = time.perf_counter()
    cache = args.features_cache
    train = cached_bank(
        model, select_utterances(folder, args.train_list), settings.views, settings.seed, "train features", cache
    )
    val = cached_bank(model, select_utterances(folder, args.val_list), 1, settings.seed, "val features", cache)
    cached = time.perf_counter() - begun
    decoders = {name: transcriber.decoder(name) for name in ("greedy", "beam")}

    def wers() -> dict[str, float]:
        return {name: bank_wer(model, val, lambda lp, d=d: d.n_best(lp, 1)[0].text) for name, d in decoders.items()}

    curve = [EvalPoint(0, float("nan"), wers())]
    print(f"base: val WER {json.dumps(curve[0].wer)}", flush=True)

    def evaluate(epoch: int, loss: float) -> None:
        curve.append(EvalPoint(epoch, loss, wers()))
        if args.snapshots:
            args.report.mkdir(parents=True, exist_ok=True)
            torch.save(model.state_dict(), args.report / f"weights-epoch{epoch:03d}.pt")
        print(f"epoch {epoch}: loss {loss:.3f}, val WER {json.dumps(curve[-1].wer)}", flush=True)

    train_backend(model, train, settings, evaluate, args.eval_every)
    seconds = time.perf_counter() - begun
    card = model.card
    save(card.replace(training={**card.training, "backend_retrained": {
        "from": card.name, "base_digest": weights_digest(base), "train_clips": len(train), **asdict(settings),
        "val_wer": curve[-1].wer, "seconds": round(seconds), "machine": platform.processor() or platform.machine(),
    }}), model.state_dict(), args.out)  # fmt: skip
    copy_decoding(Path(base), args.out)
    write_curve(curve, args.report)
    print(f"{len(train)} clips, features cached in {cached:.0f} s, {seconds:.0f} s in all; model: {args.out}")


def write_curve(curve: list[EvalPoint], report: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report.mkdir(parents=True, exist_ok=True)
    names = list(curve[0].wer)
    with open(report / "curve.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "train_loss", *(f"val_wer_{n}" for n in names)])
        for p in curve:
            writer.writerow([p.epoch, round(p.loss, 4), *(round(p.wer[n], 4) for n in names)])
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for n in names:
        ax.plot([p.epoch for p in curve], [100 * p.wer[n] for p in curve], marker="o", label=n)
    ax.set(xlabel="epoch (0: the base model)", ylabel="val WER (%)", title="Back-end retraining on cached features")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(report / "curve.png", dpi=120)


if __name__ == "__main__":
    main()
