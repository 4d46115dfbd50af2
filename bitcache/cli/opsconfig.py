"""The operations settings of a node: logging, events (webhooks) and metrics.

Read from the optional ``logging``, ``events`` and ``metrics`` objects of
the node's ``config.json`` (the same keys as the ``[logging]``, ``[events]``
and ``[metrics]`` sections of ``bitcache.toml``)::

    "logging": {"format": "json", "level": "info"},
    "events": {"webhook_urls": ["https://example.org/hook"],
               "webhook_secret_file": "webhook.secret", "max_attempts": 10},
    "metrics": {"textfile": "/var/lib/node_exporter/bitcache.prom"}

Each is validated into a frozen settings object; a bad value is an
``InvalidConfig`` naming the key. Paths are relative to the node folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bitcache.cli.node import CONFIG_FILE, absolute
from bitcache.core.checks import is_int
from bitcache.errors import InvalidConfig, InvalidInput
from bitcache.telemetry.logs import LogFormat, LogSettings, check_level


@dataclass(frozen=True, slots=True)
class EventSettings:
    """Where events are delivered, with which secret, and how often to try."""

    webhook_urls: tuple[str, ...] = ()
    webhook_secret_file: Path | None = None
    max_attempts: int = 10


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Where a command writes its metrics for node_exporter's textfile collector."""

    textfile: Path | None = None


def _sections(home: Path) -> dict[str, Any]:
    path = absolute(home) / CONFIG_FILE
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidConfig(f"{path} cannot be read as JSON: {exc}") from exc
    return raw if isinstance(raw, dict) else {}


def _section(raw: dict[str, Any], name: str, keys: frozenset[str]) -> dict[str, Any]:
    found = raw.get(name, {})
    if not isinstance(found, dict):
        raise InvalidConfig(f"{CONFIG_FILE}: {name} must be an object, got {found!r}")
    unknown = sorted(set(found) - keys)
    if unknown:
        raise InvalidConfig(f"{CONFIG_FILE}: {name} has no key {', '.join(unknown)}")
    return found


def has_log_settings(home: Path) -> bool:
    """Whether the node's config has a ``logging`` section (False for a config that cannot
    be read: the command run then reports it, in its own format)."""
    try:
        return "logging" in _sections(home)
    except InvalidConfig:
        return False


def log_settings(home: Path) -> LogSettings:
    """The ``logging`` settings (defaults: text, warning)."""
    found = _section(_sections(home), "logging", frozenset({"format", "level"}))
    fmt, level = found.get("format", "text"), found.get("level", "warning")
    try:
        return LogSettings(LogFormat(fmt), check_level(level))
    except (ValueError, InvalidInput) as exc:
        raise InvalidConfig(f"{CONFIG_FILE}: logging: {exc}") from exc


def event_settings(home: Path) -> EventSettings:
    """The ``events`` settings (no URL: nothing is delivered)."""
    keys = frozenset({"webhook_urls", "webhook_secret_file", "max_attempts"})
    found = _section(_sections(home), "events", keys)
    urls = found.get("webhook_urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
        raise InvalidConfig(f"{CONFIG_FILE}: events.webhook_urls must be a list of URLs")
    from bitcache.services.webhooks import check_url  # httpx: not for every command

    try:
        checked = tuple(check_url(u) for u in urls)
    except InvalidInput as exc:
        raise InvalidConfig(f"{CONFIG_FILE}: events.webhook_urls: {exc}") from exc
    secret = found.get("webhook_secret_file")
    if secret is not None and (not isinstance(secret, str) or not secret):
        raise InvalidConfig(f"{CONFIG_FILE}: events.webhook_secret_file must be a path")
    attempts = found.get("max_attempts", 10)
    if not is_int(attempts) or attempts < 1:
        raise InvalidConfig(f"{CONFIG_FILE}: events.max_attempts must be a whole number >= 1")
    path = None if secret is None else absolute(Path(secret), absolute(home))
    return EventSettings(checked, path, attempts)


def metrics_settings(home: Path) -> MetricsSettings:
    """The ``metrics`` settings (no textfile unless given)."""
    found = _section(_sections(home), "metrics", frozenset({"textfile"}))
    textfile = found.get("textfile")
    if textfile is not None and (not isinstance(textfile, str) or not textfile):
        raise InvalidConfig(f"{CONFIG_FILE}: metrics.textfile must be a path")
    return MetricsSettings(None if textfile is None else absolute(Path(textfile), absolute(home)))
