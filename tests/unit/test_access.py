"""Credentials to keys with a fake of the store's access operations (the KeyStore protocol)."""

from __future__ import annotations

import base64

import pytest

from footfall.access import Authenticator, create_key, create_workspace, hash_secret
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
    found = auth.lookup(basic(issued.api_key))
    assert (found.workspace, found.scope) == ("shop", "full")


def test_lookups_are_cached_and_unknown_keys_refused() -> None:
    keys = FakeKeys()
    issued = create_workspace(keys, "shop")
    auth = Authenticator(keys, cache_seconds=60)
    header = basic(issued.api_key)
    auth.lookup(header)
    assert auth.cached(header) == auth.lookup(header)
    with pytest.raises(Unauthorized):
        auth.lookup(basic("ff_not-a-key"))
    with pytest.raises(Unauthorized):
        auth.cached(basic("ff_not-a-key"))  # the refusal is cached too


def test_bearer_tokens_act_for_their_key_until_they_expire() -> None:
    keys = FakeKeys()
    create_workspace(keys, "shop")
    events = create_key(keys, "shop", "events")
    auth = Authenticator(keys, cache_seconds=0, token_ttl=60)
    key = auth.lookup(basic(events.api_key))
    token = auth.issue_token(key)
    by_token = auth.lookup(f"Bearer {token}")
    assert (by_token.key_id, by_token.scope) == (key.key_id, "events")
    assert by_token.expires_us is not None


def test_bad_scopes_and_workspaces_are_refused() -> None:
    keys = FakeKeys()
    with pytest.raises(UnknownWorkspace):
        create_key(keys, "nowhere", "events")
    create_workspace(keys, "shop")
    with pytest.raises(Forbidden):
        create_key(keys, "shop", "admin")
