"""Settlement: the crash-safe state machine that pays uploaders in batched transactions.

This package is pure (no database, chain backend or clock): the store persists
its types and the services drive it.

- ``payouts``: the planner (who is paid this cycle, how much, in which batches);

- ``states``: the states and the transitions allowed between them;
- ``model``: settlements, versions and payees as stored, and the job's knobs;
- ``tracking``: what the chain shows of a settlement's inputs, and the next step (pure);
- ``postings``: the ledger entries at reservation, final and void (pure);
- ``coins``: which wallet coins a new batch may spend: only those the books hold (pure);
- ``stalls``: settlements that are not moving, and why.

The job lock is :mod:`bitcache.store.joblock`; the job itself is
:mod:`bitcache.services.settlementjob` and its use cases are in
:mod:`bitcache.services.settlement`.
"""

from bitcache.settlement.model import ReservedPayout, Settlement, SettlementConfig, Version
from bitcache.settlement.states import TRANSITIONS, SettlementState, check_transition

__all__ = [
    "TRANSITIONS",
    "ReservedPayout",
    "Settlement",
    "SettlementConfig",
    "SettlementState",
    "Version",
    "check_transition",
]
