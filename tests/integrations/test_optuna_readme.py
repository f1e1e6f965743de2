"""The Optuna example of docs/SERVICE.md (and README.md) runs as printed.

A newcomer copying the README's block got ``TypeError: 'SearchSpace' object is not iterable``
(``space`` and ``train_and_score`` were left undefined, and the env's ``SearchSpace`` was not
taken). The docs now print a complete example; this test runs that exact text.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[2]


def optuna_example(markdown: Path) -> str:
    """The first python block of ``markdown`` that warm-starts a study (``warm_start(study``)."""
    blocks = re.findall(r"```python\n(.*?)```", markdown.read_text(encoding="utf-8"), re.DOTALL)
    found = [b for b in blocks if "warm_start(study" in b]
    if not found:
        pytest.fail(f"{markdown.name} has no python block calling warm_start(study, ...).")
    return str(found[0])


def test_the_docs_example_runs_as_printed(capsys: pytest.CaptureFixture[str]) -> None:
    code = optuna_example(ROOT / "docs" / "SERVICE.md")
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(code, "docs/SERVICE.md", "exec"), namespace)
    study: optuna.Study = namespace["study"]
    assert len(study.trials) == 10
    served = [t for t in study.trials if "tunegym:source" in t.user_attrs]
    assert [t.number for t in served] == list(range(8))  # the served configurations go first
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert study.best_value > 0.8  # breast cancer: an MLP reaches ~0.95 in a few epochs
    assert set(study.best_params) == {"lr", "batch_size"}
    printed = capsys.readouterr().out
    assert str(round(study.best_value, 3)) in printed


def test_the_readme_prints_the_tested_example() -> None:
    """README.md's Optuna block is the docs' one (so it runs as printed too)."""
    assert optuna_example(ROOT / "README.md") == optuna_example(ROOT / "docs" / "SERVICE.md")
