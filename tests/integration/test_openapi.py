"""The API is described: ``/openapi.json`` documents every route the app serves, and a fuzzer
(schemathesis) sending what the document allows (and what it does not) to a real server finds no
server error and no answer the document does not describe."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conftest import LiveServer, Workspace, basic
from footfall import access, logs
from footfall.exceptions import StorageUnavailable, Unauthorized
from footfall.store import Store
from footfall.web import operations
from footfall.web.errors import problem
from footfall.web.events import ROUTES as WRITE_ROUTES

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 10  # per operation and kind of run (scripts/check prints what the fuzz takes)


def described(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def served(server: LiveServer) -> set[tuple[str, str]]:
    """(method, path) of every route the app answers, trailing-slash twins folded in."""
    found = {("POST", path) for path in WRITE_ROUTES}
    for route in server.app.framework.routes:
        assert isinstance(route, Route)
        path = route.path if route.path == "/" else route.path.rstrip("/")
        found.update((method, path) for method in route.methods or () if method != "HEAD")
    return found


def test_the_document_lists_every_route_the_app_serves(server: LiveServer) -> None:
    with server.client() as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert described(document) == served(server)
    schemes = document["components"]["securitySchemes"]
    assert {s["scheme"] for s in schemes.values()} == {"basic", "bearer"}


def _credentials(server: LiveServer, workspace: Workspace) -> Callable[[str], dict[str, str]]:
    """Headers per path: a bearer token on the event routes, the full key everywhere else."""
    with server.client(workspace.events_key) as client:
        token = client.post("/api/v1/auth/token").json()
    bearer = {"Authorization": f"Bearer {token}"}
    full = basic(workspace.full_key)
    return lambda path: bearer if path in WRITE_ROUTES and path != "/api/v1/orders" else full


def _existing(api: httpx.Client) -> dict[str, str]:
    """Path parameters naming things that exist: a fresh contact with an event of its own type
    (fresh each time, as the operation fuzzed may delete it)."""
    tag = uuid.uuid4().hex[:10]
    email = f"fuzz-{tag}@example.com"
    event = {"eventTypeKey": "fuzzViewed", "params": [{"name": "email", "value": email}]}
    assert api.post("/api/v2/event", json=event).status_code == 200
    contact = {"externalCustomerId": f"fuzz-{tag}", "channels": [{"type": "email", "value": email}]}
    created = api.post("/api/v1/contact", json=contact)
    assert created.status_code == 200, created.text
    return {"contact_id": str(created.json()["id"]), "key": "fuzzViewed"}


def _key_run(
    store: Store, owner: Workspace, name: str, path: dict[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """Credentials and path of one run on a key route: a fresh full key of another workspace
    (a fuzzed revocation may hit the key it runs with), and on an existing key a throwaway one."""
    acting = access.create_key(store.access, owner.name, "full")
    if name == "existing":
        path = path | {"key_id": str(access.create_key(store.access, owner.name, "events").key_id)}
    return basic(acting.api_key), path


def _fuzz(
    operation: Any, mode: GenerationMode, url: str, headers: dict[str, str], path: dict[str, str]
) -> None:
    strategy = operation.as_strategy(generation_mode=mode, headers=headers, path_parameters=path)

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=30)

    run()


def _runs(operation: Any, api: httpx.Client) -> list[tuple[str, GenerationMode, dict[str, str]]]:
    """Valid and invalid requests; where the path names a resource, valid ones about an existing
    resource too (random ids would almost only find nothing)."""
    runs: list[tuple[str, GenerationMode, dict[str, str]]] = [
        ("positive", GenerationMode.POSITIVE, {}),
        ("negative", GenerationMode.NEGATIVE, {}),
    ]
    if "{" in operation.path:
        runs.append(("existing", GenerationMode.POSITIVE, _existing(api)))
    return runs


def test_fuzzing_every_operation_finds_no_error_and_nothing_undocumented(
    api: httpx.Client,
    server: LiveServer,
    workspace: Workspace,
    other_workspace: Workspace,
    store: Store,
) -> None:
    document = api.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    headers_for = _credentials(server, workspace)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operations.append(result.ok())
    assert len(operations) == len(described(document))
    problems = []
    for operation in operations:
        headers = headers_for(operation.path)
        for name, mode, path in _runs(operation, api):
            if operation.path.startswith("/api/v1/keys"):
                headers, path = _key_run(store, other_workspace, name, path)
            try:
                _fuzz(operation, mode, server.url, headers, path)
            except Unsatisfiable:  # nothing in this operation can be made invalid
                assert mode is GenerationMode.NEGATIVE
            except (Exception, BaseExceptionGroup) as exc:  # gather every operation's findings
                problems.append(f"{operation.method.upper()} {operation.path} ({name}): {exc}")
    assert not problems, "\n\n".join(problems)


def _health(ping: Callable[[], None]) -> Response:
    """``/health`` of an app whose store is a stub: the web layer reads services by protocol."""
    app = Starlette()
    log = logs.get("test")
    app.state.services = SimpleNamespace(store=SimpleNamespace(ping=ping), log=log)
    request = Request(
        {"type": "http", "app": app, "method": "GET", "path": "/health", "headers": []}
    )
    return asyncio.run(operations.health(request))


def test_every_503_says_when_to_retry_as_documented() -> None:
    """/health with the database down, and any route whose storage is unavailable."""

    def down() -> None:
        raise StorageUnavailable("storage unavailable: the database is gone")

    response = _health(down)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    # What the driver said goes to the log, never to the client (no host, port or file).
    assert (
        response.body
        == b'{"status":"unavailable","error":"storage unavailable: try again shortly"}'
    )
    for refusal, header in (
        (StorageUnavailable(), "retry-after"),
        (Unauthorized(), "www-authenticate"),
    ):
        rendered = problem(refusal).response()
        assert header in rendered.headers
        assert rendered.headers["content-type"].startswith("text/plain")
