"""The one exception tree of bitcache.

Every error bitcache raises on purpose is a ``BitcacheError``; third-party
errors are wrapped with ``raise … from exc`` so callers catch one family.
Error codes and exit codes exist only in the CLI.

::

    BitcacheError
    ├── InvalidInput (also ValueError)      bad argument: nothing was written
    │   ├── InvalidAmount                   not an int, zero/negative where refused, out of range
    │   ├── InvalidFileHash                 not a 32-byte SHA-256 (64 hex chars)
    │   ├── InvalidIdempotencyKey           empty, oversized, not text, control characters
    │   ├── InvalidAccountName              malformed account name
    │   ├── UnbalancedEntry                 postings do not sum to zero, or fewer than two
    │   ├── InvalidMetadata                 an entry's typed metadata is of the wrong type or shape
    │   ├── InvalidAddress                  unparseable or wrong address
    │   │   ├── AddressNetworkMismatch      valid address, other network
    │   │   ├── AddressChecksumError        bad bech32/bech32m/base58 checksum
    │   │   ├── AddressEncodingMismatch     bech32 used for v1+, or bech32m for v0
    │   │   └── WitnessProgramError         wrong witness version / program length
    │   ├── InvalidPolicy                   nonsensical configuration value
    │   └── InvalidConfig                   a node folder's configuration, seed or key is bad
    │                                       (``key``: the configuration key at fault, if any)
    ├── LedgerError                         a valid request the books refuse
    │   ├── UnknownAccount
    │   ├── AccountConflict                 account exists with another kind/limit
    │   ├── InsufficientFunds               a limited account would go below zero
    │   ├── BalanceOutOfRange               a balance would leave the 64-bit range stored
    │   ├── IdempotencyConflict             same key, different content
    │   ├── UnknownEntry
    │   ├── PendingStateError               pending already posted/voided, not pending
    │   │   └── PendingExpired
    │   ├── AlreadyReversed
    │   ├── JournalCorrupt                  the hash chain or a balance does not verify
    │   ├── UnknownDeposit                  no deposit is recorded for that outpoint
    │   └── DepositStateError               the deposit's state does not allow that recovery step
    ├── StoreError                          the database failed (wrapped driver error); permanent
    │   ├── StoreUnavailable                retryable: connection lost or refused, server shutting
    │   │   │                               down or starting, read-only standby, serialization
    │   │   │                               failure, deadlock, statement timeout, SQLite busy
    │   │   ├── DeadlineExceeded            the call's deadline passed: its connection was
    │   │   │                               abandoned, nothing was committed
    │   │   └── OutcomeUnknown              the connection died after COMMIT was sent: retry with
    │   │                                   the same key (exactly once either way)
    │   ├── ConstraintViolation             a constraint or trigger refused the write
    │   └── SchemaError                     database not initialised / wrong version
    ├── WalletError
    │   ├── WrongPassphrase
    │   ├── MainnetRefused                  mainnet used without explicit opt-in
    │   ├── InvalidExtendedKey              malformed or wrong-network xpub/tpub/vpub
    │   ├── InvalidMnemonic
    │   ├── WatchOnlyWallet                 signing asked of a wallet without keys
    │   ├── SeedBlobCorrupt                 encrypted seed blob damaged or of unknown format
    │   ├── GapLimitExceeded                next deposit index would break the gap limit
    │   └── WalletMismatch                  the wallet does not derive the stored deposit addresses
    ├── ChainError
    │   ├── ChainUnavailable                timeout, connection refused, 5xx after retries
    │   │   ├── RateLimited                 HTTP 429 after retries
    │   │   └── FeeEstimateUnavailable      the backend has no fee estimate for that target
    │   ├── ChainAuthFailed                 the backend refused our credentials (HTTP 401/403)
    │   ├── ChainMismatch                   the backend serves another network than configured
    │   ├── ChainProtocolError              garbage or unexpected response
    │   ├── BroadcastRejected               the node refused a transaction (reason kept)
    │   │   ├── FeeTooLow
    │   │   ├── InputsMissingOrSpent
    │   │   ├── NonStandardTransaction
    │   │   └── InvalidTransaction          consensus-invalid: bad script, outputs above inputs
    │   ├── BlockRejected                   the embedded chain refused a block
    │   └── ReorgTooDeep                    a credited deposit lost its confirmations
    ├── TransactionError                    building or signing a transaction failed
    │   ├── InsufficientWalletFunds
    │   └── PolicyViolation                 dust, weight, fee floor, fee cap
    ├── SettlementError
    │   ├── SettlementLocked                another job holds the settlement lock
    │   └── InvalidTransition               state machine transition not allowed
    ├── ReconcileError                      reconcile found a discrepancy
    ├── EventError                          payout and deposit events (the outbox, webhooks)
    │   ├── UnknownEvent                    no event has that id
    │   └── SignatureInvalid                a webhook signature is malformed, stale or wrong
    ├── StatementInvalid                    a statement, tree head or proof fails (names the line)
    ├── MissingExtra                        an optional part (the ``kernel`` extra) is not installed
    ├── HookError                           refusals of the storage-server API
    │   ├── UnknownFile
    │   ├── FileOwnershipConflict
    │   ├── DownloadCapReached
    │   ├── FileHeld
    │   └── FileNotHeld                     release/refund of a file that is not held
    └── ServeError                          refusals of the HTTP service (bitcache serve)
        ├── AuthenticationFailed            no, malformed, unknown or revoked API key
        ├── ScopeDenied                     the key has no scope allowing the request
        ├── TooManyFailures                 a client's authentication failures over the limit
        ├── LinkInvalid                     a download link whose signature does not verify
        │   └── LinkExpired                 a genuine link past its expiry
        ├── LinkUsed                        a link's charge paid for other bytes
        ├── RangeNotSatisfiable             a Range header that asks no byte of the file
        ├── BodyTooLarge                    a request body over the service's limit
        ├── FileMissing                     registered, but not on the host's disk
        ├── IdempotencyKeyReused            an Idempotency-Key sent again with another request
        ├── RequestInProgress               the first request with that key still runs
        └── ServiceUnavailable              a part the request needs is not configured
"""

from __future__ import annotations


class BitcacheError(Exception):
    """Root of every error bitcache raises on purpose."""


# --- bad input ------------------------------------------------------------


class InvalidInput(BitcacheError, ValueError):
    """An argument is malformed; nothing was written."""


class InvalidAmount(InvalidInput):
    """An amount is not an int, is out of range, or has the wrong sign."""


class InvalidFileHash(InvalidInput):
    """A file hash is not a 32-byte SHA-256 digest."""


class InvalidIdempotencyKey(InvalidInput):
    """An idempotency key is empty, too long, not text or has control characters."""


class InvalidAccountName(InvalidInput):
    """An account name does not follow ``family:part[:part]`` rules."""


class UnbalancedEntry(InvalidInput):
    """An entry's postings do not sum to zero, or it has fewer than two postings."""


class InvalidMetadata(InvalidInput):
    """An entry's typed metadata (a charge's parts, bytes, size, rate) is malformed."""


class InvalidAddress(InvalidInput):
    """A bitcoin address cannot be parsed into an output script."""


class AddressNetworkMismatch(InvalidAddress):
    """The address is valid, but for another network."""


class AddressChecksumError(InvalidAddress):
    """The address checksum does not verify."""


class AddressEncodingMismatch(InvalidAddress):
    """bech32 used for witness v1+, or bech32m for witness v0 (BIP350)."""


class WitnessProgramError(InvalidAddress):
    """Witness version or program length is not allowed."""


class InvalidPolicy(InvalidInput):
    """A configuration or policy value makes no sense."""


class InvalidConfig(InvalidInput):
    """A node folder's configuration, seed or key file is missing, unreadable or malformed.

    ``key`` names the configuration key at fault (``settlement.max_in_flight``,
    or the environment variable that set it) when one is; the message starts
    with it, so an operator sees which line to fix.
    """

    def __init__(self, message: str, *, key: str | None = None):
        super().__init__(message)
        self.key = key


# --- ledger ---------------------------------------------------------------


class LedgerError(BitcacheError):
    """The books refuse a well-formed request."""


class UnknownAccount(LedgerError):
    """The account does not exist."""


class AccountConflict(LedgerError):
    """The account exists with another kind or limit."""


class InsufficientFunds(LedgerError):
    """A limited account would go below zero (pending amounts included)."""

    def __init__(self, message: str, *, account: str = "", available: int = 0, needed: int = 0):
        super().__init__(message)
        self.account = account
        self.available = available
        self.needed = needed


class BalanceOutOfRange(LedgerError):
    """An account's balance would leave the signed 64-bit range the database stores."""


class IdempotencyConflict(LedgerError):
    """The idempotency key was used before with different content."""


class UnknownEntry(LedgerError):
    """No entry has that id or key."""


class PendingStateError(LedgerError):
    """The entry is not an open pending entry (already posted, voided, or not pending)."""


class PendingExpired(PendingStateError):
    """The pending entry's expiry has passed; it can only be voided."""


class AlreadyReversed(LedgerError):
    """The entry was already reversed."""


class JournalCorrupt(LedgerError):
    """The journal's hash chain or a stored balance does not verify."""


class UnknownDeposit(LedgerError):
    """No deposit is recorded for that outpoint."""


class DepositStateError(LedgerError):
    """A deposit is not in a state that allows the asked recovery step (reversing a
    credit that is backed by the chain, re-crediting one that was never reversed…)."""


# --- store ----------------------------------------------------------------


class StoreError(BitcacheError):
    """The database failed; the driver's error is the ``__cause__``.

    A plain ``StoreError`` and its other subclasses are permanent: retrying
    the same call will fail the same way. Only :class:`StoreUnavailable` is
    worth retrying.
    """


class StoreUnavailable(StoreError):
    """The database cannot serve the call now; the same call may succeed later.

    Raised for a lost or refused connection (SQLSTATE class 08), a server
    shutting down or starting (57P01–57P03), a read-only session such as a
    standby (25006), a serialization failure or deadlock (40001, 40P01), a
    statement timeout or cancel (57014), too many connections (53300), and
    SQLite's busy and locked errors. Nothing was committed — except for the
    :class:`OutcomeUnknown` subclass.
    """


class DeadlineExceeded(StoreUnavailable):
    """The call's deadline passed: its connection was abandoned and nothing was committed."""


class OutcomeUnknown(StoreUnavailable):
    """The connection died after COMMIT was sent, so the write may or may not have committed.

    Retry with the same idempotency key: a committed write answers its
    original result (``replayed``), one that did not commit is made now —
    exactly once either way.
    """


class ConstraintViolation(StoreError):
    """A constraint or trigger of the database refused the write (permanent)."""


class SchemaError(StoreError):
    """The database is not initialised or is at another schema version."""


# --- wallet ---------------------------------------------------------------


class WalletError(BitcacheError):
    """Keys, seeds and derivation."""


class WrongPassphrase(WalletError):
    """The passphrase does not decrypt the seed."""


class MainnetRefused(WalletError):
    """Mainnet was asked for without the explicit opt-in."""


class InvalidExtendedKey(WalletError, InvalidInput):
    """An extended key is malformed or belongs to another network."""


class InvalidMnemonic(WalletError, InvalidInput):
    """A BIP39 mnemonic is malformed or fails its checksum."""


class WatchOnlyWallet(WalletError):
    """Signing was asked of a watch-only wallet."""


class SeedBlobCorrupt(WalletError):
    """An encrypted seed blob is truncated, damaged, or of an unknown format version."""


class GapLimitExceeded(WalletError):
    """Handing out another address would leave more unused addresses than the gap limit."""


class WalletMismatch(WalletError):
    """The wallet (another seed or account) does not derive the deposit addresses on record."""


# --- chain ----------------------------------------------------------------


class ChainError(BitcacheError):
    """Talking to a chain backend failed."""


class ChainUnavailable(ChainError):
    """Timeout, refused connection, or server errors after retries."""


class RateLimited(ChainUnavailable):
    """The backend kept answering HTTP 429."""


class FeeEstimateUnavailable(ChainUnavailable):
    """The backend has no fee estimate for the asked target (too little data yet)."""


class ChainAuthFailed(ChainError):
    """The backend refused our credentials (HTTP 401/403): user, password or cookie."""


class ChainMismatch(ChainError):
    """The backend serves another network than the one bitcache was configured for."""


class ChainProtocolError(ChainError):
    """The backend answered something that is not what the protocol promises."""


class BroadcastRejected(ChainError):
    """The node refused the transaction; ``reason`` is its own words."""

    def __init__(self, message: str, *, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


class FeeTooLow(BroadcastRejected):
    """Below the min relay fee, or an RBF replacement paying too little."""


class InputsMissingOrSpent(BroadcastRejected):
    """An input is unknown or already spent (missing-inputs, conflict)."""


class NonStandardTransaction(BroadcastRejected):
    """Dust, oversize, or another standardness rule."""


class InvalidTransaction(BroadcastRejected):
    """The transaction breaks consensus rules (bad script, outputs above inputs)."""


class BlockRejected(ChainError):
    """The embedded chain's consensus engine refused a block."""


class ReorgTooDeep(ChainError):
    """A deposit credited after N confirmations was reorganised away.

    ``outpoints`` names them (``txid:vout``); their credits stand (not frozen)
    until the chain restores them or an operator reverses them; the CLI keeps
    reporting them until then, or until acknowledged
    (:mod:`bitcache.services.recovery`).
    """

    def __init__(self, message: str, *, outpoints: tuple[str, ...] = ()):
        super().__init__(message)
        self.outpoints = outpoints


# --- transactions ---------------------------------------------------------


class TransactionError(BitcacheError):
    """Building or signing a transaction failed."""


class InsufficientWalletFunds(TransactionError):
    """The wallet's spendable coins do not cover outputs plus fee."""


class PolicyViolation(TransactionError):
    """A transaction breaks a policy check: dust, weight, fee floor or fee cap."""


# --- settlement -----------------------------------------------------------


class SettlementError(BitcacheError):
    """The settlement job cannot proceed."""


class SettlementLocked(SettlementError):
    """Another settlement job holds the lock."""


class InvalidTransition(SettlementError):
    """The settlement state machine does not allow this transition."""


# --- reconcile ------------------------------------------------------------


class ReconcileError(BitcacheError):
    """Reconciliation found a discrepancy."""


# --- statements -----------------------------------------------------------


class StatementInvalid(BitcacheError):
    """A signed statement, tree head or proof does not verify; ``line`` is the bad line."""

    def __init__(self, message: str, *, line: int | None = None):
        super().__init__(message)
        self.line = line


# --- events -----------------------------------------------------------------


class EventError(BitcacheError):
    """Payout and deposit events: the outbox and its webhook deliveries."""


class UnknownEvent(EventError):
    """No event has that id."""


class SignatureInvalid(EventError):
    """A webhook signature header is malformed, too old, or does not match the body."""


# --- installation ---------------------------------------------------------


class MissingExtra(BitcacheError):
    """An optional part of bitcache is not installed (``pip install 'bitcache[kernel]'``)."""


# --- hooks ----------------------------------------------------------------


class HookError(BitcacheError):
    """A storage-server request was refused."""


class UnknownFile(HookError):
    """No file is registered under that hash."""


class FileOwnershipConflict(HookError):
    """The file is registered to another uploader."""


class DownloadCapReached(HookError):
    """The file's download cap is reached."""


class FileHeld(HookError):
    """The file is under a takedown hold."""


class FileNotHeld(HookError):
    """A hold was to be released or refunded, but the file is not held."""


# --- the HTTP service ---------------------------------------------------------


class ServeError(BitcacheError):
    """A request to ``bitcache serve`` was refused."""


class AuthenticationFailed(ServeError):
    """No API key, a malformed one, or one that is unknown or revoked."""


class ScopeDenied(ServeError):
    """The API key is genuine but none of its scopes allows this request."""


class TooManyFailures(ServeError):
    """Too many failed authentications from one client; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after


class LinkInvalid(ServeError):
    """A download link is malformed or its signature does not verify."""


class LinkExpired(LinkInvalid):
    """A genuine download link whose expiry has passed."""


class LinkUsed(ServeError):
    """A link's one charge paid for other bytes than the request asks."""


class RangeNotSatisfiable(ServeError):
    """A Range header that is malformed or asks for no byte of the file."""


class BodyTooLarge(ServeError):
    """A request body over the service's limit (refused before it is read whole)."""


class FileMissing(ServeError):
    """The file is registered but the host has no copy of it on disk."""


class IdempotencyKeyReused(ServeError):
    """The Idempotency-Key was sent before with another method, path or body."""


class RequestInProgress(ServeError):
    """The first request with this Idempotency-Key has not finished yet."""


class ServiceUnavailable(ServeError):
    """The service was started without a part this request needs (chain, wallet, key)."""
