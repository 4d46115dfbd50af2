"""Writing a configuration: ``bitcache.toml`` text, and the masked view ``config show`` prints.

The file is plain TOML written by this module (the values are text, whole
numbers, true/false, numbers of seconds and lists of text, so a writer
library would add a dependency for a few lines): every key of every section,
each under a comment saying what it does; a key with no value is written
commented out, so the operator sees it exists. Paths inside the node folder
are written relative to it. Reading back what is written gives the same
configuration (tested).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from bitcache.config.loader import CONFIG_FILE
from bitcache.config.node import NodeConfig
from bitcache.config.paths import inside, shown_url, stored_db
from bitcache.config.sections import SECTIONS, keys_of

_HEADER = """\
# bitcache node configuration (see docs/operations.md).
# Every key may be overridden by BITCACHE_<SECTION>_<KEY> in the environment,
# e.g. BITCACHE_DATABASE_URL or BITCACHE_SETTLEMENT_MAX_IN_FLIGHT.
# Relative paths are taken from this folder. No secret belongs in this file:
# Bitcoin Core's password and the webhook secret are named by file.
"""


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, DEL must be escaped too."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_value(value: object) -> str:
    """One value in TOML syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return _string(str(value))


def stored_values(cfg: NodeConfig) -> dict[str, dict[str, Any]]:
    """The sections' values as the file keeps them: paths in the node folder relative to it."""
    found: dict[str, dict[str, Any]] = {}
    for section, values in cfg.sections().items():
        found[section] = {}
        for name, f in keys_of(SECTIONS[section]).items():
            value = getattr(values, name)
            if f.metadata["spec"].path and value:
                value = inside(Path(value), cfg.home)
            found[section][name] = value
    found["database"]["url"] = stored_db(cfg.db, cfg.home)
    if found["chain"]["backend"] != "regtest":
        found["chain"]["path"] = None
    return found


def to_toml(cfg: NodeConfig) -> str:
    """The text of ``bitcache.toml`` for ``cfg``."""
    lines = [_HEADER]
    for section, values in stored_values(cfg).items():
        lines.append(f"[{section}]")
        for name, f in keys_of(SECTIONS[section]).items():
            lines.append(f"# {f.metadata['doc']}")
            value = values[name]
            if value is None:
                lines.append(f"# {name} =")
            else:
                lines.append(f"{name} = {toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def save(cfg: NodeConfig) -> Path:
    """Write ``home/bitcache.toml`` whole or not at all (a temporary file, then a rename).

    Mode 0600: the account public key reveals every address, and a database
    URL may carry a password.
    """
    path = cfg.home / CONFIG_FILE
    temporary = path.with_name(f".{CONFIG_FILE}.{os.getpid()}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(to_toml(cfg))
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def shown(cfg: NodeConfig) -> dict[str, dict[str, Any]]:
    """The effective configuration fit to print: absolute paths, the database password
    masked, lists as lists (``config show``)."""
    found: dict[str, dict[str, Any]] = {}
    for section, values in cfg.sections().items():
        found[section] = {
            name: list(v) if isinstance(v, tuple) else v
            for name, v in ((n, getattr(values, n)) for n in keys_of(SECTIONS[section]))
        }
    found["database"]["url"] = shown_url(cfg.db)
    return found
