"""``bitcache serve`` and ``bitcache keys create|list|revoke``: the HTTP service, its keys."""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import sys
from dataclasses import replace
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
    refuse_missing_database,
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
    login_url: Annotated[str | None, typer.Option(
        help="the service's URL (http://host:port): also print the key's web login link")] = None,
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    as_json: JsonOption = False,
) -> None:
    """Make an API key and print it once: only its hash is stored."""
    from bitcache.serve.keys import create_key
    from bitcache.serve.web.session import login_link

    with _errors(as_json):
        made = create_key(_ledger(_node_db(home, db)), scope, label, now_us())
    scopes = [str(s) for s in made.scopes]
    link = None if login_url is None else login_link(made.key, login_url)
    if as_json:
        _emit({"ok": True, "key": made.key, "key_id": made.key_id, "scopes": scopes,
               **({} if link is None else {"login_link": link})})
        return
    print(made.key)
    if link is not None:
        print(link)
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
    settlement = cfg.settlement_config()
    return NodeParts(cfg.watch_only(), cfg.chain_backend, cfg.confirmations, key,
                     payout=settlement.payout, stall_after_blocks=settlement.stall_after_blocks)


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
    retry_seconds: Annotated[float | None, typer.Option(
        help="how long a charge retries through a database outage, with the same key "
        "(0: no retry; default: serve.retry_seconds, 10)")] = None,
    public_metrics: Annotated[bool, typer.Option(
        help="serve /metrics without an API key (else an operator key is needed)")] = False,
    charging_process: Annotated[bool | None, typer.Option(
        "--charging-process/--no-charging-process",
        help="charge downloads in a second process, beside the HTTP one (default: "
        "serve.charging_process, on)")] = None,
    deliver_events: Annotated[bool, typer.Option(
        help="deliver the events to the node's webhooks from this process too")] = False,
    deliver_every: Annotated[float, typer.Option(
        min=1, help="seconds between delivery rounds (with --deliver-events)")] = 30.0,
) -> None:
    """Run the HTTP service and download gate (see docs/serve.md).

    Every option defaults to the serve section of the node's bitcache.toml
    (holds.policy for --hold-policy); with --json a refusal is one JSON document
    (the server itself prints nothing there).
    """
    import uvicorn

    from bitcache.core.files import HoldPolicy
    from bitcache.hooks import Hooks
    from bitcache.retry import RetryPolicy
    from bitcache.serve.app import create_app
    from bitcache.serve.collector import settle_collector
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
        options = ServeOptions(  # checked before anything is written
            folder.resolve(), b"", link_base or conf.link_base,
            accel_prefix or conf.accel_prefix,
            key_cache_seconds=conf.key_cache_seconds if key_cache_seconds is None
            else key_cache_seconds,
            public_metrics=public_metrics,
            charging_process=conf.charging_process if charging_process is None
            else charging_process,
        )
        retrying = conf.retry_seconds if retry_seconds is None else retry_seconds
        if not 0 <= retrying <= 3600:  # NaN too
            raise InvalidInput(f"--retry-seconds (serve.retry_seconds) is 0 (no retry) to "
                               f"3600, got {retrying!r}")
        retry = RetryPolicy(deadline_s=retrying) if retrying != 0 else None
        where_host, where_port = host or conf.host, conf.port if port is None else port
        check_listen(where_host, where_port)
        refuse_missing_database(db or cfg.db)  # migrated when it exists, never made empty
        options = replace(options, link_secret=link_secret(home))
        hooks = Hooks.open(db or cfg.db, **{**cfg.hooks_options(),
                                           "hold_policy": HoldPolicy(policy), "retry": retry})
        parts = _node_parts(cfg)
        if deliver_events:
            from bitcache.cli.events_commands import webhooks_from_settings

            webhooks = webhooks_from_settings(home, hooks.ledger)
            parts = dataclasses.replace(parts, webhooks=webhooks, deliver_every_s=deliver_every)
        service = Service(hooks, options, parts)
        app_ = create_app(service)
    print(f"bitcache serve on http://{where_host}:{where_port} (files in {options.files})",
          file=sys.stderr, flush=True)
    settle_collector()  # start-up's objects out of the collector (serve/collector.py)
    # proxy_headers off: uvicorn would take the client from an X-Forwarded-For that nginx
    # passes on from the client, so a client could pick the address its failures count
    # against. The service reads nginx's X-Real-IP itself (serve/auth.py client_of).
    uvicorn.run(app_, host=where_host, port=where_port, access_log=False, log_level="warning",
                server_header=False, proxy_headers=False)


def check_listen(host: str, port: int) -> None:
    """Refuse a port out of range, or an address this machine cannot listen on (InvalidInput).

    Checked before the database is opened, so a mistyped ``--host`` or a port in use is a
    one-line refusal instead of the server's own start-up error.
    """
    if not 1 <= port <= 65535:
        raise InvalidInput(f"--port {port} is not a TCP port (1-65535)")
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"--host {host[:80]!r} is not an address: {exc}") from None
    family, kind, proto, _, address = found[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror}") from None
