"""Settlement use cases: payout addresses, the settlement cycle, operator abandon.

``SettlementService.run_cycle()`` is the library entry point of the
settlement job (a CLI or cron calls it): under the job lock, it advances
every settlement in flight, then plans and sends a new batch if one is due.
Two concurrent calls never both act: the loser raises ``SettlementLocked``.
See docs/settlement.md for the state machine and the postings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from bitcache.chain.protocol import ChainBackend
from bitcache.clock import now_us
from bitcache.core.accounts import payable
from bitcache.errors import ChainError, ChainMismatch, InvalidInput, StoreError
from bitcache.services.settlementjob import IN_FLIGHT, Hook, SettlementJob
from bitcache.settlement.model import Settlement, SettlementConfig
from bitcache.settlement.payouts import Skipped
from bitcache.settlement.stalls import Stall, stalls
from bitcache.settlement.states import SettlementState
from bitcache.store import settlement as settlement_rows
from bitcache.store.joblock import JobLock
from bitcache.store.ledger import LedgerStore
from bitcache.store.settlement import PayoutAddress
from bitcache.wallet.addresses import parse_address
from bitcache.wallet.keys import HDWallet


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did: the state each in-flight settlement reached, the new
    settlements, who was skipped by planning and why planning stopped (if it did).

    ``created_states``: the state each new settlement reached (``signed`` when
    its broadcast failed). ``stalled``: settlements in flight that are not
    moving after this cycle — a broadcast refused or failed (the node's
    reason kept), or unconfirmed for ``stall_after_blocks`` blocks.
    """

    advanced: tuple[tuple[int, SettlementState], ...]
    created: tuple[int, ...]
    skipped: tuple[Skipped, ...]
    notes: tuple[str, ...]
    created_states: tuple[tuple[int, SettlementState], ...] = ()
    stalled: tuple[Stall, ...] = ()


class SettlementService:
    """Settlement over a ledger, a chain backend and the hot wallet's keys."""

    def __init__(
        self,
        ledger: LedgerStore,
        chain: ChainBackend,
        wallet: HDWallet,
        config: SettlementConfig | None = None,
        *,
        clock: Callable[[], int] | None = None,
        hook: Hook | None = None,
    ) -> None:
        if chain.network is not wallet.network:
            raise ChainMismatch(
                f"the chain backend serves {chain.network.value}, "
                f"the wallet is for {wallet.network.value}"
            )
        self.ledger = ledger
        self.network = wallet.network
        self.config = config or SettlementConfig()
        self._clock = clock or now_us
        self.lock = JobLock(
            ledger.engine, self._clock, self.config.lock_lease_seconds,
            deadline_s=ledger.deadline_s,
        )
        self.job = SettlementJob(
            ledger,
            chain,
            wallet,
            self.config,
            self.lock,
            clock=self._clock,
            hook=hook,
        )

    # --- payout addresses ----------------------------------------------------

    def register_payout_address(self, uploader: str, address: str) -> PayoutAddress:
        """Validate ``address`` for the network and make it the uploader's payout address.

        The change applies to future payouts only: a settlement already planned
        keeps the script it reserved.
        """
        payable(uploader)  # validates the uploader's name as an account part
        if len(uploader) > 128:
            raise InvalidInput("uploader names are at most 128 characters")
        parsed = parse_address(address, self.network)
        record = PayoutAddress(
            uploader, parsed.address, parsed.script_pubkey, parsed.script_type, self._clock()
        )
        with self.ledger.write() as conn:
            settlement_rows.add_payout_address(conn, record)
        return record

    def payout_address(self, uploader: str) -> PayoutAddress | None:
        """The uploader's current payout address, if any."""
        history = self.payout_address_history(uploader)
        return history[-1] if history else None

    def payout_address_history(self, uploader: str) -> list[PayoutAddress]:
        """Every payout address the uploader registered, oldest first."""
        with self.ledger.read() as conn:
            return settlement_rows.payout_address_history(conn, uploader)

    def payout_addresses(self) -> dict[str, PayoutAddress]:
        """Every uploader's current payout address, by uploader."""
        with self.ledger.read() as conn:
            return settlement_rows.current_payout_addresses(conn)

    # --- the job -------------------------------------------------------------

    @contextmanager
    def locked(self) -> Iterator[SettlementJob]:
        """Hold the job lock (or raise SettlementLocked) for the block.

        When the block failed, a lock that cannot be given back (the database
        is away) is left to its lease, and the block's own error is raised.
        """
        self.lock.acquire()
        try:
            yield self.job
        except BaseException:
            with suppress(StoreError):
                self.lock.release()
            raise
        self.lock.release()

    def run_cycle(self, *, anchor: bytes | None = None) -> CycleReport:
        """Advance settlements in flight, then plan and send a new batch if due.

        ``anchor``: an optional OP_RETURN payload (≤ 80 bytes) the first new
        batch carries, e.g. a commitment to a statement tree head.
        """
        with self.locked() as job:
            advanced = tuple((s.id, job.advance(s.id).state) for s in job.in_flight())
            outcome = job.plan_and_send(anchor)
        created = tuple((sid, self.job.load(sid).state) for sid in outcome.created)
        return CycleReport(
            advanced, outcome.created, outcome.skipped, outcome.notes, created,
            self._stalled_after_cycle(),
        )

    def _stalled_after_cycle(self) -> tuple[Stall, ...]:
        """Stalled settlements; if the tip cannot be read now, those the books show alone
        (the cycle's work is done and committed: the next cycle meets the failure)."""
        try:
            return self.stalled()
        except ChainError:
            return stalls(self.settlements(), None, self.config.stall_after_blocks)

    def abandon(self, settlement_id: int, reason: str) -> Settlement:
        """Void a settlement on the operator's word and return the credit to its payees.

        Refused (InvalidTransition) while any version is confirmed or in the
        backend's mempool: only a settlement that cannot be seen anywhere may
        be abandoned.
        """
        with self.locked() as job:
            return job.abandon(settlement_id, reason)

    # --- reads ---------------------------------------------------------------

    def stalled(self) -> tuple[Stall, ...]:
        """Settlements in flight that are not moving (see :mod:`bitcache.settlement.stalls`)."""
        flying = self.settlements()
        tip = self.job.chain.tip().height if flying else None
        return stalls(flying, tip, self.config.stall_after_blocks)

    def settlement(self, settlement_id: int) -> Settlement:
        return self.job.load(settlement_id)

    def settlements(self, states: Iterable[SettlementState] = IN_FLIGHT) -> list[Settlement]:
        with self.ledger.read() as conn:
            return settlement_rows.settlements_in(conn, states)

    def times(self, ids: Iterable[int]) -> dict[int, tuple[int, int]]:
        """When each settlement was planned and last changed (µs), by id."""
        with self.ledger.read() as conn:
            return settlement_rows.settlement_times(conn, ids)
