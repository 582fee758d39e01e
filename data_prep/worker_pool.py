"""Work spread over spawned worker processes that outlives a worker's death.

``multiprocessing.Pool`` never learns that a worker died (killed by the system's out-of-memory
killer on a huge video, a crash in a native library): it waits for that task's result for ever, so
an overnight ``lipread prep --workers N`` hung at 199 of 200 clips. Here the pool is a
``ProcessPoolExecutor``, which notices, and the work goes on: the items that were probably being
read when it broke are each tried again alone in a worker of their own, so the one that kills its
worker is named (:data:`WORKER_DIED`) and every other item still gets its result.

Ctrl-C is the main process's: workers ignore it, and the main process stops them at once.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from typing import Any

#: The result of an item whose worker process died while it read that item alone.
WORKER_DIED = "worker_died"
#: Said of such an item, for a rejection or an error line.
DIED_DETAIL = "the worker process reading it stopped (killed, or out of memory?)"


def in_workers(work: Callable[[Any], Any], items: list, workers: int, initializer: Callable[..., None],
               initargs: tuple = ()) -> Iterator[tuple[int, Any]]:  # fmt: skip
    """``(index, work(items[index]))`` for every item, as they finish, computed by ``workers``
    spawned processes that each ran ``initializer(*initargs)`` first; ``work`` and the items must
    pickle. An item whose worker dies gives :data:`WORKER_DIED` instead of a result."""
    pending = list(range(len(items)))
    while pending:
        pool = _start(min(workers, len(pending)), initializer, initargs)
        unfinished = []
        try:
            futures = {pool.submit(work, items[i]): i for i in pending}
            for future in as_completed(futures):
                try:
                    result = future.result()
                except BrokenProcessPool:
                    unfinished.append(futures[future])
                    continue
                yield futures[future], result
        finally:
            _stop(pool)
        # the earliest submitted of those left were the ones being read: each alone, to find the culprit
        unfinished.sort()
        suspects, pending = unfinished[:workers], unfinished[workers:]
        for i in suspects:
            yield i, _alone(work, items[i], initializer, initargs)


def _alone(work: Callable[[Any], Any], item: Any, initializer: Callable[..., None], initargs: tuple) -> Any:
    pool = _start(1, initializer, initargs)
    try:
        return pool.submit(work, item).result()
    except BrokenProcessPool:
        return WORKER_DIED
    finally:
        _stop(pool)


def _start(workers: int, initializer: Callable[..., None], initargs: tuple) -> ProcessPoolExecutor:
    context = mp.get_context("spawn")  # a fork would copy this process's torch and mediapipe threads' state
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start,
                               initargs=(initializer, initargs))  # fmt: skip


def _worker_start(initializer: Callable[..., None], initargs: tuple) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    initializer(*initargs)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now: ``shutdown`` alone would wait for the items they are on."""
    for process in list((pool._processes or {}).values()):  # (there is no public way to end a running task)
        process.terminate()
    pool.shutdown(wait=True, cancel_futures=True)
