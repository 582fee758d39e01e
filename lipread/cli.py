"""The ``lipread`` command: one sub-command per job.

Exit codes, the same for every command: 0 done; 1 some inputs failed (each is named, the others
are done); 2 a usage error (bad option, missing file, a model or dataset that does not fit);
130 interrupted (Ctrl-C). A user error is one line on stderr, never a traceback (``--verbose``
adds the traceback and the native libraries' own log lines).

Sub-commands import what they need only when they run, so ``--help`` and usage errors answer at
once.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import sys
from collections.abc import Callable

from lipread import __version__, interrupts

USAGE = """usage: lipread [--version] [--verbose] <command> [options]

commands:
  prep        videos + transcripts -> mouth-crop dataset folder
  prep-merge  join the shards of a dataset built with --shard
  train       train a model (LightningCLI; --config NAME)
  evaluate    WER/CER of a model on a dataset
  compare     is model B better than A? (two evaluate reports, paired bootstrap)
  adapt       fine-tune a model on a new speaker's clips (a personal model)
  transcribe  silent video -> text with word timings
  live        a camera (or a video played as one) -> each phrase as it ends
  export      checkpoint -> slim model folder (config.json + safetensors)
  serve       HTTP API and web page (when the serve package is installed)

`lipread <command> --help` tells more. Exit codes: 0 done, 1 some inputs failed,
2 usage error, 130 interrupted."""

#: command -> module with ``build_parser(parser)`` and ``run(args) -> int``
COMMANDS = {
    "prep": "data_prep.cli:prep",
    "prep-merge": "data_prep.cli:merge",
    "evaluate": "lipread.evaluate_cli",
    "compare": "lipread.compare_cli",
    "adapt": "lipread.adapt_cli",
    "transcribe": "lipread.transcribe_cli",
    "live": "lipread.live_cli",
    "export": "lipread.export_cli",
}

EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

log = logging.getLogger("lipread")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's default in ``--help`` (where it has one), descriptions kept as written."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            action.option_strings
            and action.default is not None
            and action.default is not False  # a store_true flag; 0 is a default worth showing
            and action.default != argparse.SUPPRESS
            and "%(default)" not in text
            and "(default:" not in text  # the help says it in words ("kept", "the shipped model")
        ):
            text += " (default: %(default)s)"
        return text


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(message)s",
    )
    logging.getLogger("absl").setLevel(logging.DEBUG if verbose else logging.ERROR)
    # e.g. "findfont: Font family ['STIXGeneral'] not found" from a stale font cache: the picture is drawn anyway
    logging.getLogger("matplotlib").setLevel(logging.DEBUG if verbose else logging.ERROR)
    for name in ("lightning.pytorch", "lightning.fabric"):  # they print through their own handler
        logging.getLogger(name).propagate = False
    if not verbose:
        from data_prep.native_logs import quiet_native_stderr

        quiet_native_stderr()


def _command_module(command: str):
    target = COMMANDS.get(command)
    if target is None:
        # Other packages add commands through the "lipread.commands" entry-point group (serve
        # does), so lipread never imports them by name.
        for entry in importlib.metadata.entry_points(group="lipread.commands"):
            if entry.name == command:
                return importlib.import_module(entry.value), ""
        return None, ""
    module, _, prefix = target.partition(":")
    return importlib.import_module(module), prefix


def versions() -> str:
    """Python's and the key libraries' versions, for a bug report, read from the installed packages'
    metadata (importing torch to ask would take a second)."""
    import platform

    found = [f"Python {platform.python_version()}"]
    for name in ("torch", "torchaudio", "lightning", "mediapipe", "opencv-contrib-python", "av", "numpy"):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} missing")
    return ", ".join(found)


def command_parser(command: str) -> tuple[argparse.ArgumentParser, Callable[[argparse.Namespace], int]] | None:
    """The argument parser of an argparse command (every one but ``train``) and the function that
    runs it; None for a command nobody provides."""
    module, prefix = _command_module(command)
    if module is None:
        return None
    build = getattr(module, f"{prefix}_parser" if prefix else "build_parser")
    run = getattr(module, f"run_{prefix}" if prefix else "run")
    parser = build(argparse.ArgumentParser(prog=f"lipread {command}", formatter_class=HelpFormatter))
    parser.add_argument("--verbose", action="store_true", help="debug logging, native library logs and tracebacks")
    return parser, run


def main(argv: list[str] | None = None) -> int:
    """The program (``argv`` None: this process is the command) or one call of it (tests)."""
    if argv is None:  # the whole process is ours: a Ctrl-C waits for the import in progress
        interrupts.install()
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except (KeyboardInterrupt, Exception) as err:  # anywhere: while the command's module loads, or runs
        if not isinstance(err, KeyboardInterrupt) and not interrupts.arrived():
            raise  # a bug; after a Ctrl-C, an error is one a C extension made of the KeyboardInterrupt
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str]) -> int:
    verbose = False
    while argv and argv[0] in ("-v", "--verbose", "--version"):
        if argv.pop(0) == "--version":
            print(f"lipread {__version__} ({versions()})")
            return EXIT_OK
        verbose = True
    if "--verbose" in argv:
        argv.remove("--verbose")
        verbose = True
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return EXIT_OK if argv else EXIT_USAGE
    command, rest = argv[0], argv[1:]
    if command == "train":
        return _guarded(lambda: _train(rest, verbose), verbose)
    found = command_parser(command)
    if found is None:
        print(f"lipread: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
        return EXIT_USAGE
    parser, run = found
    args = parser.parse_args(rest)  # exits 2 with a usage line on a bad option
    return _guarded(lambda: run(args), verbose)


def _train(rest: list[str], verbose: bool) -> int:
    if not rest:
        from lipread.shipped_configs import CONFIG_DIR, shipped_configs

        print("usage: lipread train --config grid_lipnet [--data.root DATASET ...]\n"
              "       lipread train --help   (every option)\n"
              f"--config takes a YAML file of your own or one of lipread's: {', '.join(shipped_configs())} "
              f"(in {CONFIG_DIR})", file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    setup_logging(verbose)
    from lipread.train import main as train_main

    return train_main(rest)


def _guarded(run, verbose: bool) -> int:
    """Run a command; user errors become one line and an exit code, not a traceback (Ctrl-C is
    :func:`main`'s)."""
    from data_prep.contracts import ContractError
    from lipread.errors import UserError

    setup_logging(verbose)
    try:
        return run()
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError, ContractError, UserError) as err:
        if _other_rank():  # every process of a distributed run meets the same error: rank 0 says it
            return EXIT_USAGE
        if verbose:
            log.exception("lipread: error")
        else:
            log.error("lipread: %s", _plain(err))
        return EXIT_USAGE


def _other_rank() -> bool:
    """Whether this process is one of a distributed run's ranks other than 0 (Lightning's DDP launcher
    and torchrun set ``LOCAL_RANK`` and ``RANK`` in the processes they start)."""
    return any(os.environ.get(name, "0") not in ("", "0") for name in ("RANK", "LOCAL_RANK"))


def _plain(err: BaseException) -> str:
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        return f"{err.filename}: {err.strerror}"
    return str(err)


if __name__ == "__main__":
    sys.exit(main())
