"""Run by test_train.py: two CPU processes (gloo) train a few DDP steps; each rank saves its weights."""

import sys
from pathlib import Path

import lightning as L
import torch

from lipread.data import LipreadDataModule
from lipread.module import LipreadModule


class SaveWeights(L.Callback):
    def __init__(self, out: Path):
        self.out = out

    def on_fit_start(self, trainer, pl_module):
        if trainer.global_rank == 0:
            torch.save(_weights(pl_module), self.out / "initial.pt")

    def on_train_end(self, trainer, pl_module):
        torch.save(_weights(pl_module), self.out / f"rank{trainer.global_rank}.pt")


def _weights(module) -> dict:
    """Parameters only: batch-norm running statistics are per rank unless sync_batchnorm is on."""
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def main() -> None:
    dataset, out = Path(sys.argv[1]), Path(sys.argv[2])
    L.seed_everything(7)
    model = LipreadModule(
        arch="lipnet", arch_options={"channels": [4, 8, 8], "hidden_size": 16, "num_layers": 1, "dropout": 0.0}
    )
    data = LipreadDataModule(root=str(dataset), batch_size=2, num_workers=0)
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, limit_train_batches=3, limit_val_batches=0,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, callbacks=[SaveWeights(out)],
    )  # fmt: skip
    trainer.fit(model, datamodule=data)


if __name__ == "__main__":
    main()
