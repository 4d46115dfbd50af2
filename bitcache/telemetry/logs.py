"""Logging: every module logs to ``logging.getLogger(__name__)`` (under ``bitcache``).

bitcache never configures logging when imported as a library: the
application decides. The CLI and ``bitcache serve`` call
:func:`configure_logging`, which puts one handler on the ``bitcache``
logger, in text or JSON lines (one object per line: ``time`` in ISO 8601
UTC, ``level``, ``logger``, ``message``, and the record's extra fields such
as ``settlement``, ``txid``, ``event_id``).

No secret is ever passed to a logger: not a seed, key, mnemonic,
passphrase, API key or webhook secret (a test runs the demo with debug logs
and looks for them). Hot paths log refusals at debug level only after
checking ``isEnabledFor``, so a disabled level costs one comparison.
"""

from __future__ import annotations

import enum
import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from bitcache.errors import InvalidInput

ROOT = "bitcache"
LEVELS = ("debug", "info", "warning", "error")
#: Attributes every LogRecord has: anything else on a record is an ``extra`` field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class LogFormat(enum.Enum):
    """How log lines look."""

    TEXT = "text"
    JSON = "json"


def check_level(level: object) -> str:
    """``level`` (one of LEVELS, any case) in lower case; InvalidInput otherwise."""
    if not isinstance(level, str) or level.lower() not in LEVELS:
        raise InvalidInput(f"log level must be one of {', '.join(LEVELS)}, got {level!r}")
    return level.lower()


@dataclass(frozen=True, slots=True)
class LogSettings:
    """The format and level of the ``bitcache`` loggers; ``file`` None logs to stderr."""

    format: LogFormat = LogFormat.TEXT
    level: str = "warning"
    file: Path | None = None


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the record's extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat().replace(
                "+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value if isinstance(value, int | float | str | bool | None) else str(
                    value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, sort_keys=True)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _UtcFormatter(logging.Formatter):
    """Text lines with ISO 8601 UTC times."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


_configured: list[LogSettings | None] = [None]


def configured() -> LogSettings | None:
    """The settings of this process's last :func:`configure_logging` to stderr or a file
    (None if there was none): what a child process it starts logs with."""
    return _configured[0]


def configure_logging(settings: LogSettings, stream: IO[str] | None = None) -> logging.Handler:
    """Send the ``bitcache`` loggers to stderr (or ``settings.file``, or ``stream``) in the
    chosen format and level; replaces the handler an earlier call installed."""
    _configured[0] = settings if stream is None else None
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if getattr(h, "_bitcache", False)]:
        logger.removeHandler(old)
        old.close()
    handler: logging.Handler
    if settings.file is not None:
        handler = logging.FileHandler(settings.file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if settings.format is LogFormat.JSON else _UtcFormatter(TEXT_FORMAT)
    )
    setattr(handler, "_bitcache", True)  # noqa: B010 - marks the handler this module owns
    logger.addHandler(handler)
    logger.setLevel(settings.level.upper())
    logger.propagate = False
    return handler
