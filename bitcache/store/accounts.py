"""What this process knows of the ledger's accounts, owned by one ``LedgerStore``.

:class:`AccountCache` maps account names to ids and specs (and ids back to
names) as this process has read or created them, and keeps the balances it
last wrote (:class:`BalanceCache`). The store hands it to each write pipeline
(:class:`~bitcache.store.writer.BatchWriter`), so the writer uses the caches
through these methods and never reaches into the store. Accounts are never
deleted or renamed, so a name once seen keeps its id; a transaction that did
not commit may have created some, hence :meth:`AccountCache.forget`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection, text

from bitcache.core.accounts import AccountKind, AccountSpec
from bitcache.core.balances import Balance
from bitcache.errors import AccountConflict, UnknownAccount
from bitcache.store import rows
from bitcache.store.driver import fetch_in

_INSERT_ACCOUNTS = text(
    "INSERT INTO accounts (name, kind, debit_normal, limited, posted, "
    "pending_debits, pending_credits) VALUES (:name, :kind, :dn, :lim, 0, 0, 0)"
)


class BalanceCache:
    """Balances as this process last wrote them, valid only at the journal head it wrote.

    Every change of any balance appends to the journal, so if the head found
    at the start of a write transaction is the head this process produced,
    no one else has written since and the cached balances are exact; any
    other head (another writer, or our own transaction rolled back) drops the
    cache. Used only under the ledger's writer lock. Bounded in size.
    """

    LIMIT = 200_000

    def __init__(self) -> None:
        self._head: tuple[int, bytes] | None = None
        self._balances: dict[str, Balance] = {}

    def valid_at(self, head: tuple[int, bytes]) -> dict[str, Balance] | None:
        """The cached balances if ``head`` is the head they belong to, else None (and forget)."""
        if head == self._head:
            return self._balances
        self._head, self._balances = None, {}
        return None

    def update(self, head: tuple[int, bytes], changed: dict[str, Balance]) -> None:
        """Record the balances a transaction is about to commit, at its new head."""
        if len(self._balances) + len(changed) > self.LIMIT:
            self._balances = {}
        self._balances.update(changed)
        self._head = head


class AccountCache:
    """Account name -> id and spec, id -> name, and the last written balances."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._specs: dict[str, AccountSpec] = {}
        self._names: dict[int, str] = {}
        self.balances = BalanceCache()

    def forget(self) -> None:
        """Drop everything: a transaction that created accounts did not commit."""
        self._ids, self._specs, self._names = {}, {}, {}
        self.balances = BalanceCache()

    @property
    def ids(self) -> Mapping[str, int]:
        """Account name -> id for the accounts seen so far."""
        return self._ids

    @property
    def specs(self) -> Mapping[str, AccountSpec]:
        """Account name -> spec for the accounts seen so far."""
        return self._specs

    def name_map(self) -> dict[int, str]:
        """The cached id -> name map, for the entry readers of :mod:`~bitcache.store.rows`,
        which refresh it themselves when they meet an id it lacks."""
        return self._names

    def names(self, conn: Connection) -> dict[int, str]:
        """Every account id -> name, complete as of this transaction."""
        if not self._names or conn.execute(
            text("SELECT count(*) FROM accounts")
        ).scalar_one() != len(self._names):
            self._names.update(rows.account_names(conn))
        return self._names

    def spec(self, conn: Connection | None, name: str) -> AccountSpec | None:
        """The spec of ``name``, read on first use when ``conn`` is given (None if absent)."""
        if name not in self._specs and conn is not None:
            self._read(conn, [name])
        return self._specs.get(name)

    def load(self, conn: Connection, names: Iterable[str]) -> None:
        """Read the specs and ids of those ``names`` not yet known (absent ones are skipped)."""
        self._read(conn, [n for n in names if n not in self._ids])

    def id_of(self, conn: Connection, name: str) -> int:
        """Id of an account, read on first use (UnknownAccount if absent)."""
        if name not in self._ids:
            self._read(conn, [name])
        if name not in self._ids:
            raise UnknownAccount(f"account {name!r} does not exist")
        return self._ids[name]

    def open(self, conn: Connection, specs: Iterable[AccountSpec]) -> None:
        """Create the accounts of ``specs`` that do not exist (inside a write transaction);
        one that exists with another kind or limit is refused."""
        specs = list(specs)
        wanted = {s.name: s for s in specs if s.name not in self._ids}
        if wanted:
            self._read(conn, list(wanted))
            missing = [s for n, s in wanted.items() if n not in self._ids]
            if missing:
                conn.execute(_INSERT_ACCOUNTS, [
                    {"name": s.name, "kind": s.kind.value, "dn": s.kind.debit_normal,
                     "lim": s.limited} for s in missing])
                self._read(conn, [s.name for s in missing])
        for s in specs:
            _check_spec(s, self._specs[s.name])

    def _read(self, conn: Connection, names: Sequence[str]) -> None:
        sql = "SELECT id, name, kind, limited FROM accounts WHERE name IN ({})"
        for aid, name, kind, limited in fetch_in(conn, sql, names):
            spec = AccountSpec(str(name), AccountKind(kind), bool(limited))
            self._ids[spec.name] = int(aid)
            self._specs[spec.name] = spec
            self._names[int(aid)] = spec.name


def _check_spec(want: AccountSpec, have: AccountSpec) -> None:
    if want != have:
        raise AccountConflict(
            f"account {want.name} exists as limited={have.limited}, "
            f"asked for limited={want.limited}"
        )
