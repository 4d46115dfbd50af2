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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bitcache.config.paths import read_file, read_secret
from bitcache.config.sections import (
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
)
from bitcache.errors import InvalidConfig

if TYPE_CHECKING:
    from bitcache.chain.protocol import ChainBackend
    from bitcache.core.files import HoldPolicy
    from bitcache.core.payouts import PayoutPolicy
    from bitcache.core.pricing import SplitPolicy
    from bitcache.settlement.model import SettlementConfig
    from bitcache.wallet.keys import HDWallet

#: The node folder's configuration file, and the one nodes made before it kept.
CONFIG_FILE = "bitcache.toml"
LEGACY_CONFIG_FILE = "config.json"
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
        from bitcache.config.loader import load

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
        from bitcache.config.sections import SECTIONS

        return {name: getattr(self, name) for name in SECTIONS}

    # -- the library's objects ----------------------------------------------

    def payout_policy(self) -> PayoutPolicy:
        from bitcache.core.payouts import FeePayer, PayoutPolicy

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
