"""What a running server holds between requests: its models, their per-thread readers, its counters.

The transcription, enrolment and live routes all read and change it, so it is one typed object
with the few operations they share (which model a request means, which grammar, is there room)
instead of a dict that each route module indexes by key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fastapi import UploadFile

from lipread.grammar import Grammar, GrammarError, builtin_names
from lipread.grammar import load as load_grammar
from lipread.grammar import parse as parse_grammar
from lipread.transcribe import Transcriber
from serve.enrolment import PERSONAL, USER_NAME, Enrolment
from serve.limits import Limits

#: What a request's ``model`` is when it names none: the model the server was started with.
DEFAULT_MODEL = "default"
MAX_GRAMMAR_BYTES = 256 * 1024


class ServerState:
    """The server's models and counters. ``load`` (at start-up, on a worker thread) fills in the
    model; until it has, ``ready`` is false and the routes answer 503."""

    def __init__(self, model_path: Path, limits: Limits, device: str, grammar: str) -> None:
        self.model_path = model_path
        self.limits = limits
        self.device = device
        self.grammar_choice = grammar  # the server's --grammar: what a request's grammar=default means
        self.ready = False
        self.pending = 0  # uploads being read or queued (transcriptions and enrolment checks)
        self.live = 0  # live streams open
        self.executor = ThreadPoolExecutor(max_workers=limits.workers, thread_name_prefix="lipread")
        self.enrolment: Enrolment | None = None
        self._first: Transcriber | None = None  # the default model, as the first worker loaded it
        self.default_grammar: Grammar | None = None  # requests may change a reader's grammar, never this
        self._grammars: dict[str, Grammar] = {}
        self._makers: dict[str, Callable[[], Transcriber]] = {DEFAULT_MODEL: self._maker(model_path)}
        # one reader per worker thread and model: mediapipe graphs are not shared between threads
        self._transcribers: dict[tuple[int, str], Transcriber] = {}

    def _maker(self, path: Path) -> Callable[[], Transcriber]:
        return lambda: Transcriber.from_checkpoint(path, self.device, self.grammar_choice)

    def load(self) -> Transcriber:
        """Load the default model on this (worker) thread; a bad model or grammar fails here, at start-up."""
        self._first = self.thread_transcriber(DEFAULT_MODEL)
        self.default_grammar = self._first.grammar
        return self._first

    @property
    def model(self) -> Transcriber:
        """The default model (loaded: routes run only once the server is ready)."""
        if self._first is None:
            raise RuntimeError("the model is not loaded yet")
        return self._first

    def admit(self) -> bool:
        """Take a place for one upload among the workers and the queue (transcriptions and
        enrolment checks share them); False when every place is taken. Give it back with
        :meth:`leave` when the upload's work has ended."""
        if self.pending >= self.limits.workers + self.limits.queue_size:
            return False
        self.pending += 1
        return True

    def leave(self) -> None:
        self.pending -= 1

    def thread_transcriber(self, model: str) -> Transcriber:
        """This worker thread's reader for ``model``, made on first use."""
        key = (threading.get_ident(), model)
        if key not in self._transcribers:
            self._transcribers[key] = self._makers[model]()
        return self._transcribers[key]

    def new_transcriber(self, model: str) -> Transcriber:
        """A reader of its own (a live stream's: its own face tracker and decoders)."""
        return self._makers[model]()

    def choose_model(self, model: str) -> bool:
        """Whether the server has ``model``; a personal model is made loadable on first use."""
        if model == DEFAULT_MODEL:
            return True
        user = model.removeprefix(PERSONAL)
        if self.enrolment is None or not model.startswith(PERSONAL) or not USER_NAME.match(user):
            return False
        folder = self.enrolment.model_path(user)
        if folder is None:
            return False
        self._makers.setdefault(model, self._maker(folder))
        return True

    def forget_model(self, model: str) -> None:
        """Drop a personal model's loaded copies (it was adapted again): the next request loads the new one."""
        for key in [k for k in list(self._transcribers) if k[1] == model]:
            self._transcribers.pop(key, None)

    def personal_models(self) -> list[dict]:
        if self.enrolment is None:
            return []
        return [
            {"name": self.enrolment.model_name(user), "user": user, "report": self.enrolment.status(user)["report"]}
            for user in self.enrolment.users_with_models()
        ]

    async def grammar(self, name: str, upload: UploadFile | None) -> Grammar | None:
        """A request's grammar: an uploaded file, a built-in one by name, the model's own, or none."""
        alphabet = self.model.card.alphabet
        if upload is not None and upload.filename:
            raw = await upload.read(MAX_GRAMMAR_BYTES + 1)
            if len(raw) > MAX_GRAMMAR_BYTES:
                raise GrammarError(f"grammar_file: larger than {MAX_GRAMMAR_BYTES // 1024} KB")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise GrammarError("grammar_file: not UTF-8 text") from None
            return parse_grammar(text, Path(upload.filename).name, alphabet)
        if name == "default":
            return self.default_grammar
        if name == "none":
            return None
        if name not in self._grammars:
            if name not in builtin_names():
                raise GrammarError(
                    f"no built-in grammar {name!r}; choose from {', '.join(builtin_names())}, or send a grammar_file"
                )
            self._grammars[name] = load_grammar(name, alphabet)
        return self._grammars[name]
