"""Docs agree with the code: every ``sidecar-impact ...`` command line shown in README.md, docs/ and
deploy/README.md names a real subcommand and only flags that subcommand has; the README's first
command runs; no doc or code points at a file outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import typer

from analyzer.cli import app
from analyzer.cli_reference import BEGIN, END, option_reference, rewritten

REPO = Path(__file__).resolve().parents[1]
DOCS = [
    REPO / "README.md",
    REPO / "deploy" / "README.md",
    REPO / "tests" / "README.md",
    *sorted((REPO / "docs").glob("*.md")),
]
COMMANDS = {name: command for name, command in typer.main.get_command(app).commands.items()}  # type: ignore[attr-defined]
_INVOCATION = re.compile(r"sidecar-impact ((?:" + "|".join(COMMANDS) + r")\b[^`#|\n]*)")
_TABLE_ROW = re.compile(r"^\| `((?:" + "|".join(COMMANDS) + r") [^`]*)`")
_FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[a-zA-Z])(?![\w-])")


def shown_command_lines() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        text = path.read_text().replace("\\\n", " ")  # shell continuations
        for line in text.splitlines():
            found += [
                (f"{path.relative_to(REPO)}: {m.group(1).strip()}", m.group(1)) for m in _INVOCATION.finditer(line)
            ]
            row = _TABLE_ROW.match(line)
            if row:
                found.append((f"{path.relative_to(REPO)}: {row.group(1)}", row.group(1)))
    return found


LINES = shown_command_lines()


def test_the_docs_show_commands_at_all() -> None:
    shown = {line.split()[0] for _, line in LINES}
    assert {"report", "collect", "sample", "serve"} <= shown


@pytest.mark.parametrize(("where", "line"), LINES, ids=[w for w, _ in LINES])
def test_every_flag_shown_exists(where: str, line: str) -> None:
    sub, _, rest = line.partition(" ")
    known = {opt for param in COMMANDS[sub].params for opt in [*param.opts, *param.secondary_opts]} | {"--help"}
    unknown = [flag for flag in _FLAG.findall(rest) if flag not in known]
    assert unknown == [], f"{where}: {sub} has no {', '.join(unknown)}"


def test_the_option_reference_is_the_commands_own() -> None:
    """docs/cli.md's option reference is what the commands define, option for option, help for help: a
    change to either side alone fails here (regenerate with ``python -m analyzer.cli_reference docs/cli.md``)."""
    page = (REPO / "docs" / "cli.md").read_text()
    assert BEGIN in page and END in page
    assert page == rewritten(page), "docs/cli.md is not the commands: python -m analyzer.cli_reference docs/cli.md"
    reference = option_reference()
    for command in ("report", "merge", "collect", "sample", "serve"):
        assert f"### `sidecar-impact {command}`" in reference
    for flag in ("--format", "--namespace", "--selector", "--connections", "--partition-samples"):
        assert f"{flag} " in reference, flag


def test_the_readme_commands_are_the_ones_ci_runs() -> None:
    """The first block installs and reports (its report run is tests/test_cli.py's default_report); the
    second is exactly .ci/run's command."""
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, re.S)
    assert blocks[0].strip() == "python3 -m pip install -e . && sidecar-impact report"
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert blocks[1].strip() == ci


OUTSIDE = ("domain" + ".md", "../" + "shared")
"""Development notes that live beside the repository, not in it: copy the facts, never the reference."""


def test_nothing_points_outside_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    offenders = []
    for name in tracked:
        if name.endswith((".py", ".md", ".yaml", ".toml", ".ipynb")):
            text = (REPO / name).read_text(errors="replace")
            if any(ref in text for ref in OUTSIDE):
                offenders.append(name)
    assert offenders == []
