"""The JSON API of ``bitcache serve``: every endpoint, in the order /openapi.json lists them."""

from __future__ import annotations

from bitcache.serve.api import files, money, operator, parties
from bitcache.serve.api.misc import ENDPOINTS as _MISC
from bitcache.serve.endpoint import Endpoint

ENDPOINTS: tuple[Endpoint, ...] = (
    *_MISC, *files.ENDPOINTS, *money.ENDPOINTS, *parties.ENDPOINTS, *operator.ENDPOINTS)
