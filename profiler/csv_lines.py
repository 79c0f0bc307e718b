"""Physical lines of a CSV file, read once, in bounded pieces, for `csv.reader`.

Why not hand the file object to csv.reader: a line is read whole before anything looks at it,
so a file without line ends (/dev/zero, a header then 300 MB of NULs) is held in memory whole
(1.5 GB for 300 MB, measured); and a decode error says nothing about which line holds the bad
byte, so finding it meant reopening the file, which hangs on a FIFO. Here:

- every line is read in pieces of at most PIECE_CHARS and refused once its record passes
  MAX_RECORD_CHARS, so memory stays bounded whatever the file holds;
- bytes that aren't UTF-8 are decoded as lone surrogates (surrogateescape) and refused with
  the line they are on, without a second read;
- a NUL byte is refused at once unless it is inside a quoted cell. Text never holds NUL, except
  a token: a byte-level tokenizer can decode a token to "\\x00", and export quotes such cells.
"""

from __future__ import annotations

import io
import os
import re
import select
import stat
from typing import TextIO

from profiler.csv_limits import IDLE_TIMEOUT_S, MAX_RECORD_CHARS
from profiler.errors import CsvFormatError

PIECE_CHARS = 1 << 20
_NOT_UTF8 = re.compile("[\udc80-\udcff]")  # what surrogateescape makes of undecodable bytes


def open_csv_text(path: str | os.PathLike, *, idle_timeout_s: float = IDLE_TIMEOUT_S) -> TextIO:
    """The file as text for BoundedLines; -sig: spreadsheets often start a CSV with a BOM.

    A FIFO, socket or device is read through `_PatientReader`: opening it doesn't wait for a
    writer, and `idle_timeout_s` without data ends the read with one CsvFormatError.
    """
    if stat.S_ISREG(os.stat(path).st_mode):
        return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")
    raw = _PatientReader(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC), str(path), idle_timeout_s)
    return io.TextIOWrapper(io.BufferedReader(raw), encoding="utf-8-sig", errors="surrogateescape", newline="")


class _PatientReader(io.RawIOBase):
    """A non-blocking descriptor read with poll(): no data for `idle_timeout_s` is a CsvFormatError.

    Before, `import FIFO` with no writer (or a writer that never writes) waited forever; only
    SIGINT ended it. On Linux, poll() on a FIFO that never had a writer reports nothing (it
    doesn't report a hang-up), so "no writer yet" and "no data yet" are both idle time.
    """

    def __init__(self, fd: int, name: str, idle_timeout_s: float) -> None:
        super().__init__()
        self.fd = fd
        self.name = name
        self.idle_timeout_s = idle_timeout_s
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def readinto(self, buffer) -> int:
        while True:
            if not self._poll.poll(self.idle_timeout_s * 1000):
                raise CsvFormatError(f"{self.name}: no data for {self.idle_timeout_s:g} s (a FIFO or device with "
                                     "no writer?); --idle-timeout S waits longer")
            try:
                return os.readv(self.fd, [buffer])
            except BlockingIOError:
                continue  # woken without data: wait again

    def close(self) -> None:
        if not self.closed:
            os.close(self.fd)
        super().close()


class BoundedLines:
    """An iterator of the file's physical lines (line ends kept) that csv.reader pulls from.

    The parser calls `start_record()` before asking csv.reader for each record, so the size and
    quote bounds apply per record, and a stray quote can't mislead the checks of later records.
    """

    def __init__(self, handle: TextIO, name: str) -> None:
        self.handle = handle
        self.name = name
        self.line = 0
        """The physical line most recently read (1-based)."""
        self.record_chars = 0
        self.record_quotes = 0

    def start_record(self) -> None:
        self.record_chars = 0
        self.record_quotes = 0

    def fail(self, message: str) -> CsvFormatError:
        return CsvFormatError(f"{self.name} line {self.line}: {message}")

    def __iter__(self) -> BoundedLines:
        return self

    def __next__(self) -> str:
        pieces = []
        while True:
            piece = self.handle.readline(PIECE_CHARS)
            if not piece:
                break
            if not pieces:
                self.line += 1
            self._check(piece)
            pieces.append(piece)
            # a line ends at its line end; a piece cut by the size limit doesn't end the line
            if piece[-1] == "\n" or (piece[-1] == "\r" and len(piece) < PIECE_CHARS):
                break
        if not pieces:
            raise StopIteration
        return pieces[0] if len(pieces) == 1 else "".join(pieces)

    def _check(self, piece: str) -> None:
        self.record_chars += len(piece)
        if self.record_chars > MAX_RECORD_CHARS:
            raise self.fail(f"a row longer than {MAX_RECORD_CHARS // (1 << 20)} MiB (a binary file, or no line ends?)")
        if _NOT_UTF8.search(piece):
            raise self.fail("not UTF-8 text (a binary file, or another encoding: save it as UTF-8 CSV)")
        if "\x00" in piece:
            self._check_nul(piece)
        self.record_quotes += piece.count('"')

    def _check_nul(self, piece: str) -> None:
        """Refuse a NUL outside quotes: inside quotes iff an odd number of '"' precede it in the record."""
        quotes, start = self.record_quotes, 0
        while True:
            nul = piece.find("\x00", start)
            if nul < 0:
                return
            quotes += piece.count('"', start, nul)
            if quotes % 2 == 0:
                raise self.fail("a NUL byte outside a quoted cell (a binary file?)")
            # every NUL before the next quote is inside the same quoted cell
            closing = piece.find('"', nul)
            if closing < 0:
                return
            start = closing
