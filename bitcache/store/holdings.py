"""The SQL of "the coins the books hold": what settlement may spend.

One read, two queries, over the tables that record what the ledger booked:

* ``deposits`` with status ``credited`` whose crediting entry was not
  reversed (downloaders' deposits and the operator's funding alike: both
  debited ``asset:wallet`` when the scan credited them);
* the versions of every settlement that is not void, with its change index
  (their change output is the wallet's: the outflow is booked at final).

Coins a final settlement spent are left out (they are gone for good), so
the answer stays the size of the wallet's live coins, not of its history.
The chain decides which of these are still unspent (see
:mod:`bitcache.settlement.coins`).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from bitcache.core.utxo import OutPoint
from bitcache.settlement.coins import Holdings
from bitcache.settlement.states import SettlementState

_SPENT_BY_FINAL = (
    "SELECT i.txid, i.vout FROM settlement_inputs i JOIN settlements s "
    "ON s.id = i.settlement_id WHERE s.state = :final"
)


def holdings(conn: Connection) -> Holdings:
    """The credited deposits and the settlement change the books hold (see the module)."""
    final = {"final": SettlementState.FINAL.value}
    deposits = conn.execute(
        text(
            "SELECT d.txid, d.vout, d.derivation_index FROM deposits d "
            f"LEFT JOIN ({_SPENT_BY_FINAL}) f ON f.txid = d.txid AND f.vout = d.vout "
            "LEFT JOIN entries r ON r.reverses = d.entry_id "
            "WHERE d.status = 'credited' AND f.txid IS NULL AND r.id IS NULL"
        ),
        final,
    )
    change = conn.execute(
        text(
            "SELECT v.txid, s.change_index FROM settlement_versions v JOIN settlements s "
            "ON s.id = v.settlement_id "
            f"LEFT JOIN ({_SPENT_BY_FINAL} AND i.is_own_change) f ON f.txid = v.txid "
            "WHERE s.state <> :void AND f.txid IS NULL"
        ),
        {**final, "void": SettlementState.VOID.value},
    )
    return Holdings(
        {OutPoint(str(t), int(v)): int(i) for t, v, i in deposits},
        {str(t): int(i) for t, i in change},
    )
