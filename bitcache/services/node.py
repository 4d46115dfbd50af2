"""A node's use cases: provision a node folder, and run one settle cycle.

:func:`provision` makes a new node whole or not at all: the database (migrated),
the sealed wallet seed, the sealed platform key and the config file, in that
order; if a step fails, what it made is removed, so no seed or key is ever
left behind without its node. :class:`Node` runs the settle cycle that the CLI
(``bitcache settle``) and the demo share: the journal's tree head, anchored in
the batch's OP_RETURN, then the deposit scan, the settlement cycle and the
recovery alarms. The edges parse their inputs and print; the work is here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.chain.protocol import ChainBackend
from bitcache.network import Network
from bitcache.services.deposits import DEFAULT_WATCH_DEPTH, DepositService
from bitcache.services.recovery import Recovery
from bitcache.services.settlement import CycleReport, SettlementService
from bitcache.services.statements import tree_head
from bitcache.settlement.model import SettlementConfig
from bitcache.statements.treehead import anchor_payload
from bitcache.store.database import make_engine, upgrade
from bitcache.store.deposits import ReorgedDeposit
from bitcache.store.ledger import LedgerStore
from bitcache.wallet import platformkey
from bitcache.wallet.keys import HDWallet, generate_mnemonic
from bitcache.wallet.seedbox import seal

# --- provisioning -----------------------------------------------------------------------


@dataclass(frozen=True)
class NodeFolder:
    """Where a new node's files go. ``config``: the config file and any temporary file
    its writer makes; ``database_file``: the SQLite file of the database URL (None
    for a server database), so that a failed provisioning removes it."""

    home: Path
    seed: Path
    platform_key: Path
    config: tuple[Path, ...]
    database_file: Path | None


@dataclass(frozen=True)
class Provisioned:
    """A new node's public facts and its platform key (the seed stays sealed)."""

    account_xpub: str
    platform_key: Ed25519PrivateKey = field(repr=False)


def provision(
    folder: NodeFolder,
    network: Network,
    db_url: str,
    passphrase: str,
    save_config: Callable[[str], object],
) -> Provisioned:
    """Database, sealed seed, platform key, then ``save_config(account_xpub)``: all of
    them, or none. The mnemonic comes from the operating system's randomness and is
    never returned, printed or written in clear."""
    made = _Made()
    try:
        made.folder(folder.home)
        made.database(folder.database_file)
        engine = make_engine(db_url)
        try:
            upgrade(engine)
        finally:
            engine.dispose()
        mnemonic = generate_mnemonic(secrets.token_bytes(32))
        xpub = HDWallet.from_mnemonic(mnemonic, network).account_xpub()
        seed = made.file(folder.seed)
        with os.fdopen(os.open(seed, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(seal(mnemonic, passphrase))
        del mnemonic
        key = platformkey.generate_platform_key()  # through the module: tests make it fail
        platformkey.save_platform_key(key, made.file(folder.platform_key), passphrase=passphrase)
        for path in folder.config:
            made.file(path)
        save_config(xpub)
    except BaseException:
        made.undo()
        raise
    return Provisioned(xpub, key)


class _Made:
    """The files and folders one provisioning created, so that a failed one leaves none."""

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def file(self, path: Path) -> Path:
        if not path.exists():
            self.paths.append(path)
        return path

    def folder(self, path: Path) -> None:
        for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
            self.paths.append(missing)
        path.mkdir(parents=True, exist_ok=True)

    def database(self, found: Path | None) -> None:
        if found is not None:
            for suffix in ("", "-journal", "-wal", "-shm"):
                self.file(found.with_name(found.name + suffix))

    def undo(self) -> None:
        for path in reversed(self.paths):
            with contextlib.suppress(OSError):
                if path.is_dir():
                    path.rmdir()  # only if empty: never removes what another hand put there
                else:
                    path.unlink(missing_ok=True)


# --- the settle cycle -------------------------------------------------------------------


@dataclass(frozen=True)
class SettleOutcome:
    """What one settle cycle did: deposits credited, the settlement cycle's report, and
    the reorged deposits no operator has dealt with yet (the CLI exits 5 on them)."""

    credited: int
    cycle: CycleReport
    alarms: Sequence[ReorgedDeposit]


class Node:
    """The services of a running node over one ledger, wallet and chain backend."""

    def __init__(
        self,
        ledger: LedgerStore,
        wallet: HDWallet,
        chain: ChainBackend,
        config: SettlementConfig,
        *,
        confirmations: int | None = None,
        gap_limit: int | None = None,
        watch_depth: int | None = DEFAULT_WATCH_DEPTH,
    ):
        """``confirmations``, ``gap_limit``, ``watch_depth``: the deposit service's
        (:class:`~bitcache.services.deposits.DepositService`); deposits are credited at
        the settlement's depth unless ``confirmations`` says otherwise."""
        self.ledger = ledger
        self.deposits = DepositService(
            ledger, wallet, chain,
            confirmations=config.confirmations if confirmations is None else confirmations,
            gap_limit=gap_limit, watch_depth=watch_depth,
        )
        self.settlement = SettlementService(ledger, chain, wallet, config)

    def settle(self, anchor_key: Ed25519PrivateKey | None = None) -> SettleOutcome:
        """One cycle: with ``anchor_key``, the journal's tree head signed and anchored in
        the new batch's OP_RETURN; then credit deposits (a reorg is reported, not
        raised), advance the settlements in flight and plan a batch if one is due."""
        payload = None if anchor_key is None else anchor_payload(tree_head(self.ledger, anchor_key))
        scan = self.deposits.scan(raise_on_reorg=False)
        cycle = self.settlement.run_cycle(anchor=payload)
        return SettleOutcome(len(scan.credited), cycle, Recovery(self.ledger).alarms())
