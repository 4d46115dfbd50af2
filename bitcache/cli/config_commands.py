"""``bitcache config show|check|migrate``: the node's configuration file, as in effect.

``show`` prints the effective configuration (the file with the environment's
overrides applied), the database password masked; ``check`` loads it, then
tries what it names (the database, the chain backend, the files it points
at); ``migrate`` writes ``bitcache.toml`` for a node made with ``config.json``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from bitcache.cli.base import (
    DEFAULT_HOME,
    EXIT_BACKEND,
    EXIT_CHECK_FAILED,
    HomeOption,
    JsonOption,
    _emit,
    _errors,
    _ledger,
    app,
    console,
)
from bitcache.cli.node import CONFIG_FILE, KEY_FILE, LEGACY_CONFIG_FILE, SEED_FILE, NodeConfig
from bitcache.errors import BitcacheError, InvalidConfig, InvalidInput

config_app = typer.Typer(help="The node's configuration file, bitcache.toml.")
app.add_typer(config_app, name="config")

#: What ``config migrate`` renames ``config.json`` to, so that one file is read.
MIGRATED_SUFFIX = ".migrated"


@config_app.command("show")
def config_show(home: HomeOption = DEFAULT_HOME, as_json: JsonOption = False) -> None:
    """Print the effective configuration (file + environment), secrets masked."""
    from bitcache.config.render import shown, toml_value

    with _errors(as_json):
        cfg = NodeConfig.load(home)
    values = shown(cfg)
    source = str(cfg.source) if cfg.source else None
    if as_json:
        _emit({"source": source, "overridden": list(cfg.overridden), "config": values})
        return
    print(f"# {source}" + (f", overridden by {', '.join(cfg.overridden)}"
                           if cfg.overridden else ""))
    for section, keys in values.items():
        print(f"\n[{section}]")
        for name, value in keys.items():
            print(f"# {name} =" if value is None else f"{name} = {toml_value(value)}")


@dataclass(frozen=True, slots=True)
class Check:
    """One thing ``config check`` tried: its name, whether it worked, what it found."""

    name: str
    ok: bool
    detail: str
    backend: bool = False  # a failure is the database's or the chain's (exit 3)


def _try(name: str, run: Callable[[], str], backend: bool = False) -> Check:
    try:
        return Check(name, True, run(), backend)
    except (BitcacheError, OSError) as exc:
        return Check(name, False, f"{type(exc).__name__}: {' '.join(str(exc).split())}",
                     backend)


def _database(cfg: NodeConfig) -> str:
    from bitcache.config.paths import shown_url

    _ledger(cfg.db).close()
    return f"{shown_url(cfg.db)}: reachable, schema current"


def _chain(cfg: NodeConfig) -> str:
    with cfg.chain_backend() as chain:
        tip = chain.tip()
    return f"{cfg.chain.backend} answers: tip {tip.height} {tip.block_hash}"


def _file(path: str | Path, what: str, folder: bool = False) -> Callable[[], str]:
    def run() -> str:
        found = Path(path)
        if not (found.is_dir() if folder else found.is_file()):
            raise InvalidInput(f"{what} {found} is not {'a folder' if folder else 'a file'}")
        if not folder and not os.access(found, os.R_OK):
            raise InvalidInput(f"{what} {found} cannot be read")
        return f"{found}"

    return run


def _checks(cfg: NodeConfig) -> list[Check]:
    """Every check ``config check`` runs on a configuration that loaded."""
    c = cfg.chain
    found = [
        _try("wallet.seed", _file(cfg.home / SEED_FILE, "the sealed seed")),
        _try("platform.key", _file(cfg.home / KEY_FILE, "the platform key")),
        _try("database", lambda: _database(cfg), backend=True),
    ]
    for name, value, folder in (
        ("chain.rpc_password_file", c.rpc_password_file, False),
        ("chain.rpc_cookie_file", c.rpc_cookie_file, False),
        ("serve.files", cfg.serve.files, True),
        ("events.webhook_secret_file", cfg.events.webhook_secret_file, False),
    ):
        if value:
            found.append(_try(name, _file(value, name, folder)))
    if cfg.metrics.textfile:
        found.append(_try("metrics.textfile", _file(Path(cfg.metrics.textfile).parent,
                                                    "the folder of metrics.textfile", True)))
    found.append(_try("chain", lambda: _chain(cfg), backend=True))
    return found


@config_app.command("check")
def config_check(home: HomeOption = DEFAULT_HOME, as_json: JsonOption = False) -> None:
    """Check the configuration, then what it names: the database, the chain backend, files.

    Exit 2 when the file is invalid (the key is named), 3 when the database or the
    chain backend does not answer, 1 when a file it names is missing, else 0.
    """
    with _errors(as_json):
        cfg = NodeConfig.load(home)
    found = [Check("config", True, f"{cfg.source}: valid"), *_checks(cfg)]
    ok = all(c.ok for c in found)
    if as_json:
        _emit({"ok": ok, "source": str(cfg.source), "overridden": list(cfg.overridden),
               "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in found]})
    else:
        table = Table("check", "result", "detail", title=f"config check: {cfg.home}")
        for c in found:
            table.add_row(c.name, "[green]ok[/green]" if c.ok else "[red]FAILED[/red]",
                          escape(c.detail))
        console.print(table)
    if any(not c.ok and c.backend for c in found):
        raise typer.Exit(EXIT_BACKEND)
    if not ok:
        raise typer.Exit(EXIT_CHECK_FAILED)


@config_app.command("migrate")
def config_migrate(home: HomeOption = DEFAULT_HOME, as_json: JsonOption = False) -> None:
    """Write bitcache.toml from a node's config.json (renamed config.json.migrated).

    The environment's overrides are not written into the file. Refused when the node
    already has a bitcache.toml.
    """
    from bitcache.config.loader import read_legacy
    from bitcache.config.node import build
    from bitcache.config.paths import absolute
    from bitcache.config.render import save

    with _errors(as_json):
        folder = absolute(home)
        legacy, target = folder / LEGACY_CONFIG_FILE, folder / CONFIG_FILE
        if target.exists():
            raise InvalidInput(f"{target} exists: this node is migrated already")
        if not legacy.is_file():
            raise InvalidConfig(f"{legacy} does not exist: nothing to migrate", key=None)
        cfg = build(read_legacy(legacy), folder, legacy, environ={})
        written = save(cfg)
        renamed = legacy.with_name(LEGACY_CONFIG_FILE + MIGRATED_SUFFIX)
        os.replace(legacy, renamed)
    if as_json:
        _emit({"ok": True, "written": str(written), "renamed": str(renamed)})
    else:
        console.print(f"wrote {escape(str(written))}; the old file is now "
                      f"{escape(str(renamed))}", soft_wrap=True)
