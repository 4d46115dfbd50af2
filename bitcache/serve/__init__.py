"""bitcache serve: the HTTP service a file host runs beside its storage.

* :mod:`~bitcache.serve.app` — the ASGI app (the routes);
* :mod:`~bitcache.serve.service` — the service's parts;
* :mod:`~bitcache.serve.api` — the JSON API (files, downloads, transfers,
  tips, links, balances, deposit and payout addresses, earnings,
  statements, settlement and reconcile status);
* :mod:`~bitcache.serve.gate` — the download gate behind nginx
  (``X-Accel-Redirect``);
* :mod:`~bitcache.serve.keys`, :mod:`~bitcache.serve.auth`,
  :mod:`~bitcache.serve.ratelimit` — API keys, scopes, failure limits;
* :mod:`~bitcache.serve.links`, :mod:`~bitcache.serve.ranges` — signed
  download links and Range requests;
* :mod:`~bitcache.serve.idempotency` — ``Idempotency-Key``;
* :mod:`~bitcache.serve.problems`, :mod:`~bitcache.serve.payment` — RFC 9457
  problems, 402 with a BIP21 URI;
* :mod:`~bitcache.serve.openapi` — /openapi.json from the endpoint table;
* :mod:`~bitcache.serve.charges` — the seam every money-moving call goes
  through.

See docs/serve.md.
"""
