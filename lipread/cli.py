"""The ``lipread`` command: one sub-command per job."""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import sys

import data_prep.cli as prep_cli

USAGE = """lipread <command> [options]

commands:
  prep        videos + transcripts -> mouth-crop dataset folder
  prep-merge  join the shards of a dataset built with --shard
  train       train a model (LightningCLI; --config configs/X.yaml)
  evaluate    WER/CER of a checkpoint on a dataset
  transcribe  silent video -> text with word timings
  serve       HTTP API and web page (when the serve package is installed)

`lipread <command> --help` tells more."""


def _setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # mediapipe/absl and TensorFlow Lite talk a lot on start-up
    logging.getLogger("absl").setLevel(logging.ERROR)
    for name in ("lightning.pytorch", "lightning.fabric"):  # they print through their own handler
        logging.getLogger(name).propagate = False


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    _setup_logging()
    if command == "train":
        from lipread.train import main as train_main

        return train_main(rest)
    commands = {
        "prep": (prep_cli.prep_parser, prep_cli.run_prep),
        "prep-merge": (prep_cli.merge_parser, prep_cli.run_merge),
    }
    for name, module in (("evaluate", "lipread.evaluate"), ("transcribe", "lipread.transcribe_cli")):
        commands[name] = (module, None)
    # Other packages add commands through the "lipread.commands" entry-point group (serve does),
    # so lipread never imports them by name.
    for entry in importlib.metadata.entry_points(group="lipread.commands"):
        commands.setdefault(entry.name, (entry.value, None))
    if command not in commands:
        print(f"lipread: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    make_parser, run = commands[command]
    if isinstance(make_parser, str):
        module = importlib.import_module(make_parser)
        make_parser, run = module.build_parser, module.run
    parser = make_parser(argparse.ArgumentParser(prog=f"lipread {command}"))
    return run(parser.parse_args(rest))


if __name__ == "__main__":
    sys.exit(main())
