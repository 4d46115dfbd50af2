"""The end-to-end demo: a day of bitcache on SQLite and the embedded regtest chain.

In a working folder it:

1. opens a ledger (SQLite) and an embedded regtest chain, with a hot wallet
   from a demo-only seed (public, throwaway: never use it on a real network);
2. funds the hot wallet: a coinbase mined to the operator's funding address;
3. gives downloaders deposit addresses and pays them real regtest coins
   (one transaction spending a mined coinbase), mines N confirmations and
   scans, so each deposit is credited once to the downloader's prepaid account;
4. registers uploaders with payout addresses of several types (P2WPKH, P2TR,
   P2PKH, P2SH, P2WSH, derived from demo-only keys) and their files;
5. simulates a day of downloads through :mod:`bitcache.hooks` in batches, in
   two halves, and after each half runs settlement cycles (mining a block
   between cycles until the batch is final), each settlement transaction
   anchoring the journal's current tree head in an OP_RETURN output;
6. reconciles the books with the chain, issues one uploader's signed
   statement and verifies it with the platform's public key alone.

Randomness comes from a seeded generator, so the ledger is the same on every
run (txids differ: block times come from the clock).

The working folder must be new, empty, or a folder an earlier demo made
(marked by :data:`DEMO_MARKER`); every run starts fresh by removing what the
last one wrote there. Any other folder is refused, so a node folder or the
current directory is never emptied.
"""

from __future__ import annotations

import hashlib
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coincurve import PrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bitcache.bitcoin.script import p2wsh_script
from bitcache.bitcoin.transaction import parse_transaction
from bitcache.chain.faucet import faucet_transaction, mature_coin
from bitcache.chain.regtest import RegtestChain
from bitcache.clock import now_us
from bitcache.core.accounts import PLATFORM_REVENUE, WALLET
from bitcache.core.checks import is_int
from bitcache.core.scripttype import ScriptType
from bitcache.errors import BitcacheError, InvalidInput, InvalidPolicy
from bitcache.hooks import DownloadRequest, Hooks
from bitcache.network import Network
from bitcache.reconciliation.checks import reconcile
from bitcache.reconciliation.report import ReconcileReport
from bitcache.services.node import Node
from bitcache.services.statements import issue_statement
from bitcache.settlement.model import Settlement, SettlementConfig
from bitcache.settlement.payouts import PayoutPolicy
from bitcache.settlement.states import SettlementState
from bitcache.statements.verify import verify_statement
from bitcache.store.database import sqlite_url
from bitcache.store.ledger import LedgerStore
from bitcache.wallet.addresses import address_for_script, payout_script_for_key
from bitcache.wallet.keys import HDWallet
from bitcache.wallet.platformkey import public_key_hex

#: Demo-only seeds: public, so no real secret exists anywhere in the demo.
HOT_WALLET_SEED = hashlib.sha256(b"bitcache demo hot wallet - never use for real coins").digest()
UPLOADER_SEED = hashlib.sha256(b"bitcache demo uploader keys - never use for real coins").digest()
PLATFORM_KEY_SEED = hashlib.sha256(b"bitcache demo platform key - never use for real").digest()
#: The demo's payout policy (a lower minimum than the default, so a day pays out).
DEMO_POLICY = PayoutPolicy(min_payout_sat=5_000)
ADDRESS_KINDS = ("p2wpkh", "p2tr", "p2pkh", "p2sh", "p2wsh")
PRICES_MSAT = (1_000, 2_500, 5_000, 10_000, 25_000)

#: The file that marks a folder as the demo's own, so a later run may clear it.
DEMO_MARKER = ".bitcache-demo"
#: What a run writes in its folder (beside the marker); the next run removes these only.
DEMO_OUTPUTS = ("ledger.sqlite", "ledger.sqlite-wal", "ledger.sqlite-shm",
                "ledger.sqlite-journal", "chain", "platform.pub")

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``: called as the demo moves on (stage ``downloads`` often)."""


@dataclass(frozen=True)
class DemoConfig:
    """The size of the simulated day and the chain's confirmation depth."""

    folder: Path = Path("demo-data")
    downloads: int = 100_000
    downloaders: int = 200
    uploaders: int = 25
    files: int = 400
    batch: int = 2_500
    confirmations: int = 3
    seed: int = 7

    def __post_init__(self) -> None:
        counts = {"downloads": (self.downloads, 0), "downloaders": (self.downloaders, 1),
                  "uploaders": (self.uploaders, 1), "files": (self.files, 1),
                  "batch": (self.batch, 1), "confirmations": (self.confirmations, 1)}
        for name, (value, least) in counts.items():
            if not is_int(value) or value < least:
                raise InvalidPolicy(f"demo {name} must be a whole number >= {least}, got {value!r}")


def check_folder(folder: Path) -> None:
    """Refuse (InvalidInput) a folder the demo may not use: not new, not empty, not the demo's."""
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"demo folder {folder} is a file, not a folder")
    try:
        taken = folder.is_dir() and any(folder.iterdir())
    except OSError as exc:
        raise InvalidInput(f"cannot read the demo folder {folder}: {exc.strerror or exc}") from exc
    if taken and not (folder / DEMO_MARKER).is_file():
        raise InvalidInput(
            f"demo folder {folder} is not empty and was not made by the demo: refusing to "
            "clear it; give --folder a new or empty folder"
        )


def prepare_folder(folder: Path) -> None:
    """Make ``folder`` ready for a fresh run, or refuse it (see :func:`check_folder`).

    A new or empty folder is taken; a folder an earlier demo marked loses
    only what a run writes (:data:`DEMO_OUTPUTS` and the statements); any
    other folder is refused untouched.
    """
    check_folder(folder)
    try:
        _clear_folder(folder)
    except OSError as exc:
        reason = exc.strerror or exc
        raise InvalidInput(f"cannot prepare the demo folder {folder}: {reason}") from exc


def _clear_folder(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEMO_MARKER).write_text(
        "made by `bitcache demo`: each run of the demo clears what the last one wrote here\n"
    )
    for name in DEMO_OUTPUTS:
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    for statement in folder.glob("statement-*.json"):
        statement.unlink()


@dataclass(frozen=True)
class SettlementSummary:
    """One settlement transaction as the demo reports it."""

    id: int
    state: str
    txid: str
    payees: int
    payout_sat: int
    fee_sat: int
    vbytes: int
    anchored: bool


@dataclass(frozen=True)
class DemoResult:
    """What the demo did, for printing and for tests."""

    downloads: int
    refused: int
    entries: int
    downloaders: int
    deposits_sat: int
    funding_sat: int
    payable_msat: int
    paid_msat: int
    platform_msat: int
    wallet_msat: int
    settlements: tuple[SettlementSummary, ...]
    reconcile: ReconcileReport
    statement_uploader: str
    statement_path: Path
    statement_lines: int
    statement_verified: bool
    public_key_hex: str
    tip_height: int
    db_path: Path


# --- demo-only keys and coins ---------------------------------------------------------


def uploader_address(index: int) -> tuple[str, str]:
    """``(kind, address)`` of uploader ``index``'s payout address, from demo-only keys."""
    secret = hashlib.sha256(UPLOADER_SEED + index.to_bytes(4, "big")).digest()
    pub = PrivateKey(secret).public_key.format(compressed=True)
    kind = ADDRESS_KINDS[index % len(ADDRESS_KINDS)]
    if kind == "p2wsh":  # <pub> OP_CHECKSIG
        script = p2wsh_script(hashlib.sha256(b"\x21" + pub + b"\xac").digest())
        return kind, address_for_script(script, Network.REGTEST)
    # P2TR is BIP86's key-path output; P2SH wraps P2WPKH
    return kind, payout_script_for_key(pub, ScriptType(kind), Network.REGTEST).address


def demo_platform_key() -> Ed25519PrivateKey:
    """The demo's platform signing key, from a public demo-only seed (like its wallet), so
    ``bitcache demo-web`` signs statements the demo's published key verifies."""
    return Ed25519PrivateKey.from_private_bytes(PLATFORM_KEY_SEED)


# --- the stages -------------------------------------------------------------------------


class _Demo:
    """The demo's parts, opened in the working folder."""

    def __init__(self, cfg: DemoConfig, progress: Progress) -> None:
        self.cfg, self.progress = cfg, progress
        self.rng = random.Random(cfg.seed)
        prepare_folder(cfg.folder)
        self.db_path = cfg.folder / "ledger.sqlite"
        self.ledger = LedgerStore.open(sqlite_url(self.db_path))
        self.chain = RegtestChain.open(cfg.folder / "chain")
        self.wallet = HDWallet.from_seed(HOT_WALLET_SEED, Network.REGTEST)
        policy = DEMO_POLICY
        self.node = Node(self.ledger, self.wallet, self.chain,
                         SettlementConfig(payout=policy, confirmations=cfg.confirmations,
                                          min_input_confirmations=cfg.confirmations))
        self.deposits, self.settlement = self.node.deposits, self.node.settlement
        self.hooks = Hooks(self.ledger)
        self.key = demo_platform_key()

    def close(self) -> None:
        self.chain.close()
        self.ledger.close()

    def fund(self) -> tuple[int, int]:
        """Operator funding and downloader deposits, credited after N confirmations."""
        self.progress("funding the hot wallet and the downloaders", 0, 1)
        funding = self.wallet.receive_key(0).script_pubkey
        self.deposits.funding_address()
        self.chain.mine(1, to_script=funding)
        self.chain.mine(101)
        payments = []
        for d in range(self.cfg.downloaders):
            address = self.deposits.deposit_address(f"d{d:04d}")
            script = next(a.script_pubkey for a in self.deposits.addresses()
                          if a.address == address)
            payments.append((script, self.rng.randrange(20, 200) * 1_000))
        coin, value = mature_coin(self.chain)
        self.chain.broadcast(faucet_transaction(coin, value, payments))
        self.chain.mine(self.cfg.confirmations)
        report = self.deposits.scan()
        funded = sum(d.value_sat for d in report.credited if d.index == 0)
        return report.credited_sat - funded, funded

    def catalog(self) -> list[tuple[str, str]]:
        """Uploaders with payout addresses, and their files (hash, uploader)."""
        for u in range(self.cfg.uploaders):
            self.settlement.register_payout_address(f"u{u:03d}", uploader_address(u)[1])
        rows = []
        for i in range(self.cfg.files):
            digest = hashlib.sha256(f"demo-file-{i}".encode()).hexdigest()
            uploader = f"u{self.rng.randrange(self.cfg.uploaders):03d}"
            rows.append((digest, uploader, self.rng.choice(PRICES_MSAT)))
        self.hooks.import_catalog(rows)
        return [(h, u) for h, u, _ in rows]

    def downloads(self, files: Sequence[tuple[str, str]], start: int, count: int) -> int:
        """``count`` downloads through the hooks, in batches; returns how many were refused."""
        weights = [1 / (rank + 1) for rank in range(len(files))]  # a few popular files
        refused = 0
        for lo in range(start, start + count, self.cfg.batch):
            n = min(self.cfg.batch, start + count - lo)
            picks = self.rng.choices(files, weights=weights, k=n)
            batch = [
                DownloadRequest(f[0], f"d{self.rng.randrange(self.cfg.downloaders):04d}",
                                f"demo:dl:{lo + i}")
                for i, f in enumerate(picks)
            ]
            answers = self.hooks.download_batch(batch)
            refused += sum(isinstance(a, BitcacheError) for a in answers)
            self.progress("downloads", lo + n, self.cfg.downloads)
        return refused

    def settle(self) -> None:
        """Settlement cycles with the tree head anchored, a block mined between, until final."""
        self.progress("settlement", 0, 1)
        self.node.settle(self.key)
        for _ in range(self.cfg.confirmations + 10):
            if not self.settlement.settlements():
                break
            self.chain.mine(1)
            self.node.settle()

    def statement(self) -> tuple[str, Path, int, bool]:
        """Issue one paid uploader's statement for the day and verify it offline."""
        final = self.settlement.settlements([SettlementState.FINAL])
        paid: dict[str, int] = {}
        for s in final:
            for p in s.payouts:
                paid[p.uploader] = paid.get(p.uploader, 0) + p.payout_sat
        # the paid uploader who earned least: the shortest statement with a payout in it
        uploader = min(paid, key=lambda u: (paid[u], u)) if paid else "u000"
        document = issue_statement(self.ledger, uploader, 0, now_us() + 1,
                                   self.key, platform="bitcache demo")
        path = self.cfg.folder / f"statement-{uploader}.json"
        path.write_bytes(document)
        (self.cfg.folder / "platform.pub").write_text(public_key_hex(self.key) + "\n")
        verified = verify_statement(document, self.key.public_key())
        return uploader, path, len(verified.statement.lines), True


def _summary(s: Settlement) -> SettlementSummary:
    txid = s.confirmed_txid or (s.latest.txid if s.latest else "")
    version = s.version(txid) if txid else None
    vbytes = parse_transaction(version.raw).vsize if version else 0
    return SettlementSummary(
        s.id, s.state.value, txid, len(s.payouts), s.payout_sat,
        version.fee_sat if version else 0, vbytes, s.anchor is not None,
    )


def _noop(stage: str, done: int, total: int) -> None:
    """Default progress: nothing."""


def run_demo(cfg: DemoConfig | None = None, progress: Progress | None = None) -> DemoResult:
    """Run the whole demo in ``cfg.folder`` (see :func:`prepare_folder`); return what it did."""
    cfg = cfg or DemoConfig()
    demo = _Demo(cfg, progress or _noop)
    try:
        deposits_sat, funding_sat = demo.fund()
        files = demo.catalog()
        half = cfg.downloads // 2
        refused = demo.downloads(files, 0, half)
        demo.settle()
        refused += demo.downloads(files, half, cfg.downloads - half)
        demo.settle()
        demo.progress("reconcile", 0, 1)
        report = reconcile(demo.ledger, chain=demo.chain, wallet=demo.wallet,
                           confirmations=cfg.confirmations)
        uploader, path, lines, verified = demo.statement()
        balances = demo.ledger.balances()
        payable = -sum(b.posted for n, b in balances.items()
                       if n.startswith("liability:payable:"))
        settled = demo.settlement.settlements(list(SettlementState))
        paid = sum(p.reserved_msat for s in settled if s.state is SettlementState.FINAL
                   for p in s.payouts)
        return DemoResult(
            downloads=cfg.downloads - refused,
            refused=refused,
            entries=demo.ledger.head()[0],
            downloaders=cfg.downloaders,
            deposits_sat=deposits_sat,
            funding_sat=funding_sat,
            payable_msat=payable,
            paid_msat=paid,
            platform_msat=-balances[PLATFORM_REVENUE].posted,
            wallet_msat=balances[WALLET].posted,
            settlements=tuple(_summary(s) for s in settled),
            reconcile=report,
            statement_uploader=uploader,
            statement_path=path,
            statement_lines=lines,
            statement_verified=verified,
            public_key_hex=public_key_hex(demo.key),
            tip_height=demo.chain.tip().height,
            db_path=demo.db_path,
        )
    finally:
        demo.close()
