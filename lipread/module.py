"""The LightningModule both recipes train with: CTC over characters, AdamW, warm-up + cosine."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torchmetrics import Metric

from data_prep.contracts import Batch, ContractError, ModelCard, training_settings
from lipread.decoding import greedy_decode
from lipread.metrics import char_counts, word_counts
from lipread.models import build_model, ctc_log_probs
from lipread.objective import adamw, ctc_loss, freeze, keep_frozen_in_eval, warmup_cosine
from lipread.text import CharTokenizer


class ErrorRate(Metric):
    """A torchmetrics wrapper over jiwer's counts, so DDP ranks add their errors up correctly."""

    full_state_update = False

    def __init__(self, unit: str = "word"):
        super().__init__()
        self.count = word_counts if unit == "word" else char_counts
        self.add_state("errors", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, hypotheses: list[str], references: list[str]) -> None:
        c = self.count(references, hypotheses)
        self.errors += c.substitutions + c.deletions + c.insertions
        self.total += c.reference_length

    def compute(self) -> torch.Tensor:
        return self.errors.float() / self.total.clamp(min=1).float()


class LipreadModule(L.LightningModule):
    """A VSR model and how it learns.

    Args:
        arch: ``lipnet`` or ``conformer``.
        arch_options: keyword arguments of that model (e.g. ``hidden_size``, ``num_layers``).
        in_channels: 1 (grey) or 3 (RGB); linked to ``data.channels`` by ``lipread train``.
        input_size: crop side fed to the model; linked to ``data.input_size``.
        lr, weight_decay: AdamW.
        warmup_epochs: linear warm-up length, then cosine decay to ``min_lr_ratio * lr``.
        frozen: parameter-name prefixes kept fixed, e.g. ``["model.blocks"]`` (LipNet's 3D-conv
            front-end) to re-train only the back-end of a model given by ``--init_from``: no
            gradients flow through them and their batch-norm statistics and dropout stay in
            inference mode, so an epoch costs about a third of full training.
    """

    def __init__(
        self,
        arch: str = "lipnet",
        arch_options: dict[str, Any] | None = None,
        in_channels: int = 1,
        input_size: int = 88,
        lr: float = 1e-3,
        weight_decay: float = 1e-2,
        warmup_epochs: float = 1.0,
        min_lr_ratio: float = 0.01,
        frozen: list[str] | None = None,
    ):
        super().__init__()
        rules = {"lr": (lr, lr > 0, "above 0"), "weight_decay": (weight_decay, weight_decay >= 0, "at least 0"),
                 "warmup_epochs": (warmup_epochs, warmup_epochs >= 0, "at least 0"),
                 "min_lr_ratio": (min_lr_ratio, 0 <= min_lr_ratio <= 1, "between 0 and 1")}  # fmt: skip
        for name, (value, ok, rule) in rules.items():
            if not ok:
                raise ContractError(f"--model.{name} must be {rule}, got {value:g}")
        self.save_hyperparameters()
        self.tokenizer = CharTokenizer()
        self.model = build_model(
            arch, in_channels, self.tokenizer.vocab_size, input_size=input_size, **(arch_options or {})
        )
        self.val_wer = ErrorRate("word")
        self.val_cer = ErrorRate("char")
        #: Set from the data module at setup; stored in every checkpoint (see on_save_checkpoint).
        self.card: ModelCard | None = None
        self.frozen = tuple(frozen or ())
        freeze(self, self.frozen)

    def on_train_epoch_start(self) -> None:
        keep_frozen_in_eval(self, self.frozen)

    def transfer_batch_to_device(self, batch: Batch, device: torch.device, dataloader_idx: int) -> Batch:
        return batch.to(device, non_blocking=True)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, T, V) in float32."""
        return ctc_log_probs(self.model, video, lengths)

    def _loss(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        log_probs = self(batch.video, batch.lengths)
        return ctc_loss(log_probs, batch, self.tokenizer.blank, windows=self.training), log_probs

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self._loss(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite CTC loss on batch {batch.ids}")
        self.log("train_loss", loss, prog_bar=True, batch_size=len(batch))
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, log_probs = self._loss(batch)
        hyps = greedy_decode(log_probs, batch.lengths, self.tokenizer)
        self.val_wer.update(hyps, batch.texts)
        self.val_cer.update(hyps, batch.texts)
        n = len(batch)
        self.log("val_loss", loss, prog_bar=True, batch_size=n, sync_dist=True)
        self.log("val_wer", self.val_wer, prog_bar=True, batch_size=n)
        self.log("val_cer", self.val_cer, prog_bar=True, batch_size=n)

    def configure_optimizers(self):
        optimizer = adamw(self, self.hparams.lr, self.hparams.weight_decay)
        total = max(1, self.trainer.estimated_stepping_batches)
        epochs = max(1, self.trainer.max_epochs or 1)
        warmup = min(total - 1, int(total * self.hparams.warmup_epochs / epochs))
        floor = self.hparams.min_lr_ratio
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_cosine(step, warmup, total, floor))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # -- checkpoints carry what inference needs

    def setup(self, stage: str) -> None:
        datamodule = getattr(self.trainer, "datamodule", None)
        if datamodule is not None and hasattr(datamodule, "card"):
            datamodule.setup(stage)
            hp = self.hparams
            training = training_settings(hp)
            self.card = datamodule.card(hp.arch, hp.arch_options or {}, training)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.card is not None:
            checkpoint["lipread"] = self.card.to_json()

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        from lipread.pretrained import card_from_checkpoint

        if checkpoint.get("lipread"):
            self.card = card_from_checkpoint(checkpoint, "checkpoint")
