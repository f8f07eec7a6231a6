"""A message template's document, as the API and ``footfall templates apply`` take it, and its
check: which parts a channel has, each compiled (so errors are reported when it is saved). Pure.

``{"name", "channel": "email" | "sms" | "messenger", "syntax": "native" | "velocity",
"subject", "html", "text", "transactional"}``: an e-mail has a subject and an HTML or a text body
(or both); an SMS or a messenger message has a text only. ``transactional`` templates (an order
confirmation) are exempt from frequency caps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import msgspec

from footfall import sandbox
from footfall.exceptions import InvalidTemplate
from footfall.messages.templates import Part, RenderData, compile_part, render_part

__all__ = ["MAX_NAME", "Compiled", "TemplateSpec", "check_spec"]

MAX_NAME = 200


class TemplateSpec(msgspec.Struct, rename="camel", forbid_unknown_fields=True, kw_only=True):
    name: str
    channel: Literal["email", "sms", "messenger"]
    syntax: Literal["native", "velocity"] = "native"
    subject: str | None = None
    html: str | None = None
    text: str | None = None
    transactional: bool = False

    def parts(self) -> dict[str, str]:
        """The parts it has, by name."""
        given = {"subject": self.subject, "html": self.html, "text": self.text}
        return {name: source for name, source in given.items() if source is not None}


@dataclass(frozen=True, slots=True)
class Compiled:
    """A template's parts, checked and compiled, ready to render."""

    spec: TemplateSpec
    parts: Mapping[str, Part]

    def render(self, data: RenderData) -> dict[str, str]:
        """Each part rendered (RenderFailed naming the first that cannot be)."""
        return {name: render_part(part, data) for name, part in self.parts.items()}


def check_spec(spec: TemplateSpec) -> Compiled:
    """The template compiled; InvalidTemplate naming the field when it is refused."""
    name = spec.name.strip()
    if not name or len(name) > MAX_NAME or sandbox.control(name):
        raise InvalidTemplate(
            f"name must be 1 to {MAX_NAME} characters without control characters", field="name"
        )
    given = spec.parts()
    if spec.channel == "email":
        if "subject" not in given:
            raise InvalidTemplate("an e-mail template needs a subject", field="subject")
        if "html" not in given and "text" not in given:
            raise InvalidTemplate("an e-mail template needs an html or a text body", field="html")
        if "\n" in given["subject"] or "\r" in given["subject"]:
            raise InvalidTemplate("the subject is one line", field="subject")
    else:
        for part in ("subject", "html"):
            if part in given:
                raise InvalidTemplate(f"a {spec.channel} message has no {part}", field=part)
        if "text" not in given:
            raise InvalidTemplate(f"a {spec.channel} template needs a text", field="text")
    parts = {
        part: compile_part(source, spec.syntax, part, html=part == "html")
        for part, source in given.items()
    }
    return Compiled(spec, parts)
