"""The settlement job: advance settlements in flight, then plan and send a new batch.

Every step follows the same rule: commit the transition, *then* do its side
effect. A planned settlement (reservations + inputs) is committed before it
is signed; the signed raw transaction before it is broadcast; a fee-bump
version before it is broadcast. After a crash the job reloads the stored
state and carries on: it rebroadcasts the stored transaction and never plans
reserved payees again. Callers hold the job lock (see
:mod:`bitcache.store.joblock`); every write renews it and fails if it was
lost. ``hook(point)`` is called right after each commit and side effect (the
crash tests kill the process there).

During a database failover the job never broadcasts from a state it could
not commit: every broadcast follows a commit in the same cycle — of the
version it sends (signing, fee bump), or, for a (re)broadcast of a stored
version, of a lease renewal that also checks the settlement is still in the
state the job loaded. If that commit fails (``StoreUnavailable``,
``OutcomeUnknown``) or finds the lock taken over (``SettlementLocked``: the
lease ran out while the database was away and a job on another host took
it), nothing is broadcast and the error ends the cycle; the next cycle
reloads the stored state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection

from bitcache.chain.protocol import ChainBackend
from bitcache.core.accounts import NETWORK_FEES, SETTLING, WALLET, default_spec
from bitcache.core.checks import int64
from bitcache.core.money import MSAT_PER_SAT
from bitcache.core.tip import Tip
from bitcache.errors import (
    BroadcastRejected,
    ChainError,
    FeeEstimateUnavailable,
    InsufficientWalletFunds,
    InvalidInput,
    InvalidTransition,
    LedgerError,
    TransactionError,
)
from bitcache.services.coinparents import fetch_parents, parent_fates
from bitcache.settlement.coins import KeyPath, wallet_coins
from bitcache.settlement.model import (
    BroadcastFailure,
    ReservedPayout,
    Settlement,
    SettlementConfig,
    Version,
)
from bitcache.settlement.payouts import (
    Payable,
    PayoutBatch,
    PayoutPlan,
    Skipped,
    choose_fee_rate,
    plan_payouts,
)
from bitcache.settlement.postings import final_entries, reservation, void_entries
from bitcache.settlement.states import SettlementState
from bitcache.settlement.tracking import Action, Observation, Sighting, Step, decide, observe
from bitcache.store import settlement as settlement_rows
from bitcache.store.holdings import holdings
from bitcache.store.joblock import JobLock
from bitcache.store.ledger import LedgerStore
from bitcache.tx.builder import build_transaction
from bitcache.tx.coinselect import CoinSelection, SpendableCoin, select_coins, use_coins
from bitcache.tx.policy import check_transaction
from bitcache.tx.sign import SignedTransaction, sign_transaction
from bitcache.tx.sizes import vsize_of
from bitcache.wallet.keys import Chain, HDWallet

log = logging.getLogger(__name__)
Hook = Callable[[str], None]
IN_FLIGHT = tuple(s for s in SettlementState if s.in_flight)
_SEEN = (Sighting.OURS_MEMPOOL, Sighting.OURS_CONFIRMED)
MAX_STEPS = 8
_ACCOUNTS = (default_spec(SETTLING), default_spec(NETWORK_FEES), default_spec(WALLET))


def _no_hook(point: str) -> None:
    """Default hook: nothing."""


@dataclass(frozen=True, slots=True)
class _Unsent:
    """Why no version of a settlement went through: the kind, the node's reason (or the
    backend's error), and every version's error for ``last_error``."""

    failure: BroadcastFailure
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class PlanOutcome:
    """What planning did this cycle: settlements created, uploaders skipped, why it stopped."""

    created: tuple[int, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    notes: tuple[str, ...] = ()


class SettlementJob:
    """One job instance over a ledger, a chain backend and a signing wallet."""

    def __init__(
        self,
        ledger: LedgerStore,
        chain: ChainBackend,
        wallet: HDWallet,
        config: SettlementConfig,
        lock: JobLock,
        *,
        clock: Callable[[], int],
        hook: Hook | None = None,
    ) -> None:
        self.ledger, self.chain, self.wallet, self.config = ledger, chain, wallet, config
        self.lock = lock
        self._clock = clock
        self._hook = hook or _no_hook
        self._paths: dict[KeyPath, bytes] = {}

    # --- storage helpers -----------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """A ledger write transaction that renews (and checks) our lock lease."""
        with self.ledger.write() as conn:
            settlement_rows.renew_lock(conn, self.lock.owner, self.lock.expiry())
            yield conn

    def load(self, sid: int) -> Settlement:
        """Settlement ``sid`` (``UnknownEntry`` if none; ``InvalidInput`` for a non-id)."""
        int64(sid, "a settlement id", lo=1)
        with self.ledger.read() as conn:
            return settlement_rows.load_settlement(conn, sid)

    def in_flight(self) -> list[Settlement]:
        with self.ledger.read() as conn:
            return settlement_rows.settlements_in(conn, IN_FLIGHT)

    def _move(self, s: Settlement, target: SettlementState, point: str, **fields: object) -> None:
        with self._tx() as conn:
            settlement_rows.move(conn, s.id, s.state, target, self._clock(), **fields)
        self._done(s.id, point, s.state, target)

    def _done(
        self, sid: int, point: str, source: SettlementState | None, target: SettlementState
    ) -> None:
        """A state change committed: log it, then call the hook."""
        was = "new" if source is None else source.value
        log.info(
            "settlement %d: %s -> %s (%s)", sid, was, target.value, point,
            extra={"settlement": sid, "state": target.value, "previous_state": was},
        )
        self._hook(point)

    def _note(self, s: Settlement, error: str) -> None:
        with self._tx() as conn:
            settlement_rows.note_attempt(conn, s.id, error, self._clock())

    def _note_unsent(self, s: Settlement, unsent: _Unsent, tip: Tip) -> None:
        """Count the attempt and keep why the broadcast failed (in one transaction)."""
        with self._tx() as conn:
            settlement_rows.note_attempt(
                conn, s.id, f"broadcast failed: {unsent.detail}", self._clock()
            )
            settlement_rows.record_broadcast_failure(
                conn, s.id, unsent.failure, unsent.reason, tip.height
            )

    def _clear_unsent(self, s: Settlement) -> None:
        """A version went through or is on chain: forget the last broadcast failure."""
        if s.broadcast_problem is not None:
            with self._tx() as conn:
                settlement_rows.clear_broadcast_failure(conn, s.id)

    # --- observing -----------------------------------------------------------

    def observe(self, s: Settlement, tip: Tip) -> Observation:
        """What the chain shows of ``s``'s inputs (spends of each, by us or not), and of
        the transactions that created the inputs nobody is seen spending — except before
        the first broadcast attempt, when they were just seen as coins."""
        outpoints = [c.outpoint for c in s.inputs]
        spends = [self.chain.outspend(op) for op in outpoints]
        with self.ledger.read() as conn:
            voided = frozenset(settlement_rows.voided_txids(conn))
            kept = settlement_rows.parents(conn, (op.txid for op in outpoints))
        fresh = s.state is SettlementState.SIGNED and s.attempts == 0
        fates = {} if fresh else parent_fates(self.chain, outpoints, spends, kept, tip.height)
        return observe(s.txids, outpoints, spends, tip.height, voided, fates)

    def _bump_due(self, s: Settlement, tip: Tip) -> bool:
        latest = s.latest
        if s.state is not SettlementState.BROADCAST or latest is None:
            return False
        since = max(latest.created_height, s.broadcast_height or 0)
        return tip.height - since >= self.config.bump_after_blocks

    # --- advancing -----------------------------------------------------------

    def advance(self, sid: int) -> Settlement:
        """Take settlement ``sid`` as far as the chain allows this cycle."""
        for _ in range(MAX_STEPS):
            s = self.load(sid)
            if s.state.terminal:
                return s
            tip = self.chain.tip()
            obs = (
                Observation(Sighting.UNSEEN)
                if s.state is SettlementState.PLANNED
                else self.observe(s, tip)
            )
            if obs.sighting in _SEEN:
                self._clear_unsent(s)
            step = decide(
                s.state,
                s.confirmations,
                s.confirmed_txid,
                obs,
                required=self.config.confirmations,
                bump_due=self._bump_due(s, tip),
            )
            if step.action is Action.WAIT or not self._apply(s, step, tip):
                break
        return self.load(sid)

    def _apply(self, s: Settlement, step: Step, tip: Tip) -> bool:
        """Carry out one step; True when the job should look again at once."""
        obs = step.observation
        match step.action:
            case Action.SIGN:
                return self._sign(s, tip)
            case Action.SEND:
                return self._send(s, tip)
            case Action.MARK_BROADCAST:
                self._move(s, SettlementState.BROADCAST, "broadcast", broadcast_height=tip.height)
                return True
            case Action.CONFIRM:
                fields = {"confirmations": obs.depth, "confirmed_txid": obs.txid}
                self._move(s, SettlementState.CONFIRMED, "confirmed", **fields)
                return True
            case Action.FINALIZE:
                return self._finalize(s, obs)
            case Action.UNCONFIRM:
                fields = {"confirmations": 0, "confirmed_txid": None}
                self._move(s, SettlementState.BROADCAST, "unconfirmed", **fields)
                return True
            case Action.BUMP:
                self._bump(s, tip)
                return False
            case Action.VOID:
                self.void(s, _void_reason(obs))
                return False
        return False

    # --- signing and sending -------------------------------------------------

    def _change_script(self, index: int) -> bytes:
        return self._script(Chain.INTERNAL, index)

    def _script(self, chain: Chain, index: int) -> bytes:
        path = (chain, index)
        if path not in self._paths:
            self._paths[path] = self.wallet.derive(chain, index).script_pubkey
        return self._paths[path]

    def _key_for(self, coin: SpendableCoin) -> bytes:
        return self.wallet.private_key(Chain(coin.key_chain), coin.key_index)

    def build_signed(self, s: Settlement, rate: int) -> SignedTransaction:
        """Build and sign ``s``'s payments from exactly its inputs at ``rate`` (deterministic)."""
        payments = s.payments()
        selection = use_coins(s.inputs, payments, rate, anchor=s.anchor)
        unsigned = build_transaction(
            payments,
            selection,
            change_script=self._change_script(s.change_index),
            tip_height=s.created_height,
        )
        signed = sign_transaction(unsigned, self._key_for)
        check_transaction(signed.tx, [c.value_sat for c in signed.coins], self.config.limits)
        return signed

    def _sign(self, s: Settlement, tip: Tip) -> bool:
        try:
            signed = self.build_signed(s, s.fee_rate_sat_per_kvb)
        except (TransactionError, InvalidInput) as exc:
            self.void(s, f"could not be signed: {exc}")
            return False
        version = Version(
            1, signed.txid, signed.raw, signed.fee_sat, s.fee_rate_sat_per_kvb, tip.height
        )
        with self._tx() as conn:
            settlement_rows.insert_version(conn, s.id, version)
            settlement_rows.move(conn, s.id, s.state, SettlementState.SIGNED, self._clock())
        self._done(s.id, "signed", s.state, SettlementState.SIGNED)
        return True

    def _broadcast_any(self, versions: Sequence[Version]) -> _Unsent | None:
        """Broadcast the newest version a node accepts; None, or why none went through."""
        errors, reasons, unreachable = [], [], False
        for version in reversed(versions):
            where = {"txid": version.txid, "version": version.n}
            log.info("broadcasting %s (version %d)", version.txid, version.n, extra=where)
            try:
                self.chain.broadcast(version.raw)
            except BroadcastRejected as exc:
                error, why = str(exc), exc.reason  # the node's own words
                log.warning("broadcast of %s refused: %s", version.txid, why, extra=where)
            except ChainError as exc:
                error, why, unreachable = str(exc), str(exc), True
                log.warning("broadcast of %s failed: %s", version.txid, error, extra=where)
            else:
                log.info("broadcast of %s accepted", version.txid, extra=where)
                return None
            errors.append(f"{version.txid[:16]}: {error}")
            reasons.append(why if len(versions) == 1 else f"version {version.n}: {why}")
        failure = BroadcastFailure.UNREACHABLE if unreachable else BroadcastFailure.REFUSED
        detail = "; ".join(errors) or "no version to broadcast"
        return _Unsent(failure, "; ".join(reasons) or detail, detail)

    def _claim(self, s: Settlement) -> None:
        """Commit, before a broadcast, that this job still holds the lock and ``s`` is still
        in the state it was loaded in (else raise, and nothing is broadcast)."""
        with self._tx() as conn:
            settlement_rows.check_state(conn, s.id, s.state)

    def _send(self, s: Settlement, tip: Tip) -> bool:
        """(Re)broadcast; a refusal is kept and retried next cycle, never a reason to re-plan.

        A version paying less than the node's relay floor (it rose since) would be refused
        for ever: it is replaced at once by a fee bump (same inputs, so still one payout).
        """
        self._claim(s)
        unsent = self._broadcast_any(s.versions)
        if unsent is not None:
            self._note_unsent(s, unsent, tip)
            if self._below_floor(s):
                self._bump(s, tip)
            return False
        self._hook("sent")
        self._clear_unsent(s)
        if s.state is SettlementState.SIGNED:
            self._move(s, SettlementState.BROADCAST, "broadcast", broadcast_height=tip.height)
            return True
        return False

    # --- fee bump ------------------------------------------------------------

    def _below_floor(self, s: Settlement) -> bool:
        """Whether the newest version pays less than the node relays now."""
        if s.latest is None:
            return False
        try:
            return s.latest.fee_rate_sat_per_kvb < self.chain.relay_floor()
        except FeeEstimateUnavailable:
            return False

    def _change_spent_by_others(self, s: Settlement) -> bool:
        with self.ledger.read() as conn:
            reserved = settlement_rows.reserved_outpoints(conn)
        return any(op.txid in s.txids for op in reserved)

    def _bump_selection(self, s: Settlement, latest: Version) -> tuple[int, CoinSelection] | None:
        try:
            estimate = self.chain.fee_rate(self.config.fee_target_blocks)
        except FeeEstimateUnavailable:
            estimate = latest.fee_rate_sat_per_kvb
        try:
            floor = self.chain.relay_floor()
        except FeeEstimateUnavailable:
            floor = 0
        payout, step = self.config.payout, self.config.bump_step_sat_per_kvb
        if floor > payout.fee_ceiling_sat_per_kvb:
            return None
        rate = max(choose_fee_rate(estimate, payout, floor), latest.fee_rate_sat_per_kvb + step)
        selection = use_coins(s.inputs, s.payments(), rate, anchor=s.anchor)
        vsize = vsize_of(selection.weight)
        required = latest.fee_sat + -(-step * vsize // 1000)
        rate = max(rate, -(-required * 1000 // vsize))
        if rate > self.config.payout.fee_ceiling_sat_per_kvb:
            return None
        selection = use_coins(s.inputs, s.payments(), rate, anchor=s.anchor)
        return (rate, selection) if selection.fee_sat >= required else None

    def _bump(self, s: Settlement, tip: Tip) -> None:
        """Replace the latest version by one paying more, with the same inputs and payees."""
        latest = s.latest
        if latest is None or self._change_spent_by_others(s):
            return
        try:
            found = self._bump_selection(s, latest)
            signed = None if found is None else self.build_signed(s, found[0])
        except (TransactionError, InvalidInput) as exc:
            self._note(s, f"fee bump failed: {exc}")
            return
        if found is None or signed is None:
            self._note(s, "fee bump not possible within the fee ceiling and the inputs' change")
            return
        version = Version(
            latest.n + 1, signed.txid, signed.raw, signed.fee_sat, found[0], tip.height
        )
        with self._tx() as conn:
            settlement_rows.insert_version(conn, s.id, version)
            settlement_rows.move(conn, s.id, s.state, SettlementState.BROADCAST, self._clock())
        self._done(s.id, "bumped", s.state, SettlementState.BROADCAST)
        unsent = self._broadcast_any([version])
        if unsent is not None:  # the previous version is still in the mempool
            self._note(s, f"broadcast of the fee bump failed: {unsent.detail}")
            return
        self._hook("bump-sent")

    # --- final and void ------------------------------------------------------

    def _finalize(self, s: Settlement, obs: Observation) -> bool:
        """Post the reservations and book the wallet outflow of the confirmed version."""
        assert obs.txid is not None
        version = s.version(obs.txid)
        try:
            with self._tx() as conn:
                requests = final_entries(s, version)
                self.ledger.record_many_in(conn, requests, atomic=True, open_accounts=_ACCOUNTS)
                fields = {"confirmations": obs.depth}
                settlement_rows.move(
                    conn, s.id, s.state, SettlementState.FINAL, self._clock(), **fields
                )
        except LedgerError as exc:
            self._note(s, f"final entries refused: {exc}")
            return False
        self._done(s.id, "final", s.state, SettlementState.FINAL)
        return False

    def void(self, s: Settlement, reason: str) -> None:
        """Release the reservations of ``s`` (its credit is back) and mark it void."""
        with self._tx() as conn:
            self.ledger.record_many_in(conn, void_entries(s, reason), atomic=True)
            settlement_rows.move(
                conn, s.id, s.state, SettlementState.VOID, self._clock(), reason=reason[:500]
            )
        self._done(s.id, "void", s.state, SettlementState.VOID)
        log.warning("settlement %d voided: %s", s.id, reason, extra={"settlement": s.id})

    def abandon(self, sid: int, reason: str) -> Settlement:
        """Void ``sid`` on the operator's word, if no version of it is visible on chain."""
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput("abandoning a settlement needs a reason")
        s = self.load(sid)
        if s.state.terminal:
            raise InvalidTransition(f"settlement {sid} is already {s.state.value}")
        tip = self.chain.tip()
        obs = self.observe(s, tip) if s.versions else Observation(Sighting.UNSEEN)
        if obs.sighting in (Sighting.OURS_CONFIRMED, Sighting.OURS_MEMPOOL):
            raise InvalidTransition(
                f"settlement {sid}: version {obs.txid} is {obs.sighting.value.split('_')[1]}; "
                "it cannot be abandoned while it can still confirm"
            )
        if s.state is SettlementState.CONFIRMED:
            self._move(s, SettlementState.BROADCAST, "unconfirmed", confirmations=0)
            s = self.load(sid)
        self.void(s, f"abandoned: {reason.strip()}")
        return self.load(sid)

    # --- planning ------------------------------------------------------------

    def _due(self, tip: Tip) -> str | None:
        """None when a new batch may be planned now, else why not."""
        with self.ledger.read() as conn:
            flying = len(settlement_rows.settlements_in(conn, IN_FLIGHT))
            last = settlement_rows.last_created_height(conn)
        if flying >= self.config.max_in_flight:
            return f"{flying} settlement(s) in flight (max {self.config.max_in_flight})"
        if last is not None and tip.height - last < self.config.batch_interval_blocks:
            due = last + self.config.batch_interval_blocks
            return f"last batch at height {last}: the next is due at {due}"
        return None

    def payables(self) -> list[Payable]:
        """Uploaders with an available payable balance, a payout address and no open payout."""
        prefix = "liability:payable:"
        balances = self.ledger.balances(prefix)
        with self.ledger.read() as conn:
            addresses = settlement_rows.current_payout_addresses(conn)
            busy = settlement_rows.open_payees(conn)
        found = []
        for name, balance in balances.items():
            uploader = name[len(prefix) :]
            address = addresses.get(uploader)
            available = balance.available(False)
            if address is None or uploader in busy or available <= 0:
                continue
            found.append(Payable(uploader, available, address.script_pubkey, address.script_type))
        return found

    def spendable_coins(self, tip: Tip) -> list[SpendableCoin]:
        """Coins the books hold that the chain shows unspent and spendable now
        (see :mod:`bitcache.settlement.coins`): never an uncredited deposit."""
        with self.ledger.read() as conn:
            held = holdings(conn)
            reserved = settlement_rows.reserved_outpoints(conn)
        scripts = sorted({self._script(*path) for path in held.key_paths()})
        utxos = self.chain.utxos(scripts) if scripts else []
        return wallet_coins(
            utxos,
            held,
            lambda path: self._script(*path),
            reserved,
            tip.height,
            self.config.min_input_confirmations,
        )

    def _wallet_headroom(self) -> int:
        """msat the books' asset:wallet can still see leave: its balance less what is in flight."""
        found = self.ledger.balances(WALLET).get(WALLET)
        available = 0 if found is None else found.available(True)
        for s in self.in_flight():
            fees = [v.fee_sat for v in s.versions]
            worst = s.payout_sat + max(fees) if fees else sum(c.value_sat for c in s.inputs)
            available -= worst * MSAT_PER_SAT
        return available

    def plan_and_send(self, anchor: bytes | None = None) -> PlanOutcome:
        """Plan a new cycle if due; commit each batch, then sign and send it."""
        tip = self.chain.tip()
        why_not = self._due(tip)
        if why_not is not None:
            return PlanOutcome(notes=(why_not,))
        payables = self.payables()
        if not payables:
            return PlanOutcome(notes=("no uploader is due a payout",))
        try:
            estimate = self.chain.fee_rate(self.config.fee_target_blocks)
            floor = self.chain.relay_floor()
        except FeeEstimateUnavailable as exc:
            return PlanOutcome(notes=(f"no fee estimate: {exc}",))
        ceiling = self.config.payout.fee_ceiling_sat_per_kvb
        if floor > ceiling:
            note = f"the node relays nothing under {floor} sat/kvB, above the fee ceiling {ceiling}"
            return PlanOutcome(notes=(note,))
        plan = plan_payouts(
            payables, self.config.payout, estimate, anchor=anchor, relay_floor_sat_per_kvb=floor
        )
        created, notes = self._send_batches(plan, tip)
        return PlanOutcome(tuple(created), plan.skipped, tuple(notes))

    def _send_batches(self, plan: PayoutPlan, tip: Tip) -> tuple[list[int], list[str]]:
        coins = self.spendable_coins(tip)
        headroom = self._wallet_headroom()
        room = self.config.max_in_flight - len(self.in_flight())
        created: list[int] = []
        for batch in plan.batches[: max(room, 0)]:
            rate = plan.fee_rate_sat_per_kvb
            try:
                chosen = select_coins(coins, batch.payments(), rate, anchor=batch.anchor)
                selection = use_coins(chosen.coins, batch.payments(), rate, anchor=batch.anchor)
            except InsufficientWalletFunds as exc:
                return created, [f"batch not sent: {exc}"]
            outflow = (batch.payout_sat + selection.fee_sat) * MSAT_PER_SAT
            if outflow > headroom:
                note = f"the books' {WALLET} covers {headroom} msat, the batch needs {outflow}"
                return created, [note]
            parents, missing = fetch_parents(self.chain, selection.coins)
            if missing:
                return created, [_no_parent_note(missing)]
            try:
                sid = self._commit_plan(batch, selection, rate, tip, parents)
            except LedgerError as exc:
                return created, [f"reservation refused: {exc}"]
            headroom -= outflow
            coins = [c for c in coins if c not in selection.coins]
            created.append(sid)
            self.advance(sid)
        return created, []

    def _commit_plan(
        self,
        batch: PayoutBatch,
        selection: CoinSelection,
        rate: int,
        tip: Tip,
        parents: Mapping[str, bytes],
    ) -> int:
        """Commit a planned settlement: row, inputs, change index, one reservation per payee,
        and a copy of each transaction that created an input."""
        with self._tx() as conn:
            settlement_rows.save_parents(conn, parents, self._clock())
            change_index = settlement_rows.allocate_change_index(conn)
            new = settlement_rows.NewSettlement(
                rate, tip.height, change_index, batch.anchor, selection.coins
            )
            sid = settlement_rows.insert_settlement(conn, new, self._clock())
            requests = [reservation(sid, line.uploader, line.reserved_msat) for line in batch.lines]
            entries = self.ledger.record_many_in(
                conn, requests, atomic=True, open_accounts=_ACCOUNTS
            ).entries()
            payees = [
                ReservedPayout(
                    line.uploader,
                    line.script_pubkey,
                    line.script_type,
                    line.payout_sat,
                    line.fee_share_msat,
                    entry.id,
                )
                for line, entry in zip(batch.lines, entries, strict=True)
            ]
            settlement_rows.insert_payouts(conn, sid, payees)
            settlement_rows.announce(conn, sid, None, SettlementState.PLANNED, self._clock())
        self._done(sid, "planned", None, SettlementState.PLANNED)
        return sid


def _void_reason(obs: Observation) -> str:
    if obs.sighting is Sighting.PARENT_VOIDED:
        return "an input was created by a void settlement"
    if obs.sighting is Sighting.PARENT_CONFLICTED:
        return (
            f"an input no longer exists: its transaction {obs.parent} left the chain and "
            f"{obs.txid}, which spends one of that transaction's inputs, is "
            f"{obs.depth} confirmations deep"
        )
    return f"input spent by {obs.txid}, not ours, {obs.depth} confirmations deep"


def _no_parent_note(missing: Sequence[str]) -> str:
    return (
        f"batch not sent: the backend does not give transaction {missing[0]}, which created "
        "an input (a copy is kept to follow its fate after a reorg; Bitcoin Core needs "
        "txindex=1)"
    )
