"""Install hints name a command that can work: tunegym is installed from its source."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest

import tunegym
from tunegym.errors import MissingExtraError, install_command

ROOT = Path(tunegym.__file__).resolve().parent.parent
EXTRAS = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _extras_named_in_package() -> set[str]:
    """Every extra a `MissingExtraError(package, extra, ...)` in the package names."""
    pattern = re.compile(r"MissingExtraError\(\s*[^,]+,\s*\"([a-z-]+)\"")
    found: set[str] = set()
    for path in (ROOT / "tunegym").rglob("*.py"):
        found.update(pattern.findall(path.read_text()))
    return found


def test_every_extra_a_hint_names_exists() -> None:
    named = _extras_named_in_package()
    assert named >= {"service", "openml", "lcbench", "ray"}
    assert named <= set(EXTRAS), (
        f"extras named in hints but not in pyproject: {named - set(EXTRAS)}"
    )


@pytest.mark.parametrize("extra", ["service", "lcdb", "ray"])
def test_hint_installs_this_clone_editable(extra: str) -> None:
    words = shlex.split(install_command(extra))
    assert words[:3] == ["pip", "install", "-e"]
    folder, _, rest = words[3].partition("[")
    assert rest == f"{extra}]"
    assert (Path(folder) / "pyproject.toml").is_file()


def test_missing_extra_message_has_the_command() -> None:
    message = str(MissingExtraError("lcdb", "lcdb", "Reading LCDB"))
    assert install_command("lcdb") in message
    assert "pip install 'tunegym[" not in message


def test_docs_do_not_ask_for_a_pypi_install() -> None:
    """The README and docs install extras from the clone (`pip install -e '.[x]'`)."""
    offenders = [
        f"{path.relative_to(ROOT)}: {line.strip()}"
        for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
        for line in path.read_text().splitlines()
        if re.search(r"pip install ['\"]?tunegym\[", line)
    ]
    assert not offenders, "\n".join(offenders)
