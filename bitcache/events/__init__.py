"""Payout and deposit events: what they say, and how webhook deliveries are signed.

The outbox table lives in :mod:`bitcache.store.outbox`; deliveries are made
by :mod:`bitcache.services.webhooks`. See docs/operations.md.
"""
