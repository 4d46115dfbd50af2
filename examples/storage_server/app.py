"""A small ASGI storage server charging every download through ``bitcache.hooks``.

* ``PUT /files?uploader=<id>&price_msat=<n>`` — the body is the file. It is
  streamed to the storage folder while its SHA-256 is computed, stored as
  ``<folder>/<sha256 hex>`` and registered (re-uploading the same content is
  idempotent for its uploader; another uploader gets 409).
* ``GET /files/<sha256 hex>?downloader=<id>`` with an ``Idempotency-Key``
  header (the request id: a retry is not charged twice) — charges the
  download, then streams the file. Refusals: 402 insufficient funds, 404
  unknown file, 409 key reused for another download, 429 download cap
  reached, 451 file held, 400 bad input.
* ``GET /balance/<downloader>`` — the downloader's available prepaid msat.

The hooks are called through ``AsyncHooks``: the database work runs in
worker threads so the event loop keeps serving, and the downloads of
concurrent requests share their commits (group commit).

Run: ``python -m examples.storage_server --db sqlite:///server.sqlite --folder ./store``.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from bitcache.asynchooks import AsyncHooks
from bitcache.core.filehash import file_hash
from bitcache.core.pricing import PriceRule
from bitcache.errors import (
    BitcacheError,
    DownloadCapReached,
    FileHeld,
    FileOwnershipConflict,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidInput,
    UnknownFile,
)
from bitcache.hooks import Hooks

CHUNK = 64 * 1024
MAX_UPLOAD = 64 * 1024 * 1024

_STATUS: tuple[tuple[type[BitcacheError], int], ...] = (
    (InvalidInput, 400),
    (InsufficientFunds, 402),
    (UnknownFile, 404),
    (FileOwnershipConflict, 409),
    (IdempotencyConflict, 409),
    (DownloadCapReached, 429),
    (FileHeld, 451),
)


def refusal(exc: BitcacheError) -> JSONResponse:
    """The HTTP answer to a bitcache refusal."""
    status = next((code for cls, code in _STATUS if isinstance(exc, cls)), 500)
    return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=status)


async def _store_upload(request: Request, folder: Path) -> tuple[str, int]:
    """Stream the body to a temporary file in ``folder``; return its SHA-256 hex and size."""
    digest, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_UPLOAD:
                    raise InvalidInput(f"uploads are limited to {MAX_UPLOAD} bytes")
                digest.update(chunk)
                out.write(chunk)
        hex_hash = digest.hexdigest()
        os.replace(tmp, folder / hex_hash)
        return hex_hash, size
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _int_param(request: Request, name: str) -> int:
    text = request.query_params.get(name, "")
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput(f"query parameter {name} must be a non-negative integer")
    return int(text)


async def _read_file(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while chunk := await run_in_threadpool(f.read, CHUNK):
            yield chunk


def create_app(hooks: Hooks, folder: Path) -> Starlette:
    """The storage server over ``hooks``, keeping files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    aio = AsyncHooks(hooks)

    async def upload(request: Request) -> Response:
        try:
            uploader = request.query_params.get("uploader", "")
            price = PriceRule.fixed(_int_param(request, "price_msat"))
            hex_hash, size = await _store_upload(request, folder)
            await aio.register_file(hex_hash, uploader, price, size=size)
        except BitcacheError as exc:
            return refusal(exc)
        return JSONResponse({"file_hash": hex_hash, "size": size}, status_code=201)

    async def download(request: Request) -> Response:
        try:
            fh = file_hash(request.path_params["file"]).hex()
            path = folder / fh
            key = request.headers.get("idempotency-key", "")
            downloader = request.query_params.get("downloader", "")
            receipt = await aio.download(fh, downloader, key)
        except BitcacheError as exc:
            return refusal(exc)
        headers = {"X-Bitcache-Entry": str(receipt.entry_id or ""),
                   "X-Bitcache-Price-Msat": str(receipt.price_msat),
                   "X-Bitcache-Balance-Msat": str(receipt.balance_after_msat)}
        return StreamingResponse(_read_file(path), media_type="application/octet-stream",
                                 headers=headers)

    async def balance(request: Request) -> Response:
        try:
            msat = await aio.prepaid_balance(request.path_params["who"])
        except BitcacheError as exc:
            return refusal(exc)
        return JSONResponse({"downloader": request.path_params["who"], "available_msat": msat})

    return Starlette(routes=[
        Route("/files", upload, methods=["PUT"]),
        Route("/files/{file}", download, methods=["GET"]),
        Route("/balance/{who}", balance, methods=["GET"]),
    ])
