"""bitcache.core."""
