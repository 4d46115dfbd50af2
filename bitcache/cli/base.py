"""Shared parts of the command line: the Typer apps, options, exit codes, output, errors."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

from bitcache.cli.node import CONFIG_FILE as CONFIG_FILE
from bitcache.cli.node import KEY_FILE as KEY_FILE
from bitcache.cli.node import SEED_FILE as SEED_FILE
from bitcache.cli.node import NodeConfig as NodeConfig
from bitcache.cli.node import absolute, sqlite_file
from bitcache.errors import (
    BitcacheError,
    ChainError,
    InvalidConfig,
    InvalidInput,
    ReorgTooDeep,
    StoreError,
)

if TYPE_CHECKING:
    from bitcache.store.ledger import LedgerStore

app = typer.Typer(
    help="bitcache: pay file uploaders in bitcoin.",
    no_args_is_help=True,
    # A traceback's local variables could hold a passphrase or a mnemonic.
    pretty_exceptions_show_locals=False,
)


def _show_version(value: bool) -> None:
    if value:
        from bitcache import __version__

        print(f"bitcache {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="print the version and exit", is_eager=True, callback=_show_version
        ),
    ] = False,
    log_level: Annotated[
        str | None,
        typer.Option(help="debug, info, warning or error", envvar="BITCACHE_LOG_LEVEL"),
    ] = None,
    log_format: Annotated[
        str | None, typer.Option(help="text or json", envvar="BITCACHE_LOG_FORMAT")
    ] = None,
    log_file: Annotated[
        Path | None,
        typer.Option(help="append logs here instead of standard error", envvar="BITCACHE_LOG_FILE"),
    ] = None,
) -> None:
    """bitcache: pay file uploaders in bitcoin."""
    with _errors():
        _setup_logging(log_level, log_format, log_file)


def _setup_logging(level: str | None, fmt: str | None, file: Path | None) -> None:
    """Log as the options (or ``BITCACHE_LOG_*``) say, else as the ``logging`` settings of
    the node named by ``BITCACHE_HOME`` say; with neither, bitcache logs nothing."""
    from bitcache.cli.opsconfig import has_log_settings, log_settings
    from bitcache.telemetry.logs import LogFormat, LogSettings, check_level, configure_logging

    home = Path(os.environ.get("BITCACHE_HOME") or DEFAULT_HOME)
    base = None
    if has_log_settings(home):
        with contextlib.suppress(InvalidConfig):  # the command reports it, in its format
            base = log_settings(home)
    if level is None and fmt is None and file is None and base is None:
        return
    base = base or LogSettings()
    try:
        chosen = LogFormat(fmt) if fmt is not None else base.format
    except ValueError as exc:
        raise InvalidInput(f"--log-format must be text or json, got {fmt!r}") from exc
    settings = LogSettings(
        chosen,
        check_level(level) if level is not None else base.level,
        absolute(file) if file is not None else base.file,
    )
    configure_logging(settings)


db_app = typer.Typer(help="Database schema.")


app.add_typer(db_app, name="db")


#: Width used when standard output is not a terminal: wide enough that no value is broken.
UNWRAPPED_WIDTH = 100_000


class _Console(Console):
    """A rich console that wraps lines only on a terminal.

    Piped into a file or a log, a long value (an xpub, a txid, a URL) is
    never broken across lines, so what is copied from the log is whole.
    """

    @property
    def size(self) -> ConsoleDimensions:
        found = Console.size.fget(self)  # type: ignore[attr-defined]
        if self.is_terminal:
            return found  # type: ignore[no-any-return]
        return ConsoleDimensions(UNWRAPPED_WIDTH, found.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


console = _Console()


#: Errors are one line each: a terminal folds a long one, never rich.
err_console = _Console(stderr=True, soft_wrap=True)


EXIT_CHECK_FAILED = 1


EXIT_REFUSED = 2


EXIT_BACKEND = 3


#: ``settle``: a settlement is not moving (broadcast refused, or unconfirmed too long).
EXIT_STALLED = 4
#: ``settle``: a credited deposit left the best chain and nobody acknowledged it.
EXIT_REORG = 5



PASSPHRASE_ENV = "BITCACHE_PASSPHRASE"


HomeOption = Annotated[
    Path, typer.Option("--home", help="node folder made by `bitcache init`", envvar="BITCACHE_HOME")
]


DbOption = Annotated[str, typer.Option("--db", help="database URL", envvar="BITCACHE_DB")]


OptDb = Annotated[
    str | None,
    typer.Option("--db", help="database URL (default: the node's)", envvar="BITCACHE_DB"),
]


JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


DEFAULT_HOME = Path("bitcache-node")


def _fail(exc: BitcacheError, as_json: bool = False) -> typer.Exit:
    """Report ``exc`` on one line (standard error; with --json, standard output) and its code."""
    code = EXIT_BACKEND if isinstance(exc, StoreError | ChainError) else EXIT_REFUSED
    message = " ".join(str(exc).split())
    if isinstance(exc, ReorgTooDeep):
        code = EXIT_REORG
    if as_json:
        print(json.dumps({"ok": False, "error": type(exc).__name__, "message": message}))
    else:
        err_console.print(f"[red]error:[/red] {type(exc).__name__}: {escape(message)}")
    return typer.Exit(code)


@contextmanager
def _errors(as_json: bool = False) -> Iterator[None]:
    """Turn bitcache errors into the documented exit codes.

    A path the system refuses (a name too long, no permission) is the
    operator's input too: it is reported as InvalidInput, never a traceback.
    """
    try:
        yield
    except BitcacheError as exc:
        raise _fail(exc, as_json) from exc
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        refused = InvalidInput(f"cannot use{where}: {exc.strerror or exc}")
        raise _fail(refused, as_json) from exc


def _iso(us: int | None) -> str | None:
    """A time stored in µs since the epoch as ISO 8601 in UTC (``…Z``); None stays None."""
    from bitcache.clock import iso_utc

    return None if us is None else iso_utc(us)


def _emit(data: object) -> None:
    print(json.dumps(data, sort_keys=True))


def _bar(disable: bool) -> Progress:
    """A progress bar on standard error, shown only when that is a terminal (not in logs)."""
    err = Console(stderr=True)
    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=disable or not err.is_terminal,
    )


def _passphrase(confirm: bool = False) -> str:
    found = os.environ.get(PASSPHRASE_ENV)
    if found:
        return found
    if not sys.stdin.isatty():
        raise InvalidInput(f"no passphrase: set {PASSPHRASE_ENV} or run in a terminal")
    return str(typer.prompt("passphrase", hide_input=True, confirmation_prompt=confirm))


def refuse_missing_database(db: str) -> None:
    """A SQLite file that does not exist is refused (InvalidInput), never created empty: a
    moved or unmounted database must not become a fresh ledger with every balance at 0."""
    found = sqlite_file(db)
    if found is not None and not found.exists():
        raise InvalidInput(
            f"no database at {found}: check --db (BITCACHE_DB) or the node's database.url, "
            "or create one with `bitcache init` or `bitcache db upgrade --db URL`"
        )


def _ledger(db: str, migrate: bool = False) -> LedgerStore:
    """Open the ledger; a SQLite file that does not exist is refused, never created empty."""
    from bitcache.store.ledger import LedgerStore

    if not migrate:
        refuse_missing_database(db)
    return LedgerStore.open(db, migrate=migrate)


def _node_db(home: Path, db: str | None) -> str:
    """The database: ``--db`` (``BITCACHE_DB``) if given, else the node folder's."""
    if db:
        return db
    from bitcache.config.loader import config_path

    if not config_path(home).exists():
        raise InvalidConfig(
            f"which database? {absolute(home) / CONFIG_FILE} does not exist: pass --db URL "
            "(BITCACHE_DB), or point --home (BITCACHE_HOME) at a node folder made by "
            "`bitcache init`"
        )
    return NodeConfig.load(home).db
