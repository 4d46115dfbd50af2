"""Telemetry benchmark: what counting and logging add to a charge, against the charge.

Measured in the same run:

* ``charge_us``: the time of one charge through ``Hooks.download_batch``
  (batches of 1,000, SQLite with durable commits), per download;
* ``count_us_per_batch`` / ``count_us_per_download``: :func:`count_answers`
  over a batch of 1,000 answers (2 % refusals, two reasons) plus the batch
  latency histogram's ``observe`` and the debug-log guard — everything the
  charge path adds per batch with debug logging off, the default;
* ``overhead_ratio``: the added time per download over the charge time.

    python benchmarks/telemetry.py [--quick]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.hooks import BATCH, _setup, batched_calls_per_s
from bitcache.errors import InsufficientFunds, UnknownFile
from bitcache.services.charging import log
from bitcache.telemetry.metrics import BATCH_SECONDS, count_answers


def instrumentation_us(rounds: int) -> float:
    """µs per batch of 1,000 answers spent counting, observing and checking the log level."""
    answers: list[object] = [object()] * BATCH
    for i in range(0, BATCH, 100):
        answers[i] = InsufficientFunds("x")
        answers[i + 1] = UnknownFile("y")
    begin = time.perf_counter()
    for _ in range(rounds):
        BATCH_SECONDS.observe(0.01)
        count_answers(answers)
        if log.isEnabledFor(logging.DEBUG):
            raise AssertionError("debug logging is off by default")
    return (time.perf_counter() - begin) / rounds * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run, under 60 s")
    args = parser.parse_args()
    n = 5_000 if args.quick else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        hooks = _setup(f"sqlite:///{tmp}/telemetry.sqlite")
        try:
            charge_us = 1e6 / batched_calls_per_s(hooks, n, "t")
        finally:
            hooks.close()
    per_batch = instrumentation_us(200 if args.quick else 2_000)
    result = {
        "charge_us": round(charge_us, 2),
        "count_us_per_batch": round(per_batch, 2),
        "count_us_per_download": round(per_batch / BATCH, 4),
        "overhead_ratio": round(per_batch / BATCH / charge_us, 5),
    }
    print(f"telemetry: a charge takes {result['charge_us']} µs; counting adds "
          f"{result['count_us_per_download']} µs per download "
          f"({result['overhead_ratio'] * 100:.3f} %)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
