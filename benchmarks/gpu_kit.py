"""The GRID GPU recipe as one call of a lent GPU machine: pack it here, run it there, read it here.

A lent machine has no package index, nothing of this project but the working tree, about 15
minutes of device time per session (its start included) and 10 per command, so the whole front-end
training must go in one prepared command that cannot fail on a missing package. ``pack`` (here, with
the prepped dataset and a network) fills the ignored folder ``.gpu/`` with the wheels the
machine's PyTorch image lacks, built for its Python, and the training and validation clips;
``run`` (there) installs the wheels, measures training throughput (``benchmarks/train_speed.py``),
trains the recipes side by side on the one GPU (``benchmarks/train_grid.py``: a short first
segment to learn each run's pace, then the rest with each cosine schedule fitted to the time
left), and leaves each run's best model and its logs in ``$OUT``. PyAV is not carried (36 MB):
training reads the clips through OpenCV, which the image has (``data_prep.video.read_clip``).

    python benchmarks/gpu_kit.py pack --data data/grid_s1 --splits ../shared/grid/splits
    # then the device tool: run(command="bash benchmarks/gpu_kit.sh", carry=[".gpu"], timeout_s=600)
    python benchmarks/gpu_kit.py unpack FETCHED_FOLDER --to exported/gpu   # here, afterwards
    python benchmarks/gpu_kit.py judge --models exported/gpu --data data/grid_s1 \
        --split ../shared/grid/splits/s1_val.txt --out reports/gpu

``judge`` reads the shipped model and each unpacked one on the split in the GRID grammar (``lipread
evaluate -o``, as the shipped model decodes; each unpacked one with ``--calibrate``, so that it
has its own out-of-domain thresholds and ``rest_frames``), compares each with the shipped one (``lipread
compare``: the paired interval and the letter slot) and writes ``summary.md``; a report already
there is kept, so it resumes.

The recipes (``RECIPES``) are the next step of RESULTS.md ("What did not work, and what to try
next"): the whole LipNet with word windows and s1's clip levels from scratch; the same shown
speech as users film it (the silence around the words trimmed, sentences joined 0.04-0.48 s apart,
phrases cut mid-sentence, slower cameras: ``realworld``, to be judged also with
``benchmarks/continuous_speech_wer.py``, ``cut_sentence_wer.py`` and ``frame_rate_wer.py``); and
the shipped model fine-tuned with the GPU's augmentation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

KIT = Path(".gpu")
#: What the PyTorch image of the lent machine (Python 3.12) lacks of what ``lipread train`` imports.
WHEELS = ["jsonargparse", "docstring-parser", "typeshed-client", "jiwer", "rapidfuzz", "flashlight-text"]
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"]
LEVELS = "[0.5577, 0.0906]"  # s1_train's clip levels, as the shipped model's card has them
#: Every run holds its clips on the GPU; hundreds of epochs fit in the time, so early stopping (30
#: epochs without a better val WER, the config's) would end a run in its noisy high-rate phase.
COMMON = "--data.device_cache true --early_stopping_patience 100000"
RECIPES = [
    f"scratch=configs/grid_lipnet.yaml {COMMON} --data.clip_levels '{LEVELS}'",
    f"realworld=configs/grid_lipnet.yaml {COMMON} --data.clip_levels '{LEVELS}' --data.trim_edges 0.5 "
    "--data.joined_sentences 0.3 --data.cut_words 0.2 --data.low_frame_rate 0.2",
    f"finetune=configs/grid_lipnet.yaml {COMMON} --init_from lipread/pretrained --model.lr 0.0003",
]


def pack(args: argparse.Namespace) -> None:
    """Wheels for the machine's Python and the train + val clips, into ``.gpu/``."""
    wheels = KIT / "whl"
    shutil.rmtree(KIT, ignore_errors=True)
    wheels.mkdir(parents=True)
    for name in WHEELS:
        version = _installed_version(name)
        platforms = [a for p in PLATFORMS for a in ("--platform", p)]
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--python-version", args.python, "--implementation", "cp", *platforms, "-d", str(wheels),
                        f"{name}=={version}"], check=True)  # fmt: skip
    ids = set()
    for split in ("s1_train.txt", "s1_val.txt"):
        shutil.copy(args.splits / split, KIT / split)
        ids |= set((args.splits / split).read_text().split())
    data = KIT / "data"
    data.mkdir()
    shutil.copy(args.data / "meta.json", data)
    kept = []
    for line in (args.data / "manifest.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry["id"] in ids:
            kept.append(line)
            (data / entry["clip"]).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(args.data / entry["clip"], data / entry["clip"])
    (data / "manifest.jsonl").write_text("\n".join(kept) + "\n")
    size = sum(f.stat().st_size for f in KIT.rglob("*") if f.is_file())
    print(f"{KIT}: {len(kept)} clips and {len(list(wheels.iterdir()))} wheels, {size / 2**20:.1f} MiB "
          "(the working tree and what is carried travel together, 64 MiB at most)")  # fmt: skip


def _installed_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def run(args: argparse.Namespace) -> None:
    """On the lent machine (wheels already installed by gpu_kit.sh): throughput, then the recipes."""
    begun = time.monotonic()
    out = Path(os.environ.get("OUT", "gpu_out"))
    out.mkdir(parents=True, exist_ok=True)
    runs, exported = Path("runs/gpu"), Path("exported/gpu")
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    data, splits = str(KIT / "data"), str(KIT)
    speed = [sys.executable, "benchmarks/train_speed.py", data, "--steps", "40", "--batch-size", "64", "--workers", "8"]
    if args.config == "configs/grid_lipnet.yaml":
        speed.append("--device-bank")
    _timed(speed, logs / "train_speed.txt", args.speed_seconds)
    jobs = RECIPES if args.config == "configs/grid_lipnet.yaml" else [f"{n}={args.config}" for n in ("a", "b")]
    left = args.budget - (time.monotonic() - begun) - args.reserve
    grid = [sys.executable, "benchmarks/train_grid.py", "--data", data, "--splits", splits, "--runs", str(runs),
            "--export", str(exported), "--workers", "0", "--max-time", _hms(left - 15), *jobs]  # fmt: skip
    _timed([*grid, "--stop-after", str(args.pace_seconds)], logs / "segment1.txt", args.pace_seconds + 60)
    left = args.budget - (time.monotonic() - begun) - args.reserve
    _timed([*grid, "--fit-epochs", "--stop-after", str(max(10, left))], logs / "segment2.txt", left + 60)
    for run_dir in sorted(exported.iterdir()) if exported.is_dir() else []:
        if run_dir.is_dir():
            with tarfile.open(out / f"{run_dir.name}.tar", "w") as tar:
                tar.add(run_dir, arcname=run_dir.name)
        else:
            shutil.copy(run_dir, logs / run_dir.name)
    for kind in ("metrics.csv", "curve.csv", "curve.png"):  # curve.*: every segment's epochs
        for path in runs.glob(f"*/{kind}"):
            shutil.copy(path, logs / f"{path.parent.name}_{kind}")
    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        tar.add(logs, arcname="logs")
    shutil.rmtree(logs)
    print(f"done in {time.monotonic() - begun:.0f} s: {sorted(p.name for p in out.iterdir())}", flush=True)


def _hms(seconds: float) -> str:
    s = max(30, int(seconds))
    return f"00:{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _timed(cmd: list[str], log: Path, limit: float) -> None:
    """Run ``cmd`` with its output in ``log`` (and the end of it here), killed after ``limit`` s."""
    print(f"$ {' '.join(cmd)}", flush=True)
    with open(log, "w") as handle:
        try:
            subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, timeout=limit)
        except subprocess.TimeoutExpired:
            print(f"stopped after {limit:.0f} s", file=handle)
    print("".join(log.read_text().splitlines(keepends=True)[-12:]), flush=True)


def unpack(args: argparse.Namespace) -> None:
    """The fetched ``$OUT`` files -> model folders (one per recipe) and logs under ``--to``."""
    args.to.mkdir(parents=True, exist_ok=True)
    for tar in sorted(args.fetched.glob("*.tar*")):
        with tarfile.open(tar) as archive:
            archive.extractall(args.to, filter="data")
    print("\n".join(sorted(str(p) for p in args.to.iterdir())))
    print(f"then: python benchmarks/gpu_kit.py judge --models {args.to} --data DATASET --split VAL_SPLIT")


def judge(args: argparse.Namespace) -> None:
    """Each model folder under ``--models`` against ``--baseline`` on one split: evaluate, compare, summarise."""
    models = sorted(p for p in args.models.iterdir() if (p / "config.json").is_file())
    if not models:
        raise SystemExit(f"{args.models}: no model folders (unpack the fetched files there first)")
    args.out.mkdir(parents=True, exist_ok=True)
    lipread = [sys.executable, "-m", "lipread.cli"]
    for name, model in [("baseline", args.baseline)] + [(m.name, m) for m in models]:
        if not (args.out / name / "report.json").is_file():
            # (a new model's thresholds and rest are measured on the way; the baseline's are left as shipped)
            subprocess.run(lipread + ["evaluate", "--checkpoint", str(model), "--data", str(args.data), "--split",
                                      str(args.split), "--grammar", "grid", "-o", str(args.out / name)]
                           + (["--calibrate"] if name != "baseline" else []), check=True)  # fmt: skip
    rows = ["| model | greedy | beam | beam B - A (points, 95% paired interval) | B fewer / more beam errors "
            "in | letter slot errors, A -> B |", "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for model in models:
        out = args.out / f"{model.name}-vs-baseline"
        subprocess.run(lipread + ["compare", str(args.out / "baseline"), str(args.out / model.name), "-o", str(out)],
                       check=True)  # fmt: skip
        by = {d["decoder"]: d for d in json.loads((out / "comparison.json").read_text())["decoders"]}
        beam, p = by["beam"], by["beam"]["paired"]
        letter = next((f"{s['errors_a']} -> {s['errors_b']}" for s in beam["slots"] if s["slot"] == "letter"), "-")
        rows.append(f"| {model.name} | {by['greedy']['wer_b']:.2%} | {beam['wer_b']:.2%} | {p['difference'] * 100:+.2f} "
                    f"({p['low'] * 100:+.2f} to {p['high'] * 100:+.2f}) | {p['b_better_share']:.0%} / "
                    f"{p['b_worse_share']:.0%} | {letter} |")  # fmt: skip
    base = json.loads((args.out / "baseline" / "report.json").read_text())
    text = (f"A = {args.baseline}: greedy {base['decoders']['greedy']['wer']:.2%}, beam "
            f"{base['decoders']['beam']['wer']:.2%} on {base['utterances']} utterances of {args.split.name}\n\n"
            + "\n".join(rows) + "\n")  # fmt: skip
    (args.out / "summary.md").write_text(text)
    print(text + f"written to {args.out / 'summary.md'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("pack", help="here: wheels and clips into .gpu/")
    p.add_argument("--data", type=Path, default=Path("data/grid_s1"))
    p.add_argument("--splits", type=Path, default=Path("../shared/grid/splits"))
    p.add_argument("--python", default="3.12", help="the lent machine's Python (default: 3.12)")
    r = sub.add_parser("run", help="there: throughput, then the recipes, into $OUT")
    r.add_argument("--budget", type=float, default=550, help="seconds for the whole run (default: 550)")
    r.add_argument("--reserve", type=float, default=30, help="seconds kept for packing the results (default: 30)")
    r.add_argument("--speed-seconds", type=float, default=75, help="throughput measurement, at most (default: 75)")
    r.add_argument("--pace-seconds", type=float, default=75, help="first training segment (default: 75)")
    r.add_argument("--config", default="configs/grid_lipnet.yaml", help="another config runs two plain jobs of it")
    u = sub.add_parser("unpack", help="here: the fetched files -> model folders")
    u.add_argument("fetched", type=Path)
    u.add_argument("--to", type=Path, default=Path("exported/gpu"))
    j = sub.add_parser("judge", help="here: each unpacked model against the shipped one on a split")
    j.add_argument("--models", type=Path, default=Path("exported/gpu"), help="the unpacked model folders")
    j.add_argument("--data", type=Path, default=Path("data/grid_s1"))
    j.add_argument("--split", type=Path, default=Path("../shared/grid/splits/s1_val.txt"))
    j.add_argument("--baseline", type=Path, default=Path("lipread/pretrained"), help="A of each comparison")
    j.add_argument("--out", type=Path, default=Path("reports/gpu"))
    args = parser.parse_args()
    {"pack": pack, "run": run, "unpack": unpack, "judge": judge}[args.step](args)


if __name__ == "__main__":
    main()
