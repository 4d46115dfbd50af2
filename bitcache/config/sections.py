"""The sections of ``bitcache.toml``: one frozen dataclass each, every key with its kind.

A key's kind (:class:`~bitcache.config.spec.Spec`) is in its field's
metadata, with a one-line description that ``bitcache init`` writes above
it. Defaults are the library's own (:class:`~bitcache.settlement.payouts.PayoutPolicy`,
:class:`~bitcache.settlement.model.SettlementConfig`,
:class:`~bitcache.core.pricing.SplitPolicy`), so the file and the code
cannot disagree about them. Paths are stored as text, made absolute against
the node folder by the loader.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bitcache.config import spec
from bitcache.config.spec import Spec
from bitcache.core.pricing import SplitPolicy
from bitcache.settlement.model import DEFAULT_STALL_AFTER_BLOCKS, SettlementConfig
from bitcache.settlement.payouts import FeePayer, PayoutPolicy

_PAYOUT = PayoutPolicy()
_SETTLEMENT = SettlementConfig()
_SPLITS = SplitPolicy()
#: Confirmations before a deposit is credited and a payout is final (testnet default).
DEFAULT_CONFIRMATIONS = 3
#: The deepest N a node takes: beyond it (a typo), a deposit would wait for ever uncredited.
MAX_CONFIRMATIONS = 1_000
#: Credited deposits buried deeper than this are not re-checked for reorgs.
DEFAULT_WATCH_DEPTH = 2016


def key(kind: Spec, default: Any, doc: str) -> Any:
    """A configuration key: its kind, its default and what it does."""
    return dataclasses.field(default=default, metadata={"spec": kind, "doc": doc})


def _webhook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(url)
    return url


@dataclass(frozen=True, slots=True)
class NodeSection:
    """[node]: which bitcoin network, and the wallet's account public key (from init)."""

    network: str = key(spec.choice("testnet4", "signet", "regtest"), "testnet4",
                       "testnet4, signet or regtest (mainnet is refused)")
    account_xpub: str = key(spec.text(), "", "the wallet's BIP84 account public key (init)")


@dataclass(frozen=True, slots=True)
class DatabaseSection:
    """[database]: where the ledger lives."""

    url: str = key(spec.text(), "sqlite:///ledger.sqlite",
                   "SQLAlchemy URL; leave a PostgreSQL password out (~/.pgpass, PGPASSFILE)")


@dataclass(frozen=True, slots=True)
class ChainSection:
    """[chain]: the chain backend; Bitcoin Core's credentials by file, never inline."""

    backend: str = key(spec.choice("rpc", "esplora", "regtest"), "rpc",
                       "rpc (Bitcoin Core), esplora, or regtest (embedded)")
    url: str = key(spec.text(empty=True), "", "node or Esplora URL (no user or password in it)")
    path: str | None = key(spec.text(optional=True, path=True), None,
                           "regtest: the embedded chain's folder")
    rpc_user: str | None = key(spec.text(optional=True), None,
                               "Bitcoin Core rpcuser (with rpc_password_file)")
    rpc_password_file: str | None = key(spec.text(optional=True, path=True), None,
                                        "file holding the rpcpassword")
    rpc_cookie_file: str | None = key(spec.text(optional=True, path=True), None,
                                      "bitcoind's .cookie file (default: the network's own)")


@dataclass(frozen=True, slots=True)
class DepositsSection:
    """[deposits]: crediting downloaders' deposits."""

    confirmations: int = key(spec.integer(1, MAX_CONFIRMATIONS), DEFAULT_CONFIRMATIONS,
                             "N: confirmations before a deposit is credited")
    gap_limit: int | None = key(spec.integer(1, optional=True), None,
                                "refuse a new address this many past the last funded one")
    watch_depth: int = key(spec.integer(1), DEFAULT_WATCH_DEPTH,
                           "re-check credited deposits this many blocks deep for reorgs")


@dataclass(frozen=True, slots=True)
class SettlementSection:
    """[settlement]: the settlement job (SettlementConfig)."""

    confirmations: int | None = key(spec.integer(1, MAX_CONFIRMATIONS, optional=True), None,
                                    "N for payouts (default: deposits.confirmations)")
    min_input_confirmations: int | None = key(
        spec.integer(1, MAX_CONFIRMATIONS, optional=True), None,
        "confirmations a coin must have to be spent (default: deposits.confirmations)")
    bump_after_blocks: int = key(spec.integer(1), _SETTLEMENT.bump_after_blocks,
                                 "blocks unconfirmed before an RBF fee bump")
    bump_step_sat_per_kvb: int = key(spec.integer(1_000), _SETTLEMENT.bump_step_sat_per_kvb,
                                     "least fee-rate increase of a bump, sat/kvB")
    fee_target_blocks: int = key(spec.integer(1), _SETTLEMENT.fee_target_blocks,
                                 "confirmation target asked of the fee estimator")
    max_in_flight: int = key(spec.integer(1), _SETTLEMENT.max_in_flight,
                             "settlements in flight before a new batch is planned")
    batch_interval_blocks: int = key(spec.integer(0), _SETTLEMENT.batch_interval_blocks,
                                     "blocks between two plannings")
    lock_lease_seconds: int = key(spec.integer(1), _SETTLEMENT.lock_lease_seconds,
                                  "how long the job lock holds without renewal")
    stall_after_blocks: int = key(spec.integer(1), DEFAULT_STALL_AFTER_BLOCKS,
                                  "report a settlement unconfirmed this long after planning")
    anchor: bool = key(spec.boolean(), True,
                       "commit the journal's tree head in an OP_RETURN of each batch")


@dataclass(frozen=True, slots=True)
class PayoutSection:
    """[payout]: who is paid and how (PayoutPolicy)."""

    min_payout_sat: int = key(spec.integer(1), _PAYOUT.min_payout_sat,
                              "pay an uploader only from this many sats")
    max_fee_ratio_bps: int = key(spec.integer(0, 10_000), _PAYOUT.max_fee_ratio_bps,
                                 "skip a payout whose fee exceeds this share of it, bps")
    fee_payer: str = key(spec.choice(*(p.value for p in FeePayer)), _PAYOUT.fee_payer.value,
                         "uploader (their output's fee share) or platform")
    fee_floor_sat_per_kvb: int = key(spec.integer(1), _PAYOUT.fee_floor_sat_per_kvb,
                                     "lowest fee rate, sat/kvB")
    fee_ceiling_sat_per_kvb: int = key(spec.integer(1), _PAYOUT.fee_ceiling_sat_per_kvb,
                                       "highest fee rate, sat/kvB")
    max_outputs_per_tx: int = key(spec.integer(1, 100_000), _PAYOUT.max_outputs_per_tx,
                                  "payouts per transaction")


@dataclass(frozen=True, slots=True)
class SplitsSection:
    """[splits]: each charge's platform fee and referrer share (SplitPolicy)."""

    platform_bps: int = key(spec.integer(0, 10_000), _SPLITS.platform_bps,
                            "the platform's fee, basis points of each charge")
    referrer_bps: int = key(spec.integer(0, 10_000), _SPLITS.referrer_bps,
                            "a referrer's share, basis points of each charge")


@dataclass(frozen=True, slots=True)
class HoldsSection:
    """[holds]: what a download of a file under a takedown hold does."""

    policy: str = key(spec.choice("redirect", "refuse"), "redirect",
                      "redirect (charged, earnings held) or refuse (FileHeld, HTTP 451)")


@dataclass(frozen=True, slots=True)
class ServeSection:
    """[serve]: `bitcache serve` (command-line options win over these)."""

    host: str = key(spec.text(), "127.0.0.1", "address to listen on")
    port: int = key(spec.integer(1, 65_535), 8470, "port to listen on")
    files: str | None = key(spec.text(optional=True, path=True), None,
                            "the host's folder of files, named by SHA-256 hex")
    link_base: str = key(spec.text(), "/files", "path (or URL) of download links")
    accel_prefix: str = key(spec.text(), "/_bitcache_files/", "nginx's internal location")
    key_cache_seconds: float = key(spec.seconds(0, 3600), 2.0,
                                   "how long a looked-up API key is trusted")
    retry_seconds: float = key(spec.seconds(0, 3600), 10.0,
                               "how long a charge retries through a database outage (0: none)")
    charging_process: bool = key(spec.boolean(), True,
                                 "charge downloads in a second process (docs/serve.md)")


@dataclass(frozen=True, slots=True)
class LoggingSection:
    """[logging]: the ``bitcache.*`` loggers."""

    format: str = key(spec.choice("text", "json"), "text", "text or json (one object a line)")
    level: str = key(spec.choice("debug", "info", "warning", "error"), "info", "least level")


@dataclass(frozen=True, slots=True)
class EventsSection:
    """[events]: payout and deposit events delivered to webhooks."""

    webhook_urls: tuple[str, ...] = key(
        spec.text_list(_webhook_url, "a list of http:// or https:// URLs"), (),
        "where events are POSTed")
    webhook_secret_file: str | None = key(spec.text(optional=True, path=True), None,
                                          "file holding the HMAC signing secret")
    max_attempts: int = key(spec.integer(1), 10, "deliveries tried before an event is parked")


@dataclass(frozen=True, slots=True)
class MetricsSection:
    """[metrics]: Prometheus metrics (served at /metrics; a textfile for cron jobs)."""

    textfile: str | None = key(spec.text(optional=True, path=True), None,
                               "write the metrics to this file (node_exporter textfile)")


#: Every section, in the order ``bitcache.toml`` lists them.
SECTIONS: dict[str, type[Any]] = {
    "node": NodeSection,
    "database": DatabaseSection,
    "chain": ChainSection,
    "deposits": DepositsSection,
    "settlement": SettlementSection,
    "payout": PayoutSection,
    "splits": SplitsSection,
    "holds": HoldsSection,
    "serve": ServeSection,
    "logging": LoggingSection,
    "events": EventsSection,
    "metrics": MetricsSection,
}


def keys_of(section: type[Any]) -> dict[str, dataclasses.Field[Any]]:
    """A section's keys by name."""
    return {f.name: f for f in dataclasses.fields(section)}
