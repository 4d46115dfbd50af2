"""The ``bitcache`` command line: a thin edge over the library.

Exit codes (every command):

* 0: success;
* 1: a check failed: reconcile found a discrepancy, a statement or the
  journal does not verify, the demo's books do not reconcile;
* 2: bad input or a refused request (a ``BitcacheError`` such as a wrong
  passphrase, an unknown account, an existing wallet, mainnet);
* 3: the database or the chain backend failed (``StoreError``, ``ChainError``;
  for ``settle``, also a broadcast that could not reach the backend);
* 4: ``settle``: a settlement is not moving — its broadcast was refused by
  the node (the reason is printed; the job retries every cycle) or it is
  unconfirmed ``--stall-after-blocks`` blocks after it was planned;
* 5: a credited deposit left the best chain (``ReorgTooDeep``): ``settle``
  keeps exiting 5 while such a deposit's credit stands and no operator has
  acknowledged it (``bitcache deposits reorged|acknowledge|reverse``).

Commands that need the wallet or the chain read the node folder made by
``bitcache init`` (``--home``, or ``BITCACHE_HOME``): ``bitcache.toml`` (or
the ``config.json`` of a node made before it), the
encrypted seed ``wallet.seed`` and the encrypted platform key
``platform.key``; commands over the ledger alone take ``--db`` or use the
node's database. The passphrase comes from ``BITCACHE_PASSPHRASE`` or a
prompt. ``--json`` prints one JSON document instead of tables. An error is
one ``error: <ErrorClass>: <message>`` line on standard error (with
``--json``, the JSON document), never a traceback.
"""

from __future__ import annotations

# isort: off
from bitcache.cli import init_command  # registered first: `init` heads the command list
from bitcache.cli import demo_command, events_commands, ledger_commands, node_commands
from bitcache.cli import config_commands, metrics_commands, operator_commands
from bitcache.cli import recovery_commands, serve_commands

# isort: on
from bitcache.cli.base import (
    EXIT_BACKEND,
    EXIT_CHECK_FAILED,
    EXIT_REFUSED,
    EXIT_REORG,
    EXIT_STALLED,
    NodeConfig,
    app,
)

__all__ = [
    "EXIT_BACKEND",
    "EXIT_CHECK_FAILED",
    "EXIT_REFUSED",
    "EXIT_REORG",
    "EXIT_STALLED",
    "NodeConfig",
    "app",
    "config_commands",
    "demo_command",
    "events_commands",
    "init_command",
    "ledger_commands",
    "main",
    "metrics_commands",
    "node_commands",
    "operator_commands",
    "recovery_commands",
    "serve_commands",
]


def main() -> None:
    """Console-script entry point."""
    app()
