"""Every ``--help`` reads well at 80 columns: re-wrapped paragraphs, a wide help column."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from tunegym.cli import app

runner = CliRunner()
OPTION_LINE = re.compile(r"^  (-\S.*?)\s{2,}(\S.*)$")


def command_paths() -> list[list[str]]:
    root = typer.main.get_command(app)
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():  # typer's groups
            walk(sub, [*path, name])

    walk(root, [])
    return paths


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "tunegym")
def test_help_is_readable_at_80_columns(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"], terminal_width=80, env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80, result.output
    assert not any("│" in line or "╭" in line for line in lines)  # no boxes eating the width
    for line in lines:
        match = OPTION_LINE.match(line)
        if match:  # the description starts early enough to leave it 40+ columns
            assert line.index(match.group(2)) <= 40, line
    # a paragraph is re-wrapped to the width, never cut where its source line ended
    end = next(i for i, line in enumerate(lines) if line.endswith(":") and line[0] != " ")
    for paragraph in "\n".join(lines[1:end]).split("\n\n"):
        body = [line for line in paragraph.splitlines() if line.strip()]
        assert all(len(line.split()) > 1 for line in body[:-1]), result.output
