"""The training configs that ship inside the package (``lipread/configs``, a link to the clone's
``configs/``), so that ``lipread train --config grid_lipnet`` works from any folder and from a wheel
install, not only from the root of a clone."""

from __future__ import annotations

import logging
from pathlib import Path

from lipread.errors import UserError

log = logging.getLogger(__name__)

#: The package's link, or where a copy of a clone that lost it (as some file copies do) keeps them.
CONFIG_DIR = next((d for d in (Path(__file__).parent / "configs", Path(__file__).parents[1] / "configs")
                   if d.is_dir()), Path(__file__).parent / "configs")  # fmt: skip
CONFIG_OPTIONS = ("-c", "--config")


def shipped_configs() -> list[str]:
    """The names ``--config`` takes besides a path (``grid_lipnet``, ``tiny``, ...)."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def resolve_config(value: str) -> str:
    """A file that exists is the user's own config and is kept. Otherwise a shipped config's name,
    bare (``tiny``, ``tiny.yaml``) or as a clone spells it (``configs/tiny.yaml``), names the
    packaged file; anything else is refused with the names there are."""
    given = Path(value)
    if given.is_file():
        return value
    packaged = CONFIG_DIR / f"{given.name.removesuffix('.yaml')}.yaml"
    if packaged.is_file() and given.parent in (Path("."), Path("configs")):
        log.debug("--config %s: lipread's own %s (copy it to change it)", value, packaged)
        return str(packaged)
    raise UserError(
        f"--config {value}: no such file, and not one of lipread's own configs ({', '.join(shipped_configs())})"
    )


def with_shipped_configs(args: list[str]) -> list[str]:
    """``args`` with each ``--config`` value resolved by :func:`resolve_config`."""
    resolved = list(args)
    for i, arg in enumerate(resolved):
        if arg in CONFIG_OPTIONS and i + 1 < len(resolved):
            resolved[i + 1] = resolve_config(resolved[i + 1])
        elif arg.startswith("--config="):
            resolved[i] = "--config=" + resolve_config(arg.split("=", 1)[1])
    return resolved


def beside_configs(value: str | None, config_files: list[str]) -> str | None:
    """A relative path in a config that names no file from the working folder but one beside a
    ``--config`` file: that one. So the GRID configs can name the split lists they ship with
    (``splits/s1_train.txt``) and work from any folder; a file the user has always wins."""
    if value is None or Path(value).is_absolute() or Path(value).exists():
        return value
    for config in reversed(config_files):  # the last config given is the one that set it, if any did
        beside = Path(config).absolute().parent / value
        if beside.is_file():
            return str(beside)
    return value
