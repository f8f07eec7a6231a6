"""Attacks on message templates (the brief: template code cannot reach Python internals, the file
system or the network; every render has a bounded cost). A crafted template is refused when it
is saved (InvalidTemplate) or fails its render with RenderFailed, never with another exception,
within ``SECONDS`` of CPU and ``PEAK_BYTES`` of memory, with the largest event the API takes.

Nothing here connects anywhere: what would reach the file system or the network is refused
before anything is opened (the test's own ``open`` and ``socket`` would fail it if called).
"""

from __future__ import annotations

import builtins
import socket
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest

from footfall.config import Settings
from footfall.exceptions import InvalidTemplate
from footfall.messages.budget import MAX_OUTPUT, Budget
from footfall.messages.templates import (
    NATIVE,
    VELOCITY,
    RenderData,
    RenderFailed,
    compile_part,
    render_part,
)
from footfall.messages.velocity import MAX_RANGE

SECONDS = 3.0  # CPU of one render, well above the budget's 1 s: a runaway takes minutes
PEAK_BYTES = 64 * 1024 * 1024
EVENT_BYTES = Settings().max_body_bytes
BIG_TEXT = "x" * (EVENT_BYTES - 1500)  # a string parameter of an event at the limit
BIG_LIST = list(range((EVENT_BYTES - 1500) // 6))  # "1234, " per number


def data(**params: Any) -> RenderData:
    params = {"big": BIG_LIST, "text": BIG_TEXT, "products": [{"price": 1}], **params}
    return RenderData(
        {
            "id": 1,
            "type": "cartUpdated",
            "keyValue": "k",
            "occurred": "2026-12-03T03:00:00Z",
            "params": params,
        },
        {"id": 7, "email": "k@example.com"},
        {"id": 3},
    )


@pytest.fixture(autouse=True)
def no_files_or_sockets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A template that reached the file system or the network would fail the test."""

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a template reached out: {args!r}")

    monkeypatch.setattr(builtins, "open", refused)
    monkeypatch.setattr(socket, "socket", refused)
    monkeypatch.setattr(socket, "create_connection", refused)
    yield


def outcome(source: str, syntax: str, **params: Any) -> tuple[str, float, int]:
    """Compile then render ``source``: "refused", "RenderFailed" or "rendered", with the CPU
    seconds and peak bytes of the render."""
    try:
        part = compile_part(source, syntax, "html", html=True)
    except InvalidTemplate:
        return "refused", 0.0, 0
    values = data(**params)
    tracemalloc.start()
    started = time.process_time()
    try:
        render_part(part, values)
        found = "rendered"
    except RenderFailed:
        found = "RenderFailed"
    finally:
        seconds = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return found, seconds, peak


def assert_contained(source: str, syntax: str, expected: set[str], **params: Any) -> None:
    found, seconds, peak = outcome(source, syntax, **params)
    assert found in expected, (source, found)
    assert seconds < SECONDS, (source, seconds)
    assert peak < PEAK_BYTES, (source, peak)


# -- no way out: internals, files, network ---------------------------------------------------------

ESCAPES = {
    NATIVE: [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ event.__class__ }}",
        "{{ event['__class__'] }}",
        "{{ event.params.products.pop() }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ lipsum.__globals__['os'] }}",
        "{{ self._TemplateReference__context }}",
        "{{ range.__self__ }}",
        "{{ config }}{{ request }}{{ namespace() }}",
        "{% include '/etc/passwd' %}",
        "{% import 'os' as os %}",
        "{% extends '/etc/passwd' %}",
        "{% from 'x' import y %}",
        "{{ ''.format }}",
        "{{ '{0.__class__}'.format(event) }}",
        "{{ event.params.text.encode('utf-8') }}",
        "{% set x = event.params.__class__ %}{{ x }}",
        "{{ event.params | attr('__class__') }}",
        "{{ event.params | map('upper') | list }}",
    ],
    VELOCITY: [
        "$data.__class__",
        "$data.get('text').__class__.__mro__",
        "$data.get.__self__",
        "#set($x = $data.__class__)$x",
        "#set($__x = 1)",
        "$data.keySet().mapping.__class__",
        "#include('/etc/passwd')",
        "#parse('/etc/passwd')",
        "#evaluate('$data.__class__')",
        "#define($x)$data#end",
        "$data.get('text').format('{0.__class__}')",
        "$data.get('text').encode('utf-8')",
        "$data.clear()",
        "$data.get('big').append(1)",
        "$data.put('x', 1)",
        "$data.get('big').add(1)",
        "$data.get('text').zfill(1000000000)",
        "$data.get('text').replaceAll('x', 'yy')",
        "$data.get('text').matches('(x+x+)+y')",
        "#set($m = $data.getClass())$m",
    ],
}


@pytest.mark.parametrize(
    ("syntax", "source"),
    [(syntax, source) for syntax, sources in ESCAPES.items() for source in sources],
)
def test_no_template_reaches_internals_files_or_the_network(syntax: str, source: str) -> None:
    found, _, _ = outcome(source, syntax)
    assert found in ("refused", "RenderFailed", "rendered"), found
    if found == "rendered":  # then what it printed is no Python object
        part = compile_part(source, syntax, "text")
        text = render_part(part, data())
        assert "<class" not in text and "<built-in" not in text and "<function" not in text, text
        assert "uid=" not in text and "root:" not in text


def test_the_ways_out_are_refused_when_saved_not_only_at_render() -> None:
    for syntax, sources in ESCAPES.items():
        for source in sources:
            if "mapping" in source or source == "{{ ''.format }}":
                continue  # harmless: a dict's keys' mapping is the data; a method reads as nothing
            with pytest.raises(InvalidTemplate):
                compile_part(source, syntax, "text")


# -- bounded cost: loops, recursion, output, arithmetic --------------------------------------------

RUNAWAYS = {
    NATIVE: [
        "{% for a in event.params.big %}{% for b in event.params.big %}{% for c in event.params.big %}{% endfor %}{% endfor %}{% endfor %}",
        "{% for a in event.params.big %}{% for b in event.params.big %}{{ a }}{% endfor %}{% endfor %}",
        "{% for a in event.params.big %}{{ event.params.text }}{% endfor %}",
        "{{ event.params.text * 1000000 }}",
        "{{ 'ab' * 1000000000 }}",
        "{{ '%*d' % (1000000000, 1) }}",
        "{{ 10 * 10 * 10 * 10 * 10 * 10 * 10 * 10 }}",
        "{{ (event.params.big ~ event.params.big ~ event.params.big ~ event.params.big) | length }}",
        "{{ event.params.big | join(event.params.text) }}",
        "{{ event.params.text | truncate(1000000000) }}",
        "{{ event.params.big | sort | unique | list | length }}",
    ],
    VELOCITY: [
        "#foreach($a in [1..10000])#foreach($b in [1..10000])#end#end",
        "#foreach($a in $data.get('big'))#foreach($b in $data.get('big'))$a#end#end",
        "#foreach($a in [1..1000000000])#end",
        "#set($r = [1..1000000000])$r.size()",
        "#set($s = $data.get('text'))#foreach($i in [1..40])#set($s = \"$s$s\")#end$s.length()",
        "#set($s = $data.get('text'))#foreach($i in [1..40])#set($s = $s + $s)#end",
        "#set($l = $data.get('big'))#foreach($i in [1..40])#set($l = $l + $l)#end",
        "#macro(m $n)#m($n)#end#m(1)",
        "#macro(m $n)#m($n)#m($n)#end#m(1)",
        "#set($s = 'ab' * 1000000000)",
        "#set($s = $data.get('text') * 100000)",
        "#set($n = 10)#foreach($i in [1..100])#set($n = $n * $n)#end",
        "#foreach($a in $data.get('big'))$data.get('text')#end",
        "#set($x = 1 / 0)",
    ],
}


@pytest.mark.parametrize(
    ("syntax", "source"),
    [(syntax, source) for syntax, sources in RUNAWAYS.items() for source in sources],
)
def test_every_render_has_a_bounded_cost(syntax: str, source: str) -> None:
    assert_contained(source, syntax, {"refused", "RenderFailed", "rendered"})


def test_runaway_loops_and_recursion_fail_with_a_clear_reason() -> None:
    cases = [
        (RUNAWAYS[NATIVE][0], NATIVE, "too many steps|too long"),
        (RUNAWAYS[VELOCITY][0], VELOCITY, "too many steps|too long"),
        (RUNAWAYS[VELOCITY][2], VELOCITY, f"more than {MAX_RANGE} numbers"),
        (RUNAWAYS[VELOCITY][4], VELOCITY, f"more than {MAX_OUTPUT} characters"),
        (RUNAWAYS[VELOCITY][7], VELOCITY, "recurses too deeply"),
        (RUNAWAYS[VELOCITY][8], VELOCITY, "recurses too deeply|too many steps"),
        (RUNAWAYS[NATIVE][2], NATIVE, f"more than {MAX_OUTPUT} characters"),
    ]
    for source, syntax, reason in cases:
        part = compile_part(source, syntax, "html", html=True)
        with pytest.raises(RenderFailed, match=f"^html: .*({reason})"):
            render_part(part, data())


def test_a_small_budget_stops_a_render_that_a_large_one_finishes() -> None:
    part = compile_part("{% for a in event.params.big %}{{ a }}{% endfor %}", NATIVE, "text")
    assert len(render_part(part, data(), Budget())) > len(BIG_LIST)
    with pytest.raises(RenderFailed, match="too many steps"):
        render_part(part, data(), Budget(steps=1_000))
    velocity = compile_part("#foreach($a in $data.get('big'))$a#end", VELOCITY, "text")
    assert len(render_part(velocity, data(), Budget())) > len(BIG_LIST)
    with pytest.raises(RenderFailed, match="too many steps"):
        render_part(velocity, data(), Budget(steps=1_000))


def test_a_failed_render_leaves_the_next_one_whole() -> None:
    """A render stopped by its budget leaves no trace function behind, nor a half-set budget."""
    runaway = compile_part(RUNAWAYS[VELOCITY][0], VELOCITY, "text")
    native = compile_part(RUNAWAYS[NATIVE][0], NATIVE, "text")
    for part in (runaway, native):
        with pytest.raises(RenderFailed):
            render_part(part, data())
    import sys

    assert sys.gettrace() is None or "coverage" in type(sys.gettrace()).__module__
    fine = compile_part(
        "#foreach($p in $data.get('products'))$p.get('price')#end", VELOCITY, "text"
    )
    assert render_part(fine, data()) == "1"
