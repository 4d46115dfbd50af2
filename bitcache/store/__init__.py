"""bitcache.store."""
