"""The routes under ``/web``: login, the uploader page, the operator dashboard.

Every page is rendered on the server (Jinja2, autoescaped) and sent with a
strict Content-Security-Policy: scripts, styles and images only from this
site, no inline script or style, no framing. A page needs a session (see
:mod:`~bitcache.serve.web.session`): an ``uploader:<id>`` key sees that
uploader's page only; an ``operator`` key sees the dashboard and every
uploader's page. Every form carries a CSRF token.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from bitcache.core.files import party_id
from bitcache.errors import AuthenticationFailed, BitcacheError, BodyTooLarge, InvalidInput
from bitcache.reconciliation.report import ReconcileReport
from bitcache.serve import keys
from bitcache.serve.auth import Principal, client_of
from bitcache.serve.endpoint import read_body
from bitcache.serve.keys import OPERATOR, Scope, ScopeKind
from bitcache.serve.problems import problem_for
from bitcache.serve.web.charts import LEFT, bar_chart, sats, sats_exact
from bitcache.serve.web.explorer import tx_url
from bitcache.serve.web.session import Sessions
from bitcache.services import overview
from bitcache.services.overview import Period

if TYPE_CHECKING:
    from bitcache.serve.service import Service

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
           "Cache-Control": "no-store"}
STATIC = {"web.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml",
          "login.js": "text/javascript; charset=utf-8",
          "verify.js": "text/javascript; charset=utf-8"}
_FORM_MAX = 4096

Page = Callable[[Request], Awaitable[Response]]


def _static_files() -> dict[str, bytes]:
    folder = resources.files("bitcache.serve.web") / "static"
    return {name: (folder / name).read_bytes() for name in STATIC}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bitcache.serve.web", "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["sats"] = sats
    env.filters["sats_exact"] = sats_exact
    env.globals["chart_left"] = LEFT
    env.filters["msat"] = lambda v: f"{v:,}"
    env.filters["when"] = lambda us: time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                                   time.gmtime(us // 1_000_000))
    return env


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (first value of each field); oversize bodies are refused."""
    try:
        body = await read_body(request, _FORM_MAX)
    except BodyTooLarge:
        raise InvalidInput("the form is too large") from None
    try:
        fields = parse_qs(body.decode("ascii"), max_num_fields=8, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput("the form could not be read") from exc
    return {k: v[0] for k, v in fields.items()}


def home_of(principal: Principal) -> str | None:
    """The page a login lands on: the dashboard for an operator, else the uploader's page."""
    if OPERATOR in principal.scopes:
        return "/web/operator"
    uploaders = sorted(s.party for s in principal.scopes
                       if s.kind is ScopeKind.UPLOADER and s.party is not None)
    return f"/web/uploaders/{quote(uploaders[0])}" if uploaders else None


class Web:
    """The pages over one service: templates, static files, sessions, the last reconcile."""

    def __init__(self, service: Service):
        self.service = service
        self.sessions = Sessions.from_link_secret(service.options.link_secret, service.auth,
                                                  service.trust_proxy)
        self.env = environment()
        self.static = _static_files()
        self.last_reconcile: tuple[int, ReconcileReport] | None = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.guarded(self.home), methods=["GET"]),
            Route("/login", self.guarded(self.login_page), methods=["GET"]),
            Route("/login", self.guarded(self.login), methods=["POST"]),
            Route("/logout", self.guarded(self.logout), methods=["POST"]),
            Route("/uploaders/{uploader}", self.guarded(self.uploader_page), methods=["GET"]),
            Route("/uploaders/{uploader}/statement.json", self.guarded(self.statement),
                  methods=["GET"]),
            Route("/operator", self.guarded(self.operator_page), methods=["GET"]),
            Route("/operator/reconcile", self.guarded(self.reconcile), methods=["POST"]),
            Route("/static/{name}", self.static_file, methods=["GET"]),
        ]

    # -- plumbing ----------------------------------------------------------------

    def render(self, request: Request, template: str, status: int = 200,
               **context: Any) -> Response:
        """A page, with the security headers and the CSRF cookie its forms need."""
        cookie, new = self.sessions.csrf_cookie(request)
        html = self.env.get_template(template).render(
            csrf=self.sessions.csrf_token(cookie), **context)
        response = HTMLResponse(html, status, headers=HEADERS)
        if new:
            self.sessions.set_csrf(response, request, cookie)
        return response

    def error(self, request: Request, status: int, message: str,
              principal: Principal | None = None) -> Response:
        return self.render(request, "error.html", status, status_code=status,
                           message=message, principal=principal,
                           home=None if principal is None else home_of(principal))

    def guarded(self, page: Page) -> Page:
        """The page, with bitcache errors shown as an error page (never a traceback)."""
        async def run(request: Request) -> Response:
            try:
                return await page(request)
            except BitcacheError as exc:
                problem = problem_for(exc)
                return self.error(request, problem.status, problem.detail)
        return run

    async def require(self, request: Request, *allowed: Scope) -> Principal | Response:
        """The session's principal if it holds one of ``allowed``; else a redirect or 403."""
        principal = await self.sessions.principal(request)
        if principal is None:
            return RedirectResponse("/web/login", 303, headers=HEADERS)
        if principal.scopes.isdisjoint(allowed):
            return self.error(request, 403, "this login cannot see that page", principal)
        return principal

    async def checked_post(self, request: Request) -> dict[str, str] | Response:
        form = await _form(request)
        if not self.sessions.csrf_ok(request, form.get("csrf")):
            return self.error(request, 403, "the form expired or came from another site: "
                              "reload the page and try again")
        return form

    async def static_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self.static:
            return Response("not found", 404, headers=HEADERS)
        return Response(self.static[name], media_type=STATIC[name],
                        headers={**HEADERS, "Cache-Control": "max-age=300"})

    # -- login -----------------------------------------------------------------------

    async def home(self, request: Request) -> Response:
        principal = await self.sessions.principal(request)
        target = None if principal is None else home_of(principal)
        return RedirectResponse(target or "/web/login", 303, headers=HEADERS)

    async def login_page(self, request: Request, message: str = "",
                         status: int = 200) -> Response:
        return self.render(request, "login.html", status, message=message, principal=None)

    async def login(self, request: Request) -> Response:
        form = await self.checked_post(request)
        if isinstance(form, Response):
            return form
        peer = request.client.host if request.client else None
        client = client_of(peer, request.headers, self.service.trust_proxy)
        presented = form.get("key", "").strip()
        try:
            principal = await self.service.auth.authenticate(f"Bearer {presented}", client)
        except AuthenticationFailed:
            return await self.login_page(request, "that key is not valid (unknown, revoked or "
                                         "mistyped)", 401)
        target = home_of(principal)
        if target is None:
            return await self.login_page(request, "that key opens no page: the pages are for "
                                         "operator and uploader keys", 403)
        stored, _ = await self.service.auth.lookup(principal.key_id)
        assert stored is not None
        response = RedirectResponse(target, 303, headers=HEADERS)
        self.sessions.set_session(response, request,
                                  self.sessions.cookie_value(principal.key_id, stored.key_hash))
        return response

    async def logout(self, request: Request) -> Response:
        form = await self.checked_post(request)
        if isinstance(form, Response):
            return form
        response = RedirectResponse("/web/login", 303, headers=HEADERS)
        self.sessions.clear_session(response)
        return response

    # -- the uploader's page ------------------------------------------------------------

    def _uploader(self, request: Request) -> str:
        try:
            return party_id(request.path_params["uploader"], "uploader id")
        except InvalidInput as exc:
            raise InvalidInput(f"no such uploader page: {exc}") from exc

    async def uploader_page(self, request: Request) -> Response:
        uploader = self._uploader(request)
        principal = await self.require(request, OPERATOR, keys.uploader(uploader))
        if isinstance(principal, Response):
            return principal
        period = Period.named(request.query_params.get("by"), Period.DAY)
        view = await run_in_threadpool(self._uploader_view, uploader, period)
        node = self.service.node
        public = None if node.platform_key is None else node.platform_key.public_key()
        from bitcache.wallet.platformkey import public_key_hex

        return self.render(
            request, "uploader.html", view=view, principal=principal,
            chart=bar_chart([view.earnings], period), periods=list(Period),
            explorer=lambda txid: tx_url(node.network, txid),
            public_key=None if public is None else public_key_hex(public),
            home=home_of(principal))

    def _uploader_view(self, uploader: str, period: Period) -> overview.UploaderOverview:
        return overview.uploader_overview(self.service.ledger, uploader,
                                          policy=self.service.node.payout, period=period)

    async def statement(self, request: Request) -> Response:
        uploader = self._uploader(request)
        principal = await self.require(request, OPERATOR, keys.uploader(uploader))
        if isinstance(principal, Response):
            return principal
        key = self.service.node.platform_key
        if key is None:
            return self.error(request, 503, "statements need the platform key: the service "
                              "was started without it", principal)
        from bitcache.services.statements import issue_statement

        until = time.time_ns() // 1000 + 1
        document = await run_in_threadpool(
            issue_statement, self.service.ledger, uploader, 0, until, key,
            platform=self.service.node.platform_name)
        return Response(document, media_type="application/json", headers={
            **HEADERS, "Content-Disposition": f'attachment; filename="statement-{uploader}.json"'})

    # -- the operator's dashboard ---------------------------------------------------------

    async def operator_page(self, request: Request) -> Response:
        principal = await self.require(request, OPERATOR)
        if isinstance(principal, Response):
            return principal
        period = Period.named(request.query_params.get("by"), Period.DAY)
        view = await run_in_threadpool(self._operator_view, period)
        node = self.service.node
        return self.render(
            request, "operator.html", view=view, principal=principal,
            charts=[bar_chart([s], period, width=360, height=180,
                              first_series=n)
                    for n, s in enumerate(view.series)], periods=list(Period),
            explorer=lambda txid: tx_url(node.network, txid), reconcile=self.last_reconcile,
            home=home_of(principal))

    def _operator_view(self, period: Period) -> overview.OperatorOverview:
        service = self.service
        tip, waiting = None, None
        deposits = service.deposit_service()
        if service.node.chain is not None and deposits is not None:
            try:
                with service.node.chain() as chain:
                    tip = chain.tip().height
                waiting = deposits.waiting()
            except BitcacheError:
                pass  # the page says the tip and the waiting deposits are unknown
        return overview.operator_overview(
            service.ledger, tip_height=tip, stall_after_blocks=service.node.stall_after_blocks,
            period=period, waiting=waiting)

    async def reconcile(self, request: Request) -> Response:
        principal = await self.require(request, OPERATOR)
        if isinstance(principal, Response):
            return principal
        form = await self.checked_post(request)
        if isinstance(form, Response):
            return form
        self.last_reconcile = (time.time_ns() // 1000,
                               await run_in_threadpool(self.run_reconcile))
        return RedirectResponse("/web/operator#reconcile", 303, headers=HEADERS)

    def run_reconcile(self) -> ReconcileReport:
        """Reconcile the books, the journal and the wallet with the chain (blocking)."""
        from bitcache.reconciliation.checks import reconcile

        wallet, opener = self.service.need_chain()
        with opener() as chain:
            return reconcile(self.service.ledger, chain=chain, wallet=wallet,
                             confirmations=self.service.node.confirmations)
