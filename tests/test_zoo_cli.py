"""`tunegym zoo`: list, show, add, export and remove models of the zoo, with their errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from tunegym.cli import app
from tunegym.metastore import MetaStore, read_zoo_file, save_zoo_file

runner = CliRunner()


def weights(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 3)).state_dict()


META = {
    "dataset": "sklearn:iris",
    "schema": "iris-v1",
    "feature_names": ["a", "b", "c", "d"],
    "feature_names_out": ["a", "b", "c", "d"],
    "class_names": ["x", "y", "z"],
    "spec": {"hidden": [8]},
    "config": {"lr": 0.01},
    "scores": {"val_accuracy": 0.75},
    "epochs": 4,
}


def zoo(*args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["zoo", *map(str, args)])
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.output.split())  # rich wraps at 80 columns


@pytest.fixture
def store(tmp_path: Path) -> str:
    """A store file holding one model, ``m1``."""
    path = str(tmp_path / "zoo.sqlite")
    with MetaStore(path) as opened:
        opened.zoo_add(weights(0), **META, name="m1", note="from a test")
    return path


def test_list_and_filters(store: str) -> None:
    code, output = zoo("list", "--store", store)
    assert code == 0, output
    assert "m1" in output and "0.7500" in output and "lr=0.01" in output
    code, output = zoo("list", "--schema", "other", "--store", store)
    assert code == 0 and "no zoo models" in output
    code, output = zoo("list", "--dataset", "sklearn:iris", "--store", store)
    assert code == 0 and "m1" in output
    code, output = zoo("list", "--dataset", "sklearn:irsi", "--store", store)
    assert code == 2 and "Did you mean 'sklearn:iris'" in output


def test_show_prints_every_field_and_the_layer_shapes(store: str) -> None:
    code, output = zoo("show", "m1", "--store", store)
    assert code == 0, output
    for text in ("iris-v1", "from a test", '"val_accuracy": 0.75', "0.weight", "8x4", "float32"):
        assert text in output
    code, output = zoo("show", "m11", "--store", store)
    assert code == 2 and "Did you mean 'm1'" in output and "tunegym zoo list" in output


def test_export_then_add_round_trips(store: str, tmp_path: Path) -> None:
    code, output = zoo("export", "m1", tmp_path / "out" / "m1", "--store", store)
    assert code == 0, output
    read = read_zoo_file(tmp_path / "out" / "m1.json")
    assert read.name == "m1" and read.epochs == 4
    other = str(tmp_path / "other.sqlite")
    code, output = zoo("add", tmp_path / "out" / "m1.pt", "--store", other)
    assert code == 0 and "added m1" in output, output
    code, output = zoo("add", tmp_path / "out" / "m1", "--store", other)
    assert code == 0 and "already in the zoo: m1" in output, output
    with MetaStore(store) as a, MetaStore(other) as b:
        assert a.zoo_get("m1").sha256 == b.zoo_get("m1").sha256
        assert a.zoo_get("m1").config == b.zoo_get("m1").config
    code, output = zoo("export", "1", tmp_path / "out" / "m1", "--store", store)
    assert code == 2 and "exists; pass --force" in output
    code, output = zoo("export", "1", tmp_path / "out", "--force", "--store", store)
    assert code == 0 and "m1.pt" in output, output


def test_add_with_another_dataset_and_name_then_remove(tmp_path: Path) -> None:
    save_zoo_file(tmp_path / "model", weights(1), META)
    store = str(tmp_path / "s.sqlite")
    args = ("add", tmp_path / "model", "--dataset", "wine", "--name", "w1", "--store", store)
    code, output = zoo(*args)
    assert code == 0 and "added w1" in output and "trained on wine" in output, output
    code, output = zoo("add", tmp_path / "model", "--name", "w1", "--store", store)
    assert code == 2 and "tunegym zoo show w1" in output
    code, output = zoo("remove", "w1", "--store", store)
    assert code == 0 and "removed w1" in output
    assert zoo("list", "--store", store)[1].startswith("no zoo models")


@pytest.mark.parametrize(
    ("json_text", "pt_text", "message"),
    [
        (None, None, "No zoo file"),
        ("{not json", None, "is not valid JSON"),
        ('{"format": "x"}', None, "is not a tunegym zoo file"),
        (None, "garbage", "is not a torch state dict"),
    ],
)
def test_add_errors_are_one_line_naming_the_file(
    tmp_path: Path, json_text: str | None, pt_text: str | None, message: str
) -> None:
    stem = tmp_path / "bad"
    if json_text is not None or pt_text is not None:
        save_zoo_file(stem, weights(0), META)
    if json_text is not None:
        (tmp_path / "bad.json").write_text(json_text)
    if pt_text is not None:
        (tmp_path / "bad.pt").write_text(pt_text)
    code, output = zoo("add", stem, "--store", str(tmp_path / "s.sqlite"))
    assert code == 2 and message in output and "bad." in output, output
    assert output.startswith("error: ")


def test_a_file_with_non_tensor_weights_is_refused(tmp_path: Path) -> None:
    save_zoo_file(tmp_path / "m", weights(0), META)
    torch.save({"0.weight": [1.0, 2.0]}, tmp_path / "m.pt")
    code, output = zoo("add", tmp_path / "m.json", "--store", str(tmp_path / "s.sqlite"))
    assert code == 2 and "must map str names to tensors" in output, output
    meta = json.loads((tmp_path / "m.json").read_text())
    assert meta["format"] == "tunegym.zoo-model"
