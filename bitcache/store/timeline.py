"""Money over time: the postings to some accounts summed per period (for charts).

One query, grouped by ``recorded_at`` cut into equal periods of
``bucket_us`` µs (an hour, a day, a week): the debits or the credits of
posted money (``posted``, ``post_pending``, ``reversal`` entries) to a set
of accounts, optionally only in entries whose key starts with a prefix or
only postings that name a file. Integer division does the cutting on both
SQLite and PostgreSQL.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text


class Side(enum.Enum):
    """Which postings a flow sums: money into the accounts or out of them."""

    DEBITS = "debits"  # amount > 0, summed as is
    CREDITS = "credits"  # amount < 0, summed negated


@dataclass(frozen=True, slots=True)
class Flow:
    """What to sum: the accounts, the side, and optional filters."""

    account_ids: Sequence[int]
    side: Side
    key_prefix: str | None = None
    files_only: bool = False


def flow_by_period(
    conn: Connection, flow: Flow, bucket_us: int, *, since: int | None = None,
    until: int | None = None,
) -> list[tuple[int, int]]:
    """``(period start µs, msat)`` per period with any posting of ``flow``, oldest first."""
    if not flow.account_ids:
        return []
    params: dict[str, object] = {f"a{i}": a for i, a in enumerate(flow.account_ids)}
    marks = ", ".join(f":a{i}" for i in range(len(flow.account_ids)))
    amount = "p.amount" if flow.side is Side.DEBITS else "-p.amount"
    where = [f"p.account_id IN ({marks})", f"{amount} > 0",
             "e.kind IN ('posted', 'post_pending', 'reversal')"]
    if flow.key_prefix is not None:
        where.append("substr(e.key, 1, :kn) = :kp")
        params.update(kn=len(flow.key_prefix), kp=flow.key_prefix)
    if flow.files_only:
        where.append("p.file_hash IS NOT NULL")
    if since is not None:
        where.append("e.recorded_at >= :since")
        params["since"] = since
    if until is not None:
        where.append("e.recorded_at < :until")
        params["until"] = until
    params["b"] = bucket_us
    sql = (f"SELECT (e.recorded_at / :b) * :b AS period, sum({amount}) "
           "FROM postings p JOIN entries e ON e.id = p.entry_id "
           f"WHERE {' AND '.join(where)} GROUP BY period ORDER BY period")
    return [(int(t), int(m)) for t, m in conn.execute(text(sql), params)]
