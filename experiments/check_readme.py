"""Run the README's code blocks as printed and say which pass, in how long.

Every ```python block runs whole in a fresh interpreter; every command line of a ```bash block
runs in a shell, except the ones listed in `SKIPPED` with the reason (hours-long benchmarks,
servers that never return, cluster set-up, the network). All run in one scratch folder, in block
order, so that a file one block writes (``report.json``, ``r.json``) is there for the next, and
with the placeholders the README names (``my.csv``, ``may.csv``, ``june.csv``,
``my_benchmark.csv``) made first from bundled data. Commands find ``tunegym`` and ``python``
in the repo's ``.venv``; ``HOME`` is an empty folder, as on a new machine.

    .venv/bin/python experiments/check_readme.py                # every block, a table at the end
    .venv/bin/python experiments/check_readme.py --only python  # the Python blocks
    .venv/bin/python experiments/check_readme.py --list         # what would run, and what not

Exit status 1 if any block fails. ``tests/test_readme.py`` checks the blocks statically (names
defined, every command's options known) in the fast suite and runs them with this script behind
the ``slow`` marker.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

# Command lines not run, by their first words, and why.
SKIPPED: dict[str, str] = {
    "make": "make targets: make run and make test are timed on a fresh clone (the set-up times)",
    "python3 -m venv": "set-up without make: what make setup does",
    "pip install": "set-up without make: what make setup does",
    "tunegym bench --suite lcbench --ray-address": "a Ray cluster",
    "tunegym bench --suite lcbench": "the full benchmark: 20 min on 2 cores",
    "tunegym bench --suite own": "the full benchmark: 15 min on 2 cores",
    "tunegym bench --suite my_curves.csv": "needs the user's curve table and split",
    "tunegym collect --datasets all": "every bundled dataset: 11 min on 2 cores",
    "tunegym collect --space lcbench --n-configs 100 --datasets all": "a Ray cluster, PostgreSQL",
    "tunegym collect --space lcbench": "meta-dataset v2's recipe: 1 h 35 min on 2 cores",
    "tunegym metastore import openml": "OpenML's server (unreachable offline; tests replay it)",
    "tunegym serve": "a server that runs until stopped (tests/test_cli_serve.py runs it)",
    "curl": "needs `tunegym serve` running (tests/test_cli_serve.py)",
    "ray start": "starts a Ray cluster's node",
    "tunegym metastore import lcdb": "the lcdb extra, which make setup does not install",
}


@dataclass(frozen=True)
class Block:
    """One fenced block of the README: its language, first line number and text."""

    lang: str
    line: int
    text: str


@dataclass(frozen=True)
class Outcome:
    """How one block (or command line) ran."""

    what: str
    status: str  # "pass", "FAIL" or "skip"
    seconds: float
    detail: str = ""


def blocks(path: Path = README) -> list[Block]:
    """The fenced code blocks of a Markdown file, in order."""
    out, lang, start, lines = [], None, 0, []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence and lang is None:
            lang, start, lines = fence.group(1) or "text", number + 1, []
        elif line.startswith("```") and lang is not None:
            out.append(Block(lang, start, "\n".join(lines) + "\n"))
            lang = None
        elif lang is not None:
            lines.append(line)
    return out


def command_lines(block: Block) -> list[tuple[int, str]]:
    """A bash block's commands, one per logical line (comments and continuations handled)."""
    out: list[tuple[int, str]] = []
    pending, first = "", 0
    for offset, raw in enumerate(block.text.splitlines()):
        line = raw.rstrip()
        if not pending:
            first = block.line + offset
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        if not _complete(line):  # a quoted string goes on over the next line
            pending = line + "\n"
            continue
        pending = ""
        command = _strip_comment(line).strip()
        if command:
            out.append((first, command))
    return out


def skip_reason(command: str) -> str | None:
    """Why a command line is not run, or None to run it."""
    for prefix, reason in SKIPPED.items():
        if command.startswith(prefix):
            return reason
    return None


def _complete(line: str) -> bool:
    """Whether every quote the line opens is closed."""
    try:
        shlex.split(line, comments=True)
    except ValueError:
        return False
    return True


def _strip_comment(line: str) -> str:
    """The line without its trailing ``# comment`` (a ``#`` inside quotes stays)."""
    quote = None
    for i, char in enumerate(line):
        if char in "'\"" and quote in (None, char):
            quote = None if quote == char else char
        elif char == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def make_placeholders(folder: Path) -> None:
    """The user files the README's commands name, made from bundled data: tables of wine
    (``my.csv``; ``may.csv`` and ``june.csv``, its halves) and a curve table
    (``my_benchmark.csv``: meta-dataset v2's curves of keel:german)."""
    from sklearn.datasets import load_wine

    from tunegym.metastore import LCBENCH_SNAPSHOT_DIR, load_snapshot

    curves = load_snapshot(["keel:german"], path=LCBENCH_SNAPSHOT_DIR)
    curves.to_csv(folder / "my_benchmark.csv", index=False)

    frame = load_wine(as_frame=True).frame.rename(columns={"target": "label"})
    frame.to_csv(folder / "my.csv", index=False)
    months = frame.rename(columns={"label": "y"}).sample(frac=1.0, random_state=0)
    months.iloc[: len(months) // 2].to_csv(folder / "may.csv", index=False)
    months.iloc[len(months) // 2 :].to_csv(folder / "june.csv", index=False)


def _environment(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{ROOT / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["HOME"] = str(home)
    env.pop("TUNEGYM_METASTORE", None)
    env["COLUMNS"] = "100"
    return env


def run_block(block: Block, folder: Path, env: dict[str, str], timeout: float) -> list[Outcome]:
    """Run a block in ``folder``: a Python block whole, a bash block line by line."""
    if block.lang == "python":
        script = folder / f"readme_block_{block.line}.py"
        script.write_text(block.text)
        return [_run([str(ROOT / ".venv/bin/python"), script.name], f"python block at line {block.line}",
                     folder, env, timeout)]  # fmt: skip
    out = []
    for line, command in command_lines(block):
        what = f"line {line}: {command}"
        reason = skip_reason(command)
        if reason is not None:
            out.append(Outcome(what, "skip", 0.0, reason))
        else:
            out.append(_run(["bash", "-c", command], what, folder, env, timeout))
    return out


def _run(argv: list[str], what: str, folder: Path, env: dict[str, str], timeout: float) -> Outcome:
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip
    except subprocess.TimeoutExpired:
        return Outcome(what, "FAIL", time.perf_counter() - started, f"timed out after {timeout} s")
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-12:]
        return Outcome(what, "FAIL", seconds, "\n".join(tail))
    return Outcome(what, "pass", seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["python", "bash"], help="Only blocks of this language.")
    parser.add_argument("--list", action="store_true", help="Say what would run, run nothing.")
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds per block or line.")
    parser.add_argument("--keep", type=Path, help="Run in this folder and keep it.")
    args = parser.parse_args(argv)
    chosen = [b for b in blocks() if b.lang in ("python", "bash") and args.only in (None, b.lang)]
    if args.list:
        for block in chosen:
            items = [(block.line, "")] if block.lang == "python" else command_lines(block)
            for line, command in items:
                reason = skip_reason(command) if command else None
                print(f"{block.lang:6} line {line:4}  {'skip: ' + reason if reason else 'run'}"
                      f"  {command}")  # fmt: skip
        return 0
    with tempfile.TemporaryDirectory(prefix="tunegym-readme-") as scratch:
        folder = args.keep or Path(scratch) / "work"
        folder.mkdir(parents=True, exist_ok=True)
        home = Path(scratch) / "home"
        home.mkdir()
        make_placeholders(folder)
        env = _environment(home)
        outcomes: list[Outcome] = []
        for block in chosen:
            for outcome in run_block(block, folder, env, args.timeout):
                outcomes.append(outcome)
                print(f"{outcome.status:4} {outcome.seconds:7.1f} s  {outcome.what}", flush=True)
                if outcome.status == "FAIL":
                    print("     " + outcome.detail.replace("\n", "\n     "), flush=True)
    ran = [o for o in outcomes if o.status != "skip"]
    failed = [o for o in ran if o.status == "FAIL"]
    print(f"\n{len(ran) - len(failed)} of {len(ran)} ran as printed "
          f"({sum(o.seconds for o in ran):.0f} s); {len(outcomes) - len(ran)} skipped "
          f"(see --list for why); {len(failed)} failed.")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
