"""One helper process of the parallel normaliser (monitor/feeds/parallel.py).

    python -m monitor.feeds.helper

Reads requests from stdin and answers each on stdout, in order; each message is an 8-byte
big-endian length and a pickle (both ends are this project's own processes). It ends when
stdin closes, which is also what happens when the process that started it dies, so a killed
worker leaves no helper behind.

Django is configured with the one setting the normaliser reads, the lookup-hash key, which
arrives with every request: the helper hashes with exactly the key of the batch's process,
never with whatever its own environment would give, and it never touches the database.
"""

import csv
import io
import pickle
import signal
import struct
import sys
from datetime import date

from django.conf import settings

LENGTH = struct.Struct(">Q")
# The row put after each chunk: the reader numbers it one past the chunk's last record, which
# gives the chunk's record count, blank and multi-line records included. A chunk cut inside a
# quoted cell swallows it and ends inside quotes, which the strict reader refuses.
MARKER = "0\n"
# The column order and dialect of the COPY the batch's process runs (matching.py): every value
# quoted, so an empty text is '""' (empty) and only the FORCE_NULL columns read it as NULL.
COPY_DIALECT = {"quoting": csv.QUOTE_ALL, "lineterminator": "\n"}

_normalisers: dict = {}


def normalise_chunk(
    data: bytes, *, first_row: int, head_records: int, today: date
) -> tuple[int, bytes]:
    """`data`: the lines above the list's first data row, one chunk of the list and the
    marker row, in UTF-8. Returns the chunk's record count and its staged rows as COPY CSV,
    numbered from `first_row`. A list the reader refuses raises FeedFormatError."""
    from monitor.feeds.rows import RowNormaliser, file_rows

    normalise = _normalisers.get(today)
    if normalise is None:
        normalise = _normalisers[today] = RowNormaliser(today)
    shift = first_row - head_records - 1
    rows = file_rows(data, "list.csv", max_bytes=len(data) + 1)
    out = io.StringIO()
    marker = None

    def staged():
        nonlocal marker
        # Each row is written once the next one is read: the last one read is the marker.
        previous = next(rows, None)
        for row in rows:
            yield normalise(previous[0] + shift, *previous[1:])
            previous = row
        marker = previous

    csv.writer(out, **COPY_DIALECT).writerows(staged())
    if marker is None:
        raise ValueError("the marker row was not read")
    return marker[0] - head_records - 1, out.getvalue().encode("utf-8")


def _read(stream) -> object | None:
    header = stream.read(LENGTH.size)
    if len(header) < LENGTH.size:
        return None
    return pickle.loads(stream.read(LENGTH.unpack(header)[0]))  # noqa: S301 - our own parent


def _write(stream, message: object) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def serve(source, sink) -> None:
    """Until the parent closes stdin (its last list read, or its end), or stdout (it gave up
    on the answer being computed)."""
    while (request := _read(source)) is not None:
        key, today, first_row, head_records, data = request
        if key != settings.PII_HMAC_KEY:
            settings.PII_HMAC_KEY = key
            _normalisers.clear()
        try:
            records, staged = normalise_chunk(
                data, first_row=first_row, head_records=head_records, today=today
            )
        except Exception as exc:
            # Only the kind: a reason may quote a cell. The batch's process reads the list in
            # one process instead, which reports the list's own error.
            answer = ("error", type(exc).__name__)
        else:
            answer = ("ok", records, staged)
        try:
            _write(sink, answer)
        except BrokenPipeError:
            return


def main() -> None:
    # Ctrl-C in a terminal reaches the whole process group; a helper ends with its input.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    settings.configure(PII_HMAC_KEY=b"")
    # Imported and today's tables built before the first chunk arrives, while the process
    # that started this helper has no list yet.
    from monitor.feeds.rows import RowNormaliser

    RowNormaliser(date.today())
    sink = sys.stdout.buffer
    # Nothing else may write into the answers: a stray print goes to stderr.
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, sink)


if __name__ == "__main__":
    main()
