"""Staging a file: its rows checked on every core and COPYed into a temporary table.

The parent process cuts the file into pieces (reading.py) and hands them to a pool of worker
processes forked for this import; each returns its piece as COPY-ready bytes, which the parent
writes to PostgreSQL while the workers go on with the next pieces (so the database parses one
piece while Python checks, encrypts and hashes the next ones). At most a few pieces are in
flight at a time, so memory stays bounded whatever the size of the file.

Workers inherit the job (the mapped file, the column layout, the row checker) when they are
forked and never touch the database connection. Only the management command forks: a web
server's worker may run threads (forking those can leave a lock held for ever) and a
daemonic process may not have children, so uploads and small files run the same work here.
"""

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice

from django.db import connection

from households.bulk_import.reading import Fallback, Layout, span_records

# Below this the pool costs more than it saves.
PARALLEL_MIN_BYTES = 8 * 1024 * 1024
ROWS_PER_PIECE = 20000
# A piece takes well under a second; a worker killed from outside (out of memory) would
# otherwise leave the import waiting for ever.
PIECE_TIMEOUT_SECONDS = 600


@dataclass
class Job:
    data: object  # bytes or mmap: the file, for pieces given as spans
    layout: Layout | None
    # (piece, rows) → (COPY bytes, what the importing process collects of the piece, or None)
    lines: Callable[[int, list], tuple[bytes, object]]


_JOB: Job | None = None


def _work(task: tuple[int, object]) -> tuple[int, int | None, tuple | None, int]:
    """(piece, CSV records in it or None, (COPY bytes, keys) or None when the piece cannot be
    read apart from the rest, data rows in it)."""
    piece, payload = task
    job = _JOB
    with _collector_paused():
        if isinstance(payload, tuple):
            try:
                records, rows = span_records(job.data, payload[0], payload[1], job.layout)
            except Fallback:
                return piece, None, None, 0
        else:
            records, rows = None, payload
        return piece, records, job.lines(piece, rows), len(rows)


@contextmanager
def _collector_paused():
    """Python's cycle collector off while a piece is read and checked. The piece's rows are
    tens of thousands of lists, dicts and tuples alive until it is done, and every few hundred
    new ones the collector would walk them all again — a sixth of a piece's time, measured.
    They hold no reference cycles: reference counting frees them when the piece is done."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _worker_start() -> None:
    # What the worker inherited from the importing process (Django, the job) lives as long as
    # the worker: set it apart so the collections between pieces walk only what is new.
    gc.freeze()


def _workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


class Runner:
    """Runs the pieces of one job in order, in a pool of forked workers or in this process."""

    def __init__(self, job: Job, *, parallel: bool):
        self.job = job
        workers = _workers()
        self.parallel = parallel and workers > 1 and not multiprocessing.current_process().daemon
        self.pool = None
        if self.parallel:
            # Handed to the forked workers through their copy of this process's memory.
            global _JOB
            _JOB = job
            self.pool = multiprocessing.get_context("fork").Pool(workers, _worker_start)
            self.window = 2 * workers

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        global _JOB
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
        _JOB = None

    def results(self, tasks: Iterable[tuple[int, object]]) -> Iterator[tuple]:
        if self.pool is None:
            global _JOB
            _JOB = self.job
            for task in tasks:
                yield _work(task)
            return
        pending = deque()
        for task in tasks:
            pending.append(self.pool.apply_async(_work, (task,)))
            if len(pending) >= self.window:
                yield pending.popleft().get(PIECE_TIMEOUT_SECONDS)
        while pending:
            yield pending.popleft().get(PIECE_TIMEOUT_SECONDS)


def copy_pieces(
    stage: str,
    columns: tuple[str, ...],
    runner: Runner,
    tasks,
    collect: Callable[[object], None] | None = None,
) -> dict[int, int]:
    """COPY every piece into `stage`, handing each piece's keys to `collect`; returns each
    piece's CSV record count (None for a piece of rows already numbered in the file). Raises
    Fallback, after the COPY, when a piece could not be read apart from the rest (the caller
    then empties the stage and reads the file whole)."""
    records: dict[int, int | None] = {}
    failed = False
    sql = f"COPY {stage} ({', '.join(columns)}) FROM STDIN"
    # psycopg's own cursor: Django's wrapper has no copy().
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for piece, count, staged, _rows in runner.results(tasks):
            if staged is None:
                failed = True
                break
            records[piece] = count
            data, keys = staged
            copy.write(data)
            if collect is not None:
                collect(keys)
    if failed:
        raise Fallback
    return records


def row_batches(rows: Iterable[tuple[int, list[str]]]) -> Iterator[tuple[int, list]]:
    """(piece, rows) of a file read whole, numbered as in the file already."""
    iterator = iter(rows)
    piece = 0
    while batch := list(islice(iterator, ROWS_PER_PIECE)):
        yield piece, batch
        piece += 1
