"""Message templates: both syntaxes render what eSputnik's and Jinja2's users write, with the
filters for money, dates in the contact's time zone and URLs; errors are reported when a part
is compiled (saved), with its line."""

from __future__ import annotations

from typing import Any

import pytest

from footfall.exceptions import InvalidTemplate
from footfall.messages.templates import (
    MAX_SOURCE,
    NATIVE,
    VELOCITY,
    RenderData,
    RenderFailed,
    compile_part,
    render_part,
)

CART = [
    {"productId": "WS01-L-Green", "quantity": 1, "price": 45.5, "name": "Shirt"},
    {"productId": "MUG-7", "quantity": 2, "price": 9.99},
]


def cart(**params: Any) -> RenderData:
    """The seed's cartUpdated, its products parsed, for a contact in Kyiv."""
    return RenderData(
        event={
            "id": 11,
            "type": "cartUpdated",
            "keyValue": "example@email.com",
            "occurred": "2026-12-01T10:00:00Z",
            "params": {
                "products": CART,
                "currencyCode": "USD",
                "recycleStateId": "d59c6e6d",
                **params,
            },
        },
        contact={"id": 7, "firstName": "Olena", "email": "example@email.com"},
        run={"id": 3, "workflowId": 2, "block": "remind"},
        zone="Europe/Kyiv",
    )


def render(
    source: str, syntax: str = NATIVE, html: bool = False, data: RenderData | None = None
) -> str:
    return render_part(
        compile_part(source, syntax, "html" if html else "text", html=html), data or cart()
    )


# -- Velocity, as eSputnik's templates write it ----------------------------------------------------

VELOCITY_CART = """<table>
#foreach($item in $data.get('products'))
<tr><td>$item.get('productId')</td><td>$!item.get('name')</td><td>$item.get('quantity')</td><td>$item.get('price') $data.get('currencyCode')</td></tr>
#end
</table>"""


def test_velocity_renders_the_seeds_cart_as_a_table() -> None:
    html = render(VELOCITY_CART, VELOCITY, html=True)
    rows = [line for line in html.splitlines() if line.startswith("<tr>")]
    assert rows == [
        "<tr><td>WS01-L-Green</td><td>Shirt</td><td>1</td><td>45.5 USD</td></tr>",
        "<tr><td>MUG-7</td><td></td><td>2</td><td>9.99 USD</td></tr>",  # $! prints nothing
    ]
    assert html.startswith("<table>") and html.rstrip().endswith("</table>")


def test_velocity_reads_nested_values_counts_and_branches() -> None:
    source = (
        "$!data.get('products').get(0).get('price')|$data.get('products').size()|"
        "#if($data.get('products').size() > 1)many#else one#end|"
        "#if($data.get('coupon'))coupon#elseif($data.get('currencyCode') == 'USD')dollars#end|"
        "$contact.firstName|$event.type|$run.block|$data.missing|$!data.missing|"
        "#set($total = 0)#foreach($p in $data.get('products'))#set($total = $total + $p.get('quantity'))#end$total"
    )
    assert (
        render(source, VELOCITY) == "45.5|2|many|dollars|Olena|cartUpdated|remind|$data.missing||3"
    )


def test_velocity_loops_know_their_count_and_macros_work() -> None:
    source = (
        "#macro(line $p)$p.get('productId')#end"
        "#foreach($p in $data.get('products'))$velocityCount:#line($p)#if($foreach.hasNext), #end#end"
    )
    assert render(source, VELOCITY) == "1:WS01-L-Green, 2:MUG-7"


def test_velocity_set_changes_this_render_only() -> None:
    data = cart()
    part = compile_part("#set($data.currencyCode = 'EUR')$data.currencyCode", VELOCITY, "text")
    assert render_part(part, data) == "EUR"
    assert data.event is not None and data.event["params"]["currencyCode"] == "USD"
    assert render_part(compile_part("$data.currencyCode", VELOCITY, "text"), data) == "USD"


# -- the native syntax ---------------------------------------------------------------------------

NATIVE_CART = """Hi {{ contact.firstName }}, your cart:
{% for p in event.params.products %}- {{ p.name | default(p.productId) }} x {{ p.quantity }}: {{ (p.price * p.quantity) | money(event.params.currencyCode) }}
{% endfor %}Total items: {{ event.params.products | sum(attribute="quantity") }}"""


def test_native_renders_the_cart_with_money() -> None:
    assert render(NATIVE_CART) == (
        "Hi Olena, your cart:\n- Shirt x 1: $45.50\n- MUG-7 x 2: $19.98\nTotal items: 3"
    )


def test_money_in_a_locale_and_without_a_currency() -> None:
    assert render("{{ 1234.5 | money('EUR', 'de') }}") == "1.234,50\xa0€"
    assert render("{{ '1234.5' | money }}") == "1,234.50"
    assert render("{{ 3 | money('UAH', 'uk') }}").startswith("3,00")
    assert render("{{ 3 | money('USD', 'pt-BR') }}") == "US$\xa03,00"  # as saved, so rendered
    with pytest.raises(RenderFailed, match="is not a number"):
        render("{{ event.params.n | money }}", data=cart(n=float("inf")))


def test_dates_are_shown_in_the_contacts_time_zone() -> None:
    # 10:00 UTC is 12:00 in Kyiv on 1 December (UTC+2), 05:00 in New York.
    assert render("{{ event.occurred | date('dd.MM.yyyy HH:mm') }}") == "01.12.2026 12:00"
    new_york = RenderData(cart().event, zone="America/New_York")
    assert render("{{ event.occurred | date('HH:mm') }}", data=new_york) == "05:00"
    assert render("{{ 0 | date('yyyy-MM-dd HH:mm') }}") == "1970-01-01 03:00"
    assert render("{{ event.occurred | date('long', 'uk') }}").startswith("1 грудня 2026")


def test_url_keeps_http_links_and_drops_others() -> None:
    source = '<a href="{{ event.params.link | url }}">go</a>'
    safe = cart(link="https://shop.example/p?id=1&x=2")
    assert (
        render(source, html=True, data=safe)
        == '<a href="https://shop.example/p?id=1&amp;x=2">go</a>'
    )
    for link in (
        "javascript:alert(1)",
        "data:text/html,x",
        "//evil.example",
        "",
        5,
        "\x01https://a.b",
    ):
        assert render(source, html=True, data=cart(link=link)) == '<a href="">go</a>'
    assert render("{{ event.params.q | urlencode }}", data=cart(q="a b&c")) == "a%20b%26c"


def test_html_parts_are_escaped_and_text_parts_are_not() -> None:
    data = cart(note="<b>Tom & Jerry</b>")
    assert (
        render("{{ event.params.note }}", html=True, data=data)
        == "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;"
    )
    assert render("{{ event.params.note }}", data=data) == "<b>Tom & Jerry</b>"


def test_missing_values_render_as_nothing_or_their_default() -> None:
    assert render("[{{ event.params.nope.deeper }}]") == "[]"
    assert render("{{ contact.lastName | default('friend') }}") == "friend"
    assert (
        render("{% set n = event.params.products | length %}{{ n * 2 }} {{ 7 // 2 }} {{ 7 % 4 }}")
        == "4 3 3"
    )


def test_a_filter_given_what_it_cannot_take_fails_the_render_naming_the_part() -> None:
    for source, reason in [
        ("{{ event.params.recycleStateId | money }}", "is not a number"),
        ("{{ 5 | money(event.params.recycleStateId) }}", "is not a currency code"),
        ("{{ event.params.recycleStateId | date }}", "is not a moment"),
        ("{{ 1 // 0 }}", "by zero"),
    ]:
        with pytest.raises(RenderFailed, match=reason) as failed:
            render(source)
        assert str(failed.value).startswith("text: ")


# -- errors when saved -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "syntax", "line", "reason"),
    [
        ("Hello\n{% for p in event.params.products %}\n{{ p }}", NATIVE, 3, "endfor"),
        ("a\nb\n{{ contact.firstName }", NATIVE, 3, "unexpected"),
        ("one\n#if($data.get('x'))\nyes", VELOCITY, 3, "#end"),
        ("one\ntwo\n$data.get('x'", VELOCITY, 3, ")"),
        ("#foreach($p in $data)\n#end\n#end", VELOCITY, 3, "#end"),
    ],
)
def test_a_syntax_error_names_the_part_and_its_line(
    source: str, syntax: str, line: int, reason: str
) -> None:
    with pytest.raises(InvalidTemplate) as refused:
        compile_part(source, syntax, "html", html=True)
    assert refused.value.field == "html"
    assert refused.value.line == line
    assert refused.value.message.startswith(f"html, line {line}: ")
    assert reason in refused.value.message


def test_what_the_syntax_may_not_use_is_refused_when_saved_with_its_line() -> None:
    with pytest.raises(InvalidTemplate, match=r"subject, line 2: #include is not allowed"):
        compile_part("Hi\n#include('x.vm')", VELOCITY, "subject")
    with pytest.raises(InvalidTemplate, match=r"\.clear\(\) is not a method a template may call"):
        compile_part("$data.clear()", VELOCITY, "text")
    with pytest.raises(InvalidTemplate, match="a macro is not allowed in a message template"):
        compile_part("{% macro m() %}{% endmacro %}", NATIVE, "text")
    with pytest.raises(InvalidTemplate, match=r"the filter 'money' .* locale must be a locale"):
        compile_part("{{ 1 | money('USD', 'xx-nowhere') }}", NATIVE, "text")


def test_an_unknown_syntax_a_huge_part_and_a_nul_are_refused() -> None:
    with pytest.raises(InvalidTemplate, match="syntax must be one of native, velocity") as refused:
        compile_part("x", "handlebars", "text")
    assert refused.value.field == "syntax"
    with pytest.raises(InvalidTemplate, match=f"the limit is {MAX_SOURCE}"):
        compile_part("x" * (MAX_SOURCE + 1), NATIVE, "text")
    with pytest.raises(InvalidTemplate, match="NUL"):
        compile_part("a\x00b", VELOCITY, "text")
