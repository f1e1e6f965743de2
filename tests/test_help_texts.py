"""Every command's ``--help`` in conventional words: click's metavars, files that exist.

typer writes an option's value as ``<int>``, ``<list[str]>``; tunegym shows ``INTEGER``,
``STORE``, ``SPEC`` as click does, and a file a help text cites is one of the repository's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tunegym.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]
# A cited Markdown file: docs/AGENT.md, BENCHMARK_PROTOCOL.md.
CITED_MD = re.compile(r"[\w./-]*\w\.md\b")
# typer's own metavars: <int>, <str>, <bool>, <list[str]>, <path>, <lr-bs|lcbench>.
TYPER_METAVAR = re.compile(r"<(?:int|float|str|bool|path|list\[|[\w-]+\|)")


def command_paths() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        paths.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


def help_text(path: list[str]) -> str:
    result = runner.invoke(app, [*path, "--help"], terminal_width=100, env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    return result.output


def cited_files(text: str) -> list[str]:
    """The Markdown files ``text`` cites, less those it writes (a path with a placeholder
    folder, ``runs/bench/SUITE/BENCHMARKS.md``)."""
    flat = " ".join(text.split())
    return [
        name
        for name in CITED_MD.findall(flat)
        if not any(part.isupper() for part in name.split("/")[:-1])
    ]


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "tunegym")
def test_help_reads_conventionally(path: list[str]) -> None:
    text = help_text(path)
    assert not TYPER_METAVAR.search(text), text
    assert max(len(line) for line in text.splitlines()) <= 100, text
    missing = [name for name in cited_files(text) if not (REPO / name).is_file()]
    assert not missing, f"--help cites files the repository lacks: {missing}\n{text}"


def test_metavars_say_what_to_give() -> None:
    text = help_text(["train"])
    assert "Usage: tunegym train [OPTIONS] [SPEC]" in text
    for shown in ("--store STORE", "--dataset SPEC", "--data FILE", "--target COLUMN",
                  "--epochs INTEGER", "--lr FLOAT", "--report PATH", "--device TEXT"):  # fmt: skip
        assert shown in text
    assert re.search(r"^  SPEC  ", text, re.MULTILINE), text  # the argument, without <str>
    collect = help_text(["collect"])
    assert "--space [lr-bs|lcbench]" in collect
    assert "--meta-features / --no-meta-features" in collect  # a bool is a flag pair
    assert "Usage: tunegym metastore export [OPTIONS] DIRECTORY" in help_text(
        ["metastore", "export"]
    )


def test_cited_files_are_found() -> None:
    text = "see docs/AGENT.md and\nBENCHMARK_PROTOCOL.md; writes runs/bench/SUITE/BENCHMARKS.md"
    assert cited_files(text) == ["docs/AGENT.md", "BENCHMARK_PROTOCOL.md"]
