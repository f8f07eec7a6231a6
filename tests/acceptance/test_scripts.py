"""The real ``scripts/serve`` and ``scripts/bootstrap`` run on a copy of the project, with a Python
whose virtual environment records every pip and footfall command instead of running it."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDER = """#!/bin/sh
echo "{tool} $*" >> {log}
"""
FAKE_PYTHON = """#!/bin/sh
# python3 -m venv DIR makes DIR/bin/python and DIR/bin/footfall recorders; anything else is Python.
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  cp {recorders}/python {recorders}/footfall "$3/bin/"
  exit 0
fi
exec {python} "$@"
"""
RUNTIME = ["python -m pip install --quiet --upgrade pip", "python -m pip install --quiet -e ."]
DEV = ["python -m pip install --quiet --upgrade pip", "python -m pip install --quiet -e .[dev]"]


class Project:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = root / "commands.log"
        recorders = root / "recorders"
        recorders.mkdir()
        for tool in ("python", "footfall"):
            self._executable(
                recorders / tool, RECORDER.format(tool=tool, log=shlex.quote(str(self.log)))
            )
        self.python = root / "python3"
        fake = FAKE_PYTHON.format(recorders=recorders, python=shlex.quote(sys.executable))
        self._executable(self.python, fake)
        (root / "scripts").mkdir()
        for script in ("bootstrap", "serve"):
            shutil.copy2(ROOT / "scripts" / script, root / "scripts" / script)
        shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")

    @staticmethod
    def _executable(path: Path, text: str) -> None:
        path.write_text(text)
        path.chmod(0o755)

    def run(self, script: str, *args: str) -> list[str]:
        """The commands the script ran through the environment, in order."""
        self.log.write_text("")
        env = {"PATH": "/usr/bin:/bin", "PYTHON": str(self.python)}
        done = subprocess.run(
            [str(self.root / "scripts" / script), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return self.log.read_text().splitlines()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


def test_serve_installs_only_what_footfall_needs_to_run(project: Project) -> None:
    assert project.run("serve", "--port", "9000") == [*RUNTIME, "footfall serve --port 9000"]
    assert project.run("serve") == ["footfall serve"]


def test_bootstrap_adds_the_development_tools_and_serve_then_installs_nothing(
    project: Project,
) -> None:
    project.run("serve")
    assert project.run("bootstrap") == DEV
    assert project.run("bootstrap") == []
    assert project.run("serve") == ["footfall serve"]


def test_a_changed_pyproject_installs_again(project: Project) -> None:
    project.run("bootstrap")
    with (project.root / "pyproject.toml").open("a") as pyproject:
        pyproject.write("\n# changed\n")
    assert project.run("serve") == [*RUNTIME, "footfall serve"]
    assert project.run("bootstrap") == DEV
