"""Alembic migrations: parity with the models is checked for real, downgrade and re-upgrade work."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tunegym.metastore import Base, MetaStore
from tunegym.metastore._engine import alembic_config, head_revision, make_engine, upgrade


def diffs(engine: sa.Engine, metadata: sa.MetaData) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def test_the_parity_check_sees_a_model_that_drifted(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    upgrade(engine)
    assert diffs(engine, Base.metadata) == []
    drifted = sa.MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(drifted)
    drifted.tables["run"].append_column(sa.Column("notes", sa.String(50)))
    drifted.tables["evaluation"].c["measure"].type = sa.String(10)
    found = diffs(engine, drifted)
    assert ("add_column", None, "run", drifted.tables["run"].c["notes"]) in found
    assert any(d[0][0] == "modify_type" for d in found if isinstance(d, list))
    engine.dispose()


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = make_engine(url)
    assert upgrade(engine) == head_revision() == "0004"
    with engine.begin() as connection:
        command.downgrade(alembic_config(connection), "base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    engine.dispose()
    with MetaStore(url) as store:  # opening migrates again
        assert diffs(store.engine, Base.metadata) == []
        assert store.stats().datasets == 0


def test_a_file_store_keeps_its_data_when_reopened(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "store.sqlite"
    with MetaStore(path) as store:
        store.get_or_create_dataset("iris", spec="sklearn:iris")
    with MetaStore(str(path)) as store:
        assert store.datasets()["spec"].tolist() == ["sklearn:iris"]
        assert store.revision == "0004"


def test_a_store_at_0002_migrates_and_its_exports_still_import(tmp_path: Path) -> None:
    """0003 added only ``report_key`` (the service's idempotency keys) and 0004 only
    ``collect_claim`` (collectors' claims on jobs): neither is exported."""
    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0002")
    engine.dispose()
    with MetaStore(url) as store:
        assert store.revision == "0004" and diffs(store.engine, Base.metadata) == []
        store.get_or_create_dataset("iris", spec="sklearn:iris")
        store.export_parquet(tmp_path / "export")
    manifest = tmp_path / "export" / "manifest.json"
    assert '"alembic_revision": "0004"' in manifest.read_text()
    for older in ("0002", "0003"):  # as 0002 and 0003 wrote it
        manifest.write_text(manifest.read_text().replace('"0004"', f'"{older}"'))
        with MetaStore(":memory:") as other:
            assert other.import_parquet(tmp_path / "export").datasets == 1
        manifest.write_text(manifest.read_text().replace(f'"{older}"', '"0004"'))


def test_env_py_migrates_a_url_without_a_connection(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    command.upgrade(alembic_config(url=url), "head")
    engine = make_engine(url)
    assert diffs(engine, Base.metadata) == []
    engine.dispose()


def test_an_in_memory_store_is_one_database() -> None:
    with MetaStore("sqlite://") as store:
        store.get_or_create_dataset("a")
        with store.engine.connect() as other_connection:
            count = other_connection.execute(sa.text("SELECT count(*) FROM dataset")).scalar()
        assert count == 1


@pytest.mark.parametrize(("pragma", "expected"), [("foreign_keys", 1), ("busy_timeout", 30000)])
def test_sqlite_connections_are_configured(tmp_path: Path, pragma: str, expected: int) -> None:
    for url in (f"sqlite:///{tmp_path / 'db.sqlite'}", ":memory:"):
        with MetaStore(url) as store, store.engine.connect() as connection:
            assert connection.exec_driver_sql(f"PRAGMA {pragma}").scalar() == expected


def test_sqlite_files_use_wal(tmp_path: Path) -> None:
    with MetaStore(tmp_path / "db.sqlite") as store, store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_the_schema_compiles_for_postgresql() -> None:
    from sqlalchemy.dialects import postgresql
    from sqlalchemy.schema import CreateTable

    ddl = {
        table.name: str(CreateTable(table).compile(dialect=postgresql.dialect()))
        for table in Base.metadata.sorted_tables
    }
    assert "id BIGSERIAL NOT NULL" in ddl["evaluation"]
    assert "search_space JSON" in ddl["flow"]
    assert "status VARCHAR(16) NOT NULL" in ddl["run"]


def test_concurrent_writers_to_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            with MetaStore(url) as store:  # each opens (and may migrate) the same new file
                for i in range(20):
                    dataset = store.get_or_create_dataset(f"d{i % 5}")
                    flow = store.get_or_create_flow("f")
                    store.add_run(
                        store.get_or_create_task(dataset),
                        store.get_or_create_setup(flow, {"lr": i % 3}),
                        worker,
                        "ok",
                    )
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with MetaStore(url) as store:
        stats = store.stats()
    assert (stats.datasets, stats.tasks, stats.flows, stats.setups, stats.runs) == (5, 5, 1, 3, 80)


def test_readers_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    with MetaStore(tmp_path / "db.sqlite") as writer, MetaStore(tmp_path / "db.sqlite") as reader:
        writer.get_or_create_dataset("committed")
        with writer.engine.begin() as connection:  # holds the write lock until the block ends
            connection.execute(sa.text("INSERT INTO flow (name, version, family, created) "
                                       "VALUES ('f', '1', 'mlp', '2026-01-01')"))  # fmt: skip
            start = time.perf_counter()
            assert reader.datasets()["name"].tolist() == ["committed"]
            assert reader.stats().flows == 0  # the snapshot before the writer's transaction
            assert time.perf_counter() - start < 5.0
