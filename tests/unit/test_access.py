"""Credentials to keys with a fake of the store's access operations (the KeyStore protocol)."""

from __future__ import annotations

import base64

import pytest

from footfall.access import (
    KEY_PREFIX,
    Authenticator,
    create_key,
    create_workspace,
    hash_secret,
    parse_authorization,
)
from footfall.exceptions import Forbidden, Unauthorized, UnknownWorkspace
from footfall.store.rows import ApiKey


class FakeKeys:
    """Workspaces and keys in memory, as ``Store.access`` keeps them in the database."""

    def __init__(self) -> None:
        self.workspaces: dict[str, int] = {}
        self.keys: dict[str, ApiKey] = {}
        self.tokens: dict[str, tuple[ApiKey, int]] = {}
        self.lookups = 0

    def create_workspace(self, name: str, now_us: int) -> int:
        self.workspaces[name] = len(self.workspaces) + 1
        return self.workspaces[name]

    def workspace_id(self, name: str) -> int | None:
        return self.workspaces.get(name)

    def create_api_key(
        self, workspace_id: int, key_hash: str, prefix: str, scope: str, now_us: int
    ) -> int:
        name = next(n for n, i in self.workspaces.items() if i == workspace_id)
        self.keys[key_hash] = ApiKey(len(self.keys) + 1, workspace_id, name, scope)
        return len(self.keys)

    def find_api_key(self, key_hash: str) -> ApiKey | None:
        self.lookups += 1
        return self.keys.get(key_hash)

    def create_token(self, token_hash: str, key_id: int, expires_us: int, now_us: int) -> None:
        key = next(k for k in self.keys.values() if k.key_id == key_id)
        self.tokens[token_hash] = (key, expires_us)

    def find_token(self, token_hash: str, now_us: int) -> ApiKey | None:
        found = self.tokens.get(token_hash)
        if found is None or found[1] <= now_us:
            return None
        key, expires = found
        return ApiKey(key.key_id, key.workspace_id, key.workspace, key.scope, expires)


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
