"""The OpenAPI 3.1 document, built from the route families' operation lists and the very types
their handlers decode and encode (msgspec describes them), so the document cannot drift."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import msgspec

from footfall import __version__
from footfall.web.routing import Answer, Operation

__all__ = ["build", "encode"]

Schema = dict[str, Any]

_REFUSALS = {
    400: "the request is invalid; the body says what is wrong",
    401: "missing or invalid credentials",
    403: "this key's scope does not allow this call",
    404: "no such resource in this workspace",
    409: "a conflict with what is stored (an identifier of another contact, a revoked key…)",
    413: "the body is over the limit",
    429: "the key's rate limit is exceeded; retry later",
    503: "storage is unavailable; nothing was stored, retry later",
}
_TEXT = {"text/plain": {"schema": {"type": "string"}}}
_RETRY = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "string"}}}
_CHALLENGE = {
    "WWW-Authenticate": {"description": "the scheme to use", "schema": {"type": "string"}}
}
_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "full": [{"basic": []}],
    "basic": [{"basic": []}],
    "events": [{"basic": []}, {"bearer": []}],
    "none": [],
}
_SCHEMES = {
    "basic": {
        "type": "http",
        "scheme": "basic",
        "description": "any username, the API key as password; most routes need a full-scope key",
    },
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "a token from POST /api/v1/auth/token; event and past-event routes only",
    },
}


def _types(operations: Sequence[Operation]) -> list[Any]:
    """Every type the document describes, once each, in a stable order."""
    found: dict[Any, None] = {}
    for op in operations:
        if op.request is not None:
            found[op.request] = None
        found.update((p.type, None) for p in op.params)
        found.update((a.body, None) for a in op.answers.values() if a.body is not None)
    return list(found)


def _headers(described: dict[str, str]) -> Schema:
    return {
        name: {"description": text, "schema": {"type": "string"}}
        for name, text in described.items()
    }


def _answer(answer: Answer, schema_of: dict[Any, Schema]) -> Schema:
    out: Schema = {"description": answer.description}
    if answer.media_type is not None:
        schema = schema_of[answer.body] if answer.body is not None else {"type": "string"}
        out["content"] = {answer.media_type: {"schema": schema}}
    if answer.headers:
        out["headers"] = _headers(dict(answer.headers))
    return out


def _refusal(status: int) -> Schema:
    out: Schema = {"description": _REFUSALS.get(status, "refused"), "content": _TEXT}
    if status in (429, 503):
        out["headers"] = _RETRY
    elif status == 401:
        out["headers"] = _CHALLENGE
    return out


def _responses(op: Operation, schema_of: dict[Any, Schema]) -> Schema:
    responses = {str(status): _refusal(status) for status in op.error_statuses()}
    responses.update({str(s): _answer(a, schema_of) for s, a in op.answers.items()})
    return dict(sorted(responses.items()))


def _operation(op: Operation, schema_of: dict[Any, Schema]) -> Schema:
    out: Schema = {
        "operationId": re.sub(r"[^A-Za-z0-9]+", "_", f"{op.method}{op.path}").strip("_").lower(),
        "summary": op.summary,
        "security": _SECURITY[op.auth],
        "responses": _responses(op, schema_of),
    }
    if op.endpoint is not None and op.endpoint.__doc__:
        out["description"] = " ".join(op.endpoint.__doc__.split())
    if op.params:
        out["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "description": p.description,
                "required": p.required or p.where == "path",
                "schema": schema_of[p.type],
            }
            for p in op.params
        ]
    if op.request is not None:
        content = {"application/json": {"schema": schema_of[op.request]}}
        out["requestBody"] = {"required": True, "content": content}
    return out


def build(operations: Sequence[Operation]) -> Schema:
    """The document of ``operations``: paths, components and both auth schemes."""
    types = _types(operations)
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    schema_of = dict(zip(types, schemas, strict=True))
    paths: dict[str, Schema] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schema_of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Footfall",
            "version": __version__,
            "description": "Behavioural events, wire-compatible with eSputnik's Generate event. "
            "Errors are plain text saying what is wrong.",
        },
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": _SCHEMES},
    }


def encode(operations: Sequence[Operation]) -> bytes:
    return msgspec.json.encode(build(operations))
