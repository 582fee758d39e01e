"""What a training run's folder keeps of its history, across interruptions.

A run is resumed by running its command again (``last.ckpt``), so its history has to survive that:
Lightning's CSV logger deletes ``metrics.csv`` when it finds the folder already used, and a killed
process never writes the rows it still held in memory. The learning curve is therefore kept in the
checkpoints themselves (a callback's state): after every validation the run folder gets
``curve.csv`` (one row an epoch) and ``curve.png`` (losses, validation WER and CER), from the first
epoch however often the run was stopped.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from lightning.pytorch import Callback
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


@dataclass(frozen=True)
class EpochRecord:
    """One validated epoch: the mean training loss of that epoch and the validation measures."""

    epoch: int
    train_loss: float
    val_loss: float
    val_wer: float
    val_cer: float


class LearningCurve(Callback):
    """Writes ``curve.csv`` and ``curve.png`` into ``folder`` after each validation (the picture at
    most every ``min_interval`` seconds, and at the end: a GPU epoch can take a second). The
    history is saved in every checkpoint, so a resumed run's curve starts at its first epoch."""

    def __init__(self, folder: str | Path, title: str = "", min_interval: float = 30.0):
        self.folder, self.title, self.min_interval = Path(folder), title, min_interval
        self.history: list[EpochRecord] = []
        self._loss_sum, self._steps = 0.0, 0  # the sum stays a tensor on the device until validation
        self._drawn_at = -math.inf

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._loss_sum, self._steps = 0.0, 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None:  # no .item() here: on a GPU it would wait for every step
            self._loss_sum = self._loss_sum + loss.detach().float()
            self._steps += 1

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._record(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.enable_validation:  # no val split (or limit_val_batches 0): the training loss alone
            self._record(trainer)

    def _record(self, trainer) -> None:
        metrics = trainer.callback_metrics

        def value(name: str) -> float:
            return float(metrics[name]) if name in metrics else math.nan

        train_loss = float(self._loss_sum) / self._steps if self._steps else math.nan
        record = EpochRecord(trainer.current_epoch, train_loss, value("val_loss"), value("val_wer"), value("val_cer"))
        self.history = [r for r in self.history if r.epoch < record.epoch] + [record]
        if trainer.is_global_zero:
            write_csv(self.history, self.folder / "curve.csv")
            if time.monotonic() - self._drawn_at >= self.min_interval:
                self._draw()

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.is_global_zero and self.history:
            self._draw()

    def _draw(self) -> None:
        draw(self.history, self.folder / "curve.png", self.title)
        self._drawn_at = time.monotonic()

    def state_dict(self) -> dict:
        return {"history": [asdict(r) for r in self.history]}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = [EpochRecord(**r) for r in state_dict.get("history", [])]


def write_csv(history: list[EpochRecord], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with open(partial, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([f.name for f in fields(EpochRecord)])
        writer.writerows([r.epoch, *(round(getattr(r, f.name), 5) for f in fields(EpochRecord)[1:])] for r in history)
    partial.replace(path)


def read_csv(path: Path) -> list[EpochRecord]:
    """A run's ``curve.csv`` (to compare runs, say)."""
    with open(path, newline="") as handle:
        return [EpochRecord(int(row["epoch"]), *(float(row[f.name]) for f in fields(EpochRecord)[1:]))
                for row in csv.DictReader(handle)]  # fmt: skip


def draw(history: list[EpochRecord], path: Path, title: str = "") -> None:
    """Losses on the left, validation WER and CER (%) on the right, by epoch."""
    from matplotlib.figure import Figure  # no pyplot: nothing global to set up or close

    epochs = [r.epoch for r in history]
    fig = Figure(figsize=(9, 3.5))
    losses, rates = fig.subplots(1, 2)
    losses.plot(epochs, [r.train_loss for r in history], label="train (epoch mean)")
    losses.plot(epochs, [r.val_loss for r in history], label="validation")
    losses.set(xlabel="epoch", ylabel="CTC loss (log scale)", title="Loss", yscale="log")
    rates.plot(epochs, [100 * r.val_wer for r in history], marker=".", label="WER (greedy)")
    rates.plot(epochs, [100 * r.val_cer for r in history], marker=".", label="CER (greedy)")
    best = min(history, key=lambda r: (math.isnan(r.val_wer), r.val_wer))
    if not math.isnan(best.val_wer):
        rates.annotate(f"best {100 * best.val_wer:.2f}% (epoch {best.epoch})", (best.epoch, 100 * best.val_wer),
                       textcoords="offset points", xytext=(0, 12), ha="center", fontsize=8)  # fmt: skip
    rates.set(xlabel="epoch", ylabel="%", title="Validation")
    if all(math.isnan(r.val_wer) for r in history):
        rates.text(0.5, 0.5, "no validation split", transform=rates.transAxes, ha="center", color="0.4")
        rates.set(xticks=[], yticks=[])
    for ax in (losses, rates):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    partial = path.with_suffix(".partial.png")
    fig.savefig(partial, dpi=110)
    partial.replace(path)


def compare(runs: dict[str, list[EpochRecord]], path: Path, title: str = "Validation WER by epoch") -> None:
    """Several runs' validation WER (greedy, %) by epoch in one picture."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for name, history in runs.items():
        best = min((r.val_wer for r in history), default=math.nan)
        ax.plot(
            [r.epoch for r in history], [100 * r.val_wer for r in history], label=f"{name} (best {100 * best:.2f}%)"
        )
    ax.set(xlabel="epoch", ylabel="val WER, greedy (%)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


class _KeepingWriter(ExperimentWriter):
    """Lightning's CSV writer, but a folder's existing ``metrics.csv`` is continued, not deleted.

    An interrupted session may have logged steps after its last checkpoint; the resumed session
    logs them again, from its checkpoint's step on. So the rows from the first step this session
    logs onwards are dropped before its first save: each step appears once."""

    def _check_log_dir_exists(self) -> None:
        self._earlier = self._fs.isfile(self.metrics_file_path)  # rows of earlier sessions, not yet cut
        self._first_step: int | None = None  # the first step this session logs
        if self._earlier:
            with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
                self.metrics_keys = sorted(csv.DictReader(handle).fieldnames or [])

    def log_metrics(self, metrics_dict: dict, step: int | None = None) -> None:
        super().log_metrics(metrics_dict, step)
        if self._first_step is None:
            self._first_step = int(self.metrics[-1]["step"])

    def save(self) -> None:
        if self._earlier and self._first_step is not None:
            self._earlier = False
            with self._fs.open(self.metrics_file_path, "r", newline="") as handle:
                rows = list(csv.DictReader(handle))
            kept = [r for r in rows if not r.get("step") or int(float(r["step"])) < self._first_step]
            if len(kept) < len(rows):
                with self._fs.open(self.metrics_file_path, "w", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=self.metrics_keys)
                    writer.writeheader()
                    writer.writerows(kept)
        super().save()


class ResumableCSVLogger(CSVLogger):
    """A CSV logger for runs that resume: the rows of earlier sessions stay in ``metrics.csv``, but
    for those an interrupted session logged after its last checkpoint (the resumed one logs them again)."""

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _KeepingWriter(log_dir=self.log_dir)
        return self._experiment
