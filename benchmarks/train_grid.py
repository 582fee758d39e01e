"""Train several GRID recipes side by side on one GPU, in time-limited segments, and export each
run's best checkpoint. Used for the shipped model; RESULTS.md gives the exact calls.

    python benchmarks/train_grid.py --data data/grid_s1 --splits ../shared/grid/splits \\
        --max-time 00:00:17:30 \\
        lipnet=configs/grid_lipnet.yaml conformer=configs/grid_conformer.yaml \\
        "lipnet_plain=configs/grid_lipnet.yaml --data.word_window_margin null"

A job is ``NAME=CONFIG [extra lipread-train arguments]``. ``--max-time`` is the training time of
the whole run (Lightning's Timer keeps counting across resumes); ``--stop-after SECONDS`` ends
this invocation earlier, so a run too long for one sitting continues where it stopped the next
time the same command is given. ``--fit-epochs`` sets each resumed run's ``max_epochs`` (the
length of its cosine schedule) from the epochs per second it has shown, so the schedule ends at
``--max-time``. Each run folder has its learning curve (``curve.csv``, ``curve.png``: every
segment's epochs), and ``curves.png`` in ``--export`` puts the runs' validation WER side by side.
"""

from __future__ import annotations

import argparse
import glob
import shlex
import subprocess
import sys
import time
from pathlib import Path

from lipread.run_logs import EpochRecord, compare, read_csv


def seconds(hms: str) -> float:
    """``DD:HH:MM:SS`` (Lightning's max_time) -> seconds."""
    d, h, m, s = ([0, 0, 0, 0] + [float(p) for p in hms.split(":")])[-4:]
    return ((d * 24 + h) * 60 + m) * 60 + s


def fitted_epochs(run: Path, budget_s: float) -> int | None:
    """Epochs this run reaches in ``budget_s`` of training, from its last checkpoint's pace."""
    import torch

    last = run / "checkpoints" / "last.ckpt"
    if not last.is_file():
        return None
    ckpt = torch.load(last, map_location="cpu", weights_only=False)
    timer = next((v for k, v in ckpt.get("callbacks", {}).items() if k.startswith("Timer")), {})
    elapsed = timer.get("time_elapsed", {}).get("train", 0.0)
    epochs = ckpt.get("epoch", 0) + 1
    return int(epochs / elapsed * budget_s) if elapsed > 0 else None


def summary(run: Path, curve: list[EpochRecord], out: Path) -> str:
    """The run's validated epochs (its ``curve.csv``: every segment's, from the checkpoints) and its export."""
    from lipread.pretrained import export

    lines = [
        f"epoch {r.epoch:>4} train_loss {r.train_loss:.4f} val_loss {r.val_loss:.4f} "
        f"val_wer {r.val_wer:.4f} val_cer {r.val_cer:.4f}"
        for r in curve
    ]
    best = sorted(glob.glob(str(run / "checkpoints" / "best-*.ckpt")))
    if best:
        lines += [f"best {best[-1]}", f"exported {export(best[-1], out)}"]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("jobs", nargs="+", help="NAME=CONFIG [extra arguments]")
    p.add_argument("--data", default="data/grid_s1")
    p.add_argument("--splits", default="../shared/grid/splits")
    p.add_argument("--runs", type=Path, default=Path("runs"))
    p.add_argument("--export", type=Path, default=Path("exported"))
    p.add_argument("--workers", type=int, default=4, help="data-loader workers per job")
    p.add_argument("--max-time", default="00:00:08:30", help="training time of each whole run")
    p.add_argument("--stop-after", type=float, default=None, help="end this invocation after so many seconds")
    p.add_argument("--fit-epochs", action="store_true", help="size resumed runs' schedules to --max-time")
    a = p.parse_args()
    a.export.mkdir(parents=True, exist_ok=True)
    procs = {}
    for job in a.jobs:
        name, _, rest = job.partition("=")
        config, *extra = shlex.split(rest)
        run = a.runs / name
        cmd = [
            sys.executable, "-m", "lipread.cli", "train", "--config", config,
            "--data.root", a.data, "--data.train_list", f"{a.splits}/s1_train.txt",
            "--data.val_list", f"{a.splits}/s1_val.txt", "--data.num_workers", str(a.workers),
            "--trainer.max_time", a.max_time, "--trainer.enable_progress_bar", "false",
            "--trainer.default_root_dir", str(run), *extra,
        ]  # fmt: skip
        epochs = fitted_epochs(run, seconds(a.max_time)) if a.fit_epochs else None
        if epochs:
            cmd += ["--trainer.max_epochs", str(epochs)]
        log = open(a.export / f"{name}.log", "a")
        print(f"{name}: {shlex.join(cmd)}", file=log, flush=True)
        procs[name] = (run, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT))
    start = time.monotonic()
    while any(proc.poll() is None for _, proc in procs.values()):
        if a.stop_after and time.monotonic() - start > a.stop_after:
            for _, proc in procs.values():
                proc.terminate()  # Lightning saves nothing on SIGTERM: last.ckpt is the last validated epoch
            for _, proc in procs.values():
                proc.wait()
            break
        time.sleep(5)
    curves = {name: read_csv(run / "curve.csv") for name, (run, _) in procs.items() if (run / "curve.csv").is_file()}
    for name, (run, proc) in procs.items():
        text = summary(run, curves[name], a.export / name) if name in curves else "no validated epoch"
        with open(a.export / f"{name}.log", "a") as log:
            print(f"exit {proc.returncode}\n{text}", file=log)
        print(f"== {name} (exit {proc.returncode})\n" + "\n".join(text.splitlines()[-4:]), flush=True)
    if curves:
        compare(curves, a.export / "curves.png")
        print(f"learning curves: {a.export / 'curves.png'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
