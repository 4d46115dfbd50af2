"""Payout and deposit events: events list, events deliver, events redeliver.

Exit codes: 0 ok (``deliver``: every endpoint caught up, or being sent to by
another run that holds its lease); 2 bad input (an
unknown event id, no webhook URL or secret configured); 3 the database
failed, or an endpoint did not accept an event this pass or is backing off
from an earlier failure; 4 an endpoint was given up on after
``max_attempts`` failures (``events redeliver`` starts it again).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from bitcache.cli.base import (
    DEFAULT_HOME,
    EXIT_BACKEND,
    EXIT_STALLED,
    HomeOption,
    JsonOption,
    OptDb,
    _emit,
    _errors,
    _iso,
    _ledger,
    _node_db,
    app,
    console,
)
from bitcache.errors import InvalidConfig

if TYPE_CHECKING:
    from bitcache.services.webhooks import EndpointReport, Webhooks
    from bitcache.store.ledger import LedgerStore

events_app = typer.Typer(help="Payout and deposit events and their webhook deliveries.")
app.add_typer(events_app, name="events")


@events_app.command("list")
def events_list(
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="how many of the newest")] = 50,
    kind: Annotated[str | None, typer.Option(help="only this kind, e.g. payout.final")] = None,
    as_json: JsonOption = False,
) -> None:
    """The newest events, oldest first, and how far each webhook endpoint has got."""
    from bitcache.services.events import list_events
    from bitcache.services.webhooks import envelope

    with _errors(as_json):
        found = list_events(_ledger(_node_db(home, db)), limit=limit, kind=kind)
    endpoints = [
        {
            "url": e.url, "delivered_id": e.delivered_id, "attempts": e.attempts,
            "next_attempt_at": _iso(e.next_attempt_at) if e.next_attempt_at else None,
            "last_error": e.last_error,
        }
        for e in found.endpoints
    ]
    if as_json:
        _emit({"events": [envelope(e) for e in found.events], "endpoints": endpoints,
               "last_id": found.last_id})
        return
    table = Table("id", "type", "subject", "created", "delivered to", title="events")
    for e in found.events:
        done = sum(1 for p in found.endpoints if p.delivered_id >= e.id)
        table.add_row(str(e.id), e.kind, e.subject, _iso(e.created_at),
                      f"{done}/{len(found.endpoints)}")
    console.print(table)
    for p in endpoints:
        console.print(escape(f"endpoint {p['url']}: delivered up to {p['delivered_id']}, "
                             f"{p['attempts']} failed attempt(s) {p['last_error']}".rstrip()))


def webhooks_from_settings(home: Path, ledger: LedgerStore) -> Webhooks:
    """The node's webhooks (its ``events`` settings); InvalidConfig if none are set."""
    from bitcache.cli.node import read_file
    from bitcache.cli.opsconfig import event_settings
    from bitcache.services.webhooks import DeliveryPolicy, Webhooks

    settings = event_settings(home)
    if not settings.webhook_urls:
        raise InvalidConfig("events.webhook_urls: no webhook URL set in bitcache.toml",
                            key="events.webhook_urls")
    if settings.webhook_secret_file is None:
        raise InvalidConfig("events.webhook_secret_file: no webhook secret file set in "
                            "bitcache.toml", key="events.webhook_secret_file")
    secret = read_file(settings.webhook_secret_file, "the webhook secret file").strip()
    policy = DeliveryPolicy(max_attempts=settings.max_attempts)
    return Webhooks(ledger, settings.webhook_urls, secret, policy)


def _report(reports: list[EndpointReport], as_json: bool) -> None:
    """Print each endpoint's outcome; exit 4 if one was given up on, 3 if one failed or waits."""
    if as_json:
        _emit({"endpoints": [
            {"url": r.url, "status": r.status, "delivered": r.delivered, "cursor": r.cursor,
             "attempts": r.attempts, "error": r.error,
             "next_attempt_at": _iso(r.next_attempt_at) if r.next_attempt_at else None}
            for r in reports]})
    else:
        for r in reports:
            line = f"{r.url}: {r.status}, {r.delivered} delivered, up to event {r.cursor}"
            if r.error:
                line += f"; attempt {r.attempts} failed: {r.error}"
            console.print(escape(line))
    statuses = {r.status for r in reports}
    if "given_up" in statuses:
        raise typer.Exit(EXIT_STALLED)
    if statuses - {"caught_up", "busy"}:
        raise typer.Exit(EXIT_BACKEND)


@events_app.command("deliver")
def events_deliver(home: HomeOption = DEFAULT_HOME, db: OptDb = None,
                   as_json: JsonOption = False) -> None:
    """Send every endpoint the events it has not accepted yet, in order (run it from cron)."""
    with _errors(as_json), webhooks_from_settings(home, _ledger(_node_db(home, db))) as hooks:
        reports = hooks.deliver()
    _report(reports, as_json)


@events_app.command("redeliver")
def events_redeliver(
    event_id: Annotated[int, typer.Argument(min=1, help="the first event to send again")],
    home: HomeOption = DEFAULT_HOME,
    db: OptDb = None,
    as_json: JsonOption = False,
) -> None:
    """Send event ID and every later one again, in order, to every endpoint (and start an
    endpoint that was given up on again)."""
    with _errors(as_json), webhooks_from_settings(home, _ledger(_node_db(home, db))) as hooks:
        reports = hooks.redeliver(event_id)
    _report(reports, as_json)
