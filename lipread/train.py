"""``lipread train``: LightningCLI over :class:`LipreadModule` and :class:`LipreadDataModule`.

Every field of a config is overridable on the command line (``--trainer.max_epochs 5``,
``--data.batch_size 16``). Running the same command again resumes from ``last.ckpt`` in the run
folder (``trainer.default_root_dir``); ``--init_from CKPT`` starts from another run's weights
with a fresh optimiser (fine-tuning).
"""

from __future__ import annotations

import difflib
import logging
import re
import warnings
from pathlib import Path

import torch
from jsonargparse import ArgumentError
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningCLI
from lightning.pytorch.loggers import TensorBoardLogger

from data_prep.contracts import ContractError
from lipread.clips import check_crop_matches
from lipread.data import LipreadDataModule
from lipread.errors import UserError
from lipread.module import LipreadModule
from lipread.pretrained import load, weight_mismatch
from lipread.run_logs import LearningCurve, ResumableCSVLogger
from lipread.shipped_configs import CONFIG_DIR, beside_configs, shipped_configs, with_shipped_configs

log = logging.getLogger(__name__)


class LipreadCLI(LightningCLI):
    def parse_arguments(self, parser, args) -> None:
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as err:  # one line instead of a 70-line usage (the parser does not exit: see make_cli)
            raise UserError(config_problem(str(err), parser)) from None

    def before_instantiate_classes(self) -> None:
        data, configs = self.config["data"], [str(c) for c in self.config.get("config") or []]
        for key in ("train_list", "val_list", "test_list"):
            data[key] = beside_configs(data[key], configs)

    def add_arguments_to_parser(self, parser) -> None:
        for action in parser._actions:
            if "--config" in action.option_strings:
                action.help = (f"a YAML file, or one of lipread's configs by name: {', '.join(shipped_configs())} "
                               f"(in {CONFIG_DIR})")  # fmt: skip
        parser.add_argument(
            "--init_from",
            type=str | None,
            default=None,
            help="checkpoint or model folder to fine-tune from (weights only)",
        )
        parser.add_argument(
            "--resume", type=bool, default=True, help="continue from last.ckpt in the run folder if there is one"
        )
        parser.add_argument("--early_stopping_patience", type=int, default=30, help="epochs without a better val_wer")
        parser.link_arguments("data.channels", "model.in_channels")
        parser.link_arguments("data.input_size", "model.input_size")

    def instantiate_trainer(self, **kwargs):
        config = self.config_init["trainer"]
        root = Path(config.get("default_root_dir") or "runs/default")
        config["default_root_dir"] = str(root)
        if config.get("logger") in (None, True):
            config["logger"] = [
                ResumableCSVLogger(root, name="", version=""),
                TensorBoardLogger(root, name="", version="", default_hp_metric=False),
            ]
        extra = [
            ModelCheckpoint(
                dirpath=root / "checkpoints",
                filename="best-{epoch:03d}-{val_wer:.4f}",
                monitor="val_wer",
                mode="min",
                save_top_k=1,
            ),
            # last.ckpt after every epoch, what a run resumes from. Not save_last=True above: since
            # Lightning 2.6 that writes last.ckpt only when a new best is saved.
            ModelCheckpoint(dirpath=root / "checkpoints", filename="last", save_top_k=1, enable_version_counter=False),
            EarlyStopping(monitor="val_wer", mode="min", patience=self.config_init["early_stopping_patience"]),
            LearningRateMonitor(logging_interval="step"),
            LearningCurve(root, title=f"lipread train: {root.name}"),
        ]
        kwargs["callbacks"] = list(kwargs.get("callbacks") or []) + extra
        try:
            return super().instantiate_trainer(**kwargs)
        except MisconfigurationException as err:  # e.g. --trainer.accelerator gpu on a machine without one
            raise UserError(f"--trainer: {err}") from None


def config_problem(message: str, parser) -> str:
    """jsonargparse's complaint in a line: the option, what it takes, what it got; a near miss for a typo."""
    if message.startswith("unrecognized arguments:"):
        given = message.split(":", 1)[1].split()
        options = [o for action in parser._actions for o in action.option_strings]
        near = [m for g in given if g.startswith("--") for m in difflib.get_close_matches(g.split("=")[0], options, 1)]
        hint = f"; did you mean {', '.join(near)}?" if near else ""
        return f"{message}{hint} (`lipread train --help` lists every option)"
    key = re.match(r'Parser key "([^"]+)":\s*(.*)', message, re.S)
    if key is None:
        return message.splitlines()[0]
    name, rest = key.groups()
    expected = re.findall(r"Expected a <class '(\w+)'>", rest)
    given = re.search(r"Given value: (.*)", rest)
    if expected and given:
        return f"--{name}: expected {' or '.join(expected).replace('NoneType', 'null')}, got {given.group(1)!r}"
    plain = re.sub(r"<class '(\w+)'>", r"\1", " ".join(rest.split()))
    return f"--{name}: {plain}"


#: Lightning warnings that every run of this command would print and that ask nothing of the user.
EXPECTED_WARNINGS = (
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",  # Lightning 2.6's own call, under torch 2.11
    r"Checkpoint directory .* exists and is not empty",  # a resumed run writes into its own folder
    r"You have overridden `transfer_batch_to_device`",  # on purpose: the module moves its typed Batch
)


def default_precision() -> str:
    return "bf16-mixed" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "32-true"


def make_cli(args: list[str]) -> LipreadCLI:
    with warnings.catch_warnings():
        # `lipread train ARGS` hands Lightning ARGS while sys.argv still holds the subcommand: it
        # warns about that mix-up on every run, which is not one here
        warnings.filterwarnings("ignore", message="LightningCLI's args parameter is intended", category=UserWarning)
        return _make_cli(args)


def _make_cli(args: list[str]) -> LipreadCLI:
    return LipreadCLI(
        LipreadModule,
        LipreadDataModule,
        args=args,
        run=False,
        seed_everything_default=1234,
        save_config_kwargs={"overwrite": True},
        trainer_defaults={
            "precision": default_precision(),
            "gradient_clip_val": 1.0,
            "max_epochs": 100,
            "log_every_n_steps": 10,
            "default_root_dir": "runs/default",
        },
        parser_kwargs={"prog": "lipread train", "default_env": False, "exit_on_error": False},
    )


def start_from(model: LipreadModule, datamodule: LipreadDataModule, source: str) -> None:
    """Fine-tuning: every weight from ``source`` (a .ckpt or model folder), which must be the same
    network and must have seen crops cut like this data's."""
    pretrained = load(source)
    levels = pretrained.card.clip_levels
    if datamodule.hparams.clip_levels is None and levels is not None:
        datamodule.hparams.clip_levels = list(levels)  # feed the clips as the model has read them
        log.info("clip levels %s, as --init_from %s reads clips", list(levels), source)
    elif datamodule.norm.levels != levels:
        log.warning("--init_from %s read clips with clip levels %s; this run matches them to %s",
                    source, None if levels is None else list(levels), datamodule.hparams.clip_levels)  # fmt: skip
    datamodule.setup("fit")
    check_crop_matches(pretrained.card.crop, datamodule.crop, str(datamodule.roots[0]), f"--init_from {source}")
    problem = weight_mismatch(model, pretrained.state_dict())
    if problem:
        raise ContractError(
            f"--init_from {source} is a {pretrained.card.arch} {pretrained.card.arch_options} network, not the "
            f"{model.hparams.arch} {model.hparams.arch_options or {}} this config builds ({problem})"
        )
    model.load_state_dict(pretrained.state_dict())
    log.info("initialised from %s (%s)", source, pretrained.card.name)


def without_validation(trainer, last: Path) -> None:
    """No ``--data.val_list``: nothing to choose a best checkpoint or stop early by, so those
    callbacks go (they would fail on the missing ``val_wer``) and the last epoch is the model."""
    trainer.callbacks = [
        c for c in trainer.callbacks
        if not isinstance(c, EarlyStopping) and not (isinstance(c, ModelCheckpoint) and c.monitor == "val_wer")
    ]  # fmt: skip
    trainer.num_sanity_val_steps = 0
    trainer.limit_val_batches = 0  # the learning curve then records each epoch's training loss
    log.warning("no --data.val_list: training without validation (no val WER, no early stopping); "
                "the model is %s", last)  # fmt: skip


def main(args: list[str]) -> int:
    cli = make_cli(with_shipped_configs(args))
    trainer, model = cli.trainer, cli.model
    init_from = cli.config["init_from"]
    if init_from:
        start_from(model, cli.datamodule, init_from)  # takes the model's clip levels, then reads the data
    # the data is read (and a wrong --data.root refused) before Lightning's loggers make the run folder
    cli.datamodule.setup("fit")
    last = Path(trainer.default_root_dir) / "checkpoints" / "last.ckpt"
    validating = "val" in cli.datamodule.splits
    if not validating:
        without_validation(trainer, last)
    ckpt_path = str(last) if cli.config["resume"] and last.is_file() else None
    if ckpt_path:
        log.info("resuming from %s", ckpt_path)
    with warnings.catch_warnings():
        if not log.isEnabledFor(logging.DEBUG):  # --verbose shows them
            for message in EXPECTED_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
        trainer.fit(model, datamodule=cli.datamodule, ckpt_path=ckpt_path)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if trainer.is_global_zero:
        print(f"best checkpoint: {best or last}" if validating else f"model: {last}")
        curve = Path(trainer.default_root_dir) / "curve.png"
        if curve.is_file():
            print(f"learning curve: {curve}")
    return 0
