"""The warm-start service without its transport: what the HTTP app and local clients call.

`WarmStartService` answers the three requests of the API (warm start, search space, runs) on
an in-memory `WarmStartIndex` built from the shipped snapshot and/or a meta-store, and writes
reported runs to that store. The FastAPI app (`create_app`) and the Optuna helper's local mode
call it with the same pydantic models, so both behave alike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from sqlalchemy import text

from tunegym.errors import did_you_mean
from tunegym.metastore import MetaStore, Neighbor
from tunegym.metastore._values import (
    EPOCH_MEASURES,
    DataSplit,
    EvaluationRow,
    MetaFeatureSource,
    RunRecord,
    RunStatus,
    Source,
    SplitSpec,
)
from tunegym.service._index import DatasetEntry, WarmStartIndex
from tunegym.service._schemas import (
    API_VERSION,
    STORED_AS,
    BoxOut,
    ConfigurationOut,
    DatasetDescription,
    HealthOut,
    NeighborOut,
    Parameter,
    ProvenanceOut,
    Role,
    RunsOut,
    RunsRequest,
    SearchSpaceOut,
    SearchSpaceRequest,
    SearchSpaceSpec,
    WarmStartOut,
    WarmStartRequest,
)
from tunegym.service._space import config_params, narrow, roles_of

__all__ = [
    "NotFoundError",
    "ServiceError",
    "WarmStartService",
    "WritesDisabledError",
]

# A reported run's split is the client's own: unknown to the store.
_REPORTED_SPLIT = SplitSpec(seed=None, val_size=None, test_size=None)
_CANONICAL = STORED_AS


class ServiceError(Exception):
    """A request the service cannot answer; ``status_code`` is its HTTP status."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @classmethod
    def with_status(cls, status_code: int, detail: str) -> ServiceError:
        """An error answered with ``status_code``."""
        error = cls(detail)
        error.status_code = status_code
        return error


class NotFoundError(ServiceError):
    """The dataset the request names is not in the store."""

    status_code = 404


class WritesDisabledError(ServiceError):
    """The service has no meta-store to write reported runs to."""

    status_code = 409


def _neighbor_out(neighbor: Neighbor) -> NeighborOut:
    return NeighborOut(
        dataset=neighbor.dataset, distance=neighbor.distance, openml_did=neighbor.openml_did
    )


class WarmStartService:
    """Warm starts for other tuners from the runs of similar datasets.

    Args:
        index: the datasets and their runs (`WarmStartIndex.from_snapshot`, `add_store`).
        store: where reported runs go (and where the index's store-side runs came from);
            ``None``: read-only.
        openml_lookup: fetch OpenML's published qualities of an OpenML id the service does not
            know (extra ``openml``; cached in the OpenML cache, stored in ``store``).
        openml_cache: root of that cache (default: tunegym's, see `tunegym.data`).

    Example:
        >>> service = WarmStartService.open(store=None)  # the shipped snapshot, read-only
        >>> service.health().datasets
        144
    """

    def __init__(
        self,
        index: WarmStartIndex,
        store: MetaStore | None = None,
        *,
        openml_lookup: bool = False,
        openml_cache: str | os.PathLike[str] | None = None,
    ) -> None:
        self.index = index
        self.store = store
        self.openml_lookup = openml_lookup
        self.openml_cache = openml_cache

    @classmethod
    def open(
        cls,
        store: MetaStore | str | os.PathLike[str] | None = None,
        *,
        snapshot: bool | str | Path = True,
        metric: str = "val_accuracy",
        openml_lookup: bool = False,
        openml_cache: str | os.PathLike[str] | None = None,
    ) -> WarmStartService:
        """The service over the shipped snapshot (or a snapshot folder) and/or a meta-store.

        Args:
            store: a `MetaStore`, SQLAlchemy URL or SQLite path, whose scored runs are served
                and where reported runs are written; ``None``: none (read-only).
            snapshot: serve the shipped snapshot's 144 datasets too (``True``), a snapshot
                folder, or not (``False``).
            metric: the validation measure scores are read from.
            openml_lookup: fetch OpenML's qualities of unknown OpenML ids (see the class).
            openml_cache: root of the OpenML cache.

        Raises:
            ValueError: when neither a snapshot nor a store is given.
        """
        if snapshot is False and store is None:
            raise ValueError("Serve at least one of the snapshot (snapshot=True) or a store.")
        if snapshot is False:
            index = WarmStartIndex(metric)
        else:
            folder = None if snapshot is True else str(snapshot)
            index = WarmStartIndex.from_snapshot(folder, metric)
        opened = store if isinstance(store, MetaStore) or store is None else MetaStore(store)
        if opened is not None:
            index.add_store(opened)
        return cls(index, opened, openml_lookup=openml_lookup, openml_cache=openml_cache)

    # --- requests ---------------------------------------------------------------------------

    def health(self) -> HealthOut:
        """Counts, and whether the store answers."""
        from tunegym import __version__

        reachable: bool | None = None
        if self.store is not None:
            try:
                with self.store.engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                reachable = True
            except Exception:  # any driver error means "not reachable"; health must answer
                reachable = False
        datasets, configurations, runs = self.index.counts()
        return HealthOut(
            status="ok",
            version=__version__,
            api=API_VERSION,
            store=None if self.store is None else self.store.engine.url.render_as_string(),
            store_reachable=reachable,
            datasets=datasets,
            configurations=configurations,
            runs=runs,
            writes_enabled=self.store is not None,
        )

    def _target(
        self, dataset: DatasetDescription
    ) -> tuple[dict[str, float], list[str], int | None]:
        """(qualities, names to leave out, OpenML id to leave out) of a description."""
        names = [dataset.name] if dataset.name else []
        if dataset.meta_features is not None:
            return dict(dataset.meta_features), names, dataset.openml_did
        entry: DatasetEntry | None = None
        if dataset.openml_did is not None:
            entry = self.index.by_did(dataset.openml_did)
            if (entry is None or not entry.features) and self.openml_lookup:
                entry = self._from_openml(dataset.openml_did)
            if entry is None or not entry.features:
                raise NotFoundError(
                    f"No stored meta-features for OpenML dataset {dataset.openml_did}; send "
                    "'meta_features' computed with tunegym.metastore.compute_meta_features(X, y)."
                )
        else:
            assert dataset.name is not None  # the model requires one of the three
            entry = self.index.get(dataset.name)
            if entry is None:  # a spec with a known OpenML id ('openml:61', 'keel:iris')
                from tunegym.metastore._curves import _dataset_identity

                try:
                    known_did = _dataset_identity(dataset.name)[2]
                except ValueError:  # not a spec tunegym can read
                    known_did = None
                entry = self.index.by_did(known_did) if known_did is not None else None
            if entry is None or not entry.features:
                known = self.index.names()
                raise NotFoundError(
                    f"No stored meta-features for dataset {dataset.name!r}; send "
                    "'meta_features' computed with tunegym.metastore.compute_meta_features(X, y)."
                    + did_you_mean(dataset.name, known)
                )
        return dict(entry.features), [*names, entry.name], entry.openml_did

    def _from_openml(self, did: int) -> DatasetEntry:
        """OpenML's published qualities of ``did``: fetched (or cached), stored, indexed."""
        from tunegym.errors import DatasetNotFoundError, MissingExtraError
        from tunegym.metastore import import_qualities
        from tunegym.metastore.importers import OpenMLImportError, fetch_openml_qualities

        try:
            rows = list(fetch_openml_qualities([did], cache_dir=self.openml_cache))
        except DatasetNotFoundError as exc:
            raise NotFoundError(str(exc)) from exc
        except (OpenMLImportError, MissingExtraError) as exc:
            raise ServiceError.with_status(
                503, f"{exc} Send 'meta_features' (compute_meta_features(X, y)) instead."
            ) from exc
        if not rows:
            raise NotFoundError(
                f"OpenML has no published qualities for dataset {did}; send 'meta_features'."
            )
        if self.store is not None:
            import_qualities(self.store, rows)
        features = {row.quality: row.value for row in rows}
        return self.index.update(rows[0].dataset_name, did, features, None)

    def _neighbors(
        self, dataset: DatasetDescription, n: int, include_self: bool
    ) -> list[tuple[Neighbor, DatasetEntry]]:
        values, names, did = self._target(dataset)
        try:
            if include_self:
                return self.index.neighbors(values, n)
            return self.index.neighbors(values, n, exclude=names, exclude_did=did)
        except ValueError as exc:
            raise ServiceError(str(exc)) from exc

    @staticmethod
    def _roles(space: SearchSpaceSpec) -> dict[Role, Parameter]:
        roles = roles_of(space)
        if not roles:
            names = [p.name for p in space.parameters]
            raise ServiceError(
                f"None of the parameters {names} is a learning rate, batch size or epoch count; "
                "name them (lr, batch_size, epochs) or set their 'role'."
            )
        return roles

    def warm_start(self, request: WarmStartRequest) -> WarmStartOut:
        """Up to ``k`` configurations of the nearest datasets, mapped into the client's space.

        Round robin over the neighbours (nearest first): each one's best configuration, then
        each one's second best, ...; configurations that map to the same point are served once.
        """
        roles = self._roles(request.search_space)
        found = self._neighbors(request.dataset, request.neighbors, request.include_self)
        served: list[ConfigurationOut] = []
        seen: set[str] = set()
        depth = max((len(entry.configs) for _, entry in found), default=0)
        for rank in range(depth):
            for neighbor, entry in found:
                if len(served) == request.k or rank >= len(entry.configs):
                    continue
                config = entry.configs[rank]
                params, clipped = config_params(roles, config.lr, config.batch_size, config.epochs)
                key = repr(sorted(params.items()))
                if key in seen:
                    continue
                seen.add(key)
                served.append(
                    ConfigurationOut(
                        params=params,
                        expected_score=config.expected,
                        score=config.best,
                        provenance=ProvenanceOut(
                            dataset=entry.name,
                            openml_did=entry.openml_did,
                            distance=neighbor.distance,
                            source=config.origin,
                            run_ids=list(config.run_ids),
                            seeds=list(config.seeds),
                            learning_rate=config.lr,
                            batch_size=config.batch_size,
                            epochs=config.epochs,
                        ),
                        clipped=clipped,
                        curve=list(config.curve) if request.include_curves else None,
                    )
                )
            if len(served) == request.k:
                break
        mapped = {p.name for p in roles.values()}
        return WarmStartOut(
            configurations=served,
            neighbors=[_neighbor_out(n) for n, _ in found],
            unmapped=[p.name for p in request.search_space.parameters if p.name not in mapped],
            metric=self.index.metric,
        )

    def search_space(self, request: SearchSpaceRequest) -> SearchSpaceOut:
        """The client's space with learning rate and batch size narrowed to the neighbours' box.

        The box spans the ``top`` best configurations of each neighbour (Syne Tune's bounding
        box); a box of one learning rate is widened to half a decade each side, of one batch
        size to a factor 2, so the search keeps room. Epochs are not narrowed: the stored runs
        stop at their own maximum, which says nothing about the client's.
        """
        roles = self._roles(request.search_space)
        found = self._neighbors(request.dataset, request.neighbors, request.include_self)
        tops = [c for _, entry in found for c in entry.configs[: request.top]]
        if not tops:
            return SearchSpaceOut(
                search_space=request.search_space, narrowed=[], box=None, neighbors=[]
            )
        lr_min, lr_max = min(c.lr for c in tops), max(c.lr for c in tops)
        bs_min, bs_max = min(c.batch_size for c in tops), max(c.batch_size for c in tops)
        if lr_min == lr_max:
            lr_min, lr_max = lr_min / math.sqrt(10), lr_max * math.sqrt(10)
        if bs_min == bs_max:
            bs_min, bs_max = max(1, bs_min // 2), bs_max * 2
        limits = {"learning_rate": (lr_min, lr_max), "batch_size": (float(bs_min), float(bs_max))}
        parameters = []
        narrowed: list[str] = []
        for parameter in request.search_space.parameters:
            role = next((r for r, p in roles.items() if p.name == parameter.name), None)
            smaller = narrow(parameter, *limits[role]) if role in limits else None
            if smaller is not None:
                narrowed.append(parameter.name)
            parameters.append(smaller or parameter)
        return SearchSpaceOut(
            search_space=SearchSpaceSpec(parameters=parameters),
            narrowed=narrowed,
            box=BoxOut(
                learning_rate_min=lr_min,
                learning_rate_max=lr_max,
                batch_size_min=bs_min,
                batch_size_max=bs_max,
            ),
            neighbors=[_neighbor_out(n) for n, _ in found],
        )

    def report_runs(self, request: RunsRequest) -> RunsOut:
        """Store reported runs in the meta-store and serve them from now on.

        Parameters are stored under tunegym's names (``lr``, ``batch_size``, ``max_epochs``)
        where they play those roles, the others under their own; each run keeps its per-epoch
        scores and its final one. Runs without both a learning rate and a batch size are stored
        but cannot be served as configurations.

        Raises:
            WritesDisabledError: when the service has no store.
        """
        if self.store is None:
            raise WritesDisabledError(
                "This service is read-only (no meta-store); start it with --store URL to "
                "accept reported runs."
            )
        from tunegym.metastore._curves import _dataset_identity

        dataset = request.dataset
        renames = _renames(request)
        label = dataset.name or f"openml:{dataset.openml_did}"
        name, spec, did = _dataset_identity(label)
        did = dataset.openml_did or did
        store = self.store
        try:
            ref = store.get_or_create_dataset(
                name, spec=spec, openml_did=did, source=Source.REPORTED
            )
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
        run_ids = store.add_runs(records)
        curves = None
        if request.metric == self.index.metric:  # the index serves one measure
            curves = _reported_curves(request, renames, run_ids)
        entry = self.index.update(ref.label, ref.openml_did, dataset.meta_features, curves)
        return RunsOut(run_ids=run_ids, dataset=entry.name, candidate=entry.candidate)


def _renames(request: RunsRequest) -> dict[str, str]:
    """`RunsRequest.renames`, refusing two parameter names inferred to play one role."""
    renames = request.renames()
    stored = list(renames.values())
    clash = sorted(n for n, c in renames.items() if stored.count(c) > 1)
    if clash:
        raise ServiceError(
            f"Parameters {clash} play one role; send the 'search_space' with their 'role'."
        )
    return renames


def _reported_curves(
    request: RunsRequest, renames: dict[str, str], run_ids: Sequence[int]
) -> pd.DataFrame:
    """The reported runs with a learning rate and batch size, as a long curve table."""
    rows = []
    for run, run_id in zip(request.runs, run_ids, strict=True):
        params = {renames.get(k, k): v for k, v in run.params.items()}
        lr, bs = params.get("lr"), params.get("batch_size")
        if not isinstance(lr, int | float) or not isinstance(bs, int | float) or lr <= 0:
            continue
        scores = list(run.scores or []) or (
            [run.final_score] if run.final_score is not None else []
        )
        rows += [
            (float(lr), int(bs), run.seed, epoch, score, run_id)
            for epoch, score in enumerate(scores, start=1)
        ]
    return pd.DataFrame(
        rows, columns=["lr", "batch_size", "seed", "epoch", request.metric, "run_id"]
    ).assign(dataset="")
