"""The operations settings of a node: logging, events (webhooks) and metrics.

Read from the ``[logging]``, ``[events]`` and ``[metrics]`` sections of the
node's ``bitcache.toml`` (:mod:`bitcache.config`, which checks every key and
applies the ``BITCACHE_<SECTION>_<KEY>`` environment), and turned into the
frozen settings the components take. Paths are absolute (the configuration
resolves them against the node folder).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bitcache.config.loader import config_path, read_toml
from bitcache.config.node import NodeConfig
from bitcache.errors import InvalidConfig, InvalidInput
from bitcache.telemetry.logs import LogFormat, LogSettings


@dataclass(frozen=True, slots=True)
class EventSettings:
    """Where events are delivered, with which secret, and how often to try."""

    webhook_urls: tuple[str, ...] = ()
    webhook_secret_file: Path | None = None
    max_attempts: int = 10


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """Where ``bitcache metrics`` writes for node_exporter's textfile collector."""

    textfile: Path | None = None


def has_log_settings(home: Path) -> bool:
    """Whether the node asks for logs: a ``[logging]`` section in its ``bitcache.toml``, or a
    ``BITCACHE_LOGGING_*`` variable (False for a config that cannot be read: the command
    run then reports it, in its own format)."""
    if any(name.startswith("BITCACHE_LOGGING_") for name in os.environ):
        return True
    path = config_path(home)
    if path.suffix != ".toml" or not path.is_file():
        return False
    try:
        return "logging" in read_toml(path)
    except InvalidConfig:
        return False


def log_settings(home: Path) -> LogSettings:
    """The ``[logging]`` settings."""
    section = NodeConfig.load(home).logging
    return LogSettings(LogFormat(section.format), section.level)


def event_settings(home: Path) -> EventSettings:
    """The ``[events]`` settings (no URL: nothing is delivered)."""
    from bitcache.services.webhooks import check_url  # httpx: not for every command

    section = NodeConfig.load(home).events
    try:
        urls = tuple(check_url(u) for u in section.webhook_urls)
    except InvalidInput as exc:
        raise InvalidConfig(f"events.webhook_urls: {exc}", key="events.webhook_urls") from exc
    secret = section.webhook_secret_file
    return EventSettings(urls, None if secret is None else Path(secret), section.max_attempts)


def metrics_settings(home: Path) -> MetricsSettings:
    """The ``[metrics]`` settings (no textfile unless given)."""
    textfile = NodeConfig.load(home).metrics.textfile
    return MetricsSettings(None if textfile is None else Path(textfile))
