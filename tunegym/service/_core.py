"""The warm-start service without its transport: what the HTTP app and local clients call.

`WarmStartService` answers the three requests of the API (warm start, search space, runs) on
an in-memory `WarmStartIndex` built from the shipped snapshots (meta-datasets v1 and v2) and/or
a meta-store, and writes reported runs to that store (`tunegym.service._reports`: each report
once). Reads use the curated data only unless they ask for reported runs too
(``include_reported``). Each answer comes from one space (`StoredSpace`), the one whose
hyperparameters cover most of the client's parameters. The FastAPI app (`create_app`) and the
Optuna helper's local mode call it with the same pydantic models, so both behave alike.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pandas as pd
from sqlalchemy.exc import DBAPIError

from tunegym.errors import MetaStoreWriteError, did_you_mean
from tunegym.metastore import MetaStore, Neighbor
from tunegym.service import _reports
from tunegym.service._errors import (
    IdempotencyKeyReusedError,
    NotFoundError,
    ServiceError,
    StoreUnavailableError,
    WritesDisabledError,
)
from tunegym.service._index import WarmStartIndex
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
    RangeOut,
    Role,
    RunsOut,
    RunsRequest,
    SearchSpaceOut,
    SearchSpaceRequest,
    SearchSpaceSpec,
    SourceSpaceOut,
    WarmStartOut,
    WarmStartRequest,
)
from tunegym.service._space import config_params, named_of, narrow, roles_of, widened
from tunegym.service._store_health import probe, unavailable
from tunegym.service._tables import ConfigStats, DatasetEntry, StoredSpace, predicted_score

__all__ = [
    "NotFoundError",
    "Reported",
    "ServiceError",
    "StoreUnavailableError",
    "WarmStartService",
    "WritesDisabledError",
]

LOGGER: Final = logging.getLogger("tunegym.service")
_CANONICAL = STORED_AS


@dataclass(frozen=True)
class Reported:
    """A report's answer: the runs stored (or stored before), with the HTTP status.

    Attributes:
        runs: the answer's body.
        status_code: its HTTP status (201).
        replayed: the report was stored by an earlier request of its key (a retry), and this
            is that request's answer: nothing was stored now.
    """

    runs: RunsOut
    status_code: int = 201
    replayed: bool = False


def _neighbor_out(neighbor: Neighbor) -> NeighborOut:
    return NeighborOut(
        dataset=neighbor.dataset, distance=neighbor.distance, openml_did=neighbor.openml_did
    )


@dataclass(frozen=True)
class _Plan:
    """How a client's space is answered: from which stored space, each parameter from what.

    Attributes:
        space: the stored space the configurations come from (``None``: the index has none).
        roles: each role's client parameter.
        named: stored hyperparameter name -> the client parameter of that name.
    """

    space: StoredSpace | None
    roles: dict[Role, Parameter]
    named: dict[str, Parameter]

    @property
    def key(self) -> tuple[str, ...] | None:
        """The stored space's hyperparameters (its key in the index)."""
        return None if self.space is None else self.space.hyperparameters

    @property
    def mapped(self) -> dict[str, str]:
        """Client parameter -> the role or stored hyperparameter it takes its value from."""
        return {p.name: r for r, p in self.roles.items()} | {
            p.name: n for n, p in self.named.items()
        }

    def params(self, config: ConfigStats) -> tuple[dict[str, object], list[str]]:
        """``config`` in the client's names, and the parameters clipped into their range."""
        return config_params(
            self.roles, config.lr, config.batch_size, config.epochs,
            named=self.named, values=config.config,
        )  # fmt: skip

    def source(self, order: Sequence[str]) -> SourceSpaceOut | None:
        """The answer's ``source_space`` (``mapped`` in the client's order of ``order``)."""
        if self.space is None:
            return None
        mapped = self.mapped
        return SourceSpaceOut(
            name=self.space.name,
            meta_datasets=list(self.space.meta_datasets),
            hyperparameters=list(self.space.hyperparameters),
            flows=list(self.space.flows),
            mapped={n: mapped[n] for n in order if n in mapped},
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
        # The last store failure (one line), until a write succeeds: /v1/health reports it.
        self.store_error: str | None = None

    @classmethod
    def open(
        cls,
        store: MetaStore | str | os.PathLike[str] | None = None,
        *,
        snapshot: bool | str | Path | Sequence[str | Path] = True,
        metric: str = "val_accuracy",
        openml_lookup: bool = False,
        openml_cache: str | os.PathLike[str] | None = None,
    ) -> WarmStartService:
        """The service over the shipped snapshot (or a snapshot folder) and/or a meta-store.

        Args:
            store: a `MetaStore`, SQLAlchemy URL or SQLite path, whose scored runs are served
                and where reported runs are written; ``None``: none (read-only).
            snapshot: serve the shipped snapshots too (``True``: meta-dataset v1's 144
                datasets and, when it is installed, v2's LCBench space), a snapshot folder, a
                sequence of folders, or none (``False``).
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
        elif snapshot is True:
            index = WarmStartIndex.from_snapshot(None, metric)
        elif isinstance(snapshot, str | os.PathLike):
            index = WarmStartIndex.from_snapshot(snapshot, metric)
        else:
            index = WarmStartIndex.from_snapshots(list(snapshot), metric)
        opened = store if isinstance(store, MetaStore) or store is None else MetaStore(store)
        if opened is not None:
            index.add_store(opened)
        return cls(index, opened, openml_lookup=openml_lookup, openml_cache=openml_cache)

    # --- requests ---------------------------------------------------------------------------

    def health(self) -> HealthOut:
        """Counts, and whether the store answers and can take reports.

        ``degraded`` when the store cannot be read, a cheap check of it fails (`probe`: a
        read-only file, a nearly full disk) or its last write failed (until one succeeds);
        ``store_error`` says which, on one line. Reads are served from memory either way.
        """
        from tunegym import __version__

        reachable: bool | None = None
        writable: bool | None = None
        problem: str | None = None
        if self.store is not None:
            reachable, found = probe(self.store)
            problem = found or self.store_error
            writable = problem is None
        datasets, configurations, runs = self.index.counts()
        return HealthOut(
            status="ok" if problem is None else "degraded",
            version=__version__,
            api=API_VERSION,
            store=None if self.store is None else self.store.engine.url.render_as_string(),
            store_reachable=reachable,
            store_writable=writable,
            store_error=problem,
            datasets=datasets,
            configurations=configurations,
            runs=runs,
            reported_runs=self.index.reported_runs(),
            writes_enabled=self.store is not None,
            spaces=[s.name for s in self.index.spaces(include_reported=True) if s.candidates],
        )

    def _target(
        self, dataset: DatasetDescription, include_reported: bool = False
    ) -> tuple[dict[str, float], list[str], int | None]:
        """(qualities, names to leave out, OpenML id to leave out) of a description.

        The stored qualities of a named dataset are its curated ones, or with
        ``include_reported`` those a tuner reported with its runs too.
        """
        names = [dataset.name] if dataset.name else []
        if dataset.meta_features is not None:
            return dict(dataset.meta_features), names, dataset.openml_did
        entry: DatasetEntry | None = None
        if dataset.openml_did is not None:
            entry = self.index.by_did(dataset.openml_did)
            if (entry is None or not entry.qualities(include_reported)) and self.openml_lookup:
                entry = self._from_openml(dataset.openml_did)
            if entry is None or not entry.qualities(include_reported):
                raise NotFoundError(
                    f"No stored meta-features for OpenML dataset {dataset.openml_did}; send "
                    "'meta_features' computed with tunegym.metastore.compute_meta_features(X, y)."
                    + _reported_only(entry, include_reported)
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
            if entry is None or not entry.qualities(include_reported):
                known = self.index.names()
                raise NotFoundError(
                    f"No stored meta-features for dataset {dataset.name!r}; send "
                    "'meta_features' computed with tunegym.metastore.compute_meta_features(X, y)."
                    + (
                        _reported_only(entry, include_reported)
                        if entry is not None
                        else did_you_mean(dataset.name, known)
                    )
                )
        return dict(entry.qualities(include_reported)), [*names, entry.name], entry.openml_did

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
            try:
                import_qualities(self.store, rows)
            except (MetaStoreWriteError, DBAPIError) as exc:
                raise self.store_failed(
                    exc, "OpenML's qualities were fetched but not stored", "ask again"
                ) from exc
        features = {row.quality: row.value for row in rows}
        return self.index.update(rows[0].dataset_name, did, features, None)

    def _neighbors(
        self,
        dataset: DatasetDescription,
        n: int,
        include_self: bool,
        plan: _Plan,
        include_reported: bool,
    ) -> list[tuple[Neighbor, DatasetEntry]]:
        """The nearest datasets with configurations in the plan's space."""
        values, names, did = self._target(dataset, include_reported)
        try:
            if include_self:
                return self.index.neighbors(
                    values, n, space=plan.key, include_reported=include_reported
                )
            return self.index.neighbors(
                values, n, exclude=names, exclude_did=did, space=plan.key,
                include_reported=include_reported,
            )  # fmt: skip
        except ValueError as exc:
            raise ServiceError(str(exc)) from exc

    def _plan(self, space: SearchSpaceSpec, include_reported: bool = False) -> _Plan:
        """The stored space to answer ``space`` from, and how each parameter maps.

        Every stored space has a learning rate and a batch size, and every configuration a best
        epoch, so the role-playing parameters map in all of them; a parameter without a role maps
        where a hyperparameter has its name. The space that maps the most parameters answers;
        ties go to the one with the fewest hyperparameters left unmapped (a client of learning
        rate and batch size gets meta-dataset v1's grid, not v2's configurations with five
        values it would drop), then to the most candidate datasets. A space without candidates
        answers only when no space has any.

        Raises:
            ServiceError: when no parameter plays a role or has a stored hyperparameter's name.
        """
        roles = roles_of(space)
        served = {r for r in roles if r != "epochs"}
        options = [
            (s, named_of(space, s.hyperparameters, roles))
            for s in self.index.spaces(include_reported)
        ]
        if not roles and not any(named for _, named in options):
            names = [p.name for p in space.parameters]
            stored = sorted(
                {n for s, _ in options for n in s.hyperparameters} - {"learning_rate", "batch_size"}
            )
            known = f" ({', '.join(stored)})" if stored else ""
            raise ServiceError(
                f"None of the parameters {names} is a learning rate, batch size or epoch count, "
                f"nor a hyperparameter of the stored runs{known}; name them (lr, batch_size, "
                "epochs, or a stored name) or set their 'role'."
            )

        def rank(option: tuple[StoredSpace, dict[str, Parameter]]) -> tuple[object, ...]:
            stored, named = option
            unmapped = set(stored.hyperparameters) - served - set(named)
            return (stored.candidates == 0, -len(named), len(unmapped), -stored.candidates)

        if not options:
            return _Plan(None, roles, {})
        if not roles:  # then only a space that maps a parameter by name can answer
            options = [(s, named) for s, named in options if named]
        chosen, named = min(options, key=rank)  # min is stable: v1's space first on a tie
        return _Plan(chosen, roles, named)

    def warm_start(self, request: WarmStartRequest) -> WarmStartOut:
        """Up to ``k`` configurations of the nearest datasets, mapped into the client's space.

        Round robin over the neighbours (nearest first): each one's best configuration, then
        each one's second best, ...; configurations that map to the same point are served once.
        All come from one space (`_plan`), named in ``source_space``; from curated runs only
        unless the request includes reported ones. Each one's ``expected_score`` is its
        predicted normalised score on the target (`predicted_score` over the neighbours found),
        its ``score`` its raw validation score on the neighbour it comes from.
        """
        reported = request.include_reported
        plan = self._plan(request.search_space, reported)
        found = self._neighbors(
            request.dataset, request.neighbors, request.include_self, plan, reported
        )
        tables = [entry.table(plan.key, reported) if plan.key else () for _, entry in found]
        order = [p.name for p in request.search_space.parameters]
        scores = [
            (neighbor.distance, entry.normalised_scores(plan.key, reported) if plan.key else {})
            for neighbor, entry in found
        ]
        served: list[ConfigurationOut] = []
        seen: set[str] = set()
        depth = max((len(table) for table in tables), default=0)
        for rank in range(depth):
            for (neighbor, entry), table in zip(found, tables, strict=True):
                if len(served) == request.k or rank >= len(table):
                    continue
                config = table[rank]
                mapped, clipped = plan.params(config)
                params = {n: mapped[n] for n in order if n in mapped}
                key = repr(sorted(params.items()))
                if key in seen:
                    continue
                seen.add(key)
                served.append(
                    ConfigurationOut(
                        params=params,
                        expected_score=predicted_score(config.identity, scores),
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
                            config=config.config,
                        ),
                        clipped=clipped,
                        curve=list(config.curve) if request.include_curves else None,
                    )
                )
            if len(served) == request.k:
                break
        return WarmStartOut(
            configurations=served,
            neighbors=[_neighbor_out(n) for n, _ in found],
            unmapped=[n for n in order if n not in plan.mapped],
            metric=self.index.metric,
            source_space=plan.source(order),
        )

    def search_space(self, request: SearchSpaceRequest) -> SearchSpaceOut:
        """The client's space with its mapped parameters narrowed to the neighbours' box.

        The box spans the ``top`` best configurations of each neighbour (Syne Tune's bounding
        box) in the space `_plan` chooses; a box of one learning rate is widened to half a
        decade each side, of one batch size to a factor 2, of one value of a parameter mapped by
        name as `widened` says, so the search keeps room. Epochs are not narrowed: the stored
        runs stop at their own maximum, which says nothing about the client's.
        """
        reported = request.include_reported
        plan = self._plan(request.search_space, reported)
        found = self._neighbors(
            request.dataset, request.neighbors, request.include_self, plan, reported
        )
        order = [p.name for p in request.search_space.parameters]
        tops = [
            c
            for _, entry in found
            if plan.key
            for c in entry.table(plan.key, reported)[: request.top]
        ]
        if not tops:
            return SearchSpaceOut(
                search_space=request.search_space,
                narrowed=[],
                box=None,
                neighbors=[],
                source_space=plan.source(order),
            )
        lr_min, lr_max = min(c.lr for c in tops), max(c.lr for c in tops)
        bs_min, bs_max = min(c.batch_size for c in tops), max(c.batch_size for c in tops)
        if lr_min == lr_max:
            lr_min, lr_max = lr_min / math.sqrt(10), lr_max * math.sqrt(10)
        if bs_min == bs_max:
            bs_min, bs_max = max(1, bs_min // 2), bs_max * 2
        limits: dict[str, tuple[float, float]] = {}
        if "learning_rate" in plan.roles:
            limits[plan.roles["learning_rate"].name] = (lr_min, lr_max)
        if "batch_size" in plan.roles:
            limits[plan.roles["batch_size"].name] = (float(bs_min), float(bs_max))
        ranges: dict[str, RangeOut] = {}
        for name, parameter in plan.named.items():
            values = [float(c.config[name]) for c in tops]
            low, high = min(values), max(values)
            if low == high:
                low, high = widened(parameter, low)
            ranges[name] = RangeOut(min=low, max=high)
            limits[parameter.name] = (low, high)
        parameters = []
        narrowed: list[str] = []
        for parameter in request.search_space.parameters:
            limit = limits.get(parameter.name)
            smaller = narrow(parameter, *limit) if limit is not None else None
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
                hyperparameters=ranges,
            ),
            neighbors=[_neighbor_out(n) for n, _ in found],
            source_space=plan.source(order),
        )

    def report_runs(self, request: RunsRequest, *, idempotency_key: str | None = None) -> RunsOut:
        """Store reported runs in the meta-store, once; `report` with the answer's body only."""
        return self.report(request, idempotency_key).runs

    def report(self, request: RunsRequest, idempotency_key: str | None = None) -> Reported:
        """Store reported runs in the meta-store, once per report, and index them.

        The report is stored under ``idempotency_key`` (one per logical report, reused on its
        retries), or without one under the SHA-256 of its content: a repeat is answered what
        the first request was answered (``replayed``), storing nothing.

        Parameters are stored under tunegym's names (``lr``, ``batch_size``, ``max_epochs``)
        where they play those roles, the others under their own; each run keeps its per-epoch
        scores and its final one, with source ``reported``. The runs are served to requests
        that include reported runs (``include_reported``), in the largest known space whose
        hyperparameters they have all of (`WarmStartIndex.space_of`: runs with LCBench's seven
        join meta-dataset v2's configurations, runs with a learning rate and a batch size
        v1's). Runs without both a learning rate and a batch size are stored but cannot be
        served as configurations.

        Raises:
            WritesDisabledError: when the service has no store.
            IdempotencyKeyReusedError: for a key sent before with another report.
            StoreUnavailableError: when the store fails (full, read-only, locked, gone): a 503
                naming the problem; the report can be sent again once it is fixed.
        """
        if self.store is None:
            raise WritesDisabledError(
                "This service is read-only (no meta-store); start it with --store URL to "
                "accept reported runs."
            )
        renames = _reports.renames_of(request)
        digest = _reports.request_sha256(request)
        key = _reports.stored_key(idempotency_key, digest)
        store = self.store
        try:
            found = _reports.stored_answer(store, key)
            if found is not None:
                return self._replayed(found, digest, idempotency_key)
            ref, flow, records = _reports.prepared_runs(store, request, renames)
            stored = _reports.insert_once(store, key, digest, records, ref.label)
        except (MetaStoreWriteError, DBAPIError) as exc:
            raise self.store_failed(
                exc, "the reported runs were not stored", "send the report again"
            ) from exc
        self.store_error = None
        if isinstance(stored, _reports.StoredAnswer):  # the same key, stored meanwhile
            return self._replayed(stored, digest, idempotency_key)
        tables: dict[tuple[str, ...], pd.DataFrame] = {}
        if request.metric == self.index.metric:  # the index serves one measure
            tables = _reports.reported_curves(request, renames, stored, self.index)
        features = request.dataset.meta_features
        entry = self.index.update(ref.label, ref.openml_did, features, None, reported=True)
        for curves in tables.values():
            entry = self.index.update(
                ref.label, ref.openml_did, None, curves, flow=flow.name, reported=True
            )
        answer = RunsOut(run_ids=stored, dataset=entry.name, candidate=entry.is_candidate(True))
        try:
            _reports.record_answer(store, key, answer.model_dump(mode="json"))
        except (MetaStoreWriteError, DBAPIError) as exc:  # the runs are stored: answer anyway
            LOGGER.warning("Report %s stored, its answer not recorded: %s", key, exc)
        return Reported(answer)

    def _replayed(
        self, found: _reports.StoredAnswer, digest: str, idempotency_key: str | None
    ) -> Reported:
        """The answer stored under a report's key, if it is the same report."""
        if found.request_sha256 != digest:
            raise IdempotencyKeyReusedError(
                f"{_reports.KEY_HEADER} {idempotency_key!r} was used before for another report "
                f"(which stored runs {found.body.get('run_ids', [])[:5]}...); send each new "
                "report under a new key (a UUID), and reuse a key only to retry its report."
            )
        body = found.body
        if "candidate" not in body:  # the store failed right after storing the runs
            entry = self.index.get(str(body.get("dataset")))
            body = {
                **body,
                "dataset": entry.name if entry is not None else body.get("dataset"),
                "candidate": entry is not None and entry.is_candidate(True),
            }
        return Reported(RunsOut.model_validate(body), found.status_code, replayed=True)

    def store_failed(self, error: BaseException, failed: str, then: str) -> StoreUnavailableError:
        """The 503 of a store failure, remembered for `health` until a write succeeds."""
        unavailable_error = unavailable(error, failed, then)
        self.store_error = unavailable_error.detail
        LOGGER.error("%s", unavailable_error.detail)
        return unavailable_error


def _reported_only(entry: DatasetEntry | None, include_reported: bool) -> str:
    """A hint, for a dataset whose only qualities a tuner reported."""
    if entry is None or include_reported or not entry.reported_features:
        return ""
    return " Its only stored qualities were reported with runs: set 'include_reported' to use them."
