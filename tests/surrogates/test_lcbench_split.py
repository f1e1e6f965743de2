"""The LCBench suite's task split: the file in the repo, families shared with the meta-datasets."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tunegym.metastore import read_split, snapshot_split
from tunegym.surrogates import LCBench

EXPERIMENTS = Path(__file__).parents[2] / "experiments"


@pytest.fixture
def split_script(monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("lcbench_split", EXPERIMENTS / "lcbench_split.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_the_file_is_what_the_script_writes(split_script, bench: LCBench, tmp_path: Path) -> None:
    written = split_script.run(split_script.Args(out=str(tmp_path / "split.json")))
    shipped = read_split(split_script.SPLIT_FILE)
    assert shipped.equals(written)
    assert sorted(shipped["dataset"]) == sorted(f"lcbench:{n}" for n in bench.task_names.values())
    assert shipped["part"].value_counts().to_dict() == {
        "meta-train": 24,
        "meta-val": 5,
        "meta-test": 5,
    }


def test_tables_we_already_have_keep_their_familys_part(split_script) -> None:
    shipped = read_split(split_script.SPLIT_FILE).set_index("dataset")
    v1 = snapshot_split().drop_duplicates("family").set_index("family")["part"]
    shared = {
        "lcbench:credit-g": "german",
        "lcbench:kr-vs-kp": "chess",
        "lcbench:Australian": "credit-approval",
        "lcbench:car": "car",
        "lcbench:phoneme": "phoneme",
        "lcbench:segment": "segment",
        "lcbench:shuttle": "shuttle",
        "lcbench:vehicle": "vehicle",
    }
    for task, family in shared.items():
        assert shipped.loc[task, "family"] == family
        assert shipped.loc[task, "part"] == v1[family]
    # KDD Cup 2009 (CRM) is not KEEL's KDD Cup 1999 (intrusions), whatever the name says.
    assert shipped.loc["lcbench:KDDCup09_appetency", "family"] == "kddcup09"
