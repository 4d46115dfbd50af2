"""What reconcile reports: the checks, each discrepancy, the wallet's view.

Frozen report types, plus :class:`Findings`, which collects discrepancies by
check while the checks run (the first ``MAX_LISTED`` listed, the rest counted).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from bitcache.core.money import MSAT_PER_SAT

#: Discrepancies listed per check; beyond that they are counted.
MAX_LISTED = 20

Progress = Callable[[int, int], None]
"""``progress(entries_done, entries_total)``, called after each chunk of the journal pass."""


class Check(enum.Enum):
    """The checks reconcile runs, in report order."""

    TRIAL_BALANCE = "trial_balance"
    ENTRY_BALANCE = "entry_balance"
    HASH_CHAIN = "hash_chain"
    ACCOUNT_BALANCES = "account_balances"
    RESERVATIONS = "reservations"
    DEPOSITS = "deposits"
    REORGED_DEPOSITS = "reorged_deposits"
    WALLET = "wallet"
    PAYOUTS = "payouts"
    DOUBLE_PAYOUTS = "double_payouts"
    SETTLEMENTS = "settlements"


@dataclass(frozen=True, slots=True)
class Discrepancy:
    """One thing that does not reconcile: which check, what it concerns, and why."""

    check: Check
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"{self.check.value}: {self.subject}: {self.detail}"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """A check's verdict: ``ok`` True/False, or None when it was skipped (``note`` says why)."""

    check: Check
    ok: bool | None
    found: int = 0
    note: str = ""


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A known reason why the chain shows another wallet value than the books, in sats.

    ``kind`` is ``in_flight_settlement`` (coins left the wallet on chain; the
    books post it at N confirmations) or ``awaiting_credit`` (a deposit on
    chain not credited yet).
    """

    kind: str
    subject: str
    sat: int
    note: str


@dataclass(frozen=True, slots=True)
class WalletView:
    """``asset:wallet`` against the chain: books + adjustments should equal the chain."""

    books_msat: int
    chain_sat: int
    adjustments: tuple[Adjustment, ...]
    coins: int

    @property
    def expected_sat(self) -> int:
        return self.books_msat // MSAT_PER_SAT + sum(a.sat for a in self.adjustments)

    @property
    def difference_sat(self) -> int:
        """Chain minus expected: negative when coins are missing, positive when unbooked."""
        return self.chain_sat - self.expected_sat


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """Every check's verdict, the discrepancies named, and the wallet comparison."""

    entries: int
    checks: tuple[CheckResult, ...]
    discrepancies: tuple[Discrepancy, ...]
    wallet: WalletView | None = None

    @property
    def ok(self) -> bool:
        return all(c.ok is not False for c in self.checks)

    def failed(self) -> list[Check]:
        return [c.check for c in self.checks if c.ok is False]

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (amounts as integers)."""
        wallet = None
        if self.wallet is not None:
            w = self.wallet
            wallet = {
                "books_msat": w.books_msat,
                "chain_sat": w.chain_sat,
                "expected_sat": w.expected_sat,
                "difference_sat": w.difference_sat,
                "coins": w.coins,
                "adjustments": [
                    {"kind": a.kind, "subject": a.subject, "sat": a.sat, "note": a.note}
                    for a in w.adjustments
                ],
            }
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checks": {
                c.check.value: {"ok": c.ok, "found": c.found, "note": c.note} for c in self.checks
            },
            "discrepancies": [
                {"check": d.check.value, "subject": d.subject, "detail": d.detail}
                for d in self.discrepancies
            ],
            "wallet": wallet,
        }


class Findings:
    """Discrepancies by check: the first MAX_LISTED listed, the rest counted."""

    def __init__(self) -> None:
        self.listed: dict[Check, list[Discrepancy]] = {c: [] for c in Check}
        self.count: Counter[Check] = Counter()

    def add(self, check: Check, subject: str, detail: str) -> None:
        self.count[check] += 1
        if len(self.listed[check]) < MAX_LISTED:
            self.listed[check].append(Discrepancy(check, subject, detail))

    def result(self, check: Check, note: str = "") -> CheckResult:
        found = self.count[check]
        more = found - len(self.listed[check])
        if more:
            note = f"{note}; {more} more not listed".lstrip("; ")
        return CheckResult(check, found == 0, found, note)
