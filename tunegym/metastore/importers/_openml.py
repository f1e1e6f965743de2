"""Read OpenML's dataset qualities and its past MLP runs through the ``openml`` client.

Everything goes through the real client (``openml.datasets.get_dataset``,
``openml.flows.list_flows``, ``openml.evaluations.list_evaluations_setups``), so its REST calls,
XML parsing and retry policy (``openml.config.connection_n_retries``, ``retry_policy``) apply
unchanged. What is fetched is cached under tunegym's OpenML cache root
(:func:`tunegym.data.openml_cache_dir`): qualities where ``openml`` keeps them
(``org/openml/www/datasets/<did>/qualities.xml``), listings as tunegym's JSON rows under
``tunegym/``; a cached answer is served without touching the network.

The REST calls made, for reference (server ``https://www.openml.org/api/v1/xml``):

- ``data/<did>`` and ``data/qualities/<did>`` (``oml:data_set_description``,
  ``oml:data_qualities``);
- ``flow/list/limit/<n>/offset/<k>`` (``oml:flows``);
- ``evaluation/list/function/<measure>/limit/<n>/offset/<k>[/task/<ids>]/flow/<ids>``
  (``oml:evaluations``), then ``user/list/user_id/<ids>`` (``oml:users``) and
  ``setup/list/setup/<ids>/limit/1000/offset/0`` (``oml:setups``) for the page's setups.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from tunegym.data import OPENML_CACHE_ENV, openml_cache_dir
from tunegym.data._openml import _cache_root
from tunegym.errors import DatasetNotFoundError, MissingExtraError

__all__ = [
    "MAX_PAGE_SIZE",
    "MLP_FLOW_NAMES",
    "OpenMLFlowRef",
    "OpenMLImportError",
    "OpenMLQuality",
    "OpenMLRunEvaluation",
    "fetch_mlp_evaluations",
    "fetch_openml_qualities",
    "find_mlp_flows",
]

# scikit-learn renamed the module in 0.22; OpenML keeps one flow per name and version.
MLP_FLOW_NAMES = (
    "sklearn.neural_network.multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
)
MAX_PAGE_SIZE = 1000

# OpenML's error code for "Unknown dataset".
_UNKNOWN_DATASET = 111

_T = TypeVar("_T")


class OpenMLImportError(RuntimeError):
    """OpenML could not answer (unreachable, or refused) and the answer is not cached."""


@dataclass(frozen=True)
class OpenMLQuality:
    """One published quality (meta-feature) of an OpenML dataset.

    Attributes:
        openml_did: OpenML dataset id.
        dataset_name: OpenML's name of the dataset.
        quality: OpenML's quality name (``"ClassEntropy"``, ``"NumberOfInstances"`` ...).
        value: its value.
    """

    openml_did: int
    dataset_name: str
    quality: str
    value: float


@dataclass(frozen=True)
class OpenMLFlowRef:
    """An OpenML flow, as the flow listing describes it.

    Attributes:
        flow_id: OpenML flow id.
        name: the flow's name (``"sklearn.neural_network._multilayer_perceptron.MLPClassifier"``).
        version: OpenML's version number of that name.
        external_version: the library versions it was made with (``"sklearn==1.1.3 ..."``).
    """

    flow_id: int
    name: str
    version: int
    external_version: str


@dataclass(frozen=True)
class OpenMLRunEvaluation:
    """One OpenML run of a flow on a task, its setup (hyperparameters) and one evaluation.

    Attributes:
        run_id: OpenML run id.
        task_id: OpenML task id.
        setup_id: OpenML setup id (the flow with its hyperparameter values).
        flow_id: OpenML flow id.
        flow_name: the flow's name with its version, as OpenML lists it.
        openml_did: OpenML id of the task's dataset.
        dataset_name: OpenML's name of that dataset.
        measure: OpenML's evaluation measure (``"predictive_accuracy"`` ...).
        value: the measure, over the task's whole estimation procedure (e.g. 10-fold CV).
        upload_time: when the run was uploaded (``"2019-01-31 12:00:00"``).
        uploader: OpenML user id of the uploader.
        parameters: ``(full_name, value)`` of every hyperparameter of the setup, values as
            OpenML stores them (JSON text: ``"0.001"``, ``"[100]"``, ``"\\"relu\\""``).
    """

    run_id: int
    task_id: int
    setup_id: int
    flow_id: int
    flow_name: str
    openml_did: int
    dataset_name: str
    measure: str
    value: float
    upload_time: str
    uploader: int
    parameters: tuple[tuple[str, str], ...]

    def hyperparameters(self) -> dict[str, Any]:
        """The MLP's hyperparameters, by short name, their JSON values decoded.

        Only parameters of the flow's ``MLPClassifier`` component are kept, so a pipeline's
        other steps do not shadow them; a value that is not JSON stays text.

        Example:
            >>> ev = OpenMLRunEvaluation(1, 31, 5, 7, "MLPClassifier(1)", 31, "credit-g",
            ...     "predictive_accuracy", 0.7, "2020-01-01 00:00:00", 1,
            ...     (("sklearn.neural_network.MLPClassifier(1)_alpha", "0.001"),))
            >>> ev.hyperparameters()
            {'alpha': 0.001}
        """
        result: dict[str, Any] = {}
        for full_name, raw in self.parameters:
            # "<component flow name>(<version>)_<parameter>"; a pipeline's own parameters have
            # a component name that only contains "MLPClassifier" within its step list.
            component, sep, name = full_name.rpartition(")_")
            if not sep or not component.rsplit("(", 1)[0].endswith("MLPClassifier"):
                continue
            try:
                result[name] = json.loads(raw)
            except (TypeError, ValueError):
                result[name] = raw
        return result


def fetch_openml_qualities(
    dids: Iterable[int], *, cache_dir: str | os.PathLike[str] | None = None
) -> Iterator[OpenMLQuality]:
    """Yield OpenML's published qualities of each dataset in ``dids``.

    Each dataset's description and qualities are read from the cache, or fetched once and
    cached. A quality OpenML left empty yields no row; a dataset OpenML has computed no
    qualities for yields none.

    Args:
        dids: OpenML dataset ids.
        cache_dir: root of the OpenML cache (see :func:`tunegym.data.openml_cache_dir`).

    Raises:
        MissingExtraError: ``openml`` is not installed.
        DatasetNotFoundError: OpenML has no dataset with one of the ids.
        OpenMLImportError: a dataset is neither cached nor fetchable (the message names the
            cache folder).
    """
    openml = _import_openml("Fetching OpenML qualities")
    root = openml_cache_dir(cache_dir)
    for did in dids:
        where = root / "org" / "openml" / "www" / "datasets" / str(did)
        dataset = _call_openml(
            partial(
                openml.datasets.get_dataset,
                did,
                download_data=False,
                download_qualities=True,
                download_features_meta_data=False,
            ),
            root,
            what=f"the qualities of OpenML dataset {did}",
            where=where,
            did=did,
        )
        for quality, value in sorted((dataset.qualities or {}).items()):
            if not math.isnan(value):  # OpenML's empty ("null") qualities arrive as NaN
                yield OpenMLQuality(did, str(dataset.name), str(quality), float(value))


def find_mlp_flows(
    *,
    include_pipelines: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
) -> tuple[OpenMLFlowRef, ...]:
    """The OpenML flows of scikit-learn's ``MLPClassifier``, found in OpenML's flow listing.

    OpenML holds one flow per (name, library versions); those named in
    :data:`MLP_FLOW_NAMES` are the bare estimator, while pipelines ending in an MLP carry
    ``MLPClassifier`` inside a longer name. The listing (all flows, paged by the client) is
    fetched once and cached as ``tunegym/flows.json`` under the cache root.

    Args:
        include_pipelines: also return flows whose name merely contains ``MLPClassifier``
            (pipelines, searches wrapping an MLP).
        cache_dir: root of the OpenML cache.
        refresh: fetch the listing again even if it is cached.

    Raises:
        MissingExtraError: ``openml`` is not installed.
        OpenMLImportError: the listing is neither cached nor fetchable.
    """
    root = openml_cache_dir(cache_dir)

    def fetch() -> list[dict[str, Any]]:
        openml = _import_openml("Listing OpenML flows")
        frame = openml.flows.list_flows(output_format="dataframe")
        return [
            asdict(OpenMLFlowRef(int(r.id), str(r.name), int(r.version), str(r.external_version)))
            for r in frame.itertuples(index=False)
        ]

    path = root / "tunegym" / "flows.json"
    rows = _cached_json(path, fetch, root, what="OpenML's flow listing", refresh=refresh)
    flows = (OpenMLFlowRef(**row) for row in rows)
    return tuple(
        sorted(
            (
                f
                for f in flows
                if f.name in MLP_FLOW_NAMES or (include_pipelines and "MLPClassifier" in f.name)
            ),
            key=lambda f: f.flow_id,
        )
    )


def fetch_mlp_evaluations(
    flows: Collection[int] | None = None,
    *,
    tasks: Collection[int] | None = None,
    measure: str = "predictive_accuracy",
    page_size: int = MAX_PAGE_SIZE,
    max_rows: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
) -> Iterator[OpenMLRunEvaluation]:
    """Yield OpenML's runs of MLP flows with their setups and one evaluation measure each.

    Pages of ``page_size`` evaluations are requested with
    ``openml.evaluations.list_evaluations_setups(offset=k * page_size, size=page_size)``
    until a page comes back short; each page is cached as it arrives, so an interrupted
    import resumes from the cache and a repeated one needs no network.

    Args:
        flows: OpenML flow ids; by default those :func:`find_mlp_flows` finds (the bare
            ``MLPClassifier`` flows of every scikit-learn version).
        tasks: keep runs on these OpenML tasks only; all tasks by default.
        measure: OpenML evaluation measure.
        page_size: evaluations per request, 1 to :data:`MAX_PAGE_SIZE`.
        max_rows: stop after this many rows.
        cache_dir: root of the OpenML cache.
        refresh: fetch every page (and the flow listing, if used) again even if cached.

    Raises:
        ValueError: a page size out of range, a negative ``max_rows`` or no flows.
        MissingExtraError: ``openml`` is not installed.
        OpenMLImportError: a page is neither cached nor fetchable (the message names it).
    """
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be in [1, {MAX_PAGE_SIZE}]; got {page_size}.")
    if max_rows is not None and max_rows < 0:
        raise ValueError(f"max_rows must be >= 0; got {max_rows}.")
    flow_ids = sorted(
        {int(f) for f in flows}
        if flows is not None
        else {f.flow_id for f in find_mlp_flows(cache_dir=cache_dir, refresh=refresh)}
    )
    if not flow_ids:
        raise ValueError("No flows to list runs of: pass flows= with OpenML flow ids.")
    task_ids = None if tasks is None else sorted({int(t) for t in tasks})
    root = openml_cache_dir(cache_dir)
    query = {"measure": measure, "flows": flow_ids, "tasks": task_ids, "page_size": page_size}
    folder = root / "tunegym" / "evaluations" / _query_key(query)
    left = max_rows
    offset = 0
    while left is None or left > 0:
        rows = _cached_json(
            folder / f"offset_{offset}.json",
            partial(_fetch_page, measure, flow_ids, task_ids, offset, page_size),
            root,
            what=f"MLP evaluations {offset}..{offset + page_size - 1} ({query})",
            refresh=refresh,
        )
        for row in rows[:left]:
            yield OpenMLRunEvaluation(
                **{**row, "parameters": tuple(tuple(p) for p in row["parameters"])}
            )
        if left is not None:
            left -= min(left, len(rows))
        if len(rows) < page_size:
            return
        offset += page_size


def _fetch_page(
    measure: str, flows: list[int], tasks: list[int] | None, offset: int, size: int
) -> list[dict[str, Any]]:
    openml = _import_openml("Listing OpenML runs")
    frame = openml.evaluations.list_evaluations_setups(
        function=measure,
        flows=flows,
        tasks=tasks,
        offset=offset,
        size=size,
        output_format="dataframe",
    )
    return [
        asdict(
            OpenMLRunEvaluation(
                run_id=int(r["run_id"]),
                task_id=int(r["task_id"]),
                setup_id=int(r["setup_id"]),
                flow_id=int(r["flow_id"]),
                flow_name=str(r["flow_name"]),
                openml_did=int(r["data_id"]),
                dataset_name=str(r["data_name"]),
                measure=str(r["function"]),
                value=float("nan") if r["value"] is None else float(r["value"]),
                upload_time=str(r["upload_time"]),
                uploader=int(r["uploader"]),
                parameters=tuple(sorted((str(k), str(v)) for k, v in r["parameters"].items())),
            )
        )
        for r in frame.to_dict(orient="records")
    ]


def _query_key(query: dict[str, Any]) -> str:
    openml = _import_openml("Listing OpenML runs")
    text = json.dumps({**query, "server": openml.config.server}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached_json(
    path: Path,
    fetch: Callable[[], list[dict[str, Any]]],
    root: Path,
    *,
    what: str,
    refresh: bool,
) -> list[dict[str, Any]]:
    if path.is_file() and not refresh:
        rows: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
        return rows
    rows = _call_openml(fetch, root, what=what, where=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows), encoding="utf-8")
    tmp.replace(path)  # atomic: a crash never leaves a truncated page behind
    return rows


def _call_openml(
    call: Callable[[], _T], root: Path, *, what: str, where: Path, did: int | None = None
) -> _T:
    openml = _import_openml(f"Fetching {what}")
    from openml.exceptions import OpenMLServerException, PyOpenMLError

    with _cache_root(openml, root):
        try:
            return call()
        except OpenMLServerException as err:
            if did is not None and err.code == _UNKNOWN_DATASET:
                raise DatasetNotFoundError(f"OpenML has no dataset 'openml:{did}'.") from err
            raise OpenMLImportError(f"OpenML refused {what}: {err}") from err
        except (OSError, PyOpenMLError) as err:
            raise OpenMLImportError(
                f"Could not fetch {what}: it is not in the cache at '{where}' and OpenML could "
                f"not be reached ({type(err).__name__}: {err}). To fix: run this once on a "
                f"machine with network access (the answer is then cached), or copy a filled "
                f"cache into '{root}' (the folder is set by cache_dir= or ${OPENML_CACHE_ENV})."
            ) from err


def _import_openml(purpose: str) -> Any:
    try:
        import openml
    except ImportError as err:
        raise MissingExtraError("openml", "openml", purpose) from err
    return openml
