"""The README's code runs as printed.

Fast checks: every Python block defines every name it uses (no `X_raw` from nowhere), every
`tunegym` command line parses with the CLI as it is today (no stale option), and the ten-line
example runs and scores. The slow test runs every block, as `experiments/check_readme.py` does.
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import typer

from tunegym.cli import app

ROOT = Path(__file__).resolve().parent.parent


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_readme", ROOT / "experiments" / "check_readme.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_readme"] = module
    spec.loader.exec_module(module)
    return module


check = _checker()
BLOCKS = check.blocks()
PYTHON = [b for b in BLOCKS if b.lang == "python"]
COMMANDS = [
    (line, part.strip())
    for b in BLOCKS
    if b.lang == "bash"
    for line, command in check.command_lines(b)
    for part in command.split("&&")
    if part.strip().startswith("tunegym ")
]


def test_the_readme_has_blocks_to_check() -> None:
    assert len(PYTHON) >= 5
    assert len(COMMANDS) >= 30


@pytest.mark.parametrize("block", PYTHON, ids=lambda b: f"line{b.line}")
def test_python_block_defines_every_name_it_uses(block: object, tmp_path: Path) -> None:
    """Each block runs on its own: pyflakes' undefined-name check (ruff F821) over it."""
    script = tmp_path / "block.py"
    script.write_text(block.text)  # type: ignore[attr-defined]
    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run(
        [str(ruff), "check", "--no-cache", "--isolated", "--select", "F821,E9", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout


def _parse(args: list[str]) -> None:
    """Parse a command line with the `tunegym` CLI without running it (click raises on error)."""
    command = typer.main.get_command(app)  # typer's own click: duck-typed, not imported
    name = "tunegym"
    while True:
        ctx = command.make_context(name, list(args), resilient_parsing=False)
        if not hasattr(command, "resolve_command"):
            return
        rest = [*getattr(ctx, "_protected_args", ()), *ctx.args]  # typer 0.29: underscored
        if not rest:
            return
        name, sub, args = command.resolve_command(ctx, rest)
        assert sub is not None, f"no command {name!r}"
        command = sub


@pytest.mark.parametrize(("line", "command"), COMMANDS, ids=[f"line{n}" for n, _ in COMMANDS])
def test_command_line_parses(line: int, command: str) -> None:
    args = shlex.split(command)[1:]
    try:
        _parse(args)
    except typer.Exit:  # --help, --version
        pass
    except Exception as exc:  # a usage error (typer's click), with its message
        message = exc.format_message() if hasattr(exc, "format_message") else repr(exc)
        pytest.fail(f"README line {line}: {command!r}: {message}")


def _ten_lines() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Tune in ten lines") :]
    return next(b for b in PYTHON if b.text in section).text


def test_the_ten_line_example_is_ten_lines_and_runs(tmp_path: Path) -> None:
    example = _ten_lines()
    assert len(example.strip().splitlines()) <= 11
    script = tmp_path / "example.py"
    script.write_text(example + "print('PNG', __import__('os').path.getsize('tuning.png'))\n")
    done = subprocess.run(
        [sys.executable, script.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    accuracy = float(lines[-2])
    assert 0.85 <= accuracy <= 1.0  # breast_cancer's held-out rows
    assert int(lines[-1].split()[1]) > 10_000


@pytest.mark.slow
def test_every_python_block_runs_as_printed() -> None:
    assert check.main(["--only", "python", "--timeout", "600"]) == 0


def test_every_link_and_picture_of_the_readme_exists() -> None:
    """Relative links and images point at files of the repo; the README shows a picture early."""
    import re

    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not t.startswith(("http://", "https://", "mailto:"))]
    missing = [t for t in local if not (ROOT / t).exists()]  # a clone has nothing beside it
    assert not missing, missing
    first_picture = text.index("![")
    assert first_picture < text.index("## Python API")  # a picture before the reference
    assert "docs/figures/readme_tuning.png" in text


def test_the_license_file_matches_the_package_metadata() -> None:
    import tomllib

    license_ = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    name = license_ if isinstance(license_, str) else license_.get("text", "")
    assert name == "BSD-3-Clause"
    assert "Redistribution and use in source and binary forms" in (ROOT / "LICENSE").read_text()
