"""Runs the README's examples in order against a fresh ``footfall serve`` and checks each answer.

The README follows these conventions, so that its examples cannot drift from what Footfall does:

- ```` ```sh ```` and ```` ```bash ```` blocks run, in order, in one ``bash`` (``set -euo
  pipefail``) from the repository root, so a variable set in one block (``KEY``, ``TOKEN``…)
  serves the later ones. ```` ```console ```` and ```` ```text ```` blocks are only shown: starting
  servers, synopses, production set-ups, benchmarks.
- ``http://127.0.0.1:8000`` (where ``./scripts/serve`` listens) stands for the server's address;
  the runner puts its own fresh server's address there, and no other address may appear.
- A step is a run of lines up to the ``# -> `` lines after it. What the step prints (stdout and
  stderr) must match those lines one for one; ``…`` matches any text within a line, and a line
  that is only ``…`` matches any number of lines. A step with no ``# -> `` line must print
  nothing, and an expectation must stand on a line of its own.
- ``curl`` runs as ``curl -q -sS -w '\\n'`` (no progress meter, each answer ends its line).

``scripts/tour`` runs this module for a person; ``tests/acceptance/test_readme.py`` runs it on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ADDRESS = "http://127.0.0.1:8000"
RUNNABLE = {"sh", "bash"}
SHOWN = {"console", "text", ""}
EXPECT = re.compile(r"^\s*# -> ?(.*)$")
ANY = "…"
PRELUDE = "set -euo pipefail\ncurl() { command curl -q -sS -w '\\n' \"$@\"; }\n"
TIMEOUT_SECONDS = 120


@dataclass(frozen=True, slots=True)
class Step:
    """Lines of one runnable block up to (and with) the answer they should print."""

    line: int  # the README line of the step's first line, 1-based
    section: str
    code: str
    expected: tuple[str, ...]

    def where(self) -> str:
        return f"README.md line {self.line} (section {self.section!r})"


@dataclass(frozen=True, slots=True)
class Outcome:
    step: Step
    output: str
    problem: str | None  # None: the answer is the README's

    def report(self) -> str:
        code = _indent(self.step.code)
        expected = _indent("\n".join(self.step.expected) or "(nothing)")
        got = _indent(self.output or "(nothing)")
        return (
            f"{self.step.where()}: {self.problem}\nthe step:\n{code}\n"
            f"expected:\n{expected}\ngot:\n{got}"
        )


class TourError(Exception):
    """The README's examples break a convention of this runner (not a wrong answer)."""


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def _fences(lines: Sequence[str]) -> Iterator[tuple[str, int, Sequence[str], str]]:
    """(language, first line number, lines, section) of each fenced block."""
    section, i = "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if line.startswith("```"):
            language = line[3:].strip().split(" ")[0]
            end = i + 1
            while end < len(lines) and not lines[end].startswith("```"):
                end += 1
            yield language, i + 2, lines[i + 1 : end], section
            i = end
        i += 1


def _steps(first: int, body: Sequence[str], section: str) -> Iterator[Step]:
    code: list[str] = []
    expected: list[str] = []
    start = first
    for number, line in enumerate(body, first):
        found = EXPECT.match(line)
        if found is not None:
            if not code:
                raise TourError(f"README.md line {number}: an answer with no command before it")
            expected.append(found[1].rstrip())
            continue
        if "# ->" in line:
            raise TourError(f"README.md line {number}: put the expected answer on its own line")
        if expected:
            yield Step(start, section, "\n".join(code).rstrip(), tuple(expected))
            code, expected = [], []
        if code or line.strip():
            start = start if code else number
            code.append(line)
    if code:
        yield Step(start, section, "\n".join(code).rstrip(), tuple(expected))


def parse(text: str) -> list[Step]:
    """Every step of the runnable blocks, in README order."""
    steps: list[Step] = []
    for language, first, body, section in _fences(text.splitlines()):
        if language in SHOWN:
            continue
        if language not in RUNNABLE:
            raise TourError(
                f"README.md line {first - 1}: a ```{language} block: use ```sh to run it, "
                "```console or ```text to show it only"
            )
        steps.extend(_steps(first, body, section))
    for step in steps:
        stray = re.findall(r"(?:localhost|127\.0\.0\.1):\d+", step.code)
        if any(found != ADDRESS.removeprefix("http://") for found in stray):
            raise TourError(f"{step.where()}: examples reach the server at {ADDRESS} only")
    return steps


def _pattern(expected: Sequence[str]) -> re.Pattern[str]:
    parts = []
    for line in expected:
        if line.strip() == ANY:
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(r"[^\n]*?".join(re.escape(p) for p in line.split(ANY)) + r"\n")
    return re.compile("".join(parts))


def normalise(output: str) -> str:
    """What a terminal shows, without line-end carriage returns or blank lines around it."""
    lines = [line.rstrip() for line in output.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip("\n")


def judge(step: Step, output: str) -> Outcome:
    shown = normalise(output)
    if not step.expected:
        problem = None if not shown else "printed something, but the README shows no answer"
        return Outcome(step, shown, problem)
    matched = _pattern(step.expected).fullmatch(shown + "\n") is not None
    return Outcome(step, shown, None if matched else "the answer differs from the README's")


def script(steps: Sequence[Step], base: str, out: Path) -> str:
    """One bash script: each step's output goes to its own file, numbered in order."""
    parts = [PRELUDE]
    for number, step in enumerate(steps):
        code = step.code.replace(ADDRESS, base)
        parts.append(f"{{\n{code}\n}} > {out}/{number}.txt 2>&1\n")
    return "".join(parts)


def _bash(code: str, env: Mapping[str, str]) -> str | None:
    """Runs the script; None when it ran to its end, else why it stopped (with bash's stderr)."""
    try:
        done = subprocess.run(
            ["bash", "-c", code],
            cwd=ROOT,
            env={**env, "PYTHONUNBUFFERED": "1"},
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"the examples did not finish within {TIMEOUT_SECONDS} s"
    if done.returncode == 0:
        return None
    return f"bash stopped here with exit status {done.returncode}\n{done.stderr}".rstrip()


def run(steps: Sequence[Step], base: str, env: Mapping[str, str]) -> list[Outcome]:
    """Outcomes up to the first wrong answer, or of every step when all are right."""
    for tool in ("bash", "curl", "jq"):
        if shutil.which(tool) is None:
            raise TourError(f"the README's examples need {tool}, which is not installed")
    with tempfile.TemporaryDirectory(prefix="footfall-tour-") as folder:
        out = Path(folder)
        stopped = _bash(script(steps, base, out), env)
        outcomes: list[Outcome] = []
        for number, step in enumerate(steps):
            path = out / f"{number}.txt"
            if not path.exists():
                break
            outcome = judge(step, path.read_text())
            if stopped is not None and not (out / f"{number + 1}.txt").exists():
                outcome = Outcome(step, outcome.output, stopped)
            outcomes.append(outcome)
            if outcome.problem is not None:
                break
        return outcomes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def fresh_server(env: Mapping[str, str], log: Path) -> Iterator[str]:
    """``footfall serve`` on a free loopback port, with ``env`` choosing its database; stopped
    (SIGTERM, then SIGKILL) however the block ends."""
    port = free_port()
    footfall = ROOT / ".venv" / "bin" / "footfall"
    if not footfall.exists():
        footfall = Path(sys.executable).parent / "footfall"
    base = f"http://127.0.0.1:{port}"
    with open(log, "wb") as sink:
        process = subprocess.Popen(
            [str(footfall), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(process, base, log)
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_healthy(process: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TourError(f"footfall serve exited with {process.returncode}: {log.read_text()}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TourError(f"footfall serve did not become healthy: {log.read_text()}")


def tour(env: Mapping[str, str], folder: Path) -> list[Outcome]:
    """The README's examples against a fresh server whose database ``env`` names."""
    steps = parse(README.read_text())
    with fresh_server(env, folder / "serve.log") as base:
        return run(steps, base, env)


def main() -> int:
    """For a person: a fresh SQLite database (or the empty one FOOTFALL_DATABASE_URL names)."""
    with tempfile.TemporaryDirectory(prefix="footfall-tour-data-") as folder:
        base_env = {k: v for k, v in os.environ.items() if k != "FOOTFALL_DATA_DIR"}
        outcomes = tour({**base_env, "FOOTFALL_DATA_DIR": folder}, Path(folder))
    for outcome in outcomes:
        if outcome.problem is None:
            print(f"$ {outcome.step.code}".replace("\n", "\n  "))
            print(outcome.output, end="\n\n")
        else:
            print(outcome.report(), file=sys.stderr)
    steps = len(parse(README.read_text()))
    if len(outcomes) == steps and all(o.problem is None for o in outcomes):
        print(f"{steps} steps: every answer is the README's")
        return 0
    print(f"stopped at step {len(outcomes)} of {steps}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
