"""``tunegym bench`` writes into runs/bench/SUITE/ unless --publish; a quick run is never published."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.bench.test_v2 import toy_table
from tunegym.cli import app

WIDE = {"COLUMNS": "400"}  # the error panel unwrapped


def _fake_docs(root: Path) -> dict[str, str]:
    """A published docs/ tree as a repo checkout has it; returns each file's text."""
    files = {
        "docs/BENCHMARKS.md": "# Benchmarks (protocol v2)\n\nthe published table\n",
        "docs/benchmarks/v2/lcbench_run.json": '{"command": "tunegym bench --suite lcbench"}',
        "docs/figures/bench2_lcbench_meta-test_1000_curves.png": "png",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return files


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch current folder with a docs/ tree and a two-task curve table, mine.csv."""
    _fake_docs(tmp_path)
    toy_table(n_configs=12, datasets=2).to_csv(tmp_path / "mine.csv", index=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_quick_run_writes_the_scratch_folder_and_leaves_docs_alone(repo: Path) -> None:
    docs = _tree(repo / "docs")
    args = ["bench", "--suite", "mine.csv", "--quick", "--peer", "random", "--peer", "hyperband",
            "--workers", "1"]  # fmt: skip
    result = CliRunner().invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    assert _tree(repo / "docs") == docs
    scratch = repo / "runs" / "bench" / "mine"
    assert (scratch / "mine_results.csv.gz").is_file()
    report = (scratch / "BENCHMARKS.md").read_text()
    assert "## Suite `mine`" in report
    assert "Results: `runs/bench/mine/mine_results.csv.gz`" in report  # not docs/benchmarks/v2
    assert len(list((scratch / "figures").glob("bench2_mine_*.png"))) == 2
    assert "](figures/bench2_mine_" in report  # the figures' links work from the report
    assert "runs/bench/mine" in result.output and "--publish" in result.output
    # --report-only rereads the scratch folder, and says where else to look when it is empty.
    (scratch / "BENCHMARKS.md").unlink()
    again = CliRunner().invoke(app, ["bench", "--suite", "mine.csv", "--report-only"], env=WIDE)
    assert again.exit_code == 0, again.output
    assert "## Suite `mine`" in (scratch / "BENCHMARKS.md").read_text()
    published = CliRunner().invoke(app, ["bench", "--suite", "mine.csv", "--report-only",
                                         "--publish"], env=WIDE)  # fmt: skip
    assert published.exit_code == 2
    assert "No results of suite 'mine.csv' at docs/benchmarks/v2" in published.output
    assert "Traceback" not in published.output and _tree(repo / "docs") == docs


def test_publish_writes_the_docs_and_report_only_rereads_them(repo: Path) -> None:
    args = ["bench", "--suite", "mine.csv", "--peer", "random", "--peer", "hyperband",
            "--seeds", "2", "--workers", "1", "--publish"]  # fmt: skip
    result = CliRunner().invoke(app, args, env=WIDE)
    assert result.exit_code == 0, result.output
    doc = (repo / "docs" / "BENCHMARKS.md").read_text()
    assert "## Suite `mine`" in doc and "--publish" in doc.splitlines()[2]
    assert "Results: `docs/benchmarks/v2/mine_results.csv.gz`" in doc
    assert (repo / "docs" / "benchmarks" / "v2" / "mine_results.csv.gz").is_file()
    assert list((repo / "docs" / "figures").glob("bench2_mine_*.png"))
    assert not (repo / "runs").exists()
    (repo / "docs" / "BENCHMARKS.md").write_text("# Benchmarks (protocol v2)\n\nlost\n")
    again = CliRunner().invoke(app, ["bench", "--suite", "mine.csv", "--report-only",
                                     "--publish"], env=WIDE)  # fmt: skip
    assert again.exit_code == 0, again.output
    assert "## Suite `mine`" in (repo / "docs" / "BENCHMARKS.md").read_text()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--publish"], "A --quick run is never published"),
        (["--suite", "v1", "--publish"], "A --quick run is never published"),
        (["--doc", "docs/BENCHMARKS.md"], "would overwrite the published docs/BENCHMARKS.md"),
        (["--out", "docs/benchmarks/v2"], "would overwrite the published docs/benchmarks/v2"),
    ],
)
def test_a_quick_run_is_refused_where_it_would_be_published(
    repo: Path, extra: list[str], message: str
) -> None:
    docs = _tree(repo / "docs")
    args = ["bench", "--suite", "mine.csv", "--quick", "--peer", "random", "--workers", "1", *extra]
    result = CliRunner().invoke(app, args, env=WIDE)
    assert result.exit_code == 2
    assert message in result.output
    assert _tree(repo / "docs") == docs and not (repo / "runs").exists()


def test_where_each_suite_writes() -> None:
    from tunegym._bench_cli import _destination

    def where(suite: str, publish: bool, **explicit: str) -> tuple[str, str, str]:
        paths = {"out": None, "doc": None, "figures": None, **explicit}
        d = _destination(suite, publish=publish, quick=False, **paths)
        return d.out, d.doc, d.figures

    assert where("v1", False) == (
        "runs/bench/v1", "runs/bench/v1/BENCHMARKS_V1.md", "runs/bench/v1/figures"
    )  # fmt: skip
    assert where("v1", True) == ("docs/benchmarks", "docs/BENCHMARKS_V1.md", "docs/figures")
    assert where("own", True) == ("docs/benchmarks/v2", "docs/BENCHMARKS.md", "docs/figures")
    assert where("data/my.csv", False)[0] == "runs/bench/my"
    assert where("own", False, doc="", figures="/tmp/f") == ("runs/bench/own", "", "/tmp/f")


def test_the_v1_script_writes_a_quick_run_to_scratch(monkeypatch: pytest.MonkeyPatch) -> None:
    """experiments/benchmark.py --quick writes under runs/bench/v1-quick/, never docs/."""
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "experiments" / "benchmark.py"
    spec = importlib.util.spec_from_file_location("v1_benchmark_script", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    seen = []
    monkeypatch.setattr(script, "regenerate", lambda args, command, data: seen.append(args))
    script.run(script.parse_args(["--quick"]))
    script.run(script.parse_args([]))
    quick, published = seen
    assert (quick.out, quick.figures, quick.doc) == (
        "runs/bench/v1-quick",
        "runs/bench/v1-quick/figures",
        "runs/bench/v1-quick/BENCHMARKS_V1.md",
    )
    assert (published.out, published.doc) == ("docs/benchmarks", "docs/BENCHMARKS_V1.md")
