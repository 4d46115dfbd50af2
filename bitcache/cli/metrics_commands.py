"""``bitcache metrics``: the node's gauges for Prometheus, on stdout or in a textfile.

For node_exporter's textfile collector, run from cron::

    bitcache metrics --textfile /var/lib/node_exporter/textfile/bitcache.prom

It reads the ledger's gauges (settlements by state, the oldest unconfirmed
settlement's age, events not yet delivered) and, unless ``--no-chain``,
runs reconcile's checks against the chain (read-only: no event, no write)
and looks for deposits waiting for confirmations. Exit codes: 0 written;
2 bad input; 3 the database or the chain backend failed (nothing written:
node_exporter's ``node_textfile_mtime_seconds`` shows the file going stale).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from bitcache.cli.base import DEFAULT_HOME, HomeOption, NodeConfig, _errors, _ledger, app


@app.command("metrics")
def metrics_command(
    home: HomeOption = DEFAULT_HOME,
    textfile: Annotated[
        Path | None,
        typer.Option(help="write here, atomically (default: the node's metrics.textfile)"),
    ] = None,
    chain: Annotated[
        bool, typer.Option(help="also reconcile against the chain and count waiting deposits")
    ] = True,
) -> None:
    """Print the node's metrics in Prometheus' text format, or write them to a textfile."""
    from bitcache.cli.opsconfig import metrics_settings
    from bitcache.reconciliation.checks import reconcile
    from bitcache.services.deposits import DepositService
    from bitcache.services.gauges import node_metrics, write_node_textfile

    with _errors():
        cfg = NodeConfig.load(home)
        target = textfile or metrics_settings(home).textfile
        ledger = _ledger(cfg.db)
        if chain:
            with cfg.chain_backend() as backend:
                wallet = cfg.watch_only()
                reconcile(ledger, chain=backend, wallet=wallet, confirmations=cfg.confirmations)
                DepositService(
                    ledger, wallet, backend, confirmations=cfg.confirmations
                ).waiting()
        if target is None:
            sys.stdout.write(node_metrics(ledger, instruments=False).decode())
        else:
            write_node_textfile(target, ledger)
