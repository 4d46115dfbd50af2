"""A node's effective configuration: every section of ``bitcache.toml``, and what it opens.

:class:`NodeConfig` is what the loader (:mod:`bitcache.config.loader`)
returns: the node folder, the sections with their paths made absolute and
the environment's overrides applied, and the objects the library runs
with (the settlement job's :class:`~bitcache.settlement.model.SettlementConfig`,
the split and hold policies, the watch-only or signing wallet, the chain
backend). The CLI, ``bitcache serve`` and a storage server's own code all
read a node the same way: ``NodeConfig.load(home)``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitcache.config.loader import CONFIG_FILE as CONFIG_FILE
from bitcache.config.loader import LEGACY_CONFIG_FILE as LEGACY_CONFIG_FILE
from bitcache.config.loader import (
    REQUIRED,
    config_path,
    from_env_vars,
    from_file,
    read_legacy,
    read_toml,
)
from bitcache.config.paths import absolute, read_file, read_secret, resolve_db, sqlite_file
from bitcache.config.sections import (
    SECTIONS,
    ChainSection,
    DatabaseSection,
    DepositsSection,
    EventsSection,
    HoldsSection,
    LoggingSection,
    MetricsSection,
    NodeSection,
    PayoutSection,
    ServeSection,
    SettlementSection,
    SplitsSection,
    keys_of,
)
from bitcache.errors import InvalidConfig, InvalidInput, InvalidPolicy

if TYPE_CHECKING:
    from bitcache.chain.protocol import ChainBackend
    from bitcache.core.files import HoldPolicy
    from bitcache.core.pricing import SplitPolicy
    from bitcache.settlement.model import SettlementConfig
    from bitcache.settlement.payouts import PayoutPolicy
    from bitcache.wallet.keys import HDWallet

SEED_FILE = "wallet.seed"
KEY_FILE = "platform.key"
LEDGER_FILE = "ledger.sqlite"
CHAIN_DIR = "chain"


@dataclass(frozen=True)
class NodeConfig:
    """A node folder's configuration, paths absolute; ``source`` is the file read and
    ``overridden`` the environment variables that changed a key."""

    home: Path
    node: NodeSection
    database: DatabaseSection = field(default_factory=DatabaseSection)
    chain: ChainSection = field(default_factory=ChainSection)
    deposits: DepositsSection = field(default_factory=DepositsSection)
    settlement: SettlementSection = field(default_factory=SettlementSection)
    payout: PayoutSection = field(default_factory=PayoutSection)
    splits: SplitsSection = field(default_factory=SplitsSection)
    holds: HoldsSection = field(default_factory=HoldsSection)
    serve: ServeSection = field(default_factory=ServeSection)
    logging: LoggingSection = field(default_factory=LoggingSection)
    events: EventsSection = field(default_factory=EventsSection)
    metrics: MetricsSection = field(default_factory=MetricsSection)
    source: Path | None = None
    overridden: tuple[str, ...] = ()

    @classmethod
    def load(cls, home: Path) -> NodeConfig:
        """Read ``home``'s ``bitcache.toml`` (or a ``config.json`` made before it), apply
        the ``BITCACHE_<SECTION>_<KEY>`` environment, check it all; InvalidConfig names
        the key at fault."""
        return load(home)

    # -- the values every command asks for ---------------------------------

    @property
    def network(self) -> str:
        return self.node.network

    @property
    def account_xpub(self) -> str:
        return self.node.account_xpub

    @property
    def db(self) -> str:
        return self.database.url

    @property
    def confirmations(self) -> int:
        """N for deposits (and, unless ``[settlement]`` says otherwise, for payouts)."""
        return self.deposits.confirmations

    def sections(self) -> dict[str, Any]:
        """Each section by its name in the file."""
        return {name: getattr(self, name) for name in SECTIONS}

    # -- the library's objects ----------------------------------------------

    def payout_policy(self) -> PayoutPolicy:
        from bitcache.settlement.payouts import FeePayer, PayoutPolicy

        p = self.payout
        return PayoutPolicy(
            min_payout_sat=p.min_payout_sat, max_fee_ratio_bps=p.max_fee_ratio_bps,
            fee_payer=FeePayer(p.fee_payer), fee_floor_sat_per_kvb=p.fee_floor_sat_per_kvb,
            fee_ceiling_sat_per_kvb=p.fee_ceiling_sat_per_kvb,
            max_outputs_per_tx=p.max_outputs_per_tx,
        )

    def settlement_config(self, **changes: Any) -> SettlementConfig:
        """The settlement job's knobs; ``changes`` (a command-line option) win."""
        from bitcache.settlement.model import SettlementConfig

        s, n = self.settlement, self.deposits.confirmations
        made = SettlementConfig(
            payout=self.payout_policy(),
            confirmations=n if s.confirmations is None else s.confirmations,
            min_input_confirmations=(
                n if s.min_input_confirmations is None else s.min_input_confirmations
            ),
            bump_after_blocks=s.bump_after_blocks, bump_step_sat_per_kvb=s.bump_step_sat_per_kvb,
            fee_target_blocks=s.fee_target_blocks, max_in_flight=s.max_in_flight,
            batch_interval_blocks=s.batch_interval_blocks,
            lock_lease_seconds=s.lock_lease_seconds, stall_after_blocks=s.stall_after_blocks,
        )
        return dataclasses.replace(made, **changes) if changes else made

    def split_policy(self) -> SplitPolicy:
        from bitcache.core.pricing import SplitPolicy

        return SplitPolicy(self.splits.platform_bps, self.splits.referrer_bps)

    def hold_policy(self) -> HoldPolicy:
        from bitcache.core.files import HoldPolicy

        return HoldPolicy(self.holds.policy)

    def hooks_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`bitcache.hooks.Hooks` from ``[splits]`` and ``[holds]``."""
        return {"splits": self.split_policy(), "hold_policy": self.hold_policy()}

    def deposit_options(self) -> dict[str, Any]:
        """Keyword arguments of :class:`~bitcache.services.deposits.DepositService`."""
        d = self.deposits
        return {"confirmations": d.confirmations, "gap_limit": d.gap_limit,
                "watch_depth": d.watch_depth}

    # -- wallet and chain ---------------------------------------------------

    def watch_only(self) -> HDWallet:
        from bitcache.network import network
        from bitcache.wallet.keys import HDWallet

        return HDWallet.watch_only(self.account_xpub, network(self.network))

    def signing_wallet(self, passphrase: str) -> HDWallet:
        from bitcache.network import network
        from bitcache.wallet.keys import HDWallet
        from bitcache.wallet.seedbox import decrypt_mnemonic

        path = self.home / SEED_FILE
        if not path.exists():
            raise InvalidConfig(f"{path} does not exist: restore wallet.seed from its backup")
        mnemonic = decrypt_mnemonic(read_file(path, "the wallet seed"), passphrase)
        return HDWallet.from_mnemonic(mnemonic, network(self.network))

    def _rpc_credentials(self) -> dict[str, Any]:
        c = self.chain
        if c.rpc_user and c.rpc_password_file:
            secret = read_secret(Path(c.rpc_password_file), "the RPC password file")
            return {"auth": (c.rpc_user, secret)}
        return {"cookie_file": Path(c.rpc_cookie_file)} if c.rpc_cookie_file else {}

    @contextmanager
    def chain_backend(self) -> Iterator[ChainBackend]:
        """The configured chain backend, open for the ``with`` block."""
        c = self.chain
        if c.backend == "regtest":
            from bitcache.chain.regtest import RegtestChain

            with RegtestChain.open(Path(c.path or self.home / CHAIN_DIR)) as chain:
                yield chain
        elif c.backend == "rpc":
            from bitcache.chain.rpc import BitcoinCoreRPC

            yield BitcoinCoreRPC(c.url or None, network=self.network, **self._rpc_credentials())
        else:
            from bitcache.chain.esplora import Esplora

            yield Esplora(c.url, network=self.network)


def load(home: Path, environ: Mapping[str, str] | None = None) -> NodeConfig:
    """The effective configuration of the node folder ``home`` (see the module's doc)."""
    folder = absolute(home)
    path = config_path(folder)
    raw = read_legacy(path) if path.name == LEGACY_CONFIG_FILE else read_toml(path)
    return build(raw, folder, path, os.environ if environ is None else environ)


def build(
    raw: Mapping[str, Any], home: Path, source: Path | None, environ: Mapping[str, str]
) -> NodeConfig:
    """The configuration ``raw`` (parsed TOML tables) describes, with ``environ`` applied;
    every key checked, paths made absolute against ``home``."""
    where = f" (in {source})" if source is not None else ""
    values = from_file(raw, where)
    applied = from_env_vars(values, environ)
    for section, name in REQUIRED:
        if name not in values.get(section, {}):
            raise InvalidConfig(
                f"{section}.{name}: missing{where}; `bitcache init` writes it",
                key=f"{section}.{name}",
            )
    sections = {}
    for section, cls in SECTIONS.items():
        given = dict(values.get(section, {}))
        for name, f in keys_of(cls).items():
            if f.metadata["spec"].path and given.get(name):
                given[name] = str(absolute(Path(given[name]), home))
        sections[section] = cls(**given)
    cfg = NodeConfig(home, source=source, overridden=applied, **sections)
    return _whole(cfg, where)


def _whole(cfg: NodeConfig, where: str) -> NodeConfig:
    """Check what spans keys (the chain against the network, the policies); resolve the
    database file and the embedded chain's folder against the node folder."""
    from bitcache.network import network

    try:
        network(cfg.network)
    except InvalidInput as exc:
        raise InvalidConfig(f"node.network: {exc}{where}", key="node.network") from exc
    try:
        sqlite_file(cfg.db)
    except InvalidInput as exc:
        raise InvalidConfig(f"database.url: {exc}{where}", key="database.url") from exc
    cfg = replace(cfg, database=replace(cfg.database, url=resolve_db(cfg.db, cfg.home)))
    if cfg.chain.backend == "regtest" and not cfg.chain.path:
        cfg = replace(cfg, chain=replace(cfg.chain, path=str(cfg.home / CHAIN_DIR)))
    check_chain(cfg, where)
    for section, make in (("payout", cfg.payout_policy), ("settlement", cfg.settlement_config),
                          ("splits", cfg.split_policy)):
        try:
            make()
        except InvalidPolicy as exc:
            raise InvalidConfig(f"{section}: {exc}{where}", key=section) from exc
    return cfg


def check_chain(cfg: NodeConfig, where: str = "") -> None:
    """Refuse a chain backend that cannot work with this network, naming the key."""
    from bitcache.chain.http import check_base_url

    c = cfg.chain

    def refuse(name: str, message: str) -> InvalidConfig:
        return InvalidConfig(f"chain.{name}: {message}{where}", key=f"chain.{name}")

    if (c.backend == "regtest") != (cfg.network == "regtest"):
        raise refuse("backend", f"{c.backend!r} does not go with network {cfg.network!r}: "
                     "regtest goes with network regtest, rpc or esplora else")
    if c.backend == "regtest" and (c.url or c.rpc_user or c.rpc_password_file
                                   or c.rpc_cookie_file):
        raise refuse("backend", "the embedded regtest chain takes no url and no credentials")
    if c.backend == "esplora" and (c.rpc_user or c.rpc_password_file or c.rpc_cookie_file):
        raise refuse("backend", "esplora takes no rpc_user, rpc_password_file or "
                     "rpc_cookie_file")
    if c.backend == "esplora" or c.url:
        try:
            check_base_url(c.url, f"{c.backend} URL")
        except InvalidInput as exc:
            raise refuse("url", str(exc)) from exc
    if "@" in c.url:
        raise refuse("url", "must not carry a user name or password: give Bitcoin Core's "
                     "credentials as rpc_user and rpc_password_file, or rpc_cookie_file")
    if bool(c.rpc_user) != bool(c.rpc_password_file):
        raise refuse("rpc_user", "rpc_user needs rpc_password_file, and the reverse")
    if c.rpc_user and c.rpc_cookie_file:
        raise refuse("rpc_cookie_file", "give rpc_user and rpc_password_file, or "
                     "rpc_cookie_file, not both")
