"""Use cases between the storage-server hooks and the store: each is one database transaction."""
