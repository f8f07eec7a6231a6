"""Workspaces, API keys and bearer tokens. Keys and tokens are stored only as SHA-256 hashes.

Keys are 256-bit random secrets, so a fast hash is enough (no password stretching needed), and
lookups by hash are constant time in the database.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from cachetools import LRUCache

from footfall.clock import now_us
from footfall.exceptions import (
    Forbidden,
    InvalidQuery,
    KeyConflict,
    StorageUnavailable,
    Unauthorized,
    UnknownKey,
    UnknownWorkspace,
)
from footfall.store.rows import ApiKey, KeyRecord

SCOPES = ("events", "full")
KEY_PREFIX = "ff_"
MAX_LIVE_KEYS = 1000  # per workspace: a full key cannot fill the table
MAX_GRACE_SECONDS = 7 * 86_400
TOUCH_EVERY_US = 60_000_000  # how stale a key's last use may be before a lookup writes it


class KeyStore(Protocol):
    """What access needs of the store (``Store.access``)."""

    def create_workspace(self, name: str, now_us: int) -> int: ...
    def workspace_id(self, name: str) -> int | None: ...
    def create_api_key(
        self, workspace_id: int, key_hash: str, prefix: str, scope: str, now_us: int
    ) -> int: ...
    def find_api_key(self, key_hash: str, now_us: int) -> ApiKey | None: ...
    def touch_api_key(self, key_id: int, now_us: int, stale_before_us: int) -> None: ...
    def create_token(self, token_hash: str, key_id: int, expires_us: int, now_us: int) -> None: ...
    def find_token(self, token_hash: str, now_us: int) -> ApiKey | None: ...
    def list_api_keys(
        self, workspace_id: int, before: int | None, limit: int
    ) -> list[KeyRecord]: ...
    def find_key_record(self, key_id: int, workspace_id: int | None) -> KeyRecord | None: ...
    def count_live_keys(self, workspace_id: int, now_us: int) -> int: ...
    def revoke_api_key(self, key_id: int, now_us: int) -> bool: ...
    def rotate_api_key(
        self, old: KeyRecord, key_hash: str, prefix: str, retire_at_us: int, now_us: int
    ) -> int | None: ...


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key just made: the only moment its secret is known."""

    workspace: str
    api_key: str
    scope: str
    key_id: int


def create_workspace(store: KeyStore, name: str) -> IssuedKey:
    """A new workspace with its first, full-access key."""
    if not name.strip() or len(name) > 200:
        raise UnknownWorkspace("a workspace name must be 1 to 200 characters")
    store.create_workspace(name, now_us())
    return create_key(store, name, "full")


def create_key(store: KeyStore, workspace: str, scope: str) -> IssuedKey:
    workspace_id = store.workspace_id(workspace)
    if workspace_id is None:
        raise UnknownWorkspace(f"no workspace named {workspace!r}")
    return add_key(store, workspace_id, workspace, scope)


def _new_secret() -> tuple[str, str]:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hash_secret(key)


def add_key(store: KeyStore, workspace_id: int, workspace: str, scope: str) -> IssuedKey:
    """Another key for a workspace, up to MAX_LIVE_KEYS that work at once."""
    if scope not in SCOPES:
        raise Forbidden(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
    now = now_us()
    if store.count_live_keys(workspace_id, now) >= MAX_LIVE_KEYS:
        raise KeyConflict(f"a workspace has at most {MAX_LIVE_KEYS} keys; revoke some first")
    key, digest = _new_secret()
    key_id = store.create_api_key(workspace_id, digest, key[:8], scope, now)
    return IssuedKey(workspace, key, scope, key_id)


def key_record(store: KeyStore, key_id: int, workspace_id: int | None = None) -> KeyRecord:
    """A key by id; only in ``workspace_id`` unless None (the command line sees every key)."""
    record = store.find_key_record(key_id, workspace_id)
    if record is None:
        where = "" if workspace_id is None else " in this workspace"
        raise UnknownKey(f"no API key {key_id}{where}")
    return record


def all_keys(store: KeyStore, workspace_id: int, page: int = 1000) -> list[KeyRecord]:
    """Every key of a workspace, newest first, read a page at a time."""
    found: list[KeyRecord] = []
    while True:
        rows = store.list_api_keys(workspace_id, found[-1].key_id if found else None, page)
        found.extend(rows)
        if len(rows) < page:
            return found


def revoke_key(store: KeyStore, key_id: int, workspace_id: int | None = None) -> KeyRecord:
    """Stop a key, and the tokens issued for it, now; revoking a revoked key changes nothing."""
    record = key_record(store, key_id, workspace_id)
    now = now_us()
    if store.revoke_api_key(key_id, now):
        return dataclasses.replace(record, revoked_us=now)
    return record


def rotate_key(
    store: KeyStore, key_id: int, workspace_id: int | None = None, grace_seconds: int = 0
) -> IssuedKey:
    """A new key of the same workspace and scope; the old one stops after ``grace_seconds``."""
    if not 0 <= grace_seconds <= MAX_GRACE_SECONDS:
        raise InvalidQuery(f"grace must be 0 to {MAX_GRACE_SECONDS} seconds, got {grace_seconds}")
    record = key_record(store, key_id, workspace_id)
    if record.revoked_us is not None:
        raise KeyConflict(f"key {key_id} is revoked or rotated already; rotate its successor")
    key, digest = _new_secret()
    now = now_us()
    new_id = store.rotate_api_key(record, digest, key[:8], now + grace_seconds * 1_000_000, now)
    if new_id is None:
        raise KeyConflict(f"key {key_id} was revoked or rotated meanwhile")
    return IssuedKey(record.workspace, key, record.scope, new_id)


MAX_AUTHORIZATION_CHARS = 1024
CREDENTIALS_REMEMBERED = 1024  # parsed headers kept: at most about 1 MB
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) makes
MALFORMED = (
    "malformed credentials: use HTTP Basic with an API key (ff_...) as the password, "
    "or a bearer token from POST /api/v1/token"
)


def basic_password(header: str) -> str | None:
    """The password of an HTTP Basic header (the username is ignored, as eSputnik does)."""
    try:
        decoded = base64.b64decode(header.strip(), validate=True).decode()
    except ValueError:  # not base64, not ASCII, or not UTF-8 once decoded
        return None
    _, sep, password = decoded.partition(":")
    return password if sep and password else None


@dataclass(frozen=True, slots=True)
class Credential:
    """What an Authorization header names: a key or a token, by the hash of its secret."""

    kind: str  # "key" or "token"
    digest: str


def parse_authorization(header: str | None) -> Credential:
    """The credential of an Authorization header; Unauthorized, before any lookup, for anything
    that cannot be one of our keys or tokens."""
    if header is None:
        raise Unauthorized()
    return _credential(header)


@functools.lru_cache(maxsize=CREDENTIALS_REMEMBERED)
def _credential(header: str) -> Credential:
    """parse_authorization of a header, remembered for the headers in use (a refusal is not
    remembered: only well-formed headers, at most MAX_AUTHORIZATION_CHARS each, take room)."""
    if len(header) > MAX_AUTHORIZATION_CHARS:
        raise Unauthorized(f"the Authorization header is longer than {MAX_AUTHORIZATION_CHARS}")
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() == "basic":
        password = basic_password(rest)
        if password is None or not password.startswith(KEY_PREFIX):
            raise Unauthorized(MALFORMED)
        if not _SECRET.fullmatch(password.removeprefix(KEY_PREFIX)):
            raise Unauthorized(MALFORMED)
        return Credential("key", hash_secret(password))
    if scheme.lower() == "bearer" and _SECRET.fullmatch(rest.strip()):
        return Credential("token", hash_secret(rest.strip()))
    raise Unauthorized(MALFORMED)


class Authenticator:
    """Credentials to an ApiKey, with a short, bounded cache (LRU by the secret's hash) in front
    of the store; answers are shared by the event loop and the lookup threads.

    An answer is kept at most ``cache_seconds``, so a key revoked elsewhere stops working here
    within that time; ``forget`` drops a key (and its tokens) at once, for revocations made here.
    """

    def __init__(
        self,
        store: KeyStore,
        cache_seconds: float = 10.0,
        token_ttl: int = 86_400,
        cache_entries: int = 10_000,
    ) -> None:
        self._store = store
        self._cache_seconds = cache_seconds
        self._token_ttl = token_ttl
        self._cache: LRUCache[Credential, tuple[ApiKey | None, float]] = LRUCache(cache_entries)
        self._lock = threading.Lock()

    def cached(self, credential: Credential) -> ApiKey | None:
        """The cached key of this credential, or None when the store must be asked; Unauthorized
        when the store said no a moment ago."""
        with self._lock:
            entry = self._cache.get(credential)
        if entry is None or entry[1] <= time.monotonic():
            return None
        if entry[0] is None:
            raise Unauthorized()
        return entry[0]

    def lookup(self, credential: Credential) -> ApiKey:
        """Ask the store (blocking); the answer is cached for a few seconds."""
        now = now_us()
        if credential.kind == "key":
            key = self._store.find_api_key(credential.digest, now)
        else:
            key = self._store.find_token(credential.digest, now)
        lifetime = self._cache_seconds
        if key is not None and key.expires_us is not None:  # never outlive an expiry
            lifetime = min(lifetime, (key.expires_us - now) / 1_000_000)
        with self._lock:
            self._cache[credential] = (key, time.monotonic() + lifetime)
        if key is None:
            raise Unauthorized()
        self._note_use(key, now)
        return key

    def _note_use(self, key: ApiKey, now: int) -> None:
        """Record a use for ``key list``: only on a lookup, and at most once a minute."""
        if key.last_used_us is not None and key.last_used_us >= now - TOUCH_EVERY_US:
            return
        with contextlib.suppress(StorageUnavailable):  # a busy database must not refuse a key
            self._store.touch_api_key(key.key_id, now, now - TOUCH_EVERY_US)

    def forget(self, key_id: int) -> None:
        """Drop the cached answers for a key and its tokens (it was just revoked or rotated)."""
        with self._lock:
            stale = [c for c, (key, _) in self._cache.items() if key and key.key_id == key_id]
            for credential in stale:
                del self._cache[credential]

    def authenticate(self, header: str | None) -> ApiKey:
        """Header to key, blocking (for callers off the event loop)."""
        credential = parse_authorization(header)
        return self.cached(credential) or self.lookup(credential)

    @property
    def cache_size(self) -> int:
        with self._lock:
            return len(self._cache)

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
