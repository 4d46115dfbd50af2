"""Settlement tables and their SQL: payout addresses, settlements, versions, inputs,
payees, the job lock and the change-index counter.

Invariants kept by the database as well as by the job:

* an outpoint is reserved by at most one open settlement (partial unique
  index on ``settlement_inputs`` where not released);
* an uploader is a payee of at most one open settlement (partial unique
  index on ``settlement_payouts`` where open);
* a state change names the state it leaves (``UPDATE … WHERE state = :from``),
  so a stale job cannot move a settlement it no longer sees as it is;
* a state change that raises a payout event (see :mod:`bitcache.events.kinds`)
  writes it to the outbox in the same transaction (:func:`announce`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    text,
)
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from bitcache.core.scripttype import ScriptType
from bitcache.core.utxo import OutPoint
from bitcache.errors import InvalidTransition, SettlementLocked, UnknownEntry
from bitcache.events.kinds import payout_data, payout_kind, payout_subject
from bitcache.settlement.model import (
    BroadcastFailure,
    BroadcastProblem,
    ReservedPayout,
    Settlement,
    Version,
)
from bitcache.settlement.states import SettlementState, check_transition
from bitcache.store import outbox
from bitcache.tx.coinselect import SpendableCoin

LOCK_NAME = "settlement"


class PayoutAddressRow(SQLModel, table=True):
    """An uploader's payout address; the newest row is current (history is kept)."""

    __tablename__ = "payout_addresses"
    __table_args__ = (Index("ix_payout_addresses_uploader", "uploader", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    uploader: str = Field(max_length=128)
    address: str = Field(max_length=120)
    script_pubkey: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    script_type: str = Field(max_length=8)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class SettlementRow(SQLModel, table=True):
    """A settlement: its state and plan (versions, inputs, payees in their own tables)."""

    __tablename__ = "settlements"

    id: int | None = Field(default=None, primary_key=True)
    state: str = Field(max_length=16)
    fee_rate: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_height: int = Field(sa_column=Column(Integer, nullable=False))
    change_index: int = Field(sa_column=Column(Integer, nullable=False))
    anchor: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    broadcast_height: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    confirmations: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    confirmed_txid: str | None = Field(default=None, max_length=64)
    reason: str = Field(default="", max_length=500)
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    last_error: str = Field(default="", max_length=500)
    created_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: int = Field(sa_column=Column(BigInteger, nullable=False))
    #: '' while the last broadcast went through; else 'refused' or 'unreachable'
    broadcast_failure: str = Field(
        default="", sa_column=Column(String(16), nullable=False, server_default="")
    )
    broadcast_error: str = Field(
        default="", sa_column=Column(String(500), nullable=False, server_default="")
    )
    broadcast_failed_since: int | None = Field(
        default=None, sa_column=Column(Integer, nullable=True)
    )


class SettlementVersionRow(SQLModel, table=True):
    """A signed transaction of a settlement (1 = original, then each RBF bump)."""

    __tablename__ = "settlement_versions"

    settlement_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    n: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    txid: str = Field(max_length=64, unique=True)
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    fee_sat: int = Field(sa_column=Column(BigInteger, nullable=False))
    fee_rate: int = Field(sa_column=Column(BigInteger, nullable=False))
    created_height: int = Field(sa_column=Column(Integer, nullable=False))


class SettlementInputRow(SQLModel, table=True):
    """A wallet coin reserved by a settlement (every version spends all of them)."""

    __tablename__ = "settlement_inputs"
    __table_args__ = (
        Index(
            "ux_settlement_inputs_open",
            "txid",
            "vout",
            unique=True,
            sqlite_where=text("NOT released"),
            postgresql_where=text("NOT released"),
        ),
    )

    settlement_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    n: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    txid: str = Field(max_length=64)
    vout: int = Field(sa_column=Column(Integer, nullable=False))
    value_sat: int = Field(sa_column=Column(BigInteger, nullable=False))
    script_pubkey: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_chain: int = Field(sa_column=Column(Integer, nullable=False))
    key_index: int = Field(sa_column=Column(Integer, nullable=False))
    confirmed: bool = Field(sa_column=Column(Boolean, nullable=False))
    is_own_change: bool = Field(sa_column=Column(Boolean, nullable=False))
    released: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))


class SettlementPayoutRow(SQLModel, table=True):
    """A payee of a settlement, with its pending (reservation) entry."""

    __tablename__ = "settlement_payouts"
    __table_args__ = (
        Index(
            "ux_settlement_payouts_open",
            "uploader",
            unique=True,
            sqlite_where=text("is_open"),
            postgresql_where=text("is_open"),
        ),
    )

    settlement_id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    uploader: str = Field(sa_column=Column(String(128), primary_key=True))
    script_pubkey: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    script_type: str = Field(max_length=8)
    payout_sat: int = Field(sa_column=Column(BigInteger, nullable=False))
    fee_share_msat: int = Field(sa_column=Column(BigInteger, nullable=False))
    pending_entry_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    is_open: bool = Field(sa_column=Column(Boolean, nullable=False))


class CoinParentRow(SQLModel, table=True):
    """A copy of a transaction that created an input of one of our settlements.

    Kept so the fate of that transaction can be followed after it leaves the
    chain (a reorg, a double spend): its own inputs tell which transaction
    conflicts with it. Written once per txid, never changed.
    """

    __tablename__ = "coin_parents"

    txid: str = Field(sa_column=Column(String(64), primary_key=True))
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    stored_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class SettlementLockRow(SQLModel, table=True):
    """The job lock: who holds it and until when (a lease, renewed at every write)."""

    __tablename__ = "settlement_lock"

    name: str = Field(sa_column=Column(String(32), primary_key=True))
    owner: str = Field(default="", max_length=200)
    host: str = Field(default="", max_length=200)
    pid: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    expires_at: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class WalletChangeRow(SQLModel, table=True):
    """The next unused index of the wallet's internal (change) chain."""

    __tablename__ = "wallet_change"

    id: int = Field(default=1, primary_key=True)
    next_index: int = Field(default=0, sa_column=Column(Integer, nullable=False))


# --- addresses --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayoutAddress:
    """An uploader's registered payout address."""

    uploader: str
    address: str
    script_pubkey: bytes
    script_type: ScriptType
    created_at: int


def add_payout_address(conn: Connection, address: PayoutAddress) -> None:
    conn.execute(
        text(
            "INSERT INTO payout_addresses (uploader, address, script_pubkey, script_type, "
            "created_at) VALUES (:u, :a, :s, :t, :c)"
        ),
        {
            "u": address.uploader,
            "a": address.address,
            "s": address.script_pubkey,
            "t": address.script_type.value,
            "c": address.created_at,
        },
    )


def _address(row: Any) -> PayoutAddress:
    return PayoutAddress(row[0], row[1], bytes(row[2]), ScriptType(row[3]), int(row[4]))


def payout_address_history(conn: Connection, uploader: str) -> list[PayoutAddress]:
    """Every address an uploader registered, oldest first."""
    rows = conn.execute(
        text(
            "SELECT uploader, address, script_pubkey, script_type, created_at "
            "FROM payout_addresses WHERE uploader = :u ORDER BY id"
        ),
        {"u": uploader},
    )
    return [_address(r) for r in rows]


def current_payout_addresses(conn: Connection) -> dict[str, PayoutAddress]:
    """Each uploader's newest address."""
    rows = conn.execute(
        text(
            "SELECT uploader, address, script_pubkey, script_type, created_at "
            "FROM payout_addresses WHERE id IN "
            "(SELECT max(id) FROM payout_addresses GROUP BY uploader)"
        )
    )
    return {r[0]: _address(r) for r in rows}


# --- lock -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LockHolder:
    owner: str
    host: str
    pid: int
    expires_at: int


def read_lock(conn: Connection, *, for_update: bool) -> LockHolder:
    """The lock row (on PostgreSQL, locked FOR UPDATE NOWAIT: a busy row is SettlementLocked)."""
    sql = "SELECT owner, host, pid, expires_at FROM settlement_lock WHERE name = :n"
    if for_update and conn.dialect.name == "postgresql":
        sql += " FOR UPDATE NOWAIT"
    row = conn.execute(text(sql), {"n": LOCK_NAME}).one()
    return LockHolder(str(row[0]), str(row[1]), int(row[2]), int(row[3]))


def take_lock(conn: Connection, holder: LockHolder) -> None:
    conn.execute(
        text(
            "UPDATE settlement_lock SET owner = :o, host = :h, pid = :p, expires_at = :e "
            "WHERE name = :n"
        ),
        {
            "o": holder.owner,
            "h": holder.host,
            "p": holder.pid,
            "e": holder.expires_at,
            "n": LOCK_NAME,
        },
    )


def renew_lock(conn: Connection, owner: str, expires_at: int) -> None:
    """Extend our lease inside a write transaction; raise SettlementLocked if we lost it."""
    done = conn.execute(
        text("UPDATE settlement_lock SET expires_at = :e WHERE name = :n AND owner = :o"),
        {"e": expires_at, "n": LOCK_NAME, "o": owner},
    )
    if done.rowcount != 1:
        raise SettlementLocked("this job no longer holds the settlement lock (lease expired)")


def release_lock(conn: Connection, owner: str) -> None:
    conn.execute(
        text(
            "UPDATE settlement_lock SET owner = '', host = '', pid = 0, expires_at = 0 "
            "WHERE name = :n AND owner = :o"
        ),
        {"n": LOCK_NAME, "o": owner},
    )


# --- change index -----------------------------------------------------------


def allocate_change_index(conn: Connection) -> int:
    """Take the next change index (inside the caller's write transaction)."""
    index = int(
        conn.execute(text("SELECT next_index FROM wallet_change WHERE id = 1")).scalar_one()
    )
    conn.execute(text("UPDATE wallet_change SET next_index = :n WHERE id = 1"), {"n": index + 1})
    return index


def next_change_index(conn: Connection) -> int:
    """How many change indices have been handed out (0..n-1 are in use)."""
    return int(conn.execute(text("SELECT next_index FROM wallet_change WHERE id = 1")).scalar_one())


# --- settlements ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewSettlement:
    """What planning commits: the plan, its coins and payees (before entries exist)."""

    fee_rate_sat_per_kvb: int
    created_height: int
    change_index: int
    anchor: bytes | None
    inputs: tuple[SpendableCoin, ...]


def insert_settlement(conn: Connection, new: NewSettlement, now: int) -> int:
    """Insert a planned settlement and reserve its inputs; return its id."""
    result = conn.execute(
        text(
            "INSERT INTO settlements (state, fee_rate, created_height, change_index, anchor, "
            "confirmations, reason, attempts, last_error, created_at, updated_at, "
            "broadcast_failure, broadcast_error) VALUES "
            "(:s, :r, :h, :c, :a, 0, '', 0, '', :now, :now, '', '') RETURNING id"
        ),
        {
            "s": SettlementState.PLANNED.value,
            "r": new.fee_rate_sat_per_kvb,
            "h": new.created_height,
            "c": new.change_index,
            "a": new.anchor,
            "now": now,
        },
    )
    sid = int(result.scalar_one())
    conn.execute(
        text(
            "INSERT INTO settlement_inputs (settlement_id, n, txid, vout, value_sat, "
            "script_pubkey, key_chain, key_index, confirmed, is_own_change, released) VALUES "
            "(:sid, :n, :t, :v, :val, :s, :kc, :ki, :conf, :own, :rel)"
        ),
        [
            {
                "sid": sid,
                "n": n,
                "t": c.outpoint.txid,
                "v": c.outpoint.vout,
                "val": c.value_sat,
                "s": c.script_pubkey,
                "kc": c.key_chain,
                "ki": c.key_index,
                "conf": c.confirmed,
                "own": c.is_own_change,
                "rel": False,
            }
            for n, c in enumerate(new.inputs)
        ],
    )
    return sid


def insert_payouts(conn: Connection, sid: int, payouts: Sequence[ReservedPayout]) -> None:
    conn.execute(
        text(
            "INSERT INTO settlement_payouts (settlement_id, uploader, script_pubkey, script_type, "
            "payout_sat, fee_share_msat, pending_entry_id, is_open) VALUES "
            "(:sid, :u, :s, :t, :p, :f, :e, :o)"
        ),
        [
            {
                "sid": sid,
                "u": p.uploader,
                "s": p.script_pubkey,
                "t": p.script_type.value,
                "p": p.payout_sat,
                "f": p.fee_share_msat,
                "e": p.pending_entry_id,
                "o": True,
            }
            for p in payouts
        ],
    )


def insert_version(conn: Connection, sid: int, version: Version) -> None:
    conn.execute(
        text(
            "INSERT INTO settlement_versions (settlement_id, n, txid, raw, fee_sat, fee_rate, "
            "created_height) VALUES (:sid, :n, :t, :raw, :f, :r, :h)"
        ),
        {
            "sid": sid,
            "n": version.n,
            "t": version.txid,
            "raw": version.raw,
            "f": version.fee_sat,
            "r": version.fee_rate_sat_per_kvb,
            "h": version.created_height,
        },
    )


def move(
    conn: Connection,
    sid: int,
    current: SettlementState,
    target: SettlementState,
    now: int,
    **fields: object,
) -> None:
    """Change a settlement's state (checked against the machine and the stored state)."""
    check_transition(current, target)
    allowed = {"broadcast_height", "confirmations", "confirmed_txid", "reason", "last_error"}
    if not set(fields) <= allowed:
        raise InvalidTransition(f"cannot set {sorted(set(fields) - allowed)} on a transition")
    sets = "".join(f", {k} = :{k}" for k in fields)
    done = conn.execute(
        text(
            f"UPDATE settlements SET state = :t, updated_at = :now{sets} "
            "WHERE id = :id AND state = :f"
        ),
        {"t": target.value, "now": now, "id": sid, "f": current.value, **fields},
    )
    if done.rowcount != 1:
        raise InvalidTransition(f"settlement {sid} is no longer {current.value}")
    if target.terminal:
        conn.execute(
            text("UPDATE settlement_inputs SET released = :r WHERE settlement_id = :id"),
            {"r": True, "id": sid},
        )
        conn.execute(
            text("UPDATE settlement_payouts SET is_open = :o WHERE settlement_id = :id"),
            {"o": False, "id": sid},
        )
    announce(conn, sid, current, target, now)


def announce(
    conn: Connection,
    sid: int,
    previous: SettlementState | None,
    state: SettlementState,
    now: int,
) -> None:
    """Write the payout event of ``previous`` → ``state`` (if it raises one) to the outbox,
    in the caller's transaction, with the settlement as it now stands."""
    kind = payout_kind(previous, state)
    if kind is not None:
        data = payout_data(load_settlement(conn, sid), previous)
        outbox.append(conn, kind.value, payout_subject(sid), data, now)


def check_state(conn: Connection, sid: int, state: SettlementState) -> None:
    """Raise InvalidTransition unless settlement ``sid`` is still ``state``."""
    found = conn.execute(
        text("SELECT state FROM settlements WHERE id = :id"), {"id": sid}
    ).scalar()
    if found != state.value:
        raise InvalidTransition(f"settlement {sid} is no longer {state.value} (now {found})")


def save_parents(conn: Connection, raws: Mapping[str, bytes], now: int) -> None:
    """Keep a copy of each transaction in ``raws`` (txid -> raw) not kept yet."""
    kept = set(parents(conn, raws))
    fresh = [{"t": t, "r": r, "now": now} for t, r in sorted(raws.items()) if t not in kept]
    if fresh:
        conn.execute(
            text("INSERT INTO coin_parents (txid, raw, stored_at) VALUES (:t, :r, :now)"), fresh
        )


def parents(conn: Connection, txids: Iterable[str]) -> dict[str, bytes]:
    """The kept copies of the transactions ``txids`` (those we have)."""
    wanted = sorted(set(txids))
    found: dict[str, bytes] = {}
    for i in range(0, len(wanted), 500):
        part = wanted[i : i + 500]
        marks = ", ".join(f":t{j}" for j in range(len(part)))
        rows = conn.execute(
            text(f"SELECT txid, raw FROM coin_parents WHERE txid IN ({marks})"),
            {f"t{j}": t for j, t in enumerate(part)},
        )
        found.update((str(r[0]), bytes(r[1])) for r in rows)
    return found


def note_attempt(conn: Connection, sid: int, error: str, now: int) -> None:
    """Count a failed attempt (a broadcast error, a bump that could not be built)."""
    conn.execute(
        text(
            "UPDATE settlements SET attempts = attempts + 1, last_error = :e, updated_at = :now "
            "WHERE id = :id"
        ),
        {"e": error[:500], "now": now, "id": sid},
    )


def record_broadcast_failure(
    conn: Connection, sid: int, failure: BroadcastFailure, reason: str, height: int
) -> None:
    """Keep why the last broadcast failed; the height of the first failure in a row stays."""
    conn.execute(
        text(
            "UPDATE settlements SET broadcast_failure = :f, broadcast_error = :e, "
            "broadcast_failed_since = coalesce(broadcast_failed_since, :h) WHERE id = :id"
        ),
        {"f": failure.value, "e": reason[:500], "h": height, "id": sid},
    )


def clear_broadcast_failure(conn: Connection, sid: int) -> None:
    """A broadcast went through (or a version was seen on chain): nothing is failing."""
    conn.execute(
        text(
            "UPDATE settlements SET broadcast_failure = '', broadcast_error = '', "
            "broadcast_failed_since = NULL WHERE id = :id"
        ),
        {"id": sid},
    )


def _versions(conn: Connection, sid: int) -> tuple[Version, ...]:
    rows = conn.execute(
        text(
            "SELECT n, txid, raw, fee_sat, fee_rate, created_height FROM settlement_versions "
            "WHERE settlement_id = :id ORDER BY n"
        ),
        {"id": sid},
    )
    return tuple(
        Version(int(r[0]), r[1], bytes(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows
    )


def _inputs(conn: Connection, sid: int) -> tuple[SpendableCoin, ...]:
    rows = conn.execute(
        text(
            "SELECT txid, vout, value_sat, script_pubkey, confirmed, is_own_change, key_chain, "
            "key_index FROM settlement_inputs WHERE settlement_id = :id ORDER BY n"
        ),
        {"id": sid},
    )
    return tuple(
        SpendableCoin(
            OutPoint(r[0], int(r[1])),
            int(r[2]),
            bytes(r[3]),
            bool(r[4]),
            bool(r[5]),
            int(r[6]),
            int(r[7]),
        )
        for r in rows
    )


def _payouts(conn: Connection, sid: int) -> tuple[ReservedPayout, ...]:
    rows = conn.execute(
        text(
            "SELECT uploader, script_pubkey, script_type, payout_sat, fee_share_msat, "
            "pending_entry_id FROM settlement_payouts WHERE settlement_id = :id ORDER BY uploader"
        ),
        {"id": sid},
    )
    return tuple(
        ReservedPayout(r[0], bytes(r[1]), ScriptType(r[2]), int(r[3]), int(r[4]), int(r[5]))
        for r in rows
    )


_COLUMNS = (
    "id, state, fee_rate, created_height, change_index, anchor, broadcast_height, "
    "confirmations, confirmed_txid, reason, attempts, last_error, broadcast_failure, "
    "broadcast_error, broadcast_failed_since"
)


def _problem(r: Any) -> BroadcastProblem | None:
    if not r[12]:
        return None
    since = 0 if r[14] is None else int(r[14])
    return BroadcastProblem(BroadcastFailure(str(r[12])), str(r[13]), since)


def _settlement(conn: Connection, r: Any) -> Settlement:
    sid = int(r[0])
    return Settlement(
        id=sid,
        state=SettlementState(r[1]),
        fee_rate_sat_per_kvb=int(r[2]),
        created_height=int(r[3]),
        change_index=int(r[4]),
        anchor=None if r[5] is None else bytes(r[5]),
        broadcast_height=None if r[6] is None else int(r[6]),
        confirmations=int(r[7]),
        confirmed_txid=None if r[8] is None else str(r[8]),
        reason=str(r[9]),
        attempts=int(r[10]),
        last_error=str(r[11]),
        versions=_versions(conn, sid),
        inputs=_inputs(conn, sid),
        payouts=_payouts(conn, sid),
        broadcast_problem=_problem(r),
    )


def load_settlement(conn: Connection, sid: int) -> Settlement:
    row = conn.execute(
        text(f"SELECT {_COLUMNS} FROM settlements WHERE id = :id"), {"id": sid}
    ).first()
    if row is None:
        raise UnknownEntry(f"settlement {sid} does not exist")
    return _settlement(conn, row)


def settlements_in(conn: Connection, states: Iterable[SettlementState]) -> list[Settlement]:
    """Settlements in any of ``states``, oldest first."""
    names = [s.value for s in states]
    marks = ", ".join(f":s{i}" for i in range(len(names)))
    rows = conn.execute(
        text(f"SELECT {_COLUMNS} FROM settlements WHERE state IN ({marks}) ORDER BY id"),
        {f"s{i}": n for i, n in enumerate(names)},
    ).all()
    return [_settlement(conn, r) for r in rows]


def newest_settlements(conn: Connection, limit: int, *,
                       paying: str | None = None) -> list[Settlement]:
    """The newest ``limit`` settlements (in any state), or those paying ``paying``; newest
    first."""
    where, params = "", dict[str, object](n=int(limit))
    if paying is not None:
        where = "WHERE id IN (SELECT settlement_id FROM settlement_payouts WHERE uploader = :u) "
        params["u"] = paying
    rows = conn.execute(
        text(f"SELECT {_COLUMNS} FROM settlements {where}ORDER BY id DESC LIMIT :n"), params
    ).all()
    return [_settlement(conn, r) for r in rows]


def settlement_times(conn: Connection, ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    """When each of the settlements ``ids`` was planned and last changed (µs), by id."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    marks = ", ".join(f":i{n}" for n in range(len(wanted)))
    rows = conn.execute(
        text(f"SELECT id, created_at, updated_at FROM settlements WHERE id IN ({marks})"),
        {f"i{n}": sid for n, sid in enumerate(wanted)},
    )
    return {int(r[0]): (int(r[1]), int(r[2])) for r in rows}


def reserved_outpoints(conn: Connection) -> set[OutPoint]:
    """Coins held by open settlements."""
    rows = conn.execute(text("SELECT txid, vout FROM settlement_inputs WHERE NOT released"))
    return {OutPoint(r[0], int(r[1])) for r in rows}


def open_payees(conn: Connection) -> set[str]:
    """Uploaders with a payout in an open settlement."""
    rows = conn.execute(text("SELECT uploader FROM settlement_payouts WHERE is_open"))
    return {str(r[0]) for r in rows}


def voided_txids(conn: Connection) -> set[str]:
    """Txids of every version of a void settlement (they can never confirm, or were abandoned)."""
    rows = conn.execute(
        text(
            "SELECT v.txid FROM settlement_versions v JOIN settlements s "
            "ON s.id = v.settlement_id WHERE s.state = :void"
        ),
        {"void": SettlementState.VOID.value},
    )
    return {str(r[0]) for r in rows}


def last_created_height(conn: Connection) -> int | None:
    value = conn.execute(text("SELECT max(created_height) FROM settlements")).scalar_one()
    return None if value is None else int(value)


def state_counts(conn: Connection) -> dict[SettlementState, int]:
    """How many settlements are in each state (states with none left out)."""
    rows = conn.execute(text("SELECT state, count(*) FROM settlements GROUP BY state"))
    return {SettlementState(r[0]): int(r[1]) for r in rows}


def oldest_unconfirmed(conn: Connection) -> int | None:
    """When (µs) the oldest settlement still planned, signed or broadcast was planned."""
    value = conn.execute(
        text("SELECT min(created_at) FROM settlements WHERE state IN (:p, :s, :b)"),
        {
            "p": SettlementState.PLANNED.value,
            "s": SettlementState.SIGNED.value,
            "b": SettlementState.BROADCAST.value,
        },
    ).scalar_one()
    return None if value is None else int(value)
