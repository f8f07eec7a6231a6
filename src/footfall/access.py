"""Workspaces, API keys and bearer tokens. Keys and tokens are stored only as SHA-256 hashes.

Keys are 256-bit random secrets, so a fast hash is enough (no password stretching needed), and
lookups by hash are constant time in the database.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from footfall.clock import now_us
from footfall.exceptions import Forbidden, Unauthorized, UnknownWorkspace
from footfall.store.rows import ApiKey

SCOPES = ("events", "full")
KEY_PREFIX = "ff_"


class KeyStore(Protocol):
    """What access needs of the store (``Store.access``)."""

    def create_workspace(self, name: str, now_us: int) -> int: ...
    def workspace_id(self, name: str) -> int | None: ...
    def create_api_key(
        self, workspace_id: int, key_hash: str, prefix: str, scope: str, now_us: int
    ) -> int: ...
    def find_api_key(self, key_hash: str) -> ApiKey | None: ...
    def create_token(self, token_hash: str, key_id: int, expires_us: int, now_us: int) -> None: ...
    def find_token(self, token_hash: str, now_us: int) -> ApiKey | None: ...


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    workspace: str
    api_key: str
    scope: str


def create_workspace(store: KeyStore, name: str) -> IssuedKey:
    """A new workspace with its first, full-access key."""
    if not name.strip() or len(name) > 200:
        raise UnknownWorkspace("a workspace name must be 1 to 200 characters")
    store.create_workspace(name, now_us())
    return create_key(store, name, "full")


def create_key(store: KeyStore, workspace: str, scope: str) -> IssuedKey:
    if scope not in SCOPES:
        raise Forbidden(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    workspace_id = store.workspace_id(workspace)
    if workspace_id is None:
        raise UnknownWorkspace(f"no workspace named {workspace!r}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    store.create_api_key(workspace_id, hash_secret(key), key[:8], scope, now_us())
    return IssuedKey(workspace, key, scope)


def basic_password(header: str) -> str | None:
    """The password of an HTTP Basic header (the username is ignored, as eSputnik does)."""
    try:
        decoded = base64.b64decode(header.strip(), validate=True).decode()
    except ValueError:  # not base64, not ASCII, or not UTF-8 once decoded
        return None
    _, sep, password = decoded.partition(":")
    return password if sep and password else None


class Authenticator:
    """Turns an Authorization header into an ApiKey, with a short cache in front of the store."""

    def __init__(
        self, store: KeyStore, cache_seconds: float = 10.0, token_ttl: int = 86_400
    ) -> None:
        self._store = store
        self._cache_seconds = cache_seconds
        self._token_ttl = token_ttl
        self._cache: dict[str, tuple[ApiKey | None, float]] = {}

    def cached(self, header: str | None) -> ApiKey | bool | None:
        """The cached answer for this header, or False when the store must be asked."""
        if header is None:
            raise Unauthorized()
        entry = self._cache.get(header)
        if entry is not None and entry[1] > time.monotonic():
            if entry[0] is None:
                raise Unauthorized()
            return entry[0]
        return False

    def lookup(self, header: str) -> ApiKey:
        """Ask the store (blocking); the result is cached for a few seconds."""
        scheme, _, credentials = header.partition(" ")
        key: ApiKey | None = None
        if scheme.lower() == "basic":
            password = basic_password(credentials)
            if password is not None:
                key = self._store.find_api_key(hash_secret(password))
        elif scheme.lower() == "bearer" and credentials.strip():
            key = self._store.find_token(hash_secret(credentials.strip()), now_us())
        if len(self._cache) > 100_000:
            self._cache.clear()
        lifetime = self._cache_seconds
        if key is not None and key.expires_us is not None:  # never outlive a token's expiry
            lifetime = min(lifetime, (key.expires_us - now_us()) / 1_000_000)
        self._cache[header] = (key, time.monotonic() + lifetime)
        if key is None:
            raise Unauthorized()
        return key

    def issue_token(self, key: ApiKey) -> str:
        token = secrets.token_urlsafe(32)
        now = now_us()
        self._store.create_token(
            hash_secret(token), key.key_id, now + self._token_ttl * 1_000_000, now
        )
        return token


def require_scope(key: ApiKey, scope: str) -> None:
    if scope == "full" and key.scope != "full":
        raise Forbidden(
            f"this call needs a key with scope 'full'; this key's scope is '{key.scope}'"
        )


class RateLimiter:
    """A token bucket per API key, in this process (the limit applies per service process)."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self._buckets: dict[int, tuple[float, float]] = {}

    def allow(self, key_id: int) -> bool:
        if self.per_second <= 0:
            return True
        now = time.monotonic()
        capacity = max(self.per_second, 1.0)
        tokens, last = self._buckets.get(key_id, (capacity, now))
        tokens = min(capacity, tokens + (now - last) * self.per_second)
        if tokens < 1:
            self._buckets[key_id] = (tokens, now)
            return False
        self._buckets[key_id] = (tokens - 1, now)
        return True
