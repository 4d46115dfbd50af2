"""Deposit benchmark: issuing N deposit addresses, and one scan over all of them, per backend.

bitcache asks the chain about every address it issued (there is no gap
limit), so a scan's cost grows with the number of downloaders. This
measures it on a fresh SQLite ledger with N issued addresses and a few
deposits among them (the last index included):

* issuing: the first and the last 1,000 addresses through
  ``DepositService.deposit_address`` (the rest are filled in bulk), so a
  slowdown with N shows as a ratio below 1;
* a scan on the embedded regtest chain, against the fake bitcoind of
  ``tests/chain/fakes`` (one ``scantxoutset`` with N ``raw()`` descriptors,
  over HTTP), and against the fake Esplora (one ``/scripthash/:h/utxo``
  request per address, over HTTP; fewer addresses, the figure is per
  address). Each is timed twice: the first scan of a new service (it
  credits the deposits) and the next one (nothing new; the credits are
  re-checked against the chain's blocks), with the requests it sent.

Baselines measured in the same run: the backend's ``utxos()`` call alone on
the same scripts (what any scanner must pay), and deriving the N addresses
alone. The fakes answer from memory: they show bitcache's own cost and the
transport's, not a real node's (Core's ``scantxoutset`` walks its whole UTXO
set whatever N is; see docs/deposits.md).

    python benchmarks/deposits.py [--quick] [--addresses N] [--esplora N]

``--quick``: 10,000 addresses (Esplora 500), under a minute; the
default measures 100,000 (Esplora 10,000). The last line printed is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "chain"))

from fakes.fake_core import FakeCore  # noqa: E402
from fakes.fake_esplora import FakeEsplora  # noqa: E402
from fakes.state import ChainState  # noqa: E402

from bitcache.chain.esplora import Esplora  # noqa: E402
from bitcache.chain.protocol import ChainBackend  # noqa: E402
from bitcache.chain.regtest import ANYONE_CAN_SPEND_SCRIPT, RegtestChain  # noqa: E402
from bitcache.chain.rpc import BitcoinCoreRPC  # noqa: E402
from bitcache.network import Network  # noqa: E402
from bitcache.services.deposits import DepositService, ScanReport  # noqa: E402
from bitcache.store import deposits as deposits_rows  # noqa: E402
from bitcache.store.database import sqlite_url  # noqa: E402
from bitcache.store.deposits import DepositAddress  # noqa: E402
from bitcache.store.ledger import LedgerStore  # noqa: E402
from bitcache.wallet.keys import HDWallet  # noqa: E402
from tests.deposits.conftest import anyone_spend  # noqa: E402

SEED = hashlib.sha256(b"bitcache deposit benchmark").digest()
TIMED = {True: 100, False: 1_000}  # addresses issued through the API, at the start and end
DEPOSITS = 10  # deposits spread over the issued addresses (the last one included)
CONFIRMATIONS = 3
AUTH = ("bench", "bench")


def signing() -> HDWallet:
    return HDWallet.from_seed(SEED, Network.REGTEST)


def watch_only() -> HDWallet:
    return HDWallet.watch_only(signing().account_xpub(), Network.REGTEST)


def issue(
    ledger: LedgerStore, wallet: HDWallet, chain: ChainBackend, n: int, timed: int
) -> dict[str, float]:
    """Issue ``n`` addresses (index 0 is the operator's); time the first and last ``timed``
    (the ones between are filled in bulk, derived by the signing wallet: same addresses,
    faster)."""
    service = DepositService(ledger, wallet, chain, confirmations=CONFIRMATIONS)
    timed = min(timed, n // 2)
    t0 = time.perf_counter()
    for i in range(1, timed + 1):
        service.deposit_address(f"d{i}")
    first_s = time.perf_counter() - t0
    filler = signing()
    with ledger.write() as conn:
        for i in range(timed + 1, n - timed + 1):
            key = filler.receive_key(i)
            row = DepositAddress(i, f"liability:prepaid:d{i}", key.script_pubkey, key.address)
            deposits_rows.insert_address(conn, row, 0)
    t0 = time.perf_counter()
    for i in range(n - timed + 1, n + 1):
        service.deposit_address(f"d{i}")
    last_s = time.perf_counter() - t0
    return {
        "first_ms_per_address": round(first_s / timed * 1000, 3),
        "last_ms_per_address": round(last_s / timed * 1000, 3),
        "flat_ratio": round(first_s / last_s, 2),
    }


def deposit_scripts(ledger: LedgerStore, n: int) -> list[bytes]:
    """Scripts of DEPOSITS addresses spread over 1..n, the last one included."""
    wanted = {max(1, n * (k + 1) // DEPOSITS) for k in range(DEPOSITS)}
    with ledger.read() as conn:
        return [a.script_pubkey for a in deposits_rows.addresses(conn) if a.index in wanted]


def timed(call: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = call()
    return time.perf_counter() - t0, result


def scan_figures(
    ledger: LedgerStore,
    wallet: HDWallet,
    chain: ChainBackend,
    expected: int,
    requests: Callable[[], int] = lambda: 0,
) -> dict[str, float]:
    """The first scan of a new service (it credits the deposits), the next one (nothing
    new; the credits re-checked), and the backend's utxos() alone on the same scripts."""
    with ledger.read() as conn:
        scripts = [a.script_pubkey for a in deposits_rows.addresses(conn)]
    service = DepositService(ledger, wallet, chain, confirmations=CONFIRMATIONS)
    first_s, report = timed(service.scan)
    assert isinstance(report, ScanReport) and len(report.credited) == expected, report
    before = requests()
    next_s, _ = timed(service.scan)
    sent = requests() - before
    utxos_s, found = timed(lambda: chain.utxos(scripts))
    assert isinstance(found, list) and len(found) == expected
    n = len(scripts)
    return {
        "addresses": n,
        "first_scan_s": round(first_s, 3),
        "next_scan_s": round(next_s, 3),
        "baseline_utxos_s": round(utxos_s, 3),
        "next_us_per_address": round(next_s / n * 1e6, 1),
        "utxos_us_per_address": round(utxos_s / n * 1e6, 1),
        "requests_per_scan": sent,
    }


def regtest_scan(ledger: LedgerStore, wallet: HDWallet, chain: RegtestChain, n: int) -> dict:
    payments = deposit_scripts(ledger, n)
    coinbases = [u for u in chain.utxos([ANYONE_CAN_SPEND_SCRIPT]) if u.height == 1]
    coin = coinbases[0]
    change = coin.value_sat - 10_000 * len(payments) - 5_000
    chain.broadcast(anyone_spend(coin.outpoint, [*((s, 10_000) for s in payments),
                                                 (ANYONE_CAN_SPEND_SCRIPT, change)]))
    chain.mine(CONFIRMATIONS)
    return scan_figures(ledger, wallet, chain, len(payments))


def core_scan(ledger: LedgerStore, wallet: HDWallet, n: int) -> dict:
    state = ChainState(Network.REGTEST)
    for script in deposit_scripts(ledger, n):
        state.fund(script, 10_000)
    state.mine(CONFIRMATIONS)
    server = FakeCore(state, chain="regtest", auth=AUTH).start()
    try:
        rpc = BitcoinCoreRPC(server.url, network=Network.REGTEST, auth=AUTH)
        figures = scan_figures(ledger, wallet, rpc, DEPOSITS, lambda: len(server.requests))
        figures["largest_request_bytes"] = max(len(r.body) for r in server.requests)
        rpc.close()
        return figures
    finally:
        server.stop()


def esplora_scan(ledger: LedgerStore, wallet: HDWallet, n: int) -> dict:
    state = ChainState(Network.REGTEST)
    for script in deposit_scripts(ledger, n):
        state.fund(script, 10_000)
    state.mine(CONFIRMATIONS)
    server = FakeEsplora(state).start()
    try:
        esplora = Esplora(server.url, network=Network.REGTEST)
        return scan_figures(ledger, wallet, esplora, DEPOSITS, lambda: len(server.requests))
    finally:
        server.stop()


def derive_s(wallet: HDWallet, n: int) -> float:
    t0 = time.perf_counter()
    for i in range(n):
        wallet.receive_key(i)
    return time.perf_counter() - t0


def measure(n: int, n_esplora: int, timed_n: int) -> dict[str, object]:
    """Every figure, on fresh ledgers in a temporary folder."""
    wallet = watch_only()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        chain = RegtestChain.open(folder / "chain")
        chain.mine(101)
        main_db = folder / "main.sqlite"
        main = LedgerStore.open(sqlite_url(main_db))
        t0 = time.perf_counter()
        issuing = issue(main, wallet, chain, n, timed_n)
        issue_s = time.perf_counter() - t0
        main.close()
        shutil.copy(main_db, folder / "core.sqlite")  # the same N addresses, for Core
        ledgers = [LedgerStore.open(sqlite_url(folder / name))
                   for name in ("main.sqlite", "core.sqlite", "esplora.sqlite")]
        issue(ledgers[2], wallet, chain, n_esplora, timed_n)
        regtest = regtest_scan(ledgers[0], wallet, chain, n)
        core = core_scan(ledgers[1], wallet, n)
        esplora = esplora_scan(ledgers[2], wallet, n_esplora)
        derive = derive_s(wallet, min(n, 2_000)) * n / min(n, 2_000)  # linear: sampled
        chain.close()
        for ledger in ledgers:
            ledger.close()
    return {
        "benchmark": "deposits",
        "addresses": n,
        "issue": issuing,
        "issue_all_s": round(issue_s, 2),
        "baseline_derive_s": round(derive, 3),
        "regtest": regtest,
        "core_fake": core,
        "esplora_fake": esplora,
        "esplora_100k_s_estimate": round(esplora["next_us_per_address"] * 100_000 / 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 addresses")
    parser.add_argument("--addresses", type=int, default=None)
    parser.add_argument("--esplora", type=int, default=None, help="addresses for Esplora")
    args = parser.parse_args()
    n = args.addresses or (10_000 if args.quick else 100_000)
    n_esplora = args.esplora or (500 if args.quick else 10_000)
    timed_n = TIMED[args.quick]
    figures = measure(n, n_esplora, timed_n)
    issuing: dict[str, float] = figures["issue"]  # type: ignore[assignment]
    print(f"{n:,} addresses issued in {figures['issue_all_s']} s; first {timed_n:,}: "
          f"{issuing['first_ms_per_address']} ms each, last {timed_n:,}: "
          f"{issuing['last_ms_per_address']} ms each (ratio {issuing['flat_ratio']})")
    print(f"deriving {n:,} addresses alone (watch-only wallet): {figures['baseline_derive_s']} s")
    for name, key in (("regtest", "regtest"), ("core (fake)", "core_fake"),
                      ("esplora (fake)", "esplora_fake")):
        f: dict[str, float] = figures[key]  # type: ignore[assignment]
        print(f"scan {name}, {f['addresses']:,} addresses: first {f['first_scan_s']} s, next "
              f"{f['next_scan_s']} s ({f['next_us_per_address']} µs/address, "
              f"{f['requests_per_scan']} requests); utxos() alone {f['baseline_utxos_s']} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
