"""The parts of ``bitcache serve`` that requests use, one per process.

:class:`Service` holds the hooks and the money seam, the authenticator, the
kept answers of idempotent requests, the link signer, deposit addresses and
the optional node parts (the wallet's public key, the chain backend, the
platform's signing key). The routes over it are in :mod:`bitcache.serve.app`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.chain.protocol import ChainBackend
from bitcache.errors import InvalidInput, ServiceUnavailable
from bitcache.hooks import Hooks
from bitcache.network import Network
from bitcache.serve.auth import Authenticator
from bitcache.serve.charges import MoneyHooks, money_hooks
from bitcache.serve.gate import Gate, GateConfig
from bitcache.serve.idempotency import IdempotentRequests
from bitcache.serve.links import LinkSigner
from bitcache.serve.payment import DepositAddresses
from bitcache.serve.ratelimit import FailureLimiter
from bitcache.services.deposits import DepositService
from bitcache.services.settlement import SettlementService
from bitcache.services.webhooks import Webhooks
from bitcache.settlement.model import DEFAULT_STALL_AFTER_BLOCKS, SettlementConfig
from bitcache.settlement.payouts import PayoutPolicy
from bitcache.wallet.keys import HDWallet

_URL = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")
_PREFIX = re.compile(r"/([^\s?#]*/)?")

ChainOpener = Callable[[], AbstractContextManager[ChainBackend]]


@dataclass(frozen=True)
class ServeOptions:
    """How the service runs: the host's files, links, proxies and authentication limits."""

    files: Path
    link_secret: bytes
    link_base: str = "/files"
    accel_prefix: str = "/_bitcache_files/"
    trust_proxy: bool = True
    key_cache_seconds: float = 2.0
    failure_limit: int = 20
    failure_window: float = 60.0
    link_ttl: int = 3600
    #: serve /metrics without an API key (else an operator key is needed)
    public_metrics: bool = False
    #: charge downloads in a second process (:mod:`bitcache.serve.charger`)
    charging_process: bool = False

    def __post_init__(self) -> None:
        if not (self.link_base.startswith("/") or _URL.fullmatch(self.link_base)):
            raise InvalidInput(f"the link base {self.link_base[:80]!r} must be a path starting "
                               "with / or an http(s):// URL")
        if not _PREFIX.fullmatch(self.accel_prefix):
            raise InvalidInput(f"the accel prefix {self.accel_prefix[:80]!r} must be a path "
                               "starting and ending with / (nginx's internal location)")
        if not 0 <= self.key_cache_seconds <= 3600:
            raise InvalidInput("the key cache lasts 0 to 3600 seconds, got "
                               f"{self.key_cache_seconds!r}")


@dataclass(frozen=True)
class NodeParts:
    """What the node folder adds: the watch-only wallet, the chain, the platform key, and
    the webhooks the service delivers events to (:mod:`bitcache.serve.delivery`)."""

    wallet: HDWallet | None = None
    chain: ChainOpener | None = None
    confirmations: int = 3
    platform_key: Ed25519PrivateKey | None = field(default=None, repr=False)
    platform_name: str = "bitcache"
    payout: PayoutPolicy = field(default_factory=PayoutPolicy)
    stall_after_blocks: int = DEFAULT_STALL_AFTER_BLOCKS
    #: deliver the event outbox to the webhooks every ``deliver_every_s`` (None: not here)
    webhooks: Webhooks | None = field(default=None, repr=False)
    deliver_every_s: float = 30.0

    @property
    def network(self) -> Network | None:
        return None if self.wallet is None else self.wallet.network


class Service:
    """Everything a request may use; one per process."""

    def __init__(self, hooks: Hooks, options: ServeOptions, node: NodeParts | None = None,
                 *, clock: Callable[[], float] = time.time):
        self.hooks, self.options = hooks, options
        self.node = node or NodeParts()
        self.ledger = hooks.ledger
        self.clock = clock
        self.trust_proxy = options.trust_proxy
        self.money: MoneyHooks = self._money(hooks, options)
        self.limiter = FailureLimiter(options.failure_limit, options.failure_window)
        self.auth = Authenticator(self.ledger, self.limiter,
                                  cache_seconds=options.key_cache_seconds)
        self.requests = IdempotentRequests(self.ledger, clock=clock)
        self.signer = LinkSigner(options.link_secret)
        self.addresses = DepositAddresses(self._deposits())
        self._settlement: SettlementService | None = None
        self.gate = Gate(GateConfig(options.files, options.accel_prefix, options.trust_proxy),
                         self.signer, self.money, self.ledger, self.addresses, self.limiter,
                         clock, registered_size=lambda fh: hooks.file(fh).size)

    @staticmethod
    def _money(hooks: Hooks, options: ServeOptions) -> MoneyHooks:
        """The money hooks: downloads charged by a charging process when asked for and
        possible (:mod:`bitcache.serve.charger`), else all in this process."""
        if options.charging_process:
            from bitcache.serve.charger import ChargedByProcess, Charger, spec_of

            spec = spec_of(hooks)
            if spec is not None:
                return ChargedByProcess(hooks, Charger(spec))
        return money_hooks(hooks)

    async def start(self) -> None:
        """Start what runs beside the requests (the charging process, if any)."""
        starter = getattr(self.money, "start", None)
        if starter is not None:
            await starter()

    def _deposits(self) -> DepositService | None:
        node = self.node
        if node.wallet is None or node.chain is None:
            return None
        from bitcache.serve.chain import PerCallChain

        chain = PerCallChain(node.wallet.network, node.chain)
        return DepositService(self.ledger, node.wallet, chain, confirmations=node.confirmations)

    def deposit_service(self) -> DepositService | None:
        """A deposit service over the node's wallet and chain (None without them)."""
        return self._deposits()

    def need_chain(self) -> tuple[HDWallet, ChainOpener]:
        """The wallet and chain (ServiceUnavailable when started without them)."""
        if self.node.wallet is None or self.node.chain is None:
            raise ServiceUnavailable("the service was started without the node's wallet and "
                                     "chain backend")
        return self.node.wallet, self.node.chain

    def settlement(self) -> SettlementService:
        """The settlement service (payout addresses, settlements in flight), made once."""
        if self._settlement is None:
            wallet, opener = self.need_chain()
            from bitcache.serve.chain import PerCallChain

            config = SettlementConfig(payout=self.node.payout,
                                      confirmations=self.node.confirmations,
                                      stall_after_blocks=self.node.stall_after_blocks)
            self._settlement = SettlementService(self.ledger, PerCallChain(wallet.network, opener),
                                                 wallet, config)
        return self._settlement

    async def close(self) -> None:
        closer = getattr(self.money, "close", None)
        if closer is not None:
            result = closer()
            if result is not None:
                await result
