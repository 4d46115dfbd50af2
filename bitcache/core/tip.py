"""The best chain's tip: the height and hash the chain adapters report.

A pure value type, in the core because the store and the services record it
without importing a chain adapter.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Tip:
    """The best chain's tip."""

    height: int
    block_hash: str
