"""The node folder as the command line sees it: its files, and writing an operator's file.

The configuration itself (``bitcache.toml``, the environment, an older
``config.json``) is read by :mod:`bitcache.config`, which ``bitcache serve``
and the library share; its names are re-exported here for the commands.
"""

from __future__ import annotations

import os
from pathlib import Path

from bitcache.config.node import CHAIN_DIR as CHAIN_DIR
from bitcache.config.node import CONFIG_FILE as CONFIG_FILE
from bitcache.config.node import KEY_FILE as KEY_FILE
from bitcache.config.node import LEDGER_FILE as LEDGER_FILE
from bitcache.config.node import LEGACY_CONFIG_FILE as LEGACY_CONFIG_FILE
from bitcache.config.node import SEED_FILE as SEED_FILE
from bitcache.config.node import NodeConfig as NodeConfig
from bitcache.config.node import check_chain as check_chain
from bitcache.config.paths import absolute as absolute
from bitcache.config.paths import read_file as read_file
from bitcache.config.paths import read_secret as read_secret
from bitcache.config.paths import resolve_db as resolve_db
from bitcache.config.paths import shown_url as shown_url
from bitcache.config.paths import sqlite_file as sqlite_file
from bitcache.errors import InvalidInput


def write_file(path: Path, data: bytes, what: str) -> None:
    """Write ``data`` whole or not at all: a temporary file beside ``path``, then a rename."""
    if path.is_dir():
        raise InvalidInput(f"cannot write {what} to {path}: it is a folder")
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_bytes(data)
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {what} to {path}: {exc.strerror or exc}") from exc
