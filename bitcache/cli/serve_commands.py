"""``bitcache serve`` and ``bitcache keys create|list|revoke``: the HTTP service, its keys."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bitcache.cli.base import (
    DEFAULT_HOME,
    KEY_FILE,
    PASSPHRASE_ENV,
    HomeOption,
    JsonOption,
    NodeConfig,
    OptDb,
    _emit,
    _errors,
    _iso,
    _ledger,
    _node_db,
    app,
    console,
)
from bitcache.clock import now_us
from bitcache.errors import InvalidInput

if TYPE_CHECKING:
    from bitcache.serve.service import NodeParts

keys_app = typer.Typer(help="API keys of `bitcache serve` (stored as hashes).")
app.add_typer(keys_app, name="keys")

#: The node folder's file holding the secret that signs download links.
LINK_SECRET_FILE = "serve.secret"



@keys_app.command("create")
def keys_create(
    scope: Annotated[list[str], typer.Option(
        "--scope", help="storage, operator, uploader:<id> or downloader:<id> (repeat)")],
    label: Annotated[str, typer.Option(help="what the key is for")] = "",
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    as_json: JsonOption = False,
) -> None:
    """Make an API key and print it once: only its hash is stored."""
    from bitcache.serve.keys import create_key

    with _errors(as_json):
        made = create_key(_ledger(_node_db(home, db)), scope, label, now_us())
    scopes = [str(s) for s in made.scopes]
    if as_json:
        _emit({"ok": True, "key": made.key, "key_id": made.key_id, "scopes": scopes})
        return
    print(made.key)
    print(f"key id {made.key_id}, scopes {' '.join(scopes)}: store the key now, it is not "
          "shown again", file=sys.stderr)


@keys_app.command("list")
def keys_list(home: HomeOption = DEFAULT_HOME, db: OptDb = None,
              as_json: JsonOption = False) -> None:
    """Every key's id, scopes, label and state (never the key)."""
    from bitcache.serve.keys import list_keys

    with _errors(as_json):
        found = list_keys(_ledger(_node_db(home, db)))
    rows = [{"key_id": k.key_id, "scopes": list(k.scopes), "label": k.label,
             "created_at": _iso(k.created_at), "revoked_at": _iso(k.revoked_at)} for k in found]
    if as_json:
        _emit(rows)
        return
    table = Table("key id", "scopes", "label", "state")
    for r in rows:
        table.add_row(str(r["key_id"]), " ".join(r["scopes"]), str(r["label"]),  # type: ignore[arg-type]
                      "revoked" if r["revoked_at"] else "active")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key's id (12 hex digits)")],
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a key for good (servers stop accepting it within seconds)."""
    from bitcache.serve.keys import revoke_key

    with _errors(as_json):
        revoke_key(_ledger(_node_db(home, db)), key_id, now_us())
    if as_json:
        _emit({"ok": True, "key_id": key_id})
    else:
        console.print(f"key {key_id} revoked")


def link_secret(home: Path) -> bytes:
    """The node's link secret, made on first use (mode 0600, never printed)."""
    path = home / LINK_SECRET_FILE
    if not path.exists():
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_bytes()
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
    secret = path.read_bytes()
    if len(secret) < 16:
        raise InvalidInput(f"{path} is damaged: remove it to make a new one (old links stop)")
    return secret


def _node_parts(cfg: NodeConfig) -> NodeParts:
    from bitcache.serve.service import NodeParts

    key = None
    if os.environ.get(PASSPHRASE_ENV):
        from bitcache.wallet.platformkey import load_platform_key

        key = load_platform_key(cfg.home / KEY_FILE, passphrase=os.environ[PASSPHRASE_ENV])
    return NodeParts(cfg.watch_only(), cfg.chain_backend, cfg.confirmations, key)


def _listen_address(host: str, port: int) -> tuple[str, int]:
    """Refuse a port out of range or a host that does not resolve, before the server starts
    (the server would fail on them with a traceback)."""
    import socket

    if not 1 <= port <= 65535:
        raise InvalidInput(f"--port (serve.port) must be from 1 to 65535, got {port}")
    try:
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput(f"--host (serve.host) {host!r} cannot be listened on: {exc}") from exc
    return host, port


@app.command()
def serve(
    files: Annotated[Path | None, typer.Option(
        help="the host's folder of files, named by SHA-256 hex (default: serve.files)")] = None,
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    host: Annotated[str | None, typer.Option(
        help="address to listen on (default: serve.host, 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(
        help="port to listen on (default: serve.port, 8470)")] = None,
    link_base: Annotated[str | None, typer.Option(
        help="path (or URL) of download links (default: serve.link_base, /files)")] = None,
    accel_prefix: Annotated[str | None, typer.Option(
        help="nginx's internal location of the files (default: serve.accel_prefix)")] = None,
    hold_policy: Annotated[str | None, typer.Option(
        help="downloads of a held file: redirect (earnings held) or refuse (451) "
        "(default: holds.policy)")] = None,
    key_cache_seconds: Annotated[float | None, typer.Option(
        help="how long a looked-up API key is trusted (revocation delay; default: "
        "serve.key_cache_seconds, 2)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the HTTP service and download gate (see docs/serve.md).

    Every option defaults to the node's ``[serve]`` section (and ``[holds]``); with
    ``--json`` a refusal is one JSON document (the server itself prints nothing there).
    """
    import uvicorn

    from bitcache.core.files import HoldPolicy
    from bitcache.hooks import Hooks
    from bitcache.serve.app import create_app
    from bitcache.serve.service import ServeOptions, Service

    with _errors(as_json):
        cfg = NodeConfig.load(home)
        conf = cfg.serve
        policy = hold_policy or cfg.holds.policy
        if policy not in ("redirect", "refuse"):
            raise InvalidInput("--hold-policy is redirect or refuse")
        folder = files or (Path(conf.files) if conf.files else None)
        if folder is None:
            raise InvalidInput("which files? give --files DIR, or set serve.files in "
                               "bitcache.toml (the folder of files named by SHA-256)")
        if not folder.is_dir():
            raise InvalidInput(f"--files (serve.files) {folder} is not a folder")
        options = ServeOptions(
            folder.resolve(), link_secret(home), link_base or conf.link_base,
            accel_prefix or conf.accel_prefix,
            key_cache_seconds=conf.key_cache_seconds if key_cache_seconds is None
            else key_cache_seconds,
        )
        hooks = Hooks.open(db or cfg.db, **{**cfg.hooks_options(),
                                           "hold_policy": HoldPolicy(policy)})
        service = Service(hooks, options, _node_parts(cfg))
        where_host, where_port = _listen_address(host or conf.host,
                                                 conf.port if port is None else port)
    print(f"bitcache serve on http://{where_host}:{where_port} (files in {options.files})",
          file=sys.stderr, flush=True)
    uvicorn.run(create_app(service), host=where_host, port=where_port, access_log=False,
                log_level="warning", server_header=False)
