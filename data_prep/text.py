"""The character alphabet and transcript normalisation shared by prep, training and decoding.

It lives in ``data_prep`` because prep must reject transcripts the model could never emit, and
``data_prep`` may not import ``lipread``; the tokenizer in :mod:`lipread.text` builds on it.
"""

from __future__ import annotations

import re
import unicodedata

#: Characters a transcript may hold after normalisation (the CTC blank is added by the tokenizer).
ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"

_TAGS = re.compile(r"<[^>]*>|\{[^}]*\}")  # subtitle markup: <i>, </font>, {\an8}
_ANNOTATIONS = re.compile(r"\[[^\]]*\]|\([^)]*\)")  # [music], (laughs)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00b4": "'"})
_SEPARATORS = re.compile(r"[-\u2010-\u2015_/]")  # words joined by a dash or slash
_PUNCTUATION = re.compile(r"[.,!?;:\"\u201c\u201d\u00ab\u00bb\u2026*#~]")


class TranscriptError(ValueError):
    """A transcript the model cannot learn from; ``code`` is the rejection reason code."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code = code
        self.detail = detail


def normalize_text(text: str) -> str:
    """Lower-case, strip markup and punctuation, fold accents; raise on anything else.

    Punctuation carries no sound, so it is dropped; digits and foreign scripts do carry sound we
    cannot spell, so they are refused rather than guessed (a ``bad_characters`` rejection).
    """
    text = _TAGS.sub(" ", text)
    text = _ANNOTATIONS.sub(" ", text)
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = _SEPARATORS.sub(" ", text)
    text = _PUNCTUATION.sub("", text)
    words = [w.strip("'") for w in text.split()]
    text = " ".join(w for w in words if w)
    if not text:
        raise TranscriptError("empty_transcript", "transcript is empty after normalisation")
    bad = sorted({ch for ch in text if ch not in ALPHABET})
    if bad:
        hint = " (spell numbers as words: 'forty two')" if any(ch.isdigit() for ch in bad) else ""
        raise TranscriptError(
            "bad_characters",
            f"characters outside the alphabet a-z, space, apostrophe: {', '.join(map(repr, bad))} in {text!r}{hint}",
        )
    return text
