"""Functions for worker-process tests: spawned workers import them by module name, so they live
in a module of their own rather than in a test file."""

from __future__ import annotations

import os


def square_unless_three(x: int) -> int:
    """Squares, but the item 3 kills its worker process (as an out-of-memory kill would)."""
    if x == 3:
        os._exit(9)
    return x * x


def ready() -> None:
    """A worker initializer with nothing to set up."""
