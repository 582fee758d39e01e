"""CTC decoding: greedy; beam search with a lexicon and a word n-gram LM (torchaudio's
flashlight-text decoder); lexicon-free beam search; beam search inside a grammar.

Every decoder is called as ``decode(log_probs, lengths) -> texts`` on a batch, and gives the ``k``
best sentences of one utterance with scores through ``decode.n_best(log_probs, k)``.
"""

from __future__ import annotations

import heapq
import math
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import torch
from torchaudio.models.decoder import CTCDecoderLM, CTCDecoderLMState, ctc_decoder

from data_prep.contracts import DECODERS, DecoderSettings, ModelCard
from lipread.grammar import Grammar
from lipread.grammar_search import GrammarSearch
from lipread.text import CharTokenizer

#: The most hypotheses a decoder keeps for ``n_best``.
N_BEST_MAX = 20


@dataclass(frozen=True)
class Hypothesis:
    """One decoded sentence and the decoder's score for it (natural log; higher is better)."""

    text: str
    score: float

    def to_json(self) -> dict:
        return {"text": self.text, "score": round(self.score, 3) if math.isfinite(self.score) else None}


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


class GreedyDecoder:
    """The best path: one hypothesis, scored by its path's log-probability."""

    def __init__(self, tokenizer: CharTokenizer):
        self.tokenizer = tokenizer

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        return greedy_decode(log_probs, lengths, self.tokenizer)

    def n_best(self, log_probs: torch.Tensor, k: int = 1) -> list[Hypothesis]:
        text = greedy_decode(log_probs[None], torch.tensor([len(log_probs)]), self.tokenizer)[0]
        return [Hypothesis(text, float(log_probs.max(dim=-1).values.sum()))]


class UtteranceDecoder:
    """A decoder that reads one utterance at a time: a batch is its utterances' best sentences."""

    def __call__(self, log_probs: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        return [self.n_best(log_probs[i, : int(n)], 1)[0].text for i, n in enumerate(lengths.tolist())]

    def n_best(self, log_probs: torch.Tensor, k: int = 1) -> list[Hypothesis]:
        raise NotImplementedError


class GrammarDecoder(UtteranceDecoder):
    """Beam search that can only end in a sentence the grammar allows (:mod:`lipread.grammar_search`)."""

    def __init__(self, tokenizer: CharTokenizer, grammar: Grammar, options: DecoderSettings | None = None):
        options = options or DecoderSettings()
        self.grammar = grammar
        self.search = GrammarSearch(grammar, tokenizer, options.beam_size, options.lm_weight)

    def n_best(self, log_probs: torch.Tensor, k: int = 1) -> list[Hypothesis]:
        return [Hypothesis(t, s) for t, s in self.search.search(log_probs.detach().float().cpu().numpy(), k)]


class NGramLM(CTCDecoderLM):
    """A word n-gram model with interpolated Witten-Bell smoothing, estimated from sentences.

    Small and exact enough for the closed vocabularies lip-reading corpora have; it plugs into
    flashlight's decoder as a custom LM (the PyPI flashlight-text wheel ships without KenLM).
    Scores are natural-log probabilities.
    """

    BOS, EOS = "<s>", "</s>"

    def __init__(self, sentences: list[str], words: list[str], order: int = 3):
        CTCDecoderLM.__init__(self)
        self.order = order
        self.words = list(words)  # index -> word, as in the decoder's word dictionary
        self.counts: dict[tuple, Counter] = defaultdict(Counter)
        for sentence in sentences:
            tokens = [self.BOS] * (order - 1) + sentence.split() + [self.EOS]
            for i in range(order - 1, len(tokens)):
                for n in range(order):  # histories of length 0 .. order-1
                    self.counts[tuple(tokens[i - n : i])][tokens[i]] += 1
        self.vocab_size = len(set(self.words) | {self.EOS})
        self._cache: dict[tuple, float] = {}
        self._states: dict[CTCDecoderLMState, tuple] = {}
        # While the decoder builds its lexicon trie it scores every word from the start state to
        # get look-ahead ("smearing") scores; those must be context-free unigram scores, or
        # words that never open a sentence are pruned mid-sentence.
        self.building_trie = False

    def log_prob(self, history: tuple, word: str) -> float:
        key = (history, word)
        if key not in self._cache:
            self._cache[key] = math.log(self._prob(history[-(self.order - 1) :] if self.order > 1 else (), word))
        return self._cache[key]

    def _prob(self, history: tuple, word: str) -> float:
        lower = 1.0 / self.vocab_size if not history else self._prob(history[1:], word)
        seen = self.counts.get(history)
        if not seen:
            return lower
        total, types = sum(seen.values()), len(seen)
        return (seen[word] + types * lower) / (total + types)

    # -- the CTCDecoderLM interface

    def start(self, start_with_nothing: bool) -> CTCDecoderLMState:
        state = CTCDecoderLMState()
        self._states[state] = () if self.building_trie else (self.BOS,) * (self.order - 1)
        return state

    def score(self, state: CTCDecoderLMState, usr_token_idx: int) -> tuple[CTCDecoderLMState, float]:
        history = self._states[state]
        word = self.words[usr_token_idx] if 0 <= usr_token_idx < len(self.words) else "<unk>"
        child = state.child(usr_token_idx)
        if child not in self._states:
            self._states[child] = (history + (word,))[-(self.order - 1) :] if self.order > 1 else ()
        return child, self.log_prob(history, word)

    def finish(self, state: CTCDecoderLMState) -> tuple[CTCDecoderLMState, float]:
        return state, self.log_prob(self._states[state], self.EOS)

    def reset(self) -> None:
        """Forget decoder states (call between utterances: flashlight re-creates them)."""
        self._states.clear()


class BeamDecoder(UtteranceDecoder):
    """flashlight's CTC beam search over a word lexicon (with an n-gram LM), or lexicon-free."""

    def __init__(
        self,
        tokenizer: CharTokenizer,
        words: list[str] | None,
        sentences: list[str] | None = None,
        options: DecoderSettings | None = None,
    ):
        self.tokenizer = tokenizer
        self.options = options or DecoderSettings()
        o = self.options
        self.lm = None
        if words:
            self._lexicon_decoder(words, sentences, o)
        else:
            self.decoder = ctc_decoder(
                lexicon=None,
                tokens=tokenizer.tokens,
                beam_size=o.beam_size,
                word_score=o.word_score,
                nbest=N_BEST_MAX,
            )

    def _lexicon_decoder(self, words: list[str], sentences: list[str] | None, o: DecoderSettings) -> None:
        # flashlight reads the lexicon from files once, when the decoder is built; they go right after.
        with tempfile.TemporaryDirectory(prefix="lipread-lexicon-") as tmp:
            words = sorted(set(words))
            lexicon = Path(tmp) / "lexicon.txt"
            lexicon.write_text("".join(f"{w} {' '.join(w)} |\n" for w in words))
            lm_dict = Path(tmp) / "lm_dict.txt"
            lm_dict.write_text("".join(f"{w}\n" for w in words) + "<unk>\n")
            self.lm = NGramLM(sentences or [], words, o.lm_order) if sentences else None
            if self.lm is not None:
                self.lm.building_trie = True
            self.decoder = ctc_decoder(
                lexicon=str(lexicon),
                tokens=self.tokenizer.tokens,
                lm=self.lm,
                lm_dict=str(lm_dict),
                beam_size=o.beam_size,
                lm_weight=o.lm_weight if self.lm else 0.0,
                word_score=o.word_score,
                nbest=N_BEST_MAX,
            )
            if self.lm is not None:
                self.lm.building_trie = False
                self.lm.reset()

    def n_best(self, log_probs: torch.Tensor, k: int = 1) -> list[Hypothesis]:
        """Up to ``k`` distinct sentences (flashlight's n-best, repeats of one word sequence merged)."""
        if self.lm is not None:
            self.lm.reset()
        frames = self._with_final_space(log_probs.detach().float().cpu())
        hyps = self.decoder(frames[None], torch.tensor([len(frames)], dtype=torch.int32))[0]
        out: dict[str, float] = {}
        for hyp in hyps:
            if hyp.words:
                text = " ".join(hyp.words)
            else:
                tokens = self.decoder.idxs_to_tokens(hyp.tokens)
                text = "".join(" " if t == "|" else t for t in tokens if t != "-")
            text = " ".join(text.split())
            if text not in out:
                out[text] = float(hyp.score)
        ranked = [Hypothesis(t, s) for t, s in out.items()][:k]
        return ranked or [Hypothesis("", float("-inf"))]

    def _with_final_space(self, emissions: torch.Tensor) -> torch.Tensor:
        """Append one frame that is surely a word break.

        The lexicon spells each word followed by the word-break token, but transcripts (and so
        the model) put no break after the last word; without this frame the last word would never
        complete and would be dropped.
        """
        space = emissions.new_full((1, emissions.shape[1]), -1e4)
        space[0, self.tokenizer.tokens.index("|")] = 0.0
        return torch.cat([emissions, space]).contiguous()


def combine_n_best(parts: list[list[Hypothesis]], k: int) -> list[Hypothesis]:
    """The ``k`` best whole readings of consecutive windows, each decoded on its own into an n-best
    list: texts joined in order, scores added (a best-first search over index combinations)."""
    if k < 1 or not parts or any(not p for p in parts):
        return []
    start = (0,) * len(parts)
    heap = [(-sum(p[0].score for p in parts), start)]
    seen, out = {start}, []
    while heap and len(out) < k:
        negative, picks = heapq.heappop(heap)
        text = " ".join(t for t in (parts[i][j].text for i, j in enumerate(picks)) if t)
        out.append(Hypothesis(text, -negative))
        for i, j in enumerate(picks):
            if j + 1 < len(parts[i]):
                nxt = picks[:i] + (j + 1,) + picks[i + 1 :]
                if nxt not in seen:
                    seen.add(nxt)
                    score = sum(parts[m][n].score for m, n in enumerate(nxt))
                    heapq.heappush(heap, (-score, nxt))
    return out


def build_decoder(kind: str, tokenizer: CharTokenizer, card: ModelCard, options: DecoderSettings | None = None,
                  words: list[str] | None = None, grammar: Grammar | None = None):  # fmt: skip
    """A decoder for ``greedy``, ``beam`` or ``beam-nolex`` (see the module docstring).

    ``beam`` searches inside ``grammar`` when one is given; else it uses the training-set words and
    sentences of the model's card (or ``words``, a user word list, with the LM still estimated from
    the training sentences).
    """
    options = options or card.decoder
    if kind == "greedy":
        return GreedyDecoder(tokenizer)
    if kind == "beam" and grammar is not None:
        return GrammarDecoder(tokenizer, grammar, options)
    if kind == "beam":
        vocabulary = words or list(card.train_words)
        if not vocabulary:
            raise ValueError("beam search needs a word list: the model card has none, pass one")
        return BeamDecoder(tokenizer, vocabulary, list(card.train_texts), options)
    if kind == "beam-nolex":
        return BeamDecoder(tokenizer, None, None, options)
    raise ValueError(f"unknown decoder {kind!r}; choose from {', '.join(DECODERS)}")
