"""Several videos read at once, in worker processes (``lipread transcribe --workers N``).

Finding faces dominates transcription and runs on one or two cores, so a folder of videos on a
machine with more goes faster a video per process, as ``lipread prep --workers`` builds clips.
Each worker builds its own reader (model, decoders, face tracker) from a :class:`ReaderRecipe`
and hands back each video's :class:`~lipread.transcript.Transcript`, or the
:class:`~lipread.transcribe.TranscriptionError` that stopped it, in the order the videos were
given: the files are written by the main process alone, so a Ctrl-C there still leaves each
video's files all or none, and the workers are stopped at once. A worker that dies costs one
video, not the run (:mod:`data_prep.worker_pool`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from data_prep.worker_pool import DIED_DETAIL, WORKER_DIED, in_workers
from lipread.transcript import Span, Transcript


@dataclass(frozen=True)
class ReaderRecipe:
    """What it takes to build the same reader in another process (a model and its decoding)."""

    checkpoint: Path | None = None
    device: str = "cpu"
    grammar: str | None = "default"
    vocabulary: list[str] | None = None
    beam: dict = field(default_factory=dict)  # beam settings given on the command line
    partial: bool = False  # parts of allowed sentences may be read (``Transcriber.partial``)

    def build(self):
        """A :class:`~lipread.transcribe.Transcriber` (raises as ``from_checkpoint`` does)."""
        from lipread.transcribe import Transcriber

        reader = Transcriber.from_checkpoint(self.checkpoint, self.device, self.grammar, self.vocabulary,
                                             partial=self.partial)  # fmt: skip
        reader.beam = reader.beam.replace(**self.beam)
        if self.partial and reader.grammar is None:
            from lipread.errors import UserError

            why = ("this model has none of its own; give one with --grammar" if self.grammar == "default"
                   else "not the lexicon beam (--grammar none, --vocabulary)")  # fmt: skip
            raise UserError(f"--partial reads parts of a grammar's sentences, so it needs a grammar: {why}")
        return reader


@dataclass(frozen=True)
class ReadOptions:
    """How each video is read (``Transcriber.transcribe``'s options)."""

    decoder: str = "beam"
    faces: str = "all"
    n_best: int = 0
    min_confidence: float = 0.0
    keep_crops: bool = False
    span: Span | None = None


def read_one(reader, video: str, options: ReadOptions):
    """One video's transcript, or the :class:`~lipread.transcribe.TranscriptionError` that stopped it."""
    from lipread.transcribe import TranscriptionError

    try:
        return reader.transcribe(video, options.decoder, options.faces, options.n_best, options.min_confidence,
                                 options.keep_crops, options.span)  # fmt: skip
    except TranscriptionError as err:
        return err


def readings(reader, recipe: ReaderRecipe, videos: list[str], options: ReadOptions,
             workers: int = 1) -> Iterator[Transcript | Exception]:  # fmt: skip
    """Each video's reading, in the order given: by ``reader`` here, or with ``workers`` > 1 (and
    more than one video) by that many processes, each with a reader built from ``recipe``. A
    video whose worker dies (killed, out of memory) is an ``error``; the others are still read
    (:func:`data_prep.worker_pool.in_workers`)."""
    workers = min(workers, len(videos))
    if workers <= 1:
        for video in videos:
            yield read_one(reader, video, options)
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    level = logging.getLogger().getEffectiveLevel()  # a worker's messages as the command's own
    done: dict[int, object] = {}
    next_one = 0
    for index, result in in_workers(_read_in_worker, [(video, options) for video in videos], workers,
                                    _start_worker, (recipe, threads, level)):  # fmt: skip
        done[index] = _died(videos[index]) if result is WORKER_DIED else result
        while next_one in done:  # held back until the videos before it are out
            yield done.pop(next_one)
            next_one += 1


def _died(video: str):
    from lipread.transcribe import TranscriptionError

    return TranscriptionError(video, "error", DIED_DETAIL)


_reader = None  # a worker process's own reader


def _start_worker(recipe: ReaderRecipe, threads: int, level: int) -> None:
    global _reader
    logging.basicConfig(level=level, format="%(message)s")  # (native log lines: the inherited stderr filter)
    logging.getLogger("absl").setLevel(logging.ERROR)
    import torch

    torch.set_num_threads(threads)
    _reader = recipe.build()


def _read_in_worker(job: tuple[str, ReadOptions]):
    return read_one(_reader, *job)
