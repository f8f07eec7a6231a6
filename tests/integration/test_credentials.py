"""Credentials cost bounded memory: huge headers are refused whole, junk credentials never reach
the store or the key cache, and the cache holds one entry per secret, whatever the username."""

from __future__ import annotations

import base64
import uuid

import httpx

from conftest import NO_TLS_HERE, LiveServer, Workspace, basic
from footfall.access import KEY_PREFIX

ROUTES = [("POST", "/api/v1/event"), ("GET", "/api/v1/events"), ("GET", "/api/v1/contacts")]


def _cache_size(server: LiveServer) -> int:
    return int(server.app.services.auth.cache_size)


def test_huge_headers_are_refused_before_anything_reads_them(server: LiveServer) -> None:
    before = _cache_size(server)
    with httpx.Client(base_url=server.url, timeout=30, verify=NO_TLS_HERE) as client:
        for n in range(40):
            method, path = ROUTES[n % len(ROUTES)]
            junk = base64.b64encode(f"user:{uuid.uuid4().hex}".encode() * 3000).decode()
            reply = client.request(method, path, headers={"Authorization": f"Basic {junk}"})
            assert reply.status_code == 431, reply.text
            assert "headers are larger than 16384 bytes" in reply.text
        many = {f"x-junk-{n}": "y" * 1000 for n in range(20)}
        assert client.get("/health", headers=many).status_code == 431
    assert _cache_size(server) == before


def test_a_huge_query_string_is_414_before_any_route_reads_it(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30, verify=NO_TLS_HERE) as client:
        for path in ("/api/v1/events", "/api/v2/event", "/health"):
            reply = client.get(f"{path}?keyValue={'k' * 60_000}")
            assert reply.status_code == 414, (path, reply.status_code)
            assert "longer than 16384 bytes" in reply.text
        assert client.get("/health?x=" + "k" * 1000).status_code == 200


def test_junk_credentials_are_refused_without_a_lookup(server: LiveServer) -> None:
    before = _cache_size(server)
    junk = [
        "Basic " + "A" * 1200,
        basic("not-a-key-" + uuid.uuid4().hex)["Authorization"],
        basic(KEY_PREFIX + uuid.uuid4().hex)["Authorization"],
        "Bearer " + uuid.uuid4().hex,
        "Token " + uuid.uuid4().hex,
        "Basic ###",
    ]
    with httpx.Client(base_url=server.url, timeout=30, verify=NO_TLS_HERE) as client:
        for n in range(60):
            method, path = ROUTES[n % len(ROUTES)]
            header = {"Authorization": junk[n % len(junk)]}
            reply = client.request(method, path, headers=header)
            assert reply.status_code == 401, reply.text
            assert reply.headers["www-authenticate"] == 'Basic realm="footfall"'
    assert _cache_size(server) == before


def test_one_cache_entry_per_secret_whatever_the_username(
    server: LiveServer, workspace: Workspace
) -> None:
    before = _cache_size(server)
    with httpx.Client(base_url=server.url, timeout=30, verify=NO_TLS_HERE) as client:
        for n in range(30):
            user = f"user-{n}-" + "u" * 500
            token = base64.b64encode(f"{user}:{workspace.full_key}".encode()).decode()
            reply = client.get("/api/v1/events", headers={"Authorization": f"Basic {token}"})
            assert reply.status_code == 200, reply.text
    assert _cache_size(server) <= before + 1
