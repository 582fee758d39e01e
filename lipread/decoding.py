"""CTC decoding: greedy, and beam search (lexicon + word n-gram LM, or lexicon-free)."""

from __future__ import annotations

import torch

from lipread.text import CharTokenizer


def greedy_ids(log_probs: torch.Tensor, lengths: torch.Tensor, blank: int = 0) -> list[list[int]]:
    """Best path per utterance: argmax, merge repeats, drop blanks. ``log_probs`` is (B, T, V)."""
    best = log_probs.argmax(dim=-1).cpu()
    out = []
    for seq, n in zip(best, lengths.cpu().tolist()):
        seq = torch.unique_consecutive(seq[:n])
        out.append([int(i) for i in seq if i != blank])
    return out


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor, tokenizer: CharTokenizer) -> list[str]:
    return [" ".join(tokenizer.decode(ids).split()) for ids in greedy_ids(log_probs, lengths, tokenizer.blank)]
