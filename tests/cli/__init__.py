"""Tests of the `bitcache` command line."""

import re

#: A time as the operator commands print it: ISO 8601 in UTC, ``…Z``.
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")
