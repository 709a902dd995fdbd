"""Normalising a large CSV list on every core.

The batch's process decodes the list once and cuts it at line ends into chunks. Helper
processes (monitor/feeds/helper.py, one per core, started with the worker process — or by the
first large list it meets — and kept) each read a chunk with the lines above the list's first
data row put back in front of it, so the reader and the normaliser of the single-process path
(rows.file_rows, rows.RowNormaliser) see a list of their own — same header, delimiter,
cleaning and row numbers — and send its staged rows back as COPY-ready CSV. The batch's process
writes them into the stage in list order while the helpers work on the next chunks.

Row numbers: the reader counts every CSV record, blank ones included. A chunk is numbered from
the line it starts on, which is its first record's number as long as no earlier record spans
lines; the helper reports how many records the chunk held, and a chunk numbered from the wrong
start is done again from the right one.

Anything unusual sends the list to the single-process path (`Fallback`), which gives exactly
its rows or its error: a chunk the strict reader refuses (a cut inside a quoted cell that spans
lines leaves the chunk before it ending inside quotes), a head of the file that does not give
the header, bare carriage returns, a helper that fails or is busy with another batch.

Helpers are plain subprocesses fed through pipes, not a multiprocessing pool: a Celery prefork
child is a daemonic process, which multiprocessing does not allow to have children, and a
helper sees its input close and exits when the process that started it dies.
"""

import contextlib
import os
import pickle
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.conf import settings

from monitor.feeds.helper import LENGTH, MARKER
from monitor.feeds.rows import FeedFormatError, file_rows

REPO = Path(__file__).resolve().parents[2]

# Below this many bytes one process is done before chunks would be handed out (about
# 15,000 rows of a typical list).
MIN_BYTES = 1_000_000
# About 13,000 rows: small enough that the helpers finish together, large enough that a
# chunk's own costs (its reader, its pipe round) do not count.
CHUNK_CHARS = 1_000_000
# The header is looked for in the first lines, as the reader looks for it in the first rows.
HEAD_LINES = 64


class Fallback(Exception):
    """Read this list in one process."""


@dataclass(frozen=True)
class Chunk:
    start: int
    end: int
    lines: int


@dataclass(frozen=True)
class Plan:
    head: str
    head_records: int
    chunks: list[Chunk]


def helper_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _line_ends(text: str, count: int) -> int:
    """The offset just after the `count`-th line end, or -1 when there are fewer lines."""
    end = 0
    for _ in range(count):
        end = text.find("\n", end) + 1
        if end == 0:
            return -1
    return end


def _first_row(text: str) -> tuple | None:
    data = text.encode("utf-8")
    rows = file_rows(data, "list.csv", max_bytes=len(data) + 1)
    try:
        return next(rows, None)
    finally:
        rows.close()


def _head(text: str) -> tuple[str, int]:
    """The lines above the first data row (title rows, the header, blank lines) and how many
    records they hold, checked by reading them with the marker row after them."""
    candidate_end = _line_ends(text, HEAD_LINES)
    try:
        first = _first_row(text[:candidate_end] if candidate_end > 0 else text)
        if first is None:
            raise Fallback("head")
        head_records = first[0] - 1
        head_end = _line_ends(text, head_records)
        if head_end <= 0:
            raise Fallback("head")
        head = text[:head_end]
        data = (head + MARKER).encode("utf-8")
        numbers = [row[0] for row in file_rows(data, "list.csv", max_bytes=len(data) + 1)]
    except FeedFormatError:
        raise Fallback("head") from None
    if numbers != [head_records + 1]:
        raise Fallback("head")
    return head, head_records


def plan(text: str, chunk_chars: int | None = None) -> Plan:
    """Where to cut the decoded list; raises Fallback for a list one process should read."""
    # At least four chunks a helper, so none waits long for the last one.
    chunk_chars = chunk_chars or min(CHUNK_CHARS, max(len(text) // (4 * helper_count()), 1))
    # The reader ends a line at a bare \r too; counting lines by \n alone would misnumber.
    if text.count("\r") != text.count("\r\n"):
        raise Fallback("carriage returns")
    head, head_records = _head(text)
    chunks, start = [], len(head)
    while start < len(text):
        end = text.find("\n", start + chunk_chars) + 1
        # A cut between an odd number of quotes is inside a quoted cell, which would send the
        # whole list to one process: move on to the next line end.
        quotes = text.count('"', start, end) if end else 0
        while end and quotes % 2:
            after = text.find("\n", end) + 1
            quotes += text.count('"', end, after) if after else 0
            end = after
        if end == 0 or len(text) - end < chunk_chars // 4:
            end = len(text)
        chunks.append(Chunk(start, end, text.count("\n", start, end)))
        start = end
    if len(chunks) < 2:
        raise Fallback("one chunk")
    return Plan(head, head_records, chunks)


class _Helper:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "monitor.feeds.helper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
        )
        # Set on a broken pipe: a helper's pipes close before the system reports it dead.
        self.gone = False

    def alive(self) -> bool:
        return not self.gone and self.process.poll() is None

    def _gone(self) -> Fallback:
        self.gone = True
        return Fallback("helper gone")

    def send(self, request: tuple) -> None:
        payload = pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            self.process.stdin.write(LENGTH.pack(len(payload)))
            self.process.stdin.write(payload)
            self.process.stdin.flush()
        except OSError:
            raise self._gone() from None

    def receive(self) -> tuple:
        header = self.process.stdout.read(LENGTH.size)
        size = LENGTH.unpack(header)[0] if len(header) == LENGTH.size else -1
        payload = self.process.stdout.read(size) if size >= 0 else b""
        if len(payload) != size:
            raise self._gone()
        reply = pickle.loads(payload)  # noqa: S301 - our own helper's answer
        if reply[0] != "ok":
            raise Fallback(f"helper: {reply[1]}")
        return reply[1], reply[2]

    def stop(self) -> None:
        # Both ends closed: a helper still working on a chunk fails to answer and ends too.
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):  # it died with a request unread
                pipe.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class _Helpers:
    """The helpers of this process. A forked child (a Celery prefork child started after a
    list was read) never uses its parent's: they are recognised by the process id."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pid = None
        self.members: list[_Helper] = []

    def ready(self, count: int) -> list[_Helper]:
        if self.pid != os.getpid():
            self.pid, self.members = os.getpid(), []
        if len(self.members) != count or not all(helper.alive() for helper in self.members):
            self.stop()
            self.members = [_Helper() for _ in range(count)]
        return self.members

    def stop(self) -> None:
        if self.pid == os.getpid():
            for helper in self.members:
                helper.stop()
        self.members = []


_helpers = _Helpers()


def start_helpers() -> None:
    """Start this process's helpers now rather than with its first large list (they take
    about half a second to import): for a worker process about to take tasks."""
    count = helper_count()
    if count >= 2 and _helpers.lock.acquire(blocking=False):
        try:
            _helpers.ready(count)
        finally:
            _helpers.lock.release()


def stop_helpers() -> None:
    with _helpers.lock:
        _helpers.stop()


def wanted(size: int) -> bool:
    """Whether a CSV list of `size` bytes is worth the helpers."""
    return size >= MIN_BYTES and helper_count() >= 2


def staged_chunks(layout: Plan, text: str, today: date) -> Iterator[bytes]:
    """The list's staged rows as COPY CSV (helper.COPY_DIALECT), chunk by chunk in list
    order. Raises Fallback, before the first chunk or between two, when one process should
    read the list instead (the caller drops what it wrote)."""
    if not _helpers.lock.acquire(blocking=False):
        raise Fallback("helpers busy with another list")
    try:
        yield from _run(layout, text, today, _helpers.ready(helper_count()))
    except Fallback:
        raise
    except BaseException:
        # Interrupted half-way (the COPY failed, the task was cancelled): answers may still
        # be on their way, so these helpers are not handed the next list.
        _helpers.stop()
        raise
    finally:
        _helpers.lock.release()


def _run(layout: Plan, text: str, today: date, helpers: list[_Helper]) -> Iterator[bytes]:
    key = settings.PII_HMAC_KEY
    head, chunks = layout.head, layout.chunks
    # Each chunk's first record number if every record before it were one line; `missing` is
    # how many lines the records before the latest chunk read spanned beyond one each.
    by_lines = [layout.head_records + 1]
    for chunk in chunks[:-1]:
        by_lines.append(by_lines[-1] + chunk.lines)
    missing = 0

    def request(index: int, first_row: int) -> tuple:
        chunk = chunks[index]
        body = text[chunk.start : chunk.end]
        tail = MARKER if body.endswith("\n") else "\n" + MARKER
        data = (head + body + tail).encode("utf-8")
        return key, today, first_row, layout.head_records, data

    waiting: deque[tuple[int, int, _Helper]] = deque()
    sent = 0

    def hand_out(helper: _Helper) -> None:
        nonlocal sent
        if sent < len(chunks):
            first_row = by_lines[sent] - missing
            helper.send(request(sent, first_row))
            waiting.append((sent, first_row, helper))
            sent += 1

    row = layout.head_records + 1
    try:
        for helper in helpers:
            hand_out(helper)
        while waiting:
            index, first_row, helper = waiting.popleft()
            records, staged = helper.receive()
            missing = by_lines[index] - row
            if first_row != row:
                # A record before this chunk spanned lines: number it again from its true
                # start (the chunks handed out from now on start from there too).
                helper.send(request(index, row))
                records, staged = helper.receive()
            # The next chunk first, so the helper never waits for the COPY.
            hand_out(helper)
            yield staged
            row += records
    except Fallback:
        _drain(waiting)
        raise


def _drain(waiting: deque) -> None:
    """Read the answers still on their way, so the helpers start the next list clean."""
    while waiting:
        _, _, helper = waiting.popleft()
        with contextlib.suppress(Fallback):
            helper.receive()
