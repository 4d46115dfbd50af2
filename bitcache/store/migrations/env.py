"""Alembic environment: bitcache runs migrations on a connection it passes in."""

from __future__ import annotations

from alembic import context

from bitcache.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - bitcache always passes a connection
    raise RuntimeError("bitcache migrations run through bitcache.store.schema.upgrade()")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
