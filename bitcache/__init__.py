"""bitcache: pay file uploaders in bitcoin.

A double-entry ledger of millisatoshis keyed by file hashes, with batched,
crash-safe settlement on bitcoin testnet. The public API is re-exported here.
"""

from bitcache.core.accounts import AccountKind, AccountSpec
from bitcache.core.balances import Balance
from bitcache.core.entries import Entry, EntryKind, EntryRequest, Posting, posting
from bitcache.core.filehash import FileHash, file_hash
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
from bitcache.errors import *  # noqa: F403
from bitcache.errors import __doc__ as _errors_doc  # noqa: F401
from bitcache.network import Network, network
from bitcache.store.ledger import BatchResult, LedgerStore

__version__ = "0.1.0"

__all__ = [
    "MAX_MSAT",
    "MSAT_PER_BTC",
    "MSAT_PER_SAT",
    "AccountKind",
    "AccountSpec",
    "Balance",
    "BatchResult",
    "ChainReport",
    "Entry",
    "EntryKind",
    "EntryRequest",
    "FileHash",
    "LedgerStore",
    "Msat",
    "Network",
    "Posting",
    "Sat",
    "__version__",
    "file_hash",
    "format_btc",
    "format_sats",
    "msat",
    "msat_to_sats_floor",
    "network",
    "parse_btc",
    "parse_sats",
    "posting",
    "sats_to_msat",
    "split_bps",
    "split_by_weights",
]
