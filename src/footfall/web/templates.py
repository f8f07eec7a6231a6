"""Message templates of the caller's workspace (full-scope keys): create, list, get, update,
delete, and preview a template rendered from a stored event, a contact or sample data.

A template is checked when it is saved: an error is a 400 naming the part and the line.
"""

from __future__ import annotations

import asyncio

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from footfall.decoding import decode_json
from footfall.exceptions import InvalidTemplate
from footfall.ingest.dates import from_us
from footfall.messages.service import Sample
from footfall.messages.specs import TemplateSpec
from footfall.store.message_templates import StoredTemplate
from footfall.web.asgi import read_body
from footfall.web.auth import full_key
from footfall.web.params import Id, whole_number
from footfall.web.routing import Answer, Operation, Param, json_reply
from footfall.web.services import services

__all__ = ["MAX_TEMPLATE_BYTES", "OPERATIONS"]

MAX_TEMPLATE_BYTES = 1024 * 1024  # three parts of at most 256 KiB each, escaped as JSON


class TemplateView(msgspec.Struct, rename="camel"):
    id: int
    name: str
    channel: str
    syntax: str
    subject: str | None
    html: str | None
    text: str | None
    transactional: bool
    created: str
    updated: str


class Rendered(msgspec.Struct, omit_defaults=True):
    subject: str | None = None
    html: str | None = None
    text: str | None = None


def view(template: StoredTemplate) -> TemplateView:
    v = template.values
    return TemplateView(
        template.id,
        v.name,
        v.channel,
        v.syntax,
        v.subject,
        v.html,
        v.text,
        v.transactional,
        from_us(template.created_us),
        from_us(template.updated_us),
    )


async def _body(request: Request) -> bytes:
    headers = dict(request.scope["headers"])
    return await read_body(request.receive, headers, MAX_TEMPLATE_BYTES)


_spec_decoder = msgspec.json.Decoder(TemplateSpec)
_sample = msgspec.json.Decoder(Sample)


def _invalid(exc: msgspec.ValidationError) -> InvalidTemplate:
    return InvalidTemplate(f"invalid template or preview request: {exc}")


async def _spec(request: Request) -> TemplateSpec:
    return decode_json(await _body(request), _spec_decoder, _invalid, "body")


def _id(request: Request) -> int:
    return whole_number(request.path_params["template_id"], "the template id in the path", least=1)


async def create_template(request: Request) -> Response:
    key = await full_key(request)
    spec = await _spec(request)
    made = await asyncio.to_thread(services(request).templates.create, key.workspace_id, spec)
    return json_reply(view(made), status=201)


async def list_templates(request: Request) -> Response:
    key = await full_key(request)
    found = await asyncio.to_thread(services(request).templates.all, key.workspace_id)
    return json_reply([view(template) for template in found])


async def get_template(request: Request) -> Response:
    key = await full_key(request)
    found = await asyncio.to_thread(services(request).templates.get, key.workspace_id, _id(request))
    return json_reply(view(found))


async def update_template(request: Request) -> Response:
    key = await full_key(request)
    template_id = _id(request)
    spec = await _spec(request)
    saved = await asyncio.to_thread(
        services(request).templates.update, key.workspace_id, template_id, spec
    )
    return json_reply(view(saved))


async def delete_template(request: Request) -> Response:
    key = await full_key(request)
    await asyncio.to_thread(services(request).templates.delete, key.workspace_id, _id(request))
    return Response(status_code=204)


async def preview_template(request: Request) -> Response:
    """The template's parts rendered from ``eventId`` and ``contactId`` (the workspace's own),
    or from sample ``event`` and ``contact`` data; 422 with the reason when a part cannot be."""
    key = await full_key(request)
    template_id = _id(request)
    body = await _body(request)
    sample = decode_json(body or b"{}", _sample, _invalid, "body")
    parts = await asyncio.to_thread(
        services(request).templates.preview, key.workspace_id, template_id, sample
    )
    return json_reply(Rendered(**parts))


_ID = Param("template_id", "path", "the template's id", Id, True)
_SHOWN = {200: Answer("the template", TemplateView)}

OPERATIONS = [
    Operation(
        "POST",
        "/api/v1/templates",
        "Create a message template (its parts are checked now)",
        create_template,
        {201: Answer("the template", TemplateView)},
        request=TemplateSpec,
        errors=(409,),
    ),
    Operation(
        "GET",
        "/api/v1/templates",
        "The workspace's message templates",
        list_templates,
        {200: Answer("the templates", list[TemplateView])},
    ),
    Operation(
        "GET",
        "/api/v1/templates/{template_id}",
        "A message template",
        get_template,
        _SHOWN,
        params=(_ID,),
    ),
    Operation(
        "PUT",
        "/api/v1/templates/{template_id}",
        "Replace a message template (its parts are checked now)",
        update_template,
        _SHOWN,
        request=TemplateSpec,
        params=(_ID,),
        errors=(409,),
    ),
    Operation(
        "DELETE",
        "/api/v1/templates/{template_id}",
        "Delete a message template",
        delete_template,
        {204: Answer("deleted", media_type=None)},
        params=(_ID,),
    ),
    Operation(
        "POST",
        "/api/v1/templates/{template_id}/preview",
        "Render a template from a stored event, a contact or sample data",
        preview_template,
        {200: Answer("the parts rendered", Rendered)},
        request=Sample,
        params=(_ID,),
        errors=(422,),
    ),
]
