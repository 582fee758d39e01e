"""Characters <-> CTC label ids. The alphabet itself is :data:`data_prep.text.ALPHABET`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from data_prep.text import ALPHABET, TranscriptError, normalize_text

__all__ = ["CharTokenizer", "normalize_text", "TranscriptError", "ALPHABET", "ctc_min_frames"]


class CharTokenizer:
    """Id 0 is the CTC blank; ids 1.. are the alphabet's characters in order."""

    blank = 0

    def __init__(self, alphabet: str = ALPHABET):
        self.alphabet = alphabet
        self._index = {ch: i + 1 for i, ch in enumerate(alphabet)}

    @property
    def vocab_size(self) -> int:
        return len(self.alphabet) + 1

    @property
    def tokens(self) -> list[str]:
        """Token strings by id for flashlight's decoder: blank '-', the space as word break '|'."""
        return ["-"] + ["|" if ch == " " else ch for ch in self.alphabet]

    def encode(self, text: str) -> list[int]:
        try:
            return [self._index[ch] for ch in text]
        except KeyError as err:
            raise TranscriptError("bad_characters", f"{err.args[0]!r} is not in the alphabet: {text!r}") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Label ids (no blanks, repeats already merged) to text."""
        return "".join(self.alphabet[i - 1] for i in ids if i != self.blank)


def ctc_min_frames(labels: Sequence[int]) -> int:
    """Fewest frames CTC needs to emit ``labels``: one per label plus a blank between repeats."""
    repeats = sum(1 for a, b in zip(labels, labels[1:]) if a == b)
    return len(labels) + repeats
