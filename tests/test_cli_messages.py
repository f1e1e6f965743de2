"""What ``tunegym`` says when something is wrong: one plain line, in the command line's words.

A message keeps its brackets (``pip install 'tunegym[lcdb]'``), names ``--target`` rather than
the Python API's ``target=``, names ``tunegym datasets list`` for unknown datasets, and a bad
``--store`` ends in one line on every command that takes one, without a traceback.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import tunegym.metastore
from tunegym._cli_errors import for_cli, print_error, run_cli
from tunegym.cli import app
from tunegym.data import load_dataset
from tunegym.errors import MissingExtraError

runner = CliRunner()


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------------------- plain text


def test_print_error_keeps_brackets_on_one_line() -> None:
    out = io.StringIO()
    console = Console(file=out, width=40)
    message = "the service needs 'fastapi'. Install it with: pip install 'tunegym[service]'"
    print_error(console, message)
    assert out.getvalue() == f"error: {message}\n"  # not read as markup, not wrapped at 40


def test_the_lcdb_hint_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def missing(*args: object, **kwargs: object) -> None:
        raise MissingExtraError("lcdb", "lcdb", "Reading LCDB's learning curves and qualities")

    monkeypatch.setattr(tunegym.metastore, "import_lcdb", missing)
    store = str(tmp_path / "ms.sqlite")
    result = runner.invoke(app, ["metastore", "import", "lcdb", "--store", store])
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result.output)
    assert "[lcdb]'" in line, result.output  # rich took [lcdb] for markup and dropped it


# --------------------------------------------------------------------------- unknown datasets


@pytest.mark.parametrize(
    ("spec", "listing", "near"),
    [
        ("keel:germn", "tunegym datasets list --source keel", "'german'"),
        ("keel:imbalanced/pimma", "tunegym datasets list --source keel", "'pima'"),
        ("sklearn:iriss", "tunegym datasets list --source sklearn", "'iris'"),
        ("germn", "tunegym datasets list`", "'keel:german'"),
        ("foo:bar", "tunegym datasets list`", ""),
    ],
)
def test_an_unknown_dataset_names_the_command_and_the_call(
    spec: str, listing: str, near: str
) -> None:
    with pytest.raises(ValueError, match=r"Unknown|neither") as info:
        load_dataset(spec)
    message = str(info.value)
    assert listing in message
    assert "tunegym.data.list_datasets(" in message
    assert f"Did you mean {near}" in message if near else "Did you mean" not in message


@pytest.mark.parametrize(
    "args",
    [
        ["train", "keel:germn"],
        ["train", "--dataset", "keel:germn"],
        ["datasets", "show", "keel:germn"],
        ["metastore", "neighbors", "keel:germn", "--store", ":memory:"],
    ],
)
def test_the_cli_points_to_datasets_list(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result.output)
    assert "`tunegym datasets list --source keel`" in line
    assert "Did you mean 'german'" in line


def test_datasets_show_of_an_unknown_source() -> None:
    result = runner.invoke(app, ["datasets", "show", "foo:bar"])
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result.output)
    assert "known sources" in line and "`tunegym datasets list`" in line


# --------------------------------------------------------------------------- --target


def test_for_cli_names_the_option() -> None:
    assert for_cli("'my.csv' needs target=: the class column") == (
        "'my.csv' needs --target: the class column"
    )
    assert for_cli("(got target='y').") == "(got --target 'y')."
    assert for_cli("MetaStore(url, retarget=1)") == "MetaStore(url, retarget=1)"


@pytest.fixture
def csv(tmp_path: Path) -> Path:
    path = tmp_path / "my.csv"
    path.write_text("a,b,y\n" + "".join(f"{i},{i % 3},{i % 2}\n" for i in range(40)))
    return path


@pytest.mark.parametrize("how", ["positional", "--data"])
def test_train_without_target_asks_for_the_option(csv: Path, how: str) -> None:
    args = ["train", str(csv)] if how == "positional" else ["train", "--data", str(csv)]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    (line,) = error_lines(result.output)
    assert "needs --target" in line and "target=" not in line, line


def test_datasets_show_of_a_file_asks_for_the_option(csv: Path) -> None:
    result = runner.invoke(app, ["datasets", "show", str(csv)])
    assert result.exit_code == 2, result.output
    assert "needs --target" in result.output and "target=" not in result.output


# --------------------------------------------------------------------------- train's data


@pytest.mark.parametrize(
    "args",
    [
        ["sklearn:iris"],
        ["--dataset", "sklearn:iris"],
    ],
)
def test_train_takes_a_spec_as_argument_or_option(args: list[str]) -> None:
    result = runner.invoke(app, ["train", *args, "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("sklearn:iris: 90 train")


def test_train_takes_a_file_with_data(csv: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(csv), "--target", "y", "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{csv}: 24 train")


@pytest.mark.parametrize(
    "args",
    [
        ["sklearn:iris", "--dataset", "sklearn:wine"],
        ["--dataset", "sklearn:wine", "--data", "x.csv"],
    ],
)
def test_train_takes_one_dataset(args: list[str]) -> None:
    result = runner.invoke(app, ["train", *args])
    assert result.exit_code == 2, result.output
    assert "give one (SPEC, --dataset SPEC or --data FILE)" in result.output


def test_a_resumed_run_refuses_another_dataset(tmp_path: Path) -> None:
    report = str(tmp_path / "r.json")
    done = runner.invoke(app, ["train", "sklearn:iris", "--epochs", "1", "--report", report])
    assert done.exit_code == 0, done.output
    result = runner.invoke(app, ["train", "--resume", report, "--dataset", "sklearn:wine"])
    assert result.exit_code == 2, result.output
    assert "--dataset sklearn:wine differs from the run" in result.output
    same = runner.invoke(app, ["train", "--resume", report, "--dataset", "sklearn:iris"])
    assert same.exit_code == 0, same.output


# --------------------------------------------------------------------------- bad stores


def _bad_stores(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """A bad store of each kind, with what its one line says."""
    (tmp_path / "afile").write_text("not a folder")
    return {
        "url": ("notadb://x", "Invalid meta-store URL"),
        "path": (str(tmp_path / "afile" / "x.sqlite"), "cannot be created"),
        "server": ("postgresql://nouser@127.0.0.1:1/x", "could not open the meta-store"),
    }


COMMANDS = {
    "metastore stats": ["metastore", "stats"],
    "metastore export": ["metastore", "export", "{tmp}/out"],
    "metastore import parquet": ["metastore", "import", "parquet", "{tmp}/out"],
    "metastore neighbors": ["metastore", "neighbors", "sklearn:iris"],
    "zoo list": ["zoo", "list"],
    "train": ["train", "sklearn:iris", "--epochs", "1"],
    "collect": ["collect", "--datasets", "sklearn:iris", "--max-epochs", "1", "--seeds", "0"],
    "serve": ["serve", "--port", "0"],
}


@pytest.mark.parametrize("kind", ["url", "path", "server"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_store_is_one_line(
    command: str,
    kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "80")
    store, says = _bad_stores(tmp_path)[kind]
    args = [a.replace("{tmp}", str(tmp_path)) for a in COMMANDS[command]]
    with pytest.raises(SystemExit) as exit_:
        # What the console script runs: run_cli turns tunegym's errors into one line.
        run_cli(lambda: app([*args, "--store", store], prog_name="tunegym"))
    assert exit_.value.code not in (0, None)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = error_lines(err)
    assert says in line, err
    assert err.splitlines()[-1] == line, err  # not wrapped at 80 columns: the last line
