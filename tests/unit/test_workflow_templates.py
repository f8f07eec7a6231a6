"""Workflow templates: the arguments each filter may be given, the bounds on a template's size
and on every filter's result, and whole expressions rendered as values."""

from __future__ import annotations

import inspect
from typing import Any

import jinja2
import pytest

from footfall.exceptions import InvalidWorkflow
from footfall.workflows.templates import (
    _ENVIRONMENT,
    ARGUMENTS,
    FILTERS,
    MAX_FILTERS,
    MAX_ITEMS,
    MAX_NODES,
    MAX_RENDERED,
    TESTS,
    RenderFailed,
    check_json_template,
    check_template,
    render_json,
    render_text,
)


def data(**params: Any) -> dict[str, Any]:
    return {
        "event": {"id": 1, "type": "cartUpdated", "params": params},
        "contact": {"id": 7, "email": "k@example.com"},
        "run": {"id": 3, "workflowId": 2},
    }


@pytest.mark.parametrize(
    ("template", "params", "expected"),
    [
        ("{{ event.params.n | round }}", {"n": 2.5}, 2.0),
        ("{{ event.params.n | round(2, 'floor') }}", {"n": 2.567}, 2.56),
        ("{{ event.params.n | round(precision=15, method='ceil') }}", {"n": 1}, 1.0),
        ("{{ event.params.s | truncate(9, true, '…', 0) }}", {"s": "abcdefghijkl"}, "abcdefgh…"),
        ("{{ event.params.s | truncate(length=5, leeway=0) }}", {"s": "abcdefgh"}, "ab..."),
        ("{{ event.params.l | join(', ') }}", {"l": [1, 2]}, "1, 2"),
        ("{{ event.params.l | join(attribute='a') }}", {"l": [{"a": "x"}, {"a": "y"}]}, "xy"),
        ("{{ event.params.s | int(-1) }}", {"s": "x"}, -1),
        ("{{ event.params.s | int(base=16) }}", {"s": "ff"}, 255),
        ("{{ event.params.s | float('none') }}", {"s": "x"}, "none"),
        ("{{ event.params.s | trim('-') }}", {"s": "-a-"}, "a"),
        ("{{ event.params.l | sort(reverse=true) }}", {"l": [1, 3, 2]}, [3, 2, 1]),
        (
            "{{ event.params.l | sort(attribute='p') | first }}",
            {"l": [{"p": 2}, {"p": 1}]},
            {"p": 1},
        ),
        ("{{ event.params.l | unique(true) }}", {"l": ["a", "A", "a"]}, ["a", "A"]),
        (
            "{{ event.params.d | dictsort(by='value', reverse=true) }}",
            {"d": {"a": 1, "b": 2}},
            [
                ["b", 2],
                ["a", 1],
            ],
        ),
        ("{{ event.params.l | max(attribute='p') }}", {"l": [{"p": 2}, {"p": 1}]}, {"p": 2}),
        ("{{ event.params.l | sum(start=-1.5) }}", {"l": [1, 2]}, 1.5),
        ("{{ event.params.l | sum(attribute='p') }}", {"l": [{"p": 2}, {"p": 1}]}, 3),
        ("{{ event.params.x | default(event.type ~ '!', true) }}", {"x": ""}, "cartUpdated!"),
        ("{{ event.params.x | d(contact.email | upper) }}", {}, "K@EXAMPLE.COM"),
    ],
)
def test_filters_take_constant_arguments_within_bounds(
    template: str, params: dict[str, Any], expected: Any
) -> None:
    check_json_template(template, "t")
    assert render_json(template, data(**params), "t") == expected


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{{ event.params.n | round(16) }}", "precision must be an integer from 0 to 15"),
        ("{{ event.params.n | round(-1) }}", "precision must be an integer from 0 to 15"),
        ("{{ event.params.n | round(1.0) }}", "precision must be an integer from 0 to 15"),
        ("{{ event.params.n | round(true) }}", "precision must be an integer from 0 to 15"),
        ("{{ event.params.n | round(1, 'up') }}", "method must be one of 'common', 'ceil'"),
        ("{{ event.params.n | round(1, 'floor', 3) }}", "takes at most 2 arguments"),
        ("{{ event.params.l | tojson(2) }}", "'tojson' (line 1) takes no arguments"),
        ("{{ event.params.s | truncate(65537) }}", "length must be an integer from 0 to 65536"),
        ("{{ event.params.s | truncate(5, 1) }}", "killwords must be true or false"),
        ("{{ event.params.s | truncate(5, end='" + "." * 101 + "') }}", "end must be a string"),
        ("{{ event.params.s | truncate(5, leeway=101) }}", "leeway must be an integer from 0"),
        ("{{ event.params.l | join(1) }}", "separator (d) must be a string of at most 100"),
        ("{{ event.params.l | join(attribute=event.type) }}", "attribute must be a string"),
        ("{{ event.params.s | int(event.params.d) }}", "default must be a constant"),
        ("{{ event.params.s | int(0, 1) }}", "base must be an integer from 2 to 36"),
        ("{{ event.params.s | int(0, 37) }}", "base must be an integer from 2 to 36"),
        ("{{ event.params.s | float([]) }}", "default must be a constant"),
        ("{{ event.params.s | trim(event.type) }}", "chars must be a string"),
        ("{{ event.params.l | sort(reverse='yes') }}", "reverse must be true or false"),
        ("{{ event.params.l | sort(key='x') }}", "has no argument 'key'"),
        ("{{ event.params.l | sort(true, reverse=false) }}", "is given reverse twice"),
        ("{{ event.params.d | dictsort(by='size') }}", "by must be one of 'key', 'value'"),
        ("{{ event.params.l | sum(start=1000001) }}", "start must be a number"),
        ("{{ event.params.l | sum(start=[]) }}", "start must be a number"),
        ("{{ event.params.l | min(attribute=1) }}", "attribute must be a string"),
        ("{{ event.params.x | default('a', 'b') }}", "boolean must be true or false"),
        ("{{ event.params.s | upper(1) }}", "'upper' (line 1) takes no arguments"),
        ("{{ event.params.s | lower(*event.params.l) }}", "cannot take *args or **kwargs"),
        ("{{ event.params.s | default(**event.params) }}", "cannot take *args or **kwargs"),
        ("{{ event.params.s is divisibleby(*event.params.l) }}", "cannot take *args"),
        ("{{ none[0] }}", "None cannot be subscripted (line 1)"),
        ("{{ (1)[1:] }}", "1 cannot be subscripted"),
        ("{{ (not true)[1:] }}", "a slice of a value computed from constants only"),
        ("x\n{{ event.type | round(99) }}", "(line 2)"),
    ],
)
def test_filter_arguments_out_of_bounds_are_refused_naming_field_and_line(
    template: str, words: str
) -> None:
    with pytest.raises(InvalidWorkflow) as refused:
        check_template(template, "blocks[2].body.a")
    assert refused.value.field == "blocks[2].body.a"
    assert refused.value.message.startswith("blocks[2].body.a: ")
    assert words in refused.value.message, refused.value.message


def test_every_filter_with_arguments_is_allowed_and_every_argument_named_as_jinja_does() -> None:
    assert set(ARGUMENTS) <= FILTERS
    for name, takes in ARGUMENTS.items():
        parameters = list(inspect.signature(jinja2.filters.FILTERS[name]).parameters)
        assert [argument for argument, _ in takes] == parameters[-len(takes) :], name


def test_the_environment_holds_only_the_allowed_filters_and_tests_with_their_markers() -> None:
    assert set(_ENVIRONMENT.filters) == FILTERS
    assert set(_ENVIRONMENT.tests) == TESTS
    for name in FILTERS:
        original = jinja2.filters.FILTERS[name]
        wrapped = _ENVIRONMENT.filters[name]
        assert wrapped is not original and wrapped.__wrapped__ is original
        assert getattr(wrapped, "jinja_pass_arg", None) is getattr(
            original, "jinja_pass_arg", None
        ), name
    assert _ENVIRONMENT.filters["first"].jinja_pass_arg is not None  # pass_environment
    assert _ENVIRONMENT.filters["join"].jinja_pass_arg is not None  # pass_eval_context
    assert render_json("{{ event.params.l | first }}", data(l=[4, 5]), "t") == 4
    assert render_text("{{ event.params.l | join('-') }}", data(l=[4, 5]), "t") == "4-5"


@pytest.mark.parametrize(
    ("template", "params", "words"),
    [
        (
            "{{ event.params.s | list }}",
            {"s": "x" * (MAX_ITEMS + 1)},
            f"more than {MAX_ITEMS} items",
        ),
        ("{{ event.params.l | unique }}", {"l": list(range(MAX_ITEMS + 1))}, "items"),
        ("{{ event.params.d | items }}", {"d": {str(i): i for i in range(MAX_ITEMS + 1)}}, "items"),
        ("{{ event.params.s | escape | e }}", {"s": "&" * 13_200}, f"longer than {MAX_RENDERED}"),
        ("x{{ event.params.s | tojson | tojson }}", {"s": '"' * 17_000}, "longer than"),
        ("{{ event.params.l | join('" + "-" * 100 + "') }}", {"l": [1] * 700}, "longer than"),
    ],
)
def test_a_filter_result_beyond_the_bounds_fails_the_render_naming_the_field(
    template: str, params: dict[str, Any], words: str
) -> None:
    check_template(template, "t")
    for render in (render_json, render_text):
        with pytest.raises(RenderFailed, match=f"^blocks.x.body: a filter's result .*{words}"):
            render(template, data(**params), "blocks.x.body")


def test_a_filter_result_within_the_bounds_renders() -> None:
    items = list(range(MAX_ITEMS))
    assert render_json("{{ event.params.l | unique | length }}", data(l=items), "t") == MAX_ITEMS
    text = "x" * MAX_RENDERED
    assert render_text("{{ event.params.s | upper | lower }}", data(s=text), "t") == text


@pytest.mark.parametrize(
    "template",
    ["{{ event.type }}", "{{- event.type -}}", "  {{-event.type-}}\n", "{{+ event.type }}"],
)
def test_one_expression_renders_as_its_value_whatever_its_whitespace_control(
    template: str,
) -> None:
    check_json_template({"a": template}, "t")
    assert render_json({"a": template}, data(), "t") == {"a": "cartUpdated"}
    assert render_json(template.replace("event.type", "run"), data(), "t") == {
        "id": 3,
        "workflowId": 2,
    }


def test_limits_on_a_template_size() -> None:
    check_template("{{ event.type" + " | lower" * MAX_FILTERS + " }}", "t")
    with pytest.raises(InvalidWorkflow, match=f"{MAX_FILTERS + 1} filters and tests"):
        check_template(
            "{{ event.type"
            + " | lower" * (MAX_FILTERS // 2)
            + " }}{{ "
            + " and ".join(["event.type is lower"] * (MAX_FILTERS // 2 + 1))
            + " }}",
            "t",
        )
    wide = "{{ [" + ", ".join(["1"] * (MAX_NODES - 3)) + "] }}"
    check_template(wide, "t")
    with pytest.raises(InvalidWorkflow, match=f"{MAX_NODES + 1} syntax nodes long"):
        check_template(wide.replace("[1, ", "[1, 1, "), "t")


def test_a_template_is_compiled_when_saved() -> None:
    """What compiling finds (here an integer Python cannot print) is refused then, not at every
    render; a string with no template is not compiled at all."""
    with pytest.raises(InvalidWorkflow, match="t: the template cannot be compiled"):
        check_template("{{ 0x" + "f" * 4000 + " }}", "t")
    with pytest.raises(InvalidWorkflow, match="t: the template cannot be compiled"):
        check_json_template("{{ 0x" + "f" * 4000 + " }}", "t")  # as a whole expression
    check_template("}} %} #} plain text", "t")
