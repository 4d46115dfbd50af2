"""Reading a node's configuration: ``bitcache.toml``, the environment, and ``config.json``.

This module reads and checks each value; :func:`bitcache.config.node.load`
puts them together into a :class:`~bitcache.config.node.NodeConfig` and
checks the whole.

Order, last wins: the defaults, the file, then ``BITCACHE_<SECTION>_<KEY>``
environment variables (``BITCACHE_DATABASE_URL``,
``BITCACHE_SETTLEMENT_MAX_IN_FLIGHT``…; an empty variable counts as unset).
Every value is checked for its kind, unknown sections and keys (in the file,
and ``BITCACHE_<SECTION>_…`` variables of a known section) are refused by
name, and then the whole is checked as the library would (the chain backend
against the network, the payout fee floor against its ceiling…), so a bad
configuration fails when it is loaded, with
:class:`~bitcache.errors.InvalidConfig` naming the key, never later in a job.

A node folder made before ``bitcache.toml`` holds ``config.json``: it is
read the same way (its fields mapped onto the sections) while no
``bitcache.toml`` exists; ``bitcache config migrate`` writes the TOML file.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bitcache.config.paths import absolute
from bitcache.config.sections import SECTIONS, keys_of
from bitcache.config.spec import Spec, checked, from_env
from bitcache.errors import InvalidConfig

#: The node folder's configuration file, and the one nodes made before it kept.
CONFIG_FILE = "bitcache.toml"
LEGACY_CONFIG_FILE = "config.json"

ENV_PREFIX = "BITCACHE_"
#: Keys without a usable default: ``bitcache init`` writes them.
REQUIRED = (("node", "network"), ("node", "account_xpub"))
#: ``config.json`` fields, and the ``[chain]`` keys its ``chain`` object's fields became.
_LEGACY_FIELDS = ("network", "db", "chain", "account_xpub", "confirmations")
_LEGACY_CHAIN = {"kind": "backend", "url": "url", "path": "path", "rpc_user": "rpc_user",
                 "rpc_password_file": "rpc_password_file", "rpc_cookie_file": "rpc_cookie_file"}


def env_name(section: str, name: str) -> str:
    """The environment variable that overrides ``section.name``."""
    return f"{ENV_PREFIX}{section}_{name}".upper()


def config_path(home: Path) -> Path:
    """The file a node folder's configuration is read from (``config.json`` only when a
    folder has no ``bitcache.toml`` but has one)."""
    folder = absolute(home)
    toml = folder / CONFIG_FILE
    legacy = folder / LEGACY_CONFIG_FILE
    return legacy if not toml.exists() and legacy.exists() else toml


def read_toml(path: Path) -> dict[str, Any]:
    """The tables of a ``bitcache.toml``; InvalidConfig saying why it cannot be read."""
    if not path.is_file():
        raise InvalidConfig(
            f"{path} does not exist: run `bitcache init --home {path.parent}` first, "
            "or point --home (BITCACHE_HOME) at the node folder"
        )
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidConfig(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidConfig(f"{path} is not UTF-8 text") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InvalidConfig(f"{path} is not valid TOML: {exc}") from exc


def read_legacy(path: Path) -> dict[str, Any]:
    """A ``config.json`` (made before ``bitcache.toml``) mapped onto the TOML sections."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidConfig(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidConfig(f"{path} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise InvalidConfig(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from exc
    if not isinstance(raw, dict):
        raise InvalidConfig(f"{path} must hold a JSON object, not {type(raw).__name__}")
    unknown = sorted(set(raw) - set(_LEGACY_FIELDS))
    missing = [name for name in _LEGACY_FIELDS if name not in raw]
    if unknown or missing:
        what = f"lacks {', '.join(missing)}" if missing else f"has unknown {', '.join(unknown)}"
        raise InvalidConfig(f"{path} {what} (written by `bitcache init`)",
                            key=(missing or unknown)[0])
    chain = raw["chain"]
    if not isinstance(chain, dict) or not set(chain) <= set(_LEGACY_CHAIN):
        raise InvalidConfig(f"{path}: chain must be an object of {', '.join(_LEGACY_CHAIN)}, "
                            f"got {chain!r}", key="chain")
    return {
        "node": {"network": raw["network"], "account_xpub": raw["account_xpub"]},
        "database": {"url": raw["db"]},
        "chain": {_LEGACY_CHAIN[k]: v for k, v in chain.items() if v != ""},
        "deposits": {"confirmations": raw["confirmations"]},
    }


def from_file(raw: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """The file's values, each checked for its kind; unknown sections and keys refused."""
    values: dict[str, dict[str, Any]] = {}
    for section, table in raw.items():
        if section not in SECTIONS:
            known = ", ".join(SECTIONS)
            raise InvalidConfig(f"{section}: unknown section{where} (known: {known})",
                                key=section)
        if not isinstance(table, dict):
            raise InvalidConfig(f"{section}: expected a table [{section}]{where}", key=section)
        keys = keys_of(SECTIONS[section])
        values[section] = {}
        for name, value in table.items():
            dotted = f"{section}.{name}"
            if name not in keys:
                raise InvalidConfig(f"{dotted}: unknown key{where} (known: {', '.join(keys)})",
                                    key=dotted)
            values[section][name] = _checked(keys[name].metadata["spec"], dotted, value, where)
    return values


def _checked(kind: Spec, dotted: str, value: object, where: str) -> object:
    try:
        return checked(kind, dotted, value)
    except InvalidConfig as exc:
        raise InvalidConfig(f"{exc}{where}", key=dotted) from None


def from_env_vars(
    values: dict[str, dict[str, Any]], environ: Mapping[str, str]
) -> tuple[str, ...]:
    """Apply ``BITCACHE_<SECTION>_<KEY>`` variables to ``values``; the names applied."""
    applied = []
    by_name = {env_name(s, k): (s, k) for s, cls in SECTIONS.items() for k in keys_of(cls)}
    prefixes = {env_name(s, ""): s for s in SECTIONS}
    for variable in sorted(environ):
        text = environ[variable]
        if variable not in by_name:
            section = next((s for p, s in prefixes.items() if variable.startswith(p)), None)
            if section is not None and text:
                known = ", ".join(env_name(section, k) for k in keys_of(SECTIONS[section]))
                raise InvalidConfig(f"{variable}: no such setting (known: {known})",
                                    key=variable)
            continue
        if not text:
            continue
        section, name = by_name[variable]
        kind = keys_of(SECTIONS[section])[name].metadata["spec"]
        try:
            value = from_env(kind, f"{section}.{name}", text)
        except InvalidConfig as exc:
            raise InvalidConfig(f"{exc} (from {variable})", key=f"{section}.{name}") from None
        values.setdefault(section, {})[name] = value
        applied.append(variable)
    return tuple(applied)
