"""Grammars: the sentences a command interface (or GRID) allows, read from a small text file.

The format, one statement a line (``#`` starts a comment)::

    # GRID: one word from each slot, in this order
    slot command: bin | lay | place | set
    slot colour: blue | green | red | white
    slot adverb?: again | now | please | soon     # "?" makes a slot optional
    phrase: call the nurse
    phrase: i am thirsty (2)                     # a weight, relative to the other phrases

A slot lists alternatives (each one or more words) separated by ``|``; a sentence takes one
alternative from every slot, in order. A phrase is a whole sentence. A grammar may have slots,
phrases or both (then either shape is allowed). ``(w)`` after an alternative or phrase weights it
against the others of its slot (or the other phrases); the default weight is 1.

The grammar is compiled into a word automaton: a state per slot boundary, an edge per alternative.
:mod:`lipread.grammar_search` spells the edges out in characters and searches them under CTC.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from data_prep.text import ALPHABET
from lipread.errors import UserError

#: The grammars that ship with lipread, by name (``--grammar grid``).
BUILTIN = Path(__file__).with_name("grammars")


class GrammarError(UserError):
    """A grammar file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Edge:
    """One alternative: ``words`` taking the automaton from state ``source`` to ``target``."""

    source: int
    target: int
    words: tuple[str, ...]  # empty for a skipped optional slot
    log_weight: float  # natural log of the alternative's share of its slot
    slot: str | None = None  # the slot it fills; None for a whole phrase


@dataclass
class Grammar:
    """A word automaton: states 0..``num_states - 1``, start 0, sentences end in ``finals``."""

    name: str
    edges: list[Edge] = field(default_factory=list)
    num_states: int = 1
    finals: frozenset[int] = frozenset()
    slots: list[str] = field(default_factory=list)
    num_phrases: int = 0

    @property
    def words(self) -> list[str]:
        """Every word the grammar uses, sorted."""
        return sorted({w for e in self.edges for w in e.words})

    def outgoing(self, state: int) -> list[Edge]:
        return [e for e in self.edges if e.source == state]

    def allows(self, sentence: str) -> bool:
        """Whether ``sentence`` (words separated by spaces) is one the grammar accepts."""
        return self.path_of(sentence) is not None

    def slot_of_each_word(self, sentence: str) -> list[str | None] | None:
        """The slot each word of ``sentence`` fills (None for a word of a whole phrase), or None
        when the grammar does not allow the sentence: what lets a report count errors per slot."""
        edges = self.path_of(sentence)
        return None if edges is None else [e.slot for e in edges for _ in e.words]

    def path_of(self, sentence: str) -> list[Edge] | None:
        """The alternatives that spell ``sentence``, in order (skipped slots left out), or None."""
        return self._parse_from(0, sentence.split(), 0)

    def ends_at(self, state: int) -> bool:
        """Whether a sentence may end at ``state`` (it is final, or only optional slots follow)."""
        return bool(self._closure({state}) & self.finals)

    def examples(self, count: int, seed: int = 0) -> list[str]:
        """``count`` sentences the grammar allows that between them use its alternatives about
        evenly (each walk takes the least-used way on, ties drawn with ``seed``): the prompts an
        enrolment reads out cover every word of a slot grammar within a few sentences."""
        rng = random.Random(seed)
        used: dict[Edge, int] = {e: 0 for e in self.edges}
        sentences: list[str] = []
        for _ in range(count * 10):
            if len(sentences) == count:
                break
            state, words = 0, []
            while True:
                choices = self.outgoing(state)
                if not choices or (state in self.finals and rng.random() < 0.5):
                    break
                fewest = min(used[e] for e in choices)
                edge = rng.choice([e for e in choices if used[e] == fewest])
                used[edge] += 1
                words += edge.words
                state = edge.target
            sentence = " ".join(words)
            if sentence and self.allows(sentence) and (sentence not in sentences or len(used) < count):
                sentences.append(sentence)
        return sentences

    def repeated(self) -> Grammar:
        """A grammar of one or more of this one's sentences in a row: what a phrase holds when
        commands come without a pause between them (the phrase cutter ends a phrase only where the
        lips rest for 0.4 s). Every final state may go back to the start."""
        loops = [Edge(final, 0, (), 0.0) for final in sorted(self.finals)]
        return Grammar(self.name, self.edges + loops, self.num_states, self.finals, self.slots, self.num_phrases)

    def fragments(self) -> Grammar:
        """A grammar of the runs of one or more consecutive words of this one's sentences: what a
        phrase cut out of an allowed sentence can hold (video that starts or ends mid-sentence).

        Every multi-word alternative or phrase becomes a chain of one-word edges (the first carries
        its weight), a new start state enters any state at no cost, and every state may end."""
        edges: list[Edge] = []
        states = self.num_states + 1  # the old states move up by one: 0 is the new start
        for edge in self.edges:
            if len(edge.words) <= 1:
                edges.append(replace(edge, source=edge.source + 1, target=edge.target + 1))
                continue
            chain = [edge.source + 1, *range(states, states + len(edge.words) - 1), edge.target + 1]
            states += len(edge.words) - 1
            for i, word in enumerate(edge.words):
                edges.append(Edge(chain[i], chain[i + 1], (word,), edge.log_weight if i == 0 else 0.0, edge.slot))
        edges += [Edge(0, state, (), 0.0) for state in range(1, states)]
        return Grammar(f"{self.name} (fragments)", edges, states, frozenset(range(1, states)), self.slots,
                       self.num_phrases)  # fmt: skip

    def split(self, sentence: str) -> list[str] | None:
        """The fewest of this grammar's sentences that spell ``sentence`` one after another (where
        there is still a choice, the longest first), or None when none do: where each command of a
        phrase read in :meth:`repeated` begins and ends. On :meth:`fragments`, the fewest runs of
        words, each inside one sentence."""
        words = sentence.split()
        best: list[tuple[int, int] | None] = [None] * len(words) + [(0, len(words))]  # (pieces, end of the first)
        for i in range(len(words) - 1, -1, -1):
            options = [(best[j][0] + 1, -j) for j in range(i + 1, len(words) + 1)
                       if best[j] is not None and self.allows(" ".join(words[i:j]))]  # fmt: skip
            if options:
                pieces, end = min(options)
                best[i] = (pieces, -end)
        if best[0] is None:
            return None
        pieces, i = [], 0
        while i < len(words):
            end = best[i][1]
            pieces.append(" ".join(words[i:end]))
            i = end
        return pieces

    def _parse_from(self, state: int, words: list[str], position: int) -> list[Edge] | None:
        if position == len(words):
            return [] if self.ends_at(state) else None
        for s in self._closure({state}):
            for edge in self.outgoing(s):
                n = len(edge.words)
                if n and tuple(words[position : position + n]) == edge.words:
                    rest = self._parse_from(edge.target, words, position + n)
                    if rest is not None:
                        return [edge, *rest]
        return None

    def _closure(self, states: set[int]) -> set[int]:
        """The states reachable through skipped optional slots."""
        todo, seen = list(states), set(states)
        while todo:
            for edge in self.outgoing(todo.pop()):
                if not edge.words and edge.target not in seen:
                    seen.add(edge.target)
                    todo.append(edge.target)
        return seen


_STATEMENT = re.compile(r"^(slot)\s+([A-Za-z0-9_-]+)(\?)?\s*:(.*)$|^(phrase)\s*:(.*)$")
_WEIGHT = re.compile(r"^(.*?)\s*\(\s*([^()]*)\s*\)\s*$")


def parse(text: str, name: str = "grammar", alphabet: str = ALPHABET) -> Grammar:
    """Compile grammar ``text``; a mistake raises :class:`GrammarError` naming ``name`` and the line."""
    slots: list[tuple[str, bool, list[tuple[tuple[str, ...], float]]]] = []
    phrases: list[tuple[tuple[str, ...], float]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        where = f"{name}, line {number}"
        match = _STATEMENT.match(line)
        if not match:
            raise GrammarError(f"{where}: expected 'slot NAME: a | b | ...' or 'phrase: words', got {line!r}")
        if match.group(1):
            alternatives = [_alternative(part, where, alphabet) for part in match.group(4).split("|")]
            if any(not words for words, _ in alternatives):
                raise GrammarError(f"{where}: an empty alternative in slot {match.group(2)!r}")
            if match.group(2) in {s[0] for s in slots}:
                raise GrammarError(f"{where}: slot {match.group(2)!r} is defined twice")
            slots.append((match.group(2), bool(match.group(3)), alternatives))
        else:
            words, weight = _alternative(match.group(6), where, alphabet)
            if not words:
                raise GrammarError(f"{where}: an empty phrase")
            phrases.append((words, weight))
    if not slots and not phrases:
        raise GrammarError(f"{name}: no slots and no phrases: nothing would be allowed")
    return _compile(name, slots, phrases)


def _alternative(part: str, where: str, alphabet: str) -> tuple[tuple[str, ...], float]:
    weight = 1.0
    match = _WEIGHT.match(part.strip())
    if match:
        part = match.group(1)
        try:
            weight = float(match.group(2))
        except ValueError:
            raise GrammarError(f"{where}: weight {match.group(2)!r} is not a number") from None
        if not (weight > 0 and math.isfinite(weight)):
            raise GrammarError(f"{where}: weight {match.group(2)!r} must be a positive number")
    words = tuple(part.lower().split())
    for word in words:
        bad = sorted({c for c in word if c not in alphabet})
        if bad:
            raise GrammarError(
                f"{where}: {word!r} has characters outside the model's alphabet ({' '.join(map(repr, bad))}); "
                f"words use {alphabet.strip()!r}"
            )
    return words, weight


def _compile(name: str, slots, phrases) -> Grammar:
    grammar = Grammar(name=name, slots=[s[0] for s in slots], num_phrases=len(phrases))
    # with both, a slot sentence and a phrase share the start: the probability is split evenly
    share = math.log(0.5) if slots and phrases else 0.0
    finals = set()
    if slots:
        for index, (slot, optional, alternatives) in enumerate(slots):
            start = share if index == 0 else 0.0
            total = sum(w for _, w in alternatives)
            for words, weight in alternatives:
                grammar.edges.append(Edge(index, index + 1, words, start + math.log(weight / total), slot))
            if optional:
                grammar.edges.append(Edge(index, index + 1, (), start, slot))
        grammar.num_states = len(slots) + 1
        finals.add(len(slots))
    if phrases:
        final = grammar.num_states
        grammar.num_states += 1
        total = sum(w for _, w in phrases)
        for words, weight in phrases:
            grammar.edges.append(Edge(0, final, words, share + math.log(weight / total)))
        finals.add(final)
    grammar.finals = frozenset(finals)
    return grammar


def load(spec: str | Path, alphabet: str = ALPHABET, base: Path | None = None) -> Grammar:
    """A grammar from a file path (relative to ``base``, a model folder, if it is there), or by the
    name of one that ships with lipread (``grid``)."""
    path = Path(spec)
    if base is not None and not path.is_absolute() and (base / path).is_file():
        path = base / path
    if not path.is_file() and (BUILTIN / f"{spec}.txt").is_file():
        path = BUILTIN / f"{spec}.txt"
    if not path.is_file():
        raise GrammarError(
            f"no grammar file {spec} (and no built-in grammar of that name: {', '.join(builtin_names())})"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise GrammarError(f"{path}: cannot be read as UTF-8 text ({err})") from None
    return parse(text, path.name if path.parent != BUILTIN else path.stem, alphabet)


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN.glob("*.txt"))


def fitting_builtin(sentences: list[str], alphabet: str = ALPHABET) -> str | None:
    """The built-in grammar that allows every one of ``sentences`` (a model's training sentences:
    a model that has only ever seen GRID sentences reads best in GRID's grammar), if one does."""
    for name in builtin_names():
        try:
            grammar = load(BUILTIN / f"{name}.txt", alphabet)
        except GrammarError:  # words this alphabet cannot spell
            continue
        if sentences and all(grammar.allows(s) for s in sentences):
            return name
    return None


def load_vocabulary(path: Path, alphabet: str = ALPHABET) -> list[str]:
    """A word list (words separated by spaces or new lines, ``#`` comments) for the lexicon beam."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise GrammarError(f"--vocabulary {path}: cannot be read ({getattr(err, 'strerror', None) or err})") from None
    words: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        words += _alternative(raw.split("#", 1)[0], f"{Path(path).name}, line {number}", alphabet)[0]
    if not words:
        raise GrammarError(f"--vocabulary {path}: no words in it")
    return sorted(set(words))
