"""Logs and metrics: the ``bitcache.*`` loggers' formats and the Prometheus instruments."""
