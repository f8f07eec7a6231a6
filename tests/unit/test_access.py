"""Credentials to keys with a fake of the store's access operations (the KeyStore protocol)."""

from __future__ import annotations

import base64
import time
from dataclasses import replace

import pytest

from footfall.access import (
    KEY_PREFIX,
    MAX_GRACE_SECONDS,
    Authenticator,
    all_keys,
    create_key,
    create_workspace,
    hash_secret,
    parse_authorization,
    revoke_key,
    rotate_key,
)
from footfall.exceptions import (
    Forbidden,
    InvalidQuery,
    KeyConflict,
    Unauthorized,
    UnknownKey,
    UnknownWorkspace,
)
from footfall.store.rows import ApiKey, KeyRecord


class FakeKeys:
    """Workspaces and keys in memory, as ``Store.access`` keeps them in the database."""

    def __init__(self) -> None:
        self.workspaces: dict[str, int] = {}
        self.keys: dict[str, KeyRecord] = {}  # by the secret's hash
        self.tokens: dict[str, tuple[int, int]] = {}  # hash -> (key id, expiry)
        self.lookups = 0
        self.touches = 0

    def create_workspace(self, name: str, now_us: int) -> int:
        self.workspaces[name] = len(self.workspaces) + 1
        return self.workspaces[name]

    def workspace_id(self, name: str) -> int | None:
        return self.workspaces.get(name)

    def create_api_key(
        self, workspace_id: int, key_hash: str, prefix: str, scope: str, now_us: int
    ) -> int:
        name = next(n for n, i in self.workspaces.items() if i == workspace_id)
        key_id = len(self.keys) + 1
        self.keys[key_hash] = KeyRecord(
            key_id, workspace_id, name, scope, prefix, now_us, None, None
        )
        return key_id

    def _by_id(self, key_id: int) -> tuple[str, KeyRecord]:
        return next((h, r) for h, r in self.keys.items() if r.key_id == key_id)

    @staticmethod
    def _live(record: KeyRecord, now_us: int) -> bool:
        return record.revoked_us is None or record.revoked_us > now_us

    @staticmethod
    def _api_key(record: KeyRecord, expires: int | None) -> ApiKey:
        r = record
        return ApiKey(r.key_id, r.workspace_id, r.workspace, r.scope, expires, r.last_used_us)

    def find_api_key(self, key_hash: str, now_us: int) -> ApiKey | None:
        self.lookups += 1
        record = self.keys.get(key_hash)
        if record is None or not self._live(record, now_us):
            return None
        return self._api_key(record, record.revoked_us)

    def touch_api_key(self, key_id: int, now_us: int, stale_before_us: int) -> None:
        digest, record = self._by_id(key_id)
        if record.last_used_us is None or record.last_used_us < stale_before_us:
            self.touches += 1
            self.keys[digest] = replace(record, last_used_us=now_us)

    def create_token(self, token_hash: str, key_id: int, expires_us: int, now_us: int) -> None:
        self.tokens[token_hash] = (key_id, expires_us)

    def find_token(self, token_hash: str, now_us: int) -> ApiKey | None:
        found = self.tokens.get(token_hash)
        if found is None or found[1] <= now_us:
            return None
        record = self._by_id(found[0])[1]
        if not self._live(record, now_us):
            return None
        return self._api_key(record, min(found[1], record.revoked_us or found[1]))

    def list_api_keys(self, workspace_id: int, before: int | None, limit: int) -> list[KeyRecord]:
        found = [
            r
            for r in self.keys.values()
            if r.workspace_id == workspace_id and (before is None or r.key_id < before)
        ]
        return sorted(found, key=lambda r: -r.key_id)[:limit]

    def find_key_record(self, key_id: int, workspace_id: int | None) -> KeyRecord | None:
        for record in self.keys.values():
            if record.key_id == key_id and workspace_id in (None, record.workspace_id):
                return record
        return None

    def count_live_keys(self, workspace_id: int, now_us: int) -> int:
        return sum(
            1
            for r in self.keys.values()
            if r.workspace_id == workspace_id and self._live(r, now_us)
        )

    def revoke_api_key(self, key_id: int, now_us: int) -> bool:
        digest, record = self._by_id(key_id)
        if not self._live(record, now_us):
            return False
        self.keys[digest] = replace(record, revoked_us=now_us)
        return True

    def rotate_api_key(
        self, old: KeyRecord, key_hash: str, prefix: str, retire_at_us: int, now_us: int
    ) -> int | None:
        digest, record = self._by_id(old.key_id)
        if record.revoked_us is not None:
            return None
        self.keys[digest] = replace(record, revoked_us=retire_at_us)
        return self.create_api_key(old.workspace_id, key_hash, prefix, old.scope, now_us)


def basic(secret: str) -> str:
    return "Basic " + base64.b64encode(f"any:{secret}".encode()).decode()


def test_a_key_is_stored_only_as_its_hash_and_found_by_it() -> None:
    keys = FakeKeys()
    issued = create_workspace(keys, "shop")
    assert issued.api_key not in str(keys.keys)
    assert hash_secret(issued.api_key) in keys.keys
    auth = Authenticator(keys)
    found = auth.authenticate(basic(issued.api_key))
    assert (found.workspace, found.scope) == ("shop", "full")


def test_lookups_are_cached_and_unknown_keys_refused() -> None:
    keys = FakeKeys()
    issued = create_workspace(keys, "shop")
    auth = Authenticator(keys, cache_seconds=60)
    credential = parse_authorization(basic(issued.api_key))
    assert auth.cached(credential) is None
    found = auth.lookup(credential)
    assert auth.cached(credential) == found
    assert keys.lookups == 1
    unknown = parse_authorization(basic(KEY_PREFIX + "x" * 43))
    with pytest.raises(Unauthorized):
        auth.lookup(unknown)
    with pytest.raises(Unauthorized):
        auth.cached(unknown)  # the refusal is cached too
    assert keys.lookups == 2


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic !!!not-base64",
        basic("ff_not-a-key"),
        basic("x" * 46),
        basic(KEY_PREFIX + "x" * 42),
        basic(KEY_PREFIX + "x" * 43 + "\u00e9"),
        "Bearer ",
        "Bearer short",
        "Digest " + "x" * 43,
        "Basic " + "A" * 2000,
        basic(KEY_PREFIX + "x" * 43) + "A" * 1000,
    ],
)
def test_malformed_credentials_are_refused_before_any_lookup(header: str | None) -> None:
    keys = FakeKeys()
    auth = Authenticator(keys)
    with pytest.raises(Unauthorized):
        auth.authenticate(header)
    assert keys.lookups == 0
    assert auth.cache_size == 0


def test_the_cache_is_bounded_and_keyed_by_the_secrets_hash() -> None:
    keys = FakeKeys()
    issued = create_workspace(keys, "shop")
    auth = Authenticator(keys, cache_seconds=60, cache_entries=3)
    for n in range(50):
        with pytest.raises(Unauthorized):
            auth.authenticate(basic(KEY_PREFIX + f"{n:043d}"))
    assert auth.cache_size == 3
    # Any username, the same key: one entry, one lookup.
    for user in ("a", "b" * 500, ""):
        header = "Basic " + base64.b64encode(f"{user}:{issued.api_key}".encode()).decode()
        assert auth.authenticate(header).workspace == "shop"
    assert keys.lookups == 51


def test_bearer_tokens_act_for_their_key_until_they_expire() -> None:
    keys = FakeKeys()
    create_workspace(keys, "shop")
    events = create_key(keys, "shop", "events")
    auth = Authenticator(keys, cache_seconds=0, token_ttl=60)
    key = auth.authenticate(basic(events.api_key))
    token = auth.issue_token(key)
    by_token = auth.authenticate(f"Bearer {token}")
    assert (by_token.key_id, by_token.scope) == (key.key_id, "events")
    assert by_token.expires_us is not None


def test_bad_scopes_and_workspaces_are_refused() -> None:
    keys = FakeKeys()
    with pytest.raises(UnknownWorkspace):
        create_key(keys, "nowhere", "events")
    create_workspace(keys, "shop")
    with pytest.raises(Forbidden):
        create_key(keys, "shop", "admin")


def test_forget_drops_a_revoked_key_and_its_tokens_from_the_cache_at_once() -> None:
    keys = FakeKeys()
    issued = create_workspace(keys, "shop")
    other = create_key(keys, "shop", "events")
    auth = Authenticator(keys, cache_seconds=3600)
    key = auth.authenticate(basic(issued.api_key))
    token = auth.issue_token(key)
    auth.authenticate(f"Bearer {token}")
    auth.authenticate(basic(other.api_key))
    revoke_key(keys, issued.key_id)
    assert auth.authenticate(basic(issued.api_key)) == key  # cached: other processes wait
    auth.forget(issued.key_id)
    for header in (basic(issued.api_key), f"Bearer {token}"):
        with pytest.raises(Unauthorized):
            auth.authenticate(header)
    assert auth.authenticate(basic(other.api_key)).key_id == other.key_id


def test_a_use_is_written_on_a_lookup_at_most_once_a_minute() -> None:
    keys = FakeKeys()
    issued = create_workspace(keys, "shop")
    auth = Authenticator(keys, cache_seconds=0)
    for _ in range(5):
        auth.authenticate(basic(issued.api_key))
    assert keys.lookups == 5
    assert keys.touches == 1
    assert keys.keys[hash_secret(issued.api_key)].last_used_us is not None


def test_a_rotated_key_works_through_its_grace_period_and_not_a_moment_longer() -> None:
    keys = FakeKeys()
    old = create_workspace(keys, "shop")
    auth = Authenticator(keys, cache_seconds=3600)
    new = rotate_key(keys, old.key_id, grace_seconds=1)
    assert (new.workspace, new.scope, new.key_id) == ("shop", "full", old.key_id + 1)
    found = auth.authenticate(basic(old.api_key))
    token = auth.issue_token(found)
    assert auth.authenticate(f"Bearer {token}").expires_us == found.expires_us
    time.sleep(1.05)
    for header in (basic(old.api_key), f"Bearer {token}"):
        with pytest.raises(Unauthorized):
            auth.authenticate(header)
    assert auth.authenticate(basic(new.api_key)).key_id == new.key_id


def test_revocation_and_rotation_are_refused_where_they_make_no_sense(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = FakeKeys()
    first = create_workspace(keys, "shop")
    create_workspace(keys, "other")
    other_id = keys.workspaces["other"]
    with pytest.raises(UnknownKey):
        revoke_key(keys, first.key_id, other_id)
    with pytest.raises(UnknownKey):
        rotate_key(keys, first.key_id, other_id)
    with pytest.raises(InvalidQuery):
        rotate_key(keys, first.key_id, grace_seconds=MAX_GRACE_SECONDS + 1)
    rotate_key(keys, first.key_id, grace_seconds=60)
    with pytest.raises(KeyConflict):
        rotate_key(keys, first.key_id)  # rotated already: rotate its successor
    assert revoke_key(keys, first.key_id).revoked_us is not None  # ends the grace period now
    assert revoke_key(keys, first.key_id).revoked_us is not None  # and again changes nothing
    monkeypatch.setattr("footfall.access.MAX_LIVE_KEYS", 3)
    create_key(keys, "shop", "events")
    create_key(keys, "shop", "events")
    with pytest.raises(KeyConflict):
        create_key(keys, "shop", "events")


def test_all_keys_reads_every_page_newest_first() -> None:
    keys = FakeKeys()
    create_workspace(keys, "shop")
    made = [create_key(keys, "shop", "events").key_id for _ in range(6)]
    listed = [r.key_id for r in all_keys(keys, keys.workspaces["shop"], page=4)]
    assert listed == sorted([*made, 1], reverse=True)


def test_parsed_headers_are_remembered_within_a_bound() -> None:
    """Parsing is remembered for the headers in use, never for a refused one, and never for more
    than CREDENTIALS_REMEMBERED headers however many distinct valid ones arrive."""
    from footfall.access import CREDENTIALS_REMEMBERED, _credential

    secrets_ = [KEY_PREFIX + f"{n:043d}" for n in range(CREDENTIALS_REMEMBERED + 500)]
    for secret in secrets_:
        assert parse_authorization(basic(secret)).digest == hash_secret(secret)
    assert _credential.cache_info().currsize == CREDENTIALS_REMEMBERED
    _credential.cache_clear()
    for junk in ("Basic " + "A" * 1000, "Bearer nope", "Basic !!"):
        with pytest.raises(Unauthorized):
            parse_authorization(junk)
    assert _credential.cache_info().currsize == 0
    assert parse_authorization(basic(secrets_[0])) == parse_authorization(basic(secrets_[0]))
