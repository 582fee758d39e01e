"""lipread: visual speech recognition, from raw video of a talking face to text.

    from lipread import Transcriber
    print(Transcriber.from_checkpoint().transcribe("clip.mp4").text)

The names below are imported on first use, so that ``import lipread`` (and ``lipread --help``)
stays instant: torch and mediapipe load only when a model is.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "Transcriber": "lipread.transcribe", "TranscriptionError": "lipread.transcribe",
    "Transcript": "lipread.transcript", "TranscriptWord": "lipread.transcript",
    "TrackReading": "lipread.transcript", "DroppedPhrase": "lipread.transcript",
}  # fmt: skip
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lipread' has no attribute {name!r}")
