"""The web pages of ``bitcache serve``: an uploader's page and the operator's dashboard.

* :mod:`~bitcache.serve.web.pages` — the routes under ``/web``: login with
  an API key (a login link carries it in the URL fragment, never sent to
  the server), the uploader page, the statement download, the operator
  dashboard and its reconcile form;
* :mod:`~bitcache.serve.web.session` — session cookies and CSRF tokens;
* :mod:`~bitcache.serve.web.charts` — bar charts as server-side SVG.

Templates are Jinja2 with autoescaping; the only scripts are static files
(``static/*.js``) under a Content-Security-Policy of ``script-src 'self'``.
See docs/web.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from bitcache.serve.service import Service


def web_routes(service: Service) -> list[BaseRoute]:
    """The routes of the web pages (mounted at ``/web``)."""
    from bitcache.serve.web.pages import Web

    return Web(service).routes()
