"""The README's examples, run in order against a fresh ``footfall serve`` on each backend, give
the answers the README shows (conventions: ``readme_tour.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from readme_tour import README, TourError, judge, parse, run, tour

from conftest import BACKENDS, create_postgres_database


@pytest.fixture(params=BACKENDS)
def fresh_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a fresh, empty database for the server and the README's CLI commands."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOOTFALL_")}
    env["FOOTFALL_DATA_DIR"] = str(tmp_path / "data")
    if request.param == "sqlite":
        yield env
        return
    url, drop = create_postgres_database()
    try:
        yield env | {"FOOTFALL_DATABASE_URL": url}
    finally:
        drop()


def test_every_readme_example_answers_as_shown(fresh_env: dict[str, str], tmp_path: Path) -> None:
    steps = parse(README.read_text())
    sections = {step.section for step in steps}
    assert {"Quick tour", "Event types", "Contacts"} <= sections, sections
    outcomes = tour(fresh_env, tmp_path)
    for outcome in outcomes:
        assert outcome.problem is None, outcome.report()
    assert len(outcomes) == len(steps), f"bash stopped after step {len(outcomes)} of {len(steps)}"


SAMPLE = """\
# Sample

```console
./scripts/serve
```

## Tour

```sh
X=$(echo 42)
echo "id $X at 2026-12-02"
# -> id … at …
printf 'a\\nb\\nc\\n'
# -> a
# -> …
```
"""


def test_answers_match_line_by_line_with_wildcards() -> None:
    first, second = parse(SAMPLE)
    assert (first.line, first.section, first.expected) == (10, "Tour", ("id … at …",))
    assert judge(first, "id 42 at 2026-12-02\r\n").problem is None
    assert judge(first, "id 42\n").problem is not None
    assert judge(first, "id 42 at 1\nmore\n").problem is not None
    assert judge(second, "a\n").problem is None
    assert judge(second, "a\nb\nc\n").problem is None
    assert judge(second, "b\nc\n").problem is not None


def test_a_step_without_an_answer_must_print_nothing() -> None:
    [step] = parse("# T\n\n```sh\nKEY=1\n```\n")
    assert judge(step, "\n").problem is None
    assert judge(step, "Not Found\n").problem is not None


@pytest.mark.parametrize(
    "readme",
    [
        "```sh\ncurl localhost:8080/health   # -> ok\n```\n",  # an answer beside its command
        "```sh\ncurl localhost:8080/health\n# -> ok\n```\n",  # another port
        "```shell\necho\n```\n",  # neither run nor shown
        "```sh\n# -> ok\n```\n",  # an answer to nothing
    ],
)
def test_examples_that_break_the_conventions_are_refused(readme: str) -> None:
    with pytest.raises(TourError):
        parse(readme)


def test_a_wrong_answer_names_its_line_and_stops_the_run(tmp_path: Path) -> None:
    steps = parse(SAMPLE.replace("# -> a", "# -> z"))
    outcomes = run(steps, "http://127.0.0.1:1", dict(os.environ))
    assert [o.problem for o in outcomes] == [None, "the answer differs from the README's"]
    assert "README.md line 13 (section 'Tour')" in outcomes[1].report()
    failing = parse(SAMPLE.replace('echo "id', 'false; echo "id'))
    [stopped] = run(failing, "http://127.0.0.1:1", dict(os.environ))
    assert stopped.problem == "bash stopped here with exit status 1"
    assert "README.md line 10 (section 'Tour')" in stopped.report()
