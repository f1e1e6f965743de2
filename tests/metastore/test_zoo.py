"""The model zoo: trained networks and their weights in the meta-store, and zoo files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import torch
from alembic import command

from tunegym.data import TabularDataset
from tunegym.metastore import (
    MetaStore,
    ZooEntry,
    ZooModelNotFoundError,
    read_zoo_file,
    save_zoo_file,
)
from tunegym.metastore._engine import alembic_config
from tunegym.metastore._zoo import weights_from_bytes, weights_to_bytes
from tunegym.training import MLPSpec, TrainConfig, spec_to_dict


def weights(seed: int = 0, inputs: int = 4, classes: int = 3) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(inputs, 8), torch.nn.ReLU(), torch.nn.Linear(8, classes)
    )
    return net.state_dict()


def meta(**changes: Any) -> dict[str, Any]:
    """The keyword arguments of `MetaStore.zoo_add` for a small iris model."""
    return {
        "dataset": "sklearn:iris",
        "schema": "iris-v1",
        "feature_names": ["a", "b", "c", "d"],
        "feature_names_out": ["a", "b", "c", "d"],
        "class_names": ["setosa", "versicolor", "virginica"],
        "spec": {"depth": 1, "width": 8},
        "config": {"lr": 0.01, "batch_size": 16},
        "scores": {"val_accuracy": 0.9, "test_accuracy": 0.85},
        "epochs": 3,
        **changes,
    }


def saved(obj: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)


class TestZooContract:
    """Every store URL keeps the zoo alike (the `store` fixture runs over all of them)."""

    def test_add_get_list_and_weights_round_trip(self, store: MetaStore) -> None:
        first = store.zoo_add(weights(0), **meta(note="first"))
        second = store.zoo_add(weights(1, inputs=5), **meta(dataset="wine", schema="wine-v1"))
        assert isinstance(first, ZooEntry)
        assert first.dataset == "sklearn:iris" and second.dataset == "wine"
        assert first.name == f"sklearn-iris-{first.sha256[:8]}"
        assert first.sha256 == hashlib.sha256(weights_to_bytes(weights(0))).hexdigest()
        assert first.n_parameters == 4 * 8 + 8 + 8 * 3 + 3
        assert first.feature_names_out == ("a", "b", "c", "d") and first.note == "first"
        assert first.scores == {"val_accuracy": 0.9, "test_accuracy": 0.85}
        assert first.created.tzinfo is not None
        assert store.zoo_get(first.name) == store.zoo_get(first.id) == first
        assert store.zoo_get(str(second.id)) == second  # digits that are no name: an id
        assert store.zoo_models() == [second, first]  # newest first
        assert store.zoo_models(schema="iris-v1") == [first]
        assert store.zoo_models(dataset="wine") == [second]
        assert store.zoo_models(schema="wine-v1", dataset="sklearn:iris") == []
        assert_same_weights(store.zoo_weights(first.name), weights(0))
        assert_same_weights(store.zoo_weights(second), weights(1, inputs=5))

    def test_the_same_weights_of_a_dataset_are_stored_once(self, store: MetaStore) -> None:
        first = store.zoo_add(weights(0), **meta())
        again = store.zoo_add(weights(0), **meta(name="another-name", note="ignored"))
        assert again == first
        elsewhere = store.zoo_add(weights(0), **meta(dataset="other"))
        assert elsewhere.id != first.id and elsewhere.sha256 == first.sha256
        assert len(store.zoo_models()) == 2

    def test_a_taken_name_is_refused(self, store: MetaStore) -> None:
        store.zoo_add(weights(0), **meta(name="best"))
        with pytest.raises(ValueError, match="tunegym zoo show best"):
            store.zoo_add(weights(1), **meta(name="best"))

    def test_tampered_weights_are_detected(self, store: MetaStore) -> None:
        entry = store.zoo_add(weights(0), **meta(name="iris-mlp"))
        tampered = weights_to_bytes({k: v + 1 for k, v in weights(0).items()})
        with store.engine.begin() as connection:
            connection.execute(
                sa.text("UPDATE zoo_model SET weights = :w WHERE id = :id"),
                {"w": tampered, "id": entry.id},
            )
        with pytest.raises(ValueError, match=r"zoo model 'iris-mlp'.*corrupt"):
            store.zoo_weights("iris-mlp")

    def test_the_run_it_came_from(self, store: MetaStore) -> None:
        dataset = store.get_or_create_dataset("iris", spec="sklearn:iris")
        flow = store.get_or_create_flow("f")
        run = store.add_run(
            store.get_or_create_task(dataset), store.get_or_create_setup(flow, {"lr": 0.1}), 0, "ok"
        )
        entry = store.zoo_add(weights(0), **meta(run_id=run))
        assert (entry.run_id, entry.dataset_id) == (run, dataset.id)
        with pytest.raises(ValueError, match="No run 999"):
            store.zoo_add(weights(1), **meta(run_id=999))

    def test_remove(self, store: MetaStore) -> None:
        entry = store.zoo_add(weights(0), **meta())
        assert store.zoo_remove(entry.name) == entry
        assert store.zoo_models() == []
        with pytest.raises(ZooModelNotFoundError):
            store.zoo_get(entry.id)

    def test_export_and_import_carry_the_zoo(self, store: MetaStore, tmp_path: Path) -> None:
        dataset = store.get_or_create_dataset("iris", spec="sklearn:iris")
        flow = store.get_or_create_flow("f")
        task, setup = store.get_or_create_task(dataset), store.get_or_create_setup(flow, {})
        run = store.add_run(task, setup, 0, "ok")
        entry = store.zoo_add(weights(0), **meta(run_id=run, name="iris-mlp"))
        store.zoo_add(weights(1), **meta(dataset="wine", schema="wine-v1"))
        assert store.export_parquet(tmp_path / "all").zoo_models == 2
        assert store.export_parquet(tmp_path / "iris", ["sklearn:iris"]).zoo_models == 1
        with MetaStore(":memory:") as other:
            other.zoo_add(weights(2), **meta(name="iris-mlp"))  # the name is taken here
            assert other.import_parquet(tmp_path / "iris").zoo_models == 1
            assert other.import_parquet(tmp_path / "all").zoo_models == 1  # wine's only
            assert other.import_parquet(tmp_path / "all").zoo_models == 0
            iris = other.zoo_models(dataset="sklearn:iris", schema="iris-v1")
            copy = next(e for e in iris if e.sha256 == entry.sha256)
            assert copy.name == f"iris-mlp-{entry.sha256[:8]}"
            assert copy.created == entry.created
            assert copy.run_id is not None and other.stats().runs == 1
            assert_same_weights(other.zoo_weights(copy), weights(0))


@pytest.fixture
def memory_store() -> Any:
    with MetaStore(":memory:") as store:
        yield store


@pytest.mark.parametrize(
    ("bad", "error", "match"),
    [
        ({"weights": {}}, ValueError, "non-empty state dict"),
        ({"weights": {"w": [1.0]}}, ValueError, r"to tensors; not so for \['w'\]"),
        ({"weights": torch.nn.Linear(2, 2)}, TypeError, r"pass model\.state_dict\(\)"),
        ({"scores": {"val_accuracy": float("nan")}}, ValueError, "must be finite"),
        ({"scores": {"val_accuracy": "high"}}, TypeError, "must be a number"),
        ({"epochs": 0}, ValueError, "epochs must be an int >= 1"),
        ({"schema": ""}, ValueError, "schema must be a non-empty str"),
        ({"feature_names": "abcd"}, TypeError, "feature_names must be a sequence of str"),
        ({"class_names": []}, ValueError, "class_names must be a non-empty"),
        ({"config": {"lr": float("inf")}}, ValueError, "config must be JSON-able"),
        ({"name": "42"}, ValueError, "cannot be a number"),
        ({"name": "a/b"}, ValueError, "path separator"),
        ({"dataset": 3.5}, TypeError, "dataset must be a spec or name"),
    ],
)
def test_bad_input_is_refused_with_what_to_do(
    memory_store: MetaStore, bad: dict[str, Any], error: type[Exception], match: str
) -> None:
    arguments = {"weights": weights(0), **meta(), **bad}
    with pytest.raises(error, match=match):
        memory_store.zoo_add(**arguments)
    assert memory_store.zoo_models() == []


def test_an_unknown_model_suggests_near_names(memory_store: MetaStore) -> None:
    memory_store.zoo_add(weights(0), **meta(name="iris-mlp"))
    with pytest.raises(ZooModelNotFoundError, match=r"Did you mean 'iris-mlp'.*tunegym zoo list"):
        memory_store.zoo_get("iris-mpl")
    with pytest.raises(ValueError, match="No zoo model 7"):
        memory_store.zoo_weights(7)


def test_a_dataset_spec_object_and_config_are_stored_as_log_trial_would(
    memory_store: MetaStore, iris: TabularDataset
) -> None:
    stored = memory_store.get_or_create_dataset("iris", spec="sklearn:iris")
    entry = memory_store.zoo_add(
        weights(0), **meta(dataset=iris, spec=MLPSpec(), config=TrainConfig(1e-2, 16, 2))
    )
    assert entry.dataset_id == stored.id and entry.name.startswith("iris-")
    assert entry.spec == spec_to_dict(MLPSpec())
    assert entry.config["lr"] == 1e-2 and entry.config["batch_size"] == 16


def test_weights_are_never_unpickled_beyond_tensors() -> None:
    class Evil:
        def __reduce__(self) -> tuple[Any, tuple[()]]:
            return (os.getcwd, ())

    with pytest.raises(ValueError, match="weights_only=True"):
        weights_from_bytes(pickle.dumps({"w": Evil()}, protocol=2), "evil")
    with pytest.raises(ValueError, match="to tensors"):
        weights_from_bytes(saved({"w": 1}), "ints")


def test_a_store_at_revision_0001_is_upgraded_when_opened(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    command.upgrade(alembic_config(url=url), "0001")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        assert "zoo_model" not in sa.inspect(connection).get_table_names()
        connection.execute(
            sa.text("INSERT INTO dataset (name, spec, source, created) VALUES ('iris', "
                    "'sklearn:iris', 'local', '2026-01-01 00:00:00')")
        )  # fmt: skip
    engine.dispose()
    with MetaStore(url) as store:
        assert store.revision == "0004"
        entry = store.zoo_add(weights(0), **meta())
        assert entry.dataset_id == store.get_or_create_dataset("iris", spec="sklearn:iris").id
    with MetaStore(url) as store:
        assert store.zoo_get(entry.id) == entry
        with store.engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0001")
        assert "zoo_model" not in sa.inspect(store.engine).get_table_names()


def test_an_export_older_than_the_zoo_still_imports(
    memory_store: MetaStore, tmp_path: Path
) -> None:
    memory_store.get_or_create_dataset("iris", spec="sklearn:iris")
    memory_store.export_parquet(tmp_path / "old")
    manifest = tmp_path / "old" / "manifest.json"
    old = {**json.loads(manifest.read_text()), "version": 1, "alembic_revision": "0001"}
    manifest.write_text(json.dumps(old))
    (tmp_path / "old" / "zoo_models.parquet").unlink()
    with MetaStore(":memory:") as other:
        assert other.import_parquet(tmp_path / "old").datasets == 1
    manifest.write_text(json.dumps({**old, "alembic_revision": "0002"}))
    with MetaStore(":memory:") as other, pytest.raises(ValueError, match="revision '0002'"):
        other.import_parquet(tmp_path / "old")


class TestZooFiles:
    def test_a_zoo_file_round_trips_an_entry(self, memory_store: MetaStore, tmp_path: Path) -> None:
        entry = memory_store.zoo_add(weights(0), **meta(name="iris-mlp", note="n"))
        pt, js = save_zoo_file(tmp_path / "out" / "iris", weights(0), entry)
        assert (pt.name, js.name) == ("iris.pt", "iris.json")
        header = json.loads(js.read_text())
        assert (header["format"], header["version"]) == ("tunegym.zoo-model", 1)
        for path in (tmp_path / "out" / "iris", pt, js):
            read = read_zoo_file(path)
            assert_same_weights(read.weights, weights(0))
            assert (read.name, read.note, read.dataset) == ("iris-mlp", "n", "sklearn:iris")
            assert read.class_names == entry.class_names and read.scores == entry.scores
        with MetaStore(":memory:") as other:
            copy = other.zoo_add(read.weights, **read.metadata())
        assert (copy.name, copy.sha256, copy.spec) == (entry.name, entry.sha256, entry.spec)

    def test_a_mapping_needs_every_field(self, tmp_path: Path) -> None:
        save_zoo_file(tmp_path / "m", weights(0), meta())
        assert read_zoo_file(tmp_path / "m").name is None
        partial = {k: v for k, v in meta().items() if k != "scores"}
        with pytest.raises(ValueError, match="lacks 'scores'"):
            save_zoo_file(tmp_path / "m", weights(0), partial)

    @pytest.mark.parametrize(
        ("json_text", "pt_bytes", "match"),
        [
            (None, b"", r"No zoo file .*m\.json"),
            ("{", b"", r"m\.json is not valid JSON"),
            ('{"format": "other"}', b"", r"m\.json is not a tunegym zoo file \(format 'other'"),
            ('{"format": "tunegym.zoo-model", "version": 9}', b"", "of version 9"),
            ('{"format": "tunegym.zoo-model", "version": 1}', b"", "lacks dataset, schema"),
            ("GOOD", b"not a torch file", r"m\.pt is not a torch state dict"),
            ("GOOD", saved({"w": 1.0}), r"m\.pt must map str names to tensors"),
        ],
    )
    def test_bad_files_say_which_and_why(
        self, tmp_path: Path, json_text: str | None, pt_bytes: bytes, match: str
    ) -> None:
        save_zoo_file(tmp_path / "m", weights(0), meta())
        js, pt = tmp_path / "m.json", tmp_path / "m.pt"
        if json_text is None:
            js.unlink()
        elif json_text != "GOOD":
            js.write_text(json_text)
        if pt_bytes:
            pt.write_bytes(pt_bytes)
        with pytest.raises((ValueError, FileNotFoundError), match=match):
            read_zoo_file(tmp_path / "m.pt")
