"""Exact-vocabulary CTC decoding: prefix beam search over the sentences a :class:`Grammar` allows.

Every hypothesis is a prefix of an allowed sentence, spelled character by character from the
grammar's automaton, so the search can only end in an allowed sentence. Scores are CTC
log-likelihoods summed over alignments (the prefix beam search of Hannun et al., 2014) plus the
grammar's log weights times ``lm_weight``.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict

import numpy as np

from lipread.grammar import Grammar
from lipread.text import CharTokenizer

NEG_INF = float("-inf")
#: Characters less likely than this (natural log) on a frame are not tried there.
CHAR_FLOOR = math.log(1e-6)
#: Prefix automata are cached between utterances up to this many prefixes, then started afresh.
CACHE_LIMIT = 50_000

# A cursor is (edge index, characters of the edge's spelling read, 1 if the spelling begins with
# the space that separates it from the words before, else 0).
Cursor = tuple[int, int, int]


def _add(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


class GrammarSearch:
    """Reusable search over one grammar (its prefix automaton is built lazily and cached)."""

    def __init__(self, grammar: Grammar, tokenizer: CharTokenizer, beam_size: int = 50, weight: float = 1.0):
        self.grammar, self.tokenizer = grammar, tokenizer
        self.beam_size, self.weight = beam_size, weight
        self._spelled = [" ".join(e.words) for e in grammar.edges]
        self._ids = {ch: i + 1 for i, ch in enumerate(tokenizer.alphabet)}
        self._cursors: dict[str, dict[Cursor, float]] = {}
        self._children: dict[str, tuple[str, ...]] = {}
        self._scores: dict[str, float] = {}

    # -- the prefix automaton

    def _entries(self, state: int, started: bool, base: float) -> dict[Cursor, float]:
        """Cursors at the first character of every edge leaving ``state`` (through skipped slots)."""
        out: dict[Cursor, float] = {}
        todo = [(state, base)]
        seen = set()
        while todo:
            s, score = todo.pop()
            if s in seen:
                continue
            seen.add(s)
            for k, edge in enumerate(self.grammar.edges):
                if edge.source != s:
                    continue
                if not edge.words:
                    todo.append((edge.target, score + edge.log_weight))
                    continue
                cursor = (k, 0, 1 if started else 0)
                out[cursor] = max(out.get(cursor, NEG_INF), score + edge.log_weight)
        return out

    def _spelling(self, k: int, lead: int) -> str:
        """Edge ``k``'s characters, after the separating space when ``lead``."""
        return " " * lead + self._spelled[k]

    def cursors(self, prefix: str) -> dict[Cursor, float]:
        """Where ``prefix`` can stand in the grammar, with the best grammar log-probability of each."""
        if prefix in self._cursors:
            return self._cursors[prefix]
        if len(self._cursors) > CACHE_LIMIT:
            self._cursors.clear()
            self._children.clear()
            self._scores.clear()
        if not prefix:
            result = self._entries(0, False, 0.0)
        else:
            result = {}
            char = prefix[-1]
            for cursor, score in self._expand(self.cursors(prefix[:-1])).items():
                k, read, lead = cursor
                spelled = self._spelling(k, lead)
                if read < len(spelled) and spelled[read] == char:
                    moved = (k, read + 1, lead)
                    result[moved] = max(result.get(moved, NEG_INF), score)
        self._cursors[prefix] = result
        return result

    def _expand(self, cursors: dict[Cursor, float]) -> dict[Cursor, float]:
        """The cursors plus, for each at the end of its edge, the entries of the edges that follow."""
        out = dict(cursors)
        for (k, read, lead), score in cursors.items():
            if read == len(self._spelling(k, lead)):
                for cursor, s in self._entries(self.grammar.edges[k].target, True, score).items():
                    out[cursor] = max(out.get(cursor, NEG_INF), s)
        return out

    def children(self, prefix: str) -> tuple[str, ...]:
        """The characters that may follow ``prefix``."""
        if prefix not in self._children:
            spellings = ((read, self._spelling(k, lead)) for k, read, lead in self._expand(self.cursors(prefix)))
            self._children[prefix] = tuple(dict.fromkeys(s[read] for read, s in spellings if read < len(s)))
        return self._children[prefix]

    def is_final(self, prefix: str) -> bool:
        return any(
            read == len(self._spelling(k, lead)) and self.grammar.ends_at(self.grammar.edges[k].target)
            for k, read, lead in self.cursors(prefix)
        )

    def grammar_score(self, prefix: str) -> float:
        """The best grammar log-probability of a sentence that starts with ``prefix`` (cached: the
        search ranks every live prefix on every frame)."""
        score = self._scores.get(prefix)
        if score is None:
            score = self._scores[prefix] = max(self.cursors(prefix).values(), default=NEG_INF)
        return score

    def completion(self, prefix: str) -> str:
        """The shortest allowed sentence that starts with ``prefix`` (breadth first over characters)."""
        frontier, seen = [prefix], {prefix}
        while frontier:
            nxt = []
            for p in frontier:
                if self.is_final(p):
                    return p
                for ch in sorted(self.children(p)):
                    if p + ch not in seen:
                        seen.add(p + ch)
                        nxt.append(p + ch)
            frontier = nxt
        raise ValueError(f"no allowed sentence starts with {prefix!r}")

    # -- the search

    def search(self, log_probs: np.ndarray, n_best: int = 1) -> list[tuple[str, float]]:
        """The ``n_best`` best allowed sentences for (T, V) log-probabilities, best first, each with its
        score (CTC log-likelihood + weight x grammar log-probability).

        When no allowed sentence survives the character floor (video the model reads as nothing
        like the grammar), the search runs again without it; when there are too few frames for any
        allowed sentence, the best prefix is completed by the shortest allowed ending (score -inf).
        """
        found = self._search(log_probs, n_best, CHAR_FLOOR)
        if isinstance(found, str):
            found = self._search(log_probs, n_best, NEG_INF)
        if isinstance(found, str):
            return [(self.completion(found), NEG_INF)]
        return found

    def _search(self, log_probs: np.ndarray, n_best: int, floor: float) -> list[tuple[str, float]] | str:
        """The n-best finished sentences, or else the best unfinished prefix."""
        blank = self.tokenizer.blank
        beam: dict[str, tuple[float, float]] = {"": (0.0, NEG_INF)}  # prefix -> (ends in blank, ends in char)
        for row in np.asarray(log_probs, dtype=np.float64).tolist():
            nxt: dict[str, list[float]] = defaultdict(lambda: [NEG_INF, NEG_INF])
            for prefix, (pb, pc) in beam.items():
                total = _add(pb, pc)
                here = nxt[prefix]
                here[0] = _add(here[0], total + row[blank])
                if prefix:
                    here[1] = _add(here[1], pc + row[self._ids[prefix[-1]]])
                for ch in self.children(prefix):
                    p = row[self._ids[ch]]
                    if p < floor:
                        continue
                    longer = nxt[prefix + ch]
                    came = pb if prefix and ch == prefix[-1] else total
                    longer[1] = _add(longer[1], came + p)
            kept = heapq.nlargest(self.beam_size, nxt.items(), key=lambda kv: self._rank(kv[0], kv[1]))
            beam = {p: (b, c) for p, (b, c) in kept}
        finals = sorted(
            ((p, _add(b, c) + self.weight * self.grammar_score(p)) for p, (b, c) in beam.items() if self.is_final(p)),
            key=lambda x: -x[1],
        )
        if not finals:
            return max(beam.items(), key=lambda kv: self._rank(kv[0], kv[1]))[0]
        return finals[:n_best]

    def _rank(self, prefix: str, scores) -> float:
        return _add(scores[0], scores[1]) + self.weight * self.grammar_score(prefix)
