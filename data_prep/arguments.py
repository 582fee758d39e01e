"""Command-line number types that turn a bad value into a usage error (exit 2, one line) before any
work starts, instead of a traceback deep in the work. They sit here, in the lowest layer, so that
``lipread prep`` and every ``lipread`` command check numbers the same way."""

from __future__ import annotations

import argparse
import math


def whole_number(text: str, least: int = 1, most: int | None = None) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    if most is not None and value > most:
        raise argparse.ArgumentTypeError(f"must be at most {most}, got {value}")
    return value


def positive_int(text: str) -> int:
    return whole_number(text, 1)


def non_negative_int(text: str) -> int:
    return whole_number(text, 0)


def finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def positive_float(text: str) -> float:
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def fraction(text: str) -> float:
    value = finite_float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text!r}")
    return value


def video_time(text: str) -> float:
    """A time in a video: seconds (``75.5``) or ``[HH:]MM:SS[.ss]`` (``1:15.5``, ``01:02:03``)."""
    parts = text.strip().split(":")
    if len(parts) > 3 or not all(parts):
        raise argparse.ArgumentTypeError(f"expected seconds (75.5) or [HH:]MM:SS[.ss] (1:15.5), got {text!r}")
    try:
        *whole, seconds = [float(p) if i == len(parts) - 1 else int(p) for i, p in enumerate(parts)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds (75.5) or [HH:]MM:SS[.ss] (1:15.5), got {text!r}") from None
    if whole and not 0 <= seconds < 60 or any(n < 0 for n in whole[1:]) or (len(whole) == 2 and whole[1] >= 60):
        raise argparse.ArgumentTypeError(f"{text!r}: minutes and seconds after a colon run from 0 to 59")
    value = seconds + sum(n * 60 ** (len(whole) - i) for i, n in enumerate(whole))
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a time of 0 or more, got {text!r}")
    return value
