"""Credentials to an API key, and scope checks: HTTP Basic (any username, the key as password)
everywhere, bearer tokens on the event routes only.

The raw write path and the Starlette routes share ``authenticate``; a cached answer costs no
thread hop.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from footfall.access import parse_authorization, require_scope
from footfall.exceptions import Unauthorized
from footfall.store.rows import ApiKey
from footfall.web.services import Services, services

__all__ = ["authenticate", "basic_key", "full_key"]


async def authenticate(services: Services, header: bytes | None, bearer_ok: bool) -> ApiKey:
    """The key an ``Authorization`` header names; Unauthorized when it names none."""
    text = None if header is None else header.decode("latin-1")
    if text is not None and not bearer_ok and text[:7].lower() == "bearer ":
        raise Unauthorized("bearer tokens are accepted on the event routes only; use HTTP Basic")
    credential = parse_authorization(text)  # junk is refused here, before any lookup
    cached = services.auth.cached(credential)
    if cached is not None:
        return cached
    key: ApiKey = await run_in_threadpool(services.auth.lookup, credential)
    return key


def _header(request: Request) -> bytes | None:
    header = request.headers.get("authorization")
    return None if header is None else header.encode("latin-1")


async def full_key(request: Request) -> ApiKey:
    """The key of a call that needs scope ``full`` (HTTP Basic only)."""
    key = await authenticate(services(request), _header(request), False)
    require_scope(key, "full")
    return key


async def basic_key(request: Request) -> ApiKey:
    """The key of a call that any scope may make, with HTTP Basic credentials only."""
    header = request.headers.get("authorization")
    if header is not None and not header.lower().startswith("basic "):
        raise Unauthorized("a token is issued for HTTP Basic credentials (the API key as password)")
    return await authenticate(services(request), _header(request), False)
