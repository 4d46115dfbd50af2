"""Local HTTP servers that answer as Bitcoin Core and Esplora do, for adapter tests."""
