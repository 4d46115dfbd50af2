"""Reconcile: do the books balance, is the journal intact, and does the chain agree?

- ``report``: what reconcile reports — the checks, each discrepancy, the
  wallet's view — and the collector the checks add to;
- ``journal_audit``: the streamed pass over the journal (hash chain,
  per-entry balance, per-account sums);
- ``checks``: every other check, and :func:`~bitcache.reconciliation.checks.reconcile`,
  which runs them all.

The SQL they read is in :mod:`bitcache.store.reconcile`.
"""
