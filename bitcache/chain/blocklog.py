"""Durable files of the embedded regtest chain: the block log and atomic replacement.

libbitcoinkernel writes its block index and chainstate when it flushes, which
the embedded chain can only make it do by closing it. A process killed
(SIGKILL) before then reopens at the tip of the last flush, and every block
mined since is gone. So every block the kernel accepts is also appended to a
:class:`BlockLog` in the chain's folder; opening the folder replays the log
into the kernel (blocks it already holds are no-ops, and the branch with the
most work wins, as it did before), and a clean close empties it once the
kernel has flushed.

A record is the block's length (4 bytes, little-endian) and the block. It is
written with one ``write`` on an append-only descriptor, so a killed process
leaves at most one torn record at the end; reading stops there and the next
open cuts it off. :func:`replace_file` writes a whole file so that a reader
sees the old content or the new one, never a mixture (temporary file, fsync,
rename, fsync of the folder).
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

_LENGTH = struct.Struct("<I")


class BlockLog:
    """An append-only file of raw blocks, open for appending."""

    def __init__(self, path: Path) -> None:
        self.path = path
        blocks, valid = _read(path)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if os.fstat(self._fd).st_size != valid:
            os.ftruncate(self._fd, valid)  # a record torn by a kill: it was never reported
        self.blocks: list[bytes] = blocks

    def append(self, raw_block: bytes) -> None:
        """Add a block the kernel accepted (one write: all of the record, or a torn tail)."""
        os.write(self._fd, _LENGTH.pack(len(raw_block)) + raw_block)

    def sync(self) -> None:
        """Push appended records to the disk (they already survive a killed process)."""
        os.fsync(self._fd)

    def clear(self) -> None:
        """Forget every record: the kernel has flushed them all."""
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)
        self.blocks = []

    def close(self) -> None:
        """Release the file. Idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _read(path: Path) -> tuple[list[bytes], int]:
    """The complete records of ``path`` and the length they take (a torn tail excluded)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [], 0
    blocks, pos = [], 0
    while pos + _LENGTH.size <= len(data):
        (size,) = _LENGTH.unpack_from(data, pos)
        end = pos + _LENGTH.size + size
        if size == 0 or end > len(data):
            break
        blocks.append(data[pos + _LENGTH.size : end])
        pos = end
    return blocks, pos


def replace_file(path: Path, data: bytes) -> None:
    """Make ``data`` the content of ``path`` atomically, durably, even under SIGKILL."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
