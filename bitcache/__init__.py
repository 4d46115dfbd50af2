"""bitcache: pay file uploaders in bitcoin.

A double-entry ledger of millisatoshis keyed by file hashes, with batched,
crash-safe settlement on bitcoin testnet. The public API is exported here,
lazily (PEP 562, :mod:`bitcache.lazy`): ``import bitcache`` loads only the
error tree and the networks, and each name loads its module on first use,
so ``import bitcache.core.money`` or the statement verifier do not bring
the database and chain stack with them.
"""

import logging
from typing import TYPE_CHECKING

from bitcache.errors import *  # noqa: F403
from bitcache.lazy import exports

# Eager: ``bitcache.network`` is both a module and the public function; importing
# the module here, before anyone else does, binds the name to the function for good.
from bitcache.network import Network, network

# A library configures no logging: the ``bitcache`` loggers are silent until the
# application adds a handler (the CLI does, see bitcache.telemetry.logs).
logging.getLogger("bitcache").addHandler(logging.NullHandler())

#: Where each public name lives: ``__getattr__`` imports the module on first use.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "bitcache.chain.protocol": ("ChainBackend", "TxStatus"),
    "bitcache.core.accounts": ("AccountKind", "AccountSpec"),
    "bitcache.core.balances": ("Balance",),
    "bitcache.core.entries": ("Entry", "EntryKind", "EntryRequest", "Posting", "posting"),
    "bitcache.core.entrymeta": ("EntryMeta",),
    "bitcache.core.filehash": ("FileHash", "file_hash"),
    "bitcache.core.files": ("FileRecord", "FileTerms"),
    "bitcache.core.journal": ("ChainReport",),
    "bitcache.core.money": (
        "MAX_MSAT",
        "MSAT_PER_BTC",
        "MSAT_PER_SAT",
        "Msat",
        "Sat",
        "format_btc",
        "format_sats",
        "msat",
        "msat_to_sats_floor",
        "parse_btc",
        "parse_sats",
        "sats_to_msat",
    ),
    "bitcache.settlement.payouts": ("FeePayer", "PayoutPolicy"),
    "bitcache.core.splits": ("split_bps", "split_by_weights"),
    "bitcache.core.tip": ("Tip",),
    "bitcache.core.utxo": ("OutPoint", "OutSpend", "Utxo"),
    "bitcache.core.terms": (
        "KEEP",
        "Keep",
        "TermChange",
        "TermsReason",
        "TermsUpdate",
        "replay",
    ),
    "bitcache.events.kinds": ("EventKind",),
    "bitcache.reconciliation.checks": ("reconcile",),
    "bitcache.reconciliation.report": (
        "Adjustment",
        "Check",
        "CheckResult",
        "Discrepancy",
        "ReconcileReport",
        "WalletView",
    ),
    "bitcache.retry": ("RetryPolicy",),
    "bitcache.services.deposits": ("DepositService", "ScanReport"),
    "bitcache.services.registry": ("term_history",),
    "bitcache.services.settlement": ("CycleReport", "SettlementService"),
    "bitcache.services.statements": ("consistency_proof", "issue_statement", "tree_head"),
    "bitcache.services.webhooks": ("DeliveryPolicy", "EndpointReport", "Webhooks"),
    "bitcache.settlement": ("SettlementConfig", "SettlementState"),
    "bitcache.statements.statement": ("VerifiedStatement",),
    "bitcache.statements.treehead": (
        "SignedTreeHead",
        "anchor_payload",
        "parse_anchor",
        "verify_consistency",
    ),
    "bitcache.statements.verify": ("verify_statement",),
    "bitcache.store.ledger": ("BatchResult", "LedgerStore"),
    "bitcache.telemetry.logs": ("LogFormat", "LogSettings", "configure_logging"),
    "bitcache.wallet": (
        "DerivedKey",
        "HDWallet",
        "PayoutScript",
        "address_for_script",
        "decrypt_mnemonic",
        "generate_mnemonic",
        "parse_address",
        "seal",
    ),
    "bitcache.wallet.platformkey": (
        "generate_platform_key",
        "load_platform_key",
        "load_public_key",
        "parse_public_key",
        "public_key_hex",
        "save_platform_key",
    ),
}

if TYPE_CHECKING:
    from bitcache.chain.protocol import ChainBackend, TxStatus
    from bitcache.core.accounts import AccountKind, AccountSpec
    from bitcache.core.balances import Balance
    from bitcache.core.entries import Entry, EntryKind, EntryRequest, Posting, posting
    from bitcache.core.entrymeta import EntryMeta
    from bitcache.core.filehash import FileHash, file_hash
    from bitcache.core.files import FileRecord, FileTerms
    from bitcache.core.journal import ChainReport
    from bitcache.core.money import (
        MAX_MSAT,
        MSAT_PER_BTC,
        MSAT_PER_SAT,
        Msat,
        Sat,
        format_btc,
        format_sats,
        msat,
        msat_to_sats_floor,
        parse_btc,
        parse_sats,
        sats_to_msat,
    )
    from bitcache.core.splits import split_bps, split_by_weights
    from bitcache.core.terms import KEEP, Keep, TermChange, TermsReason, TermsUpdate, replay
    from bitcache.core.tip import Tip
    from bitcache.core.utxo import OutPoint, OutSpend, Utxo
    from bitcache.events.kinds import EventKind
    from bitcache.reconciliation.checks import reconcile
    from bitcache.reconciliation.report import (
        Adjustment,
        Check,
        CheckResult,
        Discrepancy,
        ReconcileReport,
        WalletView,
    )
    from bitcache.retry import RetryPolicy
    from bitcache.services.deposits import DepositService, ScanReport
    from bitcache.services.registry import term_history
    from bitcache.services.settlement import CycleReport, SettlementService
    from bitcache.services.statements import consistency_proof, issue_statement, tree_head
    from bitcache.services.webhooks import DeliveryPolicy, EndpointReport, Webhooks
    from bitcache.settlement import SettlementConfig, SettlementState
    from bitcache.settlement.payouts import FeePayer, PayoutPolicy
    from bitcache.statements.statement import VerifiedStatement
    from bitcache.statements.treehead import (
        SignedTreeHead,
        anchor_payload,
        parse_anchor,
        verify_consistency,
    )
    from bitcache.statements.verify import verify_statement
    from bitcache.store.ledger import BatchResult, LedgerStore
    from bitcache.telemetry.logs import LogFormat, LogSettings, configure_logging
    from bitcache.wallet import (
        DerivedKey,
        HDWallet,
        PayoutScript,
        address_for_script,
        decrypt_mnemonic,
        generate_mnemonic,
        parse_address,
        seal,
    )
    from bitcache.wallet.platformkey import (
        generate_platform_key,
        load_platform_key,
        load_public_key,
        parse_public_key,
        public_key_hex,
        save_platform_key,
    )
else:
    __getattr__, __dir__ = exports(__name__, _EXPORTS)

__version__ = "0.1.0"

__all__ = [
    "KEEP",
    "MAX_MSAT",
    "MSAT_PER_BTC",
    "MSAT_PER_SAT",
    "AccountKind",
    "AccountSpec",
    "Adjustment",
    "Balance",
    "BatchResult",
    "ChainBackend",
    "ChainReport",
    "Check",
    "CheckResult",
    "CycleReport",
    "DeliveryPolicy",
    "DepositService",
    "DerivedKey",
    "Discrepancy",
    "EndpointReport",
    "Entry",
    "EntryKind",
    "EntryMeta",
    "EntryRequest",
    "EventKind",
    "FeePayer",
    "FileHash",
    "FileRecord",
    "FileTerms",
    "HDWallet",
    "Keep",
    "LedgerStore",
    "LogFormat",
    "LogSettings",
    "Msat",
    "Network",
    "OutPoint",
    "OutSpend",
    "PayoutPolicy",
    "PayoutScript",
    "Posting",
    "ReconcileReport",
    "RetryPolicy",
    "Sat",
    "ScanReport",
    "SettlementConfig",
    "SettlementService",
    "SettlementState",
    "SignedTreeHead",
    "TermChange",
    "TermsReason",
    "TermsUpdate",
    "Tip",
    "TxStatus",
    "Utxo",
    "VerifiedStatement",
    "WalletView",
    "Webhooks",
    "__version__",
    "address_for_script",
    "anchor_payload",
    "configure_logging",
    "consistency_proof",
    "decrypt_mnemonic",
    "file_hash",
    "format_btc",
    "format_sats",
    "generate_mnemonic",
    "generate_platform_key",
    "issue_statement",
    "load_platform_key",
    "load_public_key",
    "msat",
    "msat_to_sats_floor",
    "network",
    "parse_address",
    "parse_anchor",
    "parse_btc",
    "parse_public_key",
    "parse_sats",
    "posting",
    "public_key_hex",
    "reconcile",
    "replay",
    "sats_to_msat",
    "save_platform_key",
    "seal",
    "split_bps",
    "split_by_weights",
    "term_history",
    "tree_head",
    "verify_consistency",
    "verify_statement",
]
