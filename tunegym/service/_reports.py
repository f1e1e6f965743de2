"""Reported runs (``POST /v1/runs``) into the meta-store, each report once.

A report is stored under a key: the client's ``Idempotency-Key`` (one per logical report,
reused on its retries) or, without one, the SHA-256 of the report's content, so an identical
report sent twice is one report either way. The runs and the key (table ``report_key``) are
written in one transaction; a repeat of the key finds it and is answered what the first request
was answered, storing nothing. A key sent again with another report is refused: a key names
one report.

Reported runs are stored with source ``reported``, which keeps them apart from the curated
runs when the index is built (see `tunegym.service._index`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tunegym.metastore import MetaStore
from tunegym.metastore._engine import READ_ONLY
from tunegym.metastore._entities import insert_runs
from tunegym.metastore._retry import retrying
from tunegym.metastore._schema import ReportKey
from tunegym.metastore._values import (
    EPOCH_MEASURES,
    DatasetRef,
    DataSplit,
    EvaluationRow,
    FlowRef,
    MetaFeatureSource,
    RunRecord,
    RunStatus,
    Source,
    SplitSpec,
)
from tunegym.service._errors import ServiceError
from tunegym.service._index import WarmStartIndex
from tunegym.service._schemas import RunsRequest
from tunegym.service._tables import stored_values

__all__ = [
    "KEY_HEADER",
    "KEY_PATTERN",
    "StoredAnswer",
    "insert_once",
    "prepared_runs",
    "record_answer",
    "renames_of",
    "reported_curves",
    "request_sha256",
    "stored_answer",
    "stored_key",
]

KEY_HEADER: Final = "Idempotency-Key"
KEY_PATTERN: Final = r"^[\x21-\x7e]{1,255}$"
"""An idempotency key: 1 to 255 visible ASCII characters (a UUID is 36)."""
_KEY: Final = re.compile(KEY_PATTERN)
# A reported run's split is the client's own: unknown to the store.
_REPORTED_SPLIT: Final = SplitSpec(seed=None, val_size=None, test_size=None)


@dataclass(frozen=True)
class StoredAnswer:
    """A stored report's key row: what the report was, and what it was answered.

    Attributes:
        request_sha256: `request_sha256` of the report stored under the key.
        status_code: the first request's HTTP status.
        body: its answer (a `RunsOut`), or only ``run_ids`` and ``dataset`` when the service
            could not record more after storing the runs.
    """

    request_sha256: str
    status_code: int
    body: dict[str, Any]


def request_sha256(request: RunsRequest) -> str:
    """SHA-256 of a report's canonical JSON (sorted keys): equal for equal reports however
    their JSON was spelt."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def stored_key(idempotency_key: str | None, digest: str) -> str:
    """The ``report_key.key`` of a report: ``key:<the client's key>``, else ``sha256:<digest>``.

    Raises:
        ServiceError: for a key that is not 1 to 255 visible ASCII characters.
    """
    if idempotency_key is None:
        return f"sha256:{digest}"
    if not _KEY.match(idempotency_key):
        raise ServiceError(
            f"{KEY_HEADER} must be 1 to 255 visible ASCII characters (a UUID, say), got "
            f"{idempotency_key[:80]!r}."
        )
    return f"key:{idempotency_key}"


def stored_answer(store: MetaStore, key: str) -> StoredAnswer | None:
    """The answer stored under ``key``, if a report was stored under it (a read)."""
    with Session(store.engine.execution_options(**{READ_ONLY: True})) as session:
        return _answer(session, key)


def _answer(session: Session, key: str) -> StoredAnswer | None:
    row = session.execute(
        select(ReportKey.request_sha256, ReportKey.status_code, ReportKey.response).where(
            ReportKey.key == key
        )
    ).one_or_none()
    return None if row is None else StoredAnswer(row[0], row[1], dict(row[2]))


def prepared_runs(
    store: MetaStore, request: RunsRequest, renames: dict[str, str]
) -> tuple[DatasetRef, FlowRef, list[RunRecord]]:
    """The report's dataset, task, flow and setups, found or added; its runs as records.

    Everything here is get-or-create (and the dataset's reported qualities an upsert), so a
    report that fails later and is sent again adds nothing twice.

    Raises:
        ServiceError: (409) for a name and an OpenML id of two stored datasets.
    """
    from tunegym.metastore._curves import _dataset_identity

    dataset = request.dataset
    label = dataset.name or f"openml:{dataset.openml_did}"
    name, spec, did = _dataset_identity(label)
    did = dataset.openml_did or did
    try:
        ref = store.get_or_create_dataset(name, spec=spec, openml_did=did, source=Source.REPORTED)
    except ValueError as exc:  # a name and an id of two stored datasets
        raise ServiceError.with_status(409, f"{exc} Send the name or the id alone.") from exc
    if dataset.meta_features:
        store.set_meta_features(ref, dataset.meta_features, source=MetaFeatureSource.REPORTED)
    task = store.get_or_create_task(ref, _REPORTED_SPLIT)
    flow = store.get_or_create_flow(f"external.{request.tuner}", family="external")
    measure, split = EPOCH_MEASURES[request.metric]
    records = []
    for run in request.runs:
        params = {renames.get(k, k): v for k, v in run.params.items()}
        scores = list(run.scores or [])
        final = run.final_score
        if final is None and scores:
            final = scores[-1]
        rows = [
            EvaluationRow(measure, DataSplit(split), value, epoch)
            for epoch, value in enumerate(scores, start=1)
        ]
        if final is not None:
            rows.append(EvaluationRow(measure, DataSplit(split), final))
        records.append(
            RunRecord(
                task=task,
                setup=store.get_or_create_setup(flow, params),
                seed=run.seed,
                status=RunStatus(run.status),
                evaluations=rows,
                source=Source.REPORTED,
                total_seconds=run.seconds,
            )
        )
    return ref, flow, records


def insert_once(
    store: MetaStore, key: str, digest: str, records: Sequence[RunRecord], dataset: str
) -> list[int] | StoredAnswer:
    """Store the runs and ``key`` in one transaction; or, if ``key`` is stored, its answer.

    Two requests of one key at once: on SQLite the second waits for the first's write lock
    and finds the key; on PostgreSQL the second's key clashes with the first's at commit, and
    `retrying` runs it again, finding the key.

    Returns:
        The new run ids, or the answer stored under ``key`` (nothing was written).

    Raises:
        tunegym.errors.MetaStoreWriteError: when the database refuses the write.
    """
    sessions = sessionmaker(store.engine, expire_on_commit=False)

    def transaction() -> list[int] | StoredAnswer:
        with sessions.begin() as session:
            found = _answer(session, key)
            if found is not None:
                return found
            run_ids = insert_runs(session, list(records))
            session.add(
                ReportKey(
                    key=key,
                    request_sha256=digest,
                    status_code=201,
                    response={"run_ids": run_ids, "dataset": dataset},
                )
            )
            session.flush()  # the key's unique constraint, inside the transaction
            return run_ids

    return retrying(transaction, "report_runs", store.engine.url.render_as_string())


def record_answer(store: MetaStore, key: str, body: dict[str, Any]) -> None:
    """Keep the whole answer under ``key`` (its runs are stored already)."""
    with sessionmaker(store.engine).begin() as session:
        session.execute(update(ReportKey).where(ReportKey.key == key).values(response=body))


def renames_of(request: RunsRequest) -> dict[str, str]:
    """`RunsRequest.renames`, refusing two parameter names inferred to play one role."""
    renames = request.renames()
    stored = list(renames.values())
    clash = sorted(n for n, c in renames.items() if stored.count(c) > 1)
    if clash:
        raise ServiceError(
            f"Parameters {clash} play one role; send the 'search_space' with their 'role'."
        )
    return renames


def reported_curves(
    request: RunsRequest, renames: dict[str, str], run_ids: Sequence[int], index: WarmStartIndex
) -> dict[tuple[str, ...], pd.DataFrame]:
    """The reported runs with a learning rate and batch size, as long curve tables by space.

    Each run goes to ``index.space_of`` its numeric hyperparameters (read as the index reads
    the store, so a restarted service serves it in the same space).
    """
    rows: dict[tuple[str, ...], list[tuple[object, ...]]] = {}
    for run, run_id in zip(request.runs, run_ids, strict=True):
        values = stored_values({renames.get(k, k): v for k, v in run.params.items()})
        if values is None:
            continue
        key = index.space_of(values)
        scores = list(run.scores or []) or (
            [run.final_score] if run.final_score is not None else []
        )
        rows.setdefault(key, []).extend(
            (*(values[n] for n in key), run.seed, epoch, score, run_id)
            for epoch, score in enumerate(scores, start=1)
        )
    return {
        key: pd.DataFrame(part, columns=[*key, "seed", "epoch", request.metric, "run_id"]).assign(
            dataset=""
        )
        for key, part in rows.items()
    }
