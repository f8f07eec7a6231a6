"""The recipes: ready workflow documents for a shop (abandoned cart, abandoned browse, no-results
search, wishlist reminder, order follow-up, win-back), shipped as JSON files beside this module.

Each is an ordinary document whose ``description`` says what it does and what to change; it
starts disabled when applied, like any other (``footfall workflows recipes NAME > f.json``, then
``footfall workflows apply``). Its HTTP block posts to a placeholder URL under
``https://shop.example/hooks/``, which ``url=`` replaces.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from footfall.exceptions import FootfallError

__all__ = [
    "NAMES",
    "UnknownRecipe",
    "describe",
    "document",
    "dumps",
    "load",
    "names",
    "summary",
    "with_url",
]

NAMES = (
    "abandoned-cart",
    "abandoned-browse",
    "no-results-search",
    "wishlist-reminder",
    "order-follow-up",
    "win-back",
)


class UnknownRecipe(FootfallError):
    """No recipe of that name."""


def names() -> list[str]:
    """The recipes' names, in the order they are listed."""
    return list(NAMES)


def load(name: str, *, url: str | None = None) -> str:
    """The recipe's JSON text, as shipped, or with ``url`` in its HTTP blocks."""
    if name not in NAMES:
        raise UnknownRecipe(f"no recipe named {name!r}; the recipes are: {', '.join(NAMES)}")
    text = files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    if url is None:
        return text
    return dumps(with_url(json.loads(text), url))


def document(name: str, *, url: str | None = None) -> dict[str, Any]:
    """The recipe's document, as ``load`` gives it."""
    found: dict[str, Any] = json.loads(load(name, url=url))
    return found


def describe() -> list[tuple[str, str]]:
    """Each recipe's name and the first sentence of its description."""
    return [(name, summary(document(name)["description"])) for name in NAMES]


def summary(description: str) -> str:
    """The first sentence of a description."""
    head, stop, _ = description.partition(". ")
    return head + "." if stop else description


def with_url(source: dict[str, Any], url: str) -> dict[str, Any]:
    """``source`` with every HTTP block sending to ``url`` (checked with the rest of the
    document by ``parse_definition``)."""
    blocks = [
        {**block, "url": url} if isinstance(block, dict) and block.get("type") == "http" else block
        for block in source.get("blocks", [])
    ]
    return {**source, "blocks": blocks}


def dumps(source: dict[str, Any]) -> str:
    """A document as the recipes are written: two-space indents, a final newline."""
    return json.dumps(source, indent=2, ensure_ascii=False) + "\n"
