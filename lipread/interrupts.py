"""Ctrl-C that never lands inside an import, nor inside code a C extension runs from a string.

A KeyboardInterrupt raised while Python imports torch (the first second or two of most commands)
leaves torch half-imported: torch then wraps it in another exception (a traceback instead of
"interrupted"), or prints its own statistics at exit and dies by the signal. One raised inside
code that a C extension runs with ``PyRun_String`` (frames named ``<string>``) makes CPython note
an unhandled KeyboardInterrupt even when the command then catches it, and ``python -m lipread.cli``
killed itself with SIGINT at exit (status -2 instead of 130). :func:`install` makes SIGINT wait
until such a stretch is over (re-checked every 50 ms), then raise the usual KeyboardInterrupt,
which the command turns into "interrupted" and exit code 130.

A KeyboardInterrupt can still be raised inside a C extension that then replaces it with an error
of its own (safetensors loading a model once gave torch's "could not determine the shape of object
type 'torch.storage.UntypedStorage'"): :func:`arrived` says a Ctrl-C came, so the command reports
such an error as the interruption it is.

:func:`held` makes Ctrl-C wait through a few quick steps that must all happen or none (renaming a
video's finished files into place) and raises it as they end, so an interrupted run never leaves
some of them.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: How often a Ctrl-C that arrived during an import checks whether the import is over (seconds).
RECHECK_S = 0.05

_arrived = False
_held = 0
_pending = False


def must_wait(frame: FrameType | None) -> bool:
    """Whether ``frame`` or one of its callers is the import machinery, or code run from a string."""
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith("<frozen importlib") or name == "<string>":
            return True
        frame = frame.f_back
    return False


def arrived() -> bool:
    """Whether a Ctrl-C has come since :func:`install` (an error that follows it is its doing)."""
    return _arrived


def _on_interrupt(signum: int, frame: FrameType | None) -> None:
    global _arrived, _pending
    _arrived = True
    if _held:
        _pending = True  # raised as the held block ends
        return
    if must_wait(frame):
        signal.setitimer(signal.ITIMER_REAL, RECHECK_S)  # SIGALRM comes back here once the timer ends
        return
    raise KeyboardInterrupt


@contextmanager
def held() -> Iterator[None]:
    """Ctrl-C that comes inside the block is raised as it ends (where :func:`install` ran)."""
    global _held, _pending
    _held += 1
    try:
        yield
    finally:
        _held -= 1
    if _pending and not _held:
        _pending = False
        raise KeyboardInterrupt


def install() -> None:
    """Defer Ctrl-C past imports, in the main thread of a process (a no-op where there is no
    interval timer, as on Windows, or SIGINT is ignored, as in a background job)."""
    if not hasattr(signal, "setitimer") or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return
    signal.signal(signal.SIGALRM, _on_interrupt)
    signal.signal(signal.SIGINT, _on_interrupt)
