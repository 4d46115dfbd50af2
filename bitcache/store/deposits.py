"""Deposit tables and their SQL: address assignments, credited deposits, scan state.

* ``deposit_addresses`` — which external-chain index of the wallet belongs to
  which credit account (``liability:prepaid:<downloader>``, or
  ``equity:operator`` for the hot wallet's funding address). One index per
  account and one account per index, both enforced by the database.
* ``deposits`` — every outpoint ever credited, with the block it was credited
  in and the ledger entry that credited it. The outpoint is the primary key,
  so an outpoint can be credited once only; the entry is written in the same
  transaction. Rows are never deleted: a deposit whose block was reorganised
  away after its credit changes status to ``reorged`` and stays.
* ``deposit_scan_state`` — the tip the last scan saw (one row).
* ``deposit_reorg_acks`` — an operator's acknowledgement that a credited
  deposit left the best chain (from the block it names); an acknowledged
  reorg is no longer raised as an alarm by ``bitcache settle``. Never changed.

Every function takes a connection the caller opened (usually the ledger's
write transaction) so these rows commit atomically with ledger entries.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    text,
)
from sqlalchemy.engine import Connection
from sqlmodel import Field, SQLModel

from bitcache.core.tip import Tip
from bitcache.core.utxo import OutPoint

# --- table models -------------------------------------------------------------


class DepositAddressRow(SQLModel, table=True):
    """An external-chain index assigned to the account its deposits credit."""

    __tablename__ = "deposit_addresses"
    __table_args__ = (CheckConstraint("derivation_index >= 0", name="ck_deposit_index"),)

    derivation_index: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    account: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    script_pubkey: bytes = Field(sa_column=Column(LargeBinary(64), nullable=False, unique=True))
    address: str = Field(sa_column=Column(String(100), nullable=False))
    assigned_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class DepositRow(SQLModel, table=True):
    """A credited outpoint: where it was confirmed and which entry credited it."""

    __tablename__ = "deposits"
    __table_args__ = (
        CheckConstraint("value_sat > 0", name="ck_deposit_value"),
        CheckConstraint("status IN ('credited', 'reorged')", name="ck_deposit_status"),
        Index("ix_deposits_status_height", "status", "block_height"),
    )

    txid: str = Field(sa_column=Column(String(64), primary_key=True))
    vout: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    derivation_index: int = Field(
        sa_column=Column(Integer, ForeignKey("deposit_addresses.derivation_index"), nullable=False)
    )
    account: str = Field(sa_column=Column(String(200), nullable=False))
    value_sat: int = Field(sa_column=Column(BigInteger, nullable=False))
    block_hash: str = Field(sa_column=Column(String(64), nullable=False))
    block_height: int = Field(sa_column=Column(Integer, nullable=False))
    entry_id: int = Field(
        sa_column=Column(BigInteger, ForeignKey("entries.id"), nullable=False, unique=True)
    )
    status: str = Field(sa_column=Column(String(16), nullable=False))
    credited_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class DepositReorgAckRow(SQLModel, table=True):
    """An operator saw that a deposit's block ``block_hash`` left the best chain."""

    __tablename__ = "deposit_reorg_acks"
    __table_args__ = (
        ForeignKeyConstraint(["txid", "vout"], ["deposits.txid", "deposits.vout"]),
    )

    txid: str = Field(sa_column=Column(String(64), primary_key=True))
    vout: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    block_hash: str = Field(sa_column=Column(String(64), primary_key=True))
    note: str = Field(sa_column=Column(String(500), nullable=False))
    acknowledged_at: int = Field(sa_column=Column(BigInteger, nullable=False))


class DepositScanStateRow(SQLModel, table=True):
    """The tip seen by the last completed scan (a single row, id 1)."""

    __tablename__ = "deposit_scan_state"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    tip_height: int = Field(sa_column=Column(Integer, nullable=False))
    tip_hash: str = Field(sa_column=Column(String(64), nullable=False))
    scanned_at: int = Field(sa_column=Column(BigInteger, nullable=False))


# --- records ------------------------------------------------------------------


class DepositStatus(enum.Enum):
    """Where a credited deposit stands."""

    CREDITED = "credited"  # its block is (as of the last scan) in the best chain
    REORGED = "reorged"  # credited, then its transaction left the best chain


@dataclass(frozen=True, slots=True)
class DepositAddress:
    """An assigned external-chain index and the account its deposits credit."""

    index: int
    account: str
    script_pubkey: bytes
    address: str


@dataclass(frozen=True, slots=True)
class DepositRecord:
    """A credited deposit as stored."""

    outpoint: OutPoint
    index: int
    account: str
    value_sat: int
    block_hash: str
    block_height: int
    entry_id: int
    status: DepositStatus


@dataclass(frozen=True, slots=True)
class ReorgedDeposit:
    """A deposit reorganised away after its credit; ``reversed_by`` is the id of
    the entry that reversed the credit, None while nobody has; ``acknowledged_at``
    (µs) and ``note`` say when and why an operator acknowledged it, if one did."""

    deposit: DepositRecord
    reversed_by: int | None
    acknowledged_at: int | None = None
    note: str = ""

    @property
    def alarm(self) -> bool:
        """The credit stands and no operator has acknowledged the reorg yet."""
        return self.reversed_by is None and self.acknowledged_at is None


@dataclass(frozen=True, slots=True)
class ScanState:
    """The tip the last completed scan saw, and when (µs)."""

    tip: Tip
    scanned_at: int


# --- addresses ----------------------------------------------------------------

_ADDRESS_COLUMNS = "derivation_index, account, script_pubkey, address"


def _address(row: Sequence[Any]) -> DepositAddress:
    index, account, script, address = row
    return DepositAddress(int(index), str(account), bytes(script), str(address))


def addresses(conn: Connection) -> list[DepositAddress]:
    """Every assigned address, by index."""
    found = conn.execute(
        text(f"SELECT {_ADDRESS_COLUMNS} FROM deposit_addresses ORDER BY derivation_index")
    )
    return [_address(tuple(r)) for r in found]


def address_of_account(conn: Connection, account: str) -> DepositAddress | None:
    """The address assigned to ``account``, if any."""
    row = conn.execute(
        text(f"SELECT {_ADDRESS_COLUMNS} FROM deposit_addresses WHERE account = :a"),
        {"a": account},
    ).first()
    return None if row is None else _address(tuple(row))


def issued_indices(conn: Connection) -> set[int]:
    """Every assigned index."""
    return {int(r[0]) for r in conn.execute(text("SELECT derivation_index FROM deposit_addresses"))}


def next_index(conn: Connection) -> int:
    """The index after the highest assigned one (one indexed read, however many exist)."""
    found = conn.execute(text("SELECT max(derivation_index) FROM deposit_addresses")).scalar()
    return 0 if found is None else int(found) + 1


def funded_indices(conn: Connection) -> set[int]:
    """Indices with at least one deposit credited (and not reorganised away)."""
    found = conn.execute(
        text("SELECT DISTINCT derivation_index FROM deposits WHERE status = 'credited'")
    )
    return {int(r[0]) for r in found}


def insert_address(conn: Connection, address: DepositAddress, assigned_at: int) -> None:
    """Record an assignment (the unique constraints refuse a second one)."""
    conn.execute(
        text(
            "INSERT INTO deposit_addresses (derivation_index, account, script_pubkey, address, "
            "assigned_at) VALUES (:i, :a, :s, :addr, :t)"
        ),
        {
            "i": address.index,
            "a": address.account,
            "s": address.script_pubkey,
            "addr": address.address,
            "t": assigned_at,
        },
    )


# --- deposits -----------------------------------------------------------------

_DEPOSIT_COLUMNS = (
    "d.txid, d.vout, d.derivation_index, d.account, d.value_sat, d.block_hash, d.block_height, "
    "d.entry_id, d.status"
)


def _deposit(row: Sequence[Any]) -> DepositRecord:
    txid, vout, index, account, value, block_hash, height, entry_id, status = row
    return DepositRecord(
        OutPoint(str(txid), int(vout)),
        int(index),
        str(account),
        int(value),
        str(block_hash),
        int(height),
        int(entry_id),
        DepositStatus(str(status)),
    )


def known_outpoints(conn: Connection, outpoints: Iterable[OutPoint]) -> set[OutPoint]:
    """Those of ``outpoints`` already recorded (whatever their status)."""
    wanted = set(outpoints)
    txids = sorted({op.txid for op in wanted})
    found: set[OutPoint] = set()
    for i in range(0, len(txids), 500):
        part = txids[i : i + 500]
        params = {f"t{j}": t for j, t in enumerate(part)}
        marks = ", ".join(f":t{j}" for j in range(len(part)))
        rows = conn.execute(
            text(f"SELECT txid, vout FROM deposits WHERE txid IN ({marks})"), params
        )
        found.update(OutPoint(str(t), int(v)) for t, v in rows)
    return found & wanted


def deposits(conn: Connection, status: DepositStatus | None = None) -> list[DepositRecord]:
    """Recorded deposits (all, or those with ``status``), oldest block first."""
    where = "" if status is None else "WHERE d.status = :s"
    found = conn.execute(
        text(
            f"SELECT {_DEPOSIT_COLUMNS} FROM deposits d {where} "
            "ORDER BY d.block_height, d.txid, d.vout"
        ),
        {} if status is None else {"s": status.value},
    )
    return [_deposit(tuple(r)) for r in found]


def credit_times(conn: Connection) -> dict[OutPoint, int]:
    """When each recorded deposit was credited (µs), by outpoint."""
    rows = conn.execute(text("SELECT txid, vout, credited_at FROM deposits"))
    return {OutPoint(str(r[0]), int(r[1])): int(r[2]) for r in rows}


def credited_since(conn: Connection, min_height: int) -> list[DepositRecord]:
    """Credited deposits recorded at ``min_height`` or above (the ones still worth
    re-checking against the best chain)."""
    found = conn.execute(
        text(
            f"SELECT {_DEPOSIT_COLUMNS} FROM deposits d "
            "WHERE d.status = 'credited' AND d.block_height >= :h "
            "ORDER BY d.block_height, d.txid, d.vout"
        ),
        {"h": min_height},
    )
    return [_deposit(tuple(r)) for r in found]


def reorged(conn: Connection, *, include_reversed: bool = False) -> list[ReorgedDeposit]:
    """Deposits with status ``reorged``; by default only those whose credit stands."""
    where = "" if include_reversed else "AND r.id IS NULL"
    found = conn.execute(
        text(
            f"SELECT {_DEPOSIT_COLUMNS}, r.id, k.acknowledged_at, k.note FROM deposits d "
            "LEFT JOIN entries r ON r.reverses = d.entry_id "
            "LEFT JOIN deposit_reorg_acks k ON k.txid = d.txid AND k.vout = d.vout "
            "AND k.block_hash = d.block_hash "
            f"WHERE d.status = 'reorged' {where} ORDER BY d.block_height, d.txid, d.vout"
        )
    )
    return [
        ReorgedDeposit(
            _deposit(tuple(r)[:-3]),
            None if r[-3] is None else int(r[-3]),
            None if r[-2] is None else int(r[-2]),
            "" if r[-1] is None else str(r[-1]),
        )
        for r in found
    ]


def deposit(conn: Connection, outpoint: OutPoint) -> DepositRecord | None:
    """The deposit recorded for ``outpoint``, if any."""
    row = conn.execute(
        text(f"SELECT {_DEPOSIT_COLUMNS} FROM deposits d WHERE d.txid = :t AND d.vout = :v"),
        {"t": outpoint.txid, "v": outpoint.vout},
    ).first()
    return None if row is None else _deposit(tuple(row))


def acknowledge(
    conn: Connection, record: DepositRecord, note: str, acknowledged_at: int
) -> bool:
    """Record that an operator saw ``record`` leave the chain; False if already recorded."""
    params = {"t": record.outpoint.txid, "v": record.outpoint.vout, "b": record.block_hash}
    seen = conn.execute(
        text(
            "SELECT 1 FROM deposit_reorg_acks WHERE txid = :t AND vout = :v AND block_hash = :b"
        ),
        params,
    ).first()
    if seen is not None:
        return False
    conn.execute(
        text(
            "INSERT INTO deposit_reorg_acks (txid, vout, block_hash, note, acknowledged_at) "
            "VALUES (:t, :v, :b, :n, :at)"
        ),
        {**params, "n": note, "at": acknowledged_at},
    )
    return True


def insert_deposits(conn: Connection, records: Sequence[DepositRecord], credited_at: int) -> None:
    """Record newly credited deposits (the primary key refuses an outpoint twice)."""
    if not records:
        return
    conn.execute(
        text(
            "INSERT INTO deposits (txid, vout, derivation_index, account, value_sat, block_hash, "
            "block_height, entry_id, status, credited_at) VALUES "
            "(:txid, :vout, :i, :a, :v, :bh, :h, :e, :s, :t)"
        ),
        [
            {
                "txid": r.outpoint.txid,
                "vout": r.outpoint.vout,
                "i": r.index,
                "a": r.account,
                "v": r.value_sat,
                "bh": r.block_hash,
                "h": r.block_height,
                "e": r.entry_id,
                "s": r.status.value,
                "t": credited_at,
            }
            for r in records
        ],
    )


def update_location(
    conn: Connection,
    outpoint: OutPoint,
    status: DepositStatus,
    block_hash: str | None = None,
    block_height: int | None = None,
) -> None:
    """Change a deposit's status, and its block when the transaction moved to another one."""
    conn.execute(
        text(
            "UPDATE deposits SET status = :s, block_hash = coalesce(:bh, block_hash), "
            "block_height = coalesce(:h, block_height) WHERE txid = :t AND vout = :v"
        ),
        {
            "s": status.value,
            "bh": block_hash,
            "h": block_height,
            "t": outpoint.txid,
            "v": outpoint.vout,
        },
    )


# --- scan state ---------------------------------------------------------------


def scan_state(conn: Connection) -> ScanState | None:
    """What the last completed scan saw, or None before the first."""
    row = conn.execute(
        text("SELECT tip_height, tip_hash, scanned_at FROM deposit_scan_state WHERE id = 1")
    ).first()
    return None if row is None else ScanState(Tip(int(row[0]), str(row[1])), int(row[2]))


def save_scan_state(conn: Connection, tip: Tip, scanned_at: int) -> None:
    """Remember the tip a scan completed at."""
    params = {"h": tip.height, "bh": tip.block_hash, "t": scanned_at}
    updated = conn.execute(
        text(
            "UPDATE deposit_scan_state SET tip_height = :h, tip_hash = :bh, scanned_at = :t "
            "WHERE id = 1"
        ),
        params,
    )
    if updated.rowcount == 0:
        conn.execute(
            text(
                "INSERT INTO deposit_scan_state (id, tip_height, tip_hash, scanned_at) "
                "VALUES (1, :h, :bh, :t)"
            ),
            params,
        )
