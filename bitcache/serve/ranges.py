"""HTTP Range requests (RFC 9110 §14): the bytes a download asks for, so it is charged for them.

``bytes=0-99``, ``bytes=100-``, ``bytes=-500`` and lists of them. The
charge is for the sum of the ranges' lengths, as the host will send each
one (a multipart answer repeats overlapping bytes); a request asking at
least the whole file is a whole download. A Range header that is not
``bytes=`` ranges, or none of whose ranges starts inside the file, is
refused as not satisfiable (nothing is charged).

The grammar is nginx's, because nginx serves the bytes after the charge
and reads the same header again: the prefix is exactly ``bytes=`` (any
case), only spaces may stand around the numbers, and a position past
nginx's largest file offset (2^63 - 1) is refused. A header nginx would
ignore (``bytes =0-9``: it sends the whole file) or refuse (a tab, a
20-digit position: 416) is refused here before any charge, so a charge is
never for other bytes than nginx then sends.

A range set has a text form (``0-99,200-299``, absolute, inclusive) that
records what a link paid for; a later request is covered by it when each of
its ranges lies inside the ranges paid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bitcache.errors import RangeNotSatisfiable

_SPEC = re.compile(r" *([0-9]*) *- *([0-9]*) *")  # nginx skips spaces only
MAX_RANGES = 64
MAX_OFFSET = 2**63 - 1  # nginx's largest off_t: a position past it is refused (416)


@dataclass(frozen=True, slots=True)
class ByteRanges:
    """Inclusive ``(first, last)`` byte ranges of a ``size``-byte file, in the order asked."""

    spans: tuple[tuple[int, int], ...]
    size: int

    @property
    def length(self) -> int:
        """The bytes the ranges ask for (overlaps counted each time)."""
        return sum(last - first + 1 for first, last in self.spans)

    @property
    def whole(self) -> bool:
        """Whether the ranges ask at least the whole file: a whole download."""
        return self.length >= self.size

    def text(self) -> str:
        """The recorded form, e.g. ``0-99,200-299``."""
        return ",".join(f"{first}-{last}" for first, last in self.spans)

    def within(self, paid: ByteRanges) -> bool:
        """Whether every byte asked here lies inside ``paid``'s ranges."""
        merged = _merge(paid.spans)
        return all(any(a <= first and last <= b for a, b in merged) for first, last in self.spans)

    @classmethod
    def from_text(cls, text: str, size: int) -> ByteRanges:
        """Ranges recorded with :meth:`text`."""
        spans = []
        for part in text.split(","):
            first, _, last = part.partition("-")
            spans.append((int(first), int(last)))
        return cls(tuple(spans), size)


def _merge(spans: tuple[tuple[int, int], ...]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for first, last in sorted(spans):
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def parse_range(header: str | None, size: int) -> ByteRanges | None:
    """The ranges a Range header asks of a ``size``-byte file; None for no header (whole file)."""
    if header is None:
        return None
    spec = header[6:]
    parts = spec.split(",")
    if header[:6].lower() != "bytes=" or not spec or len(parts) > MAX_RANGES:
        raise RangeNotSatisfiable("the Range header must be bytes=<first>-<last>[, …]")
    spans = [span for part in parts if (span := _span(part, size)) is not None]
    if not spans:
        raise RangeNotSatisfiable(f"no range of the Range header lies within the file "
                                  f"({size} bytes)")
    return ByteRanges(tuple(spans), size)


def _span(part: str, size: int) -> tuple[int, int] | None:
    """One range resolved against the size; None when it starts past the end."""
    found = _SPEC.fullmatch(part)
    if found is None or found.group(0).strip() == "-":
        raise RangeNotSatisfiable(f"malformed byte range {part.strip()[:40]!r}")
    first_text, last_text = found.groups()
    if not first_text:  # a suffix: the last n bytes
        count = _offset(last_text)
        return None if count == 0 or size == 0 else (max(size - count, 0), size - 1)
    first = _offset(first_text)
    end = _offset(last_text) if last_text else size - 1
    if end < first and last_text:
        raise RangeNotSatisfiable(f"byte range {part.strip()[:40]!r} ends before it starts")
    return None if first >= size else (first, min(end, size - 1))


def _offset(digits: str) -> int:
    """A byte position, refused past nginx's largest offset (nginx answers 416 for it)."""
    significant = digits.lstrip("0") or "0"  # leading zeros are allowed, as nginx does
    if len(significant) > len(str(MAX_OFFSET)) or int(significant) > MAX_OFFSET:
        raise RangeNotSatisfiable(f"byte position {significant[:40]} is past the largest "
                                  f"offset ({MAX_OFFSET})")
    return int(significant)
