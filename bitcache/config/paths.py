"""Files and URLs of a node folder: paths resolved against it, database URLs, secrets.

Paths inside the node folder are stored relative to it and every relative
path is resolved against the folder, never the current one, so a node works
from any current directory and survives being moved or restored from a
backup. A database URL is printed with its password masked.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bitcache.errors import InvalidInput


def absolute(path: Path, base: Path | None = None) -> Path:
    """``path`` made absolute: against ``base`` if given, else the current folder. A leading
    ``~`` or ``~user`` is expanded; ``~name`` of no user stays as written, as in a shell
    (pathlib's expanduser would raise RuntimeError)."""
    path = Path(os.path.expanduser(path))
    return Path(os.path.abspath(path if base is None else base / path))


def inside(path: Path, home: Path) -> str:
    """``path`` relative to ``home`` when it lies inside it, else as given."""
    try:
        return str(path.relative_to(home))
    except ValueError:
        return str(path)


def read_file(path: Path, what: str) -> bytes:
    """The bytes of a file the operator named; InvalidInput saying why it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def read_secret(path: Path, what: str) -> str:
    """A one-line secret from a file (its trailing newline dropped); never echoed."""
    try:
        text = read_file(path, what).decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} {path} is not UTF-8 text") from exc
    if not text:
        raise InvalidInput(f"{what} {path} is empty")
    return text


def shown_url(url: str) -> str:
    """A database URL fit to print: its password masked."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "a URL with a password" if "@" in url else repr(url)


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for another engine or an in-memory database."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(f"database URL {shown_url(url)} is malformed") from exc
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def with_sqlite_file(url: str, path: Path | str) -> str:
    """``url`` with its SQLite file replaced by ``path``."""
    return make_url(url).set(database=str(path)).render_as_string(hide_password=False)


def resolve_db(url: str, base: Path) -> str:
    """``url`` with a relative SQLite file resolved against ``base``."""
    found = sqlite_file(url)
    if found is None or found.is_absolute():
        return url
    return with_sqlite_file(url, absolute(found, base))


def stored_db(url: str, home: Path) -> str:
    """``url`` as the node folder stores it: a SQLite file inside ``home`` relative to it."""
    found = sqlite_file(url)
    return url if found is None else with_sqlite_file(url, inside(found, home))
