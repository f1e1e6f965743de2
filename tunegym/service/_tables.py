"""The per-space configuration tables of the service's index (`tunegym.service._index`).

Each configuration belongs to a *space* (`StoredSpace`): the set of hyperparameter names its runs
were recorded with — meta-dataset v1's learning rate × batch size (``lr-bs``), meta-dataset v2's
seven of LCBench (``lcbench``), or another — and a dataset (`DatasetEntry`) keeps one config
table per space, so configurations of different spaces (Adam's learning rates and SGD's) never
mix. This module holds the spaces' keys and names (`space_key`, `largest_space`), a
configuration's scores (`ConfigStats`), the tables built from long curve tables
(`config_table`) and merged as runs are reported (`merged_table`), and a stored run's values
under the index's names (`stored_values`).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from tunegym.metastore._values import config_columns
from tunegym.service._schemas import BATCH_KEYS, LR_KEYS
from tunegym.space import SPACES

__all__ = [
    "GRID_SPACE",
    "LCBENCH_KEY",
    "ConfigStats",
    "DatasetEntry",
    "StoredSpace",
    "canonical_name",
    "config_table",
    "largest_space",
    "merged_table",
    "space_key",
    "space_name",
    "stored_values",
]

LEARNING_RATE: Final = "learning_rate"
BATCH_SIZE: Final = "batch_size"

Origin = Literal["snapshot", "store", "reported"]
SpaceKey = tuple[str, ...]
Value = float | int


def canonical_name(name: str) -> str:
    """A stored hyperparameter's name in the index: ``learning_rate`` for a learning rate
    (``lr``, ``learning_rate_init``), ``batch_size`` for a batch size, else the name itself."""
    if name in LR_KEYS:
        return LEARNING_RATE
    if name in BATCH_KEYS:
        return BATCH_SIZE
    return name


def space_key(names: Iterable[str]) -> SpaceKey:
    """The key of the space of these hyperparameter names: their canonical names, sorted.

    Example:
        >>> space_key(["lr", "batch_size"])
        ('batch_size', 'learning_rate')
    """
    return tuple(sorted({canonical_name(n) for n in names}))


GRID_SPACE: Final = space_key(SPACES["lr-bs"].names)
"""Meta-dataset v1's space (learning rate x batch size), and that of runs known by those two."""
LCBENCH_KEY: Final = space_key(SPACES["lcbench"].names)
"""Meta-dataset v2's space: LCBench's seven hyperparameters."""
_BUILT_IN: Final = {space_key(s.names): name for name, s in SPACES.items()}


def space_name(key: SpaceKey) -> str:
    """A built-in space's name (``lr-bs``, ``lcbench``) for its names, else the names."""
    return _BUILT_IN.get(key, "+".join(key))


def largest_space(known: Iterable[SpaceKey], names: Collection[str]) -> SpaceKey:
    """The largest of ``known`` whose names are all in ``names`` (else the grid's)."""
    have = set(names)
    fits = [key for key in known if set(key) <= have]
    return max(fits, key=lambda key: (len(key), key), default=GRID_SPACE)


@dataclass(frozen=True)
class StoredSpace:
    """A search space the index holds configurations of.

    Attributes:
        hyperparameters: its hyperparameters' names, sorted (a learning rate is always called
            ``learning_rate`` and a batch size ``batch_size`` here, whatever the runs called
            them); every space has both.
        name: a built-in space's name (``lr-bs``, ``lcbench``; `tunegym.space.SPACES`) when the
            names are its, else the names joined by ``+``.
        meta_datasets: where its configurations come from: ``v1``/``v2`` (the shipped
            meta-datasets), ``snapshot`` (another snapshot folder), ``store`` (meta-store runs).
        flows: the flows (models) that trained its runs.
        candidates: datasets with qualities and configurations in it (possible neighbours).
    """

    hyperparameters: SpaceKey
    name: str
    meta_datasets: tuple[str, ...] = ()
    flows: tuple[str, ...] = ()
    candidates: int = 0

    def joined(self, meta_dataset: str, flows: Iterable[str]) -> StoredSpace:
        """This space with one more source and its flows."""
        return replace(
            self,
            meta_datasets=tuple(dict.fromkeys([*self.meta_datasets, meta_dataset])),
            flows=tuple(sorted({*self.flows, *flows})),
        )


ConfigIdentity = tuple[tuple[str, Value], ...]
"""A configuration's every hyperparameter value, by name (`ConfigStats.identity`)."""


@dataclass(frozen=True)
class ConfigStats:
    """One configuration of a dataset in one space: its scores, mean over seeds.

    Attributes:
        lr: learning rate.
        batch_size: batch size.
        epochs: the epoch with the best mean score.
        best: that best mean score.
        final: the mean final score (each seed's last epoch).
        expected: ``final`` scaled to [0, 1] between the dataset's worst and best config (its
            normalised score there; `predicted_score` averages it over neighbours).
        seeds: the seeds behind it.
        run_ids: the meta-store runs behind it (empty for the snapshot).
        curve: mean score per epoch (1, 2, ...).
        origin: where it was read from: a shipped or given snapshot, the meta-store's own runs
            (collected, imported), or runs tuners reported to the service (``reported``: also
            a curated configuration pooled with reported runs of it).
        hyperparameters: the whole configuration, (name, value) by name: its space's names
            (``learning_rate`` and ``batch_size`` repeat ``lr`` and ``batch_size``).
    """

    lr: float
    batch_size: int
    epochs: int
    best: float
    final: float
    expected: float
    seeds: tuple[int, ...]
    run_ids: tuple[int, ...]
    curve: tuple[float, ...]
    origin: Origin
    hyperparameters: tuple[tuple[str, Value], ...] = ()

    @property
    def config(self) -> dict[str, Value]:
        """The configuration as a mapping (name -> value)."""
        if not self.hyperparameters:
            return {LEARNING_RATE: self.lr, BATCH_SIZE: self.batch_size}
        return dict(self.hyperparameters)

    @cached_property
    def identity(self) -> ConfigIdentity:
        """What makes two stats one configuration: every hyperparameter's value (computed
        once: the warm start looks every served configuration up in each neighbour's table)."""
        return tuple(sorted(self.config.items()))


@dataclass
class DatasetEntry:
    """A dataset of the index: qualities and, per space, configurations (best first).

    Curated data (the snapshots, the meta-store's own runs, OpenML's qualities) and what tuners
    reported through the service are kept apart: ``features`` and ``tables`` hold the first,
    ``reported_features`` and ``reported`` the second, ``pooled`` both (a configuration with
    curated and reported runs pooled into one, `merged_table`). Requests read the curated side
    unless they ask for reported runs too.
    """

    name: str
    openml_did: int | None
    features: dict[str, float] = field(default_factory=dict)
    tables: dict[SpaceKey, tuple[ConfigStats, ...]] = field(default_factory=dict)
    reported_features: dict[str, float] = field(default_factory=dict)
    reported: dict[SpaceKey, tuple[ConfigStats, ...]] = field(default_factory=dict)
    pooled: dict[SpaceKey, tuple[ConfigStats, ...]] = field(default_factory=dict)
    _scores: dict[
        tuple[SpaceKey, bool], tuple[tuple[ConfigStats, ...], dict[ConfigIdentity, float]]
    ] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def configs(self) -> tuple[ConfigStats, ...]:
        """Its curated configurations in the learning-rate × batch-size space (meta-dataset
        v1's and the runs known by those two only); `table` gives any space's."""
        return self.tables.get(GRID_SPACE, ())

    def table(
        self, space: Sequence[str], include_reported: bool = False
    ) -> tuple[ConfigStats, ...]:
        """Its configurations in ``space`` (a `StoredSpace.hyperparameters`), best first:
        the curated ones, or (``include_reported``) those pooled with reported runs."""
        return (self.pooled if include_reported else self.tables).get(tuple(space), ())

    def normalised_scores(
        self, space: Sequence[str], include_reported: bool = False
    ) -> Mapping[ConfigIdentity, float]:
        """Its configurations' normalised scores (``expected``) in ``space``, by identity.

        Built once per table (a merge makes a new table, and so a new mapping here): the warm
        start looks every served configuration up in each neighbour's.
        """
        table = self.table(space, include_reported)
        key = (tuple(space), include_reported)
        cached = self._scores.get(key)
        if cached is None or cached[0] is not table:
            cached = (table, {c.identity: c.expected for c in table})
            self._scores[key] = cached
        return cached[1]

    def qualities(self, include_reported: bool = False) -> dict[str, float]:
        """Its curated qualities, or (``include_reported``) those over the reported ones."""
        if not include_reported or not self.reported_features:
            return self.features
        return {**self.reported_features, **self.features}

    def is_candidate(self, include_reported: bool = False) -> bool:
        """Whether it can be a neighbour: it has both qualities and scored configurations
        (curated ones, or either kind with ``include_reported``)."""
        if include_reported:
            return bool(self.features or self.reported_features) and any(self.pooled.values())
        return bool(self.features) and any(self.tables.values())

    @property
    def candidate(self) -> bool:
        """Whether it is a neighbour on curated data alone (`is_candidate`)."""
        return self.is_candidate()

    def merge(self, key: SpaceKey, configs: Iterable[ConfigStats], reported: bool) -> None:
        """Add configurations of ``key``'s space to its curated or its reported table."""
        side = self.reported if reported else self.tables
        side[key] = merged_table(side.get(key, ()), configs)
        extra = self.reported.get(key, ())
        curated = self.tables.get(key, ())
        self.pooled[key] = merged_table(curated, extra) if extra else curated


def config_table(
    curves: pd.DataFrame,
    metric: str,
    origin: Origin,
    columns: Sequence[str] | None = None,
) -> dict[str, list[ConfigStats]]:
    """Per dataset, its `ConfigStats` (best first) from a long curve table of one space.

    ``curves`` has columns dataset, the configuration's (``columns``; default
    `tunegym.metastore._values.config_columns`: ``lr`` and ``batch_size`` on the grid,
    LCBench's seven off it), seed, epoch, ``metric`` and optionally run_id. The configuration
    needs a learning rate (``lr``, ``learning_rate`` or ``learning_rate_init``) and a batch
    size. Epochs with a non-finite score are dropped; a config left without scores is too, and
    so is one missing a hyperparameter's value. Vectorised: the 540,000 rows of the shipped
    snapshot take well under a second.

    Raises:
        ValueError: for configuration columns without a learning rate or a batch size.
    """
    given = list(columns) if columns is not None else config_columns(curves)
    names = [canonical_name(c) for c in given]
    if LEARNING_RATE not in names or BATCH_SIZE not in names or len(set(names)) != len(names):
        raise ValueError(
            f"The configurations' columns {given} need one learning rate (lr or learning_rate) "
            "and one batch size (batch_size): the service serves runs by those two at least."
        )
    data: dict[str, Any] = {"dataset": curves["dataset"].astype(str).to_numpy()}
    integer: dict[str, bool] = {}
    for column, name in zip(given, names, strict=True):
        values = curves[column]
        integer[name] = name == BATCH_SIZE or pd.api.types.is_integer_dtype(values)
        data[name] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    data |= {
        "seed": curves["seed"].to_numpy(dtype=np.int64),
        "epoch": curves["epoch"].to_numpy(dtype=np.int64),
        "score": curves[metric].to_numpy(dtype=np.float64),
        "run_id": curves["run_id"].to_numpy(dtype=np.int64) if "run_id" in curves else -1,
    }
    frame = pd.DataFrame(data)
    keep = np.isfinite(frame["score"].to_numpy())
    for name in names:
        keep &= np.isfinite(frame[name].to_numpy())
    frame = frame[keep]
    if frame.empty:
        return {}
    space = sorted(names)
    keys = ["dataset", LEARNING_RATE, BATCH_SIZE, *(n for n in space if n not in _ROLE_COLUMNS)]
    # Every table below is sorted by the config keys, so they line up row for row.
    mean = frame.groupby([*keys, "epoch"], sort=True)["score"].mean().reset_index()
    starts = _starts(mean, keys)
    last = frame.sort_values([*keys, "seed", "epoch"]).drop_duplicates([*keys, "seed"], keep="last")
    final = last.groupby(keys, sort=True)["score"].mean().to_numpy()
    seeds = frame[[*keys, "seed"]].drop_duplicates().sort_values([*keys, "seed"])
    runs = frame[[*keys, "run_id"]].drop_duplicates().sort_values([*keys, "run_id"])
    seed_starts, run_starts = _starts(seeds, keys), _starts(runs, keys)
    values, epochs = mean["score"].to_numpy(), mean["epoch"].to_numpy()
    seed_values, run_values = seeds["seed"].to_numpy(), runs["run_id"].to_numpy()
    datasets = mean["dataset"].to_numpy()
    settings = {n: mean[n].to_numpy() for n in space}
    out: dict[str, list[ConfigStats]] = {}
    for i in range(len(starts) - 1):
        a, b = starts[i], starts[i + 1]
        curve = values[a:b]
        best_at = int(np.argmax(curve))
        config = tuple(
            (n, int(settings[n][a]) if integer[n] else float(settings[n][a])) for n in space
        )
        out.setdefault(str(datasets[a]), []).append(
            ConfigStats(
                lr=float(settings[LEARNING_RATE][a]),
                batch_size=int(settings[BATCH_SIZE][a]),
                epochs=int(epochs[a + best_at]),
                best=float(curve[best_at]),
                final=float(final[i]),
                expected=0.0,
                seeds=tuple(int(v) for v in seed_values[seed_starts[i] : seed_starts[i + 1]]),
                run_ids=tuple(
                    int(v) for v in run_values[run_starts[i] : run_starts[i + 1]] if v >= 0
                ),
                curve=tuple(curve.tolist()),
                origin=origin,
                hyperparameters=config,
            )
        )
    return {name: _ranked(configs) for name, configs in out.items()}


_ROLE_COLUMNS: Final = (LEARNING_RATE, BATCH_SIZE)


def _starts(table: pd.DataFrame, keys: Sequence[str]) -> np.ndarray:
    """Row positions where a new config starts in a table sorted by ``keys``, and its length."""
    changed = np.zeros(len(table), dtype=bool)
    changed[0] = True
    for key in keys:
        column = table[key].to_numpy()
        changed[1:] |= column[1:] != column[:-1]
    return np.append(np.flatnonzero(changed), len(table))


def _ranked(configs: Iterable[ConfigStats]) -> list[ConfigStats]:
    """Best first (final, then best score), each with its normalised ``expected`` score."""
    configs = sorted(
        configs, key=lambda c: (-c.final, -c.best, c.lr, c.batch_size, c.hyperparameters)
    )
    if not configs:
        return []
    low, high = min(c.final for c in configs), max(c.final for c in configs)
    scale = (lambda v: (v - low) / (high - low)) if high > low else (lambda v: 1.0)
    return [replace(c, expected=float(scale(c.final))) for c in configs]


DISTANCE_EPS: Final = 1e-3
"""Added to a neighbour's distance before weighting by its inverse (distance 0: the target's
own runs weigh 1,000, a neighbour at 0.05 about 20), as `tunegym.metastore`'s prior does."""


def predicted_score(
    identity: ConfigIdentity, neighbors: Sequence[tuple[float, Mapping[ConfigIdentity, float]]]
) -> float:
    """A configuration's predicted normalised score on the target, in [0, 1].

    The distance-weighted mean (weights ``1 / (distance + DISTANCE_EPS)``) of its normalised
    final score (``ConfigStats.expected``: 0 = that dataset's worst configuration, 1 = its
    best) over the neighbours that ran it: how good it is across the similar datasets.
    ``neighbors``: each neighbour's distance and `DatasetEntry.normalised_scores`.

    Raises:
        KeyError: when no neighbour ran it.
    """
    total = weight = 0.0
    for distance, scores in neighbors:
        score = scores.get(identity)
        if score is None:
            continue
        # An infinite distance (no shared quality) still counts, barely: never a 0/0.
        w = 1.0 / (max(distance, 0.0) + DISTANCE_EPS) if math.isfinite(distance) else 1e-12
        total += w * score
        weight += w
    if weight == 0.0:
        raise KeyError(identity)
    return min(1.0, max(0.0, total / weight))


def merged_table(
    table: Iterable[ConfigStats], configs: Iterable[ConfigStats]
) -> tuple[ConfigStats, ...]:
    """``table`` with ``configs`` added, best first.

    A config of ``table`` that ``configs`` has too is combined with it (`_combined`) when the
    two come from different runs — both the store's (more runs of it), or either reported —
    and replaced by it otherwise (the store's runs of a snapshot config may be the snapshot's
    own, imported: pooling would count them twice).
    """
    merged = {c.identity: c for c in table}
    for config in configs:
        old = merged.get(config.identity)
        if old is not None and (
            "reported" in (old.origin, config.origin) or old.origin == config.origin == "store"
        ):
            config = _combined(old, config)
        merged[config.identity] = config
    return tuple(_ranked(merged.values()))


def _combined(a: ConfigStats, b: ConfigStats) -> ConfigStats:
    """Two stats of one config from different runs: a seed-weighted mean (``reported`` when
    either is)."""
    na, nb = max(len(a.seeds), 1), max(len(b.seeds), 1)
    length = max(len(a.curve), len(b.curve))
    curve = [
        np.average(
            [c[e] for c in (a.curve, b.curve) if e < len(c)],
            weights=[n for c, n in ((a.curve, na), (b.curve, nb)) if e < len(c)],
        )
        for e in range(length)
    ]
    best_at = int(np.argmax(curve))
    return ConfigStats(
        lr=a.lr,
        batch_size=a.batch_size,
        epochs=best_at + 1,
        best=float(curve[best_at]),
        final=float((a.final * na + b.final * nb) / (na + nb)),
        expected=0.0,
        seeds=tuple(sorted({*a.seeds, *b.seeds})),
        run_ids=tuple(sorted({*a.run_ids, *b.run_ids})),
        curve=tuple(float(v) for v in curve),
        origin="reported" if "reported" in (a.origin, b.origin) else "store",
        hyperparameters=a.hyperparameters,
    )


def _number(value: Any) -> bool:
    """Whether ``value`` is a finite int or float (a bool is not)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _usable(lr: Any, batch_size: Any) -> bool:
    """Whether a stored run's values can be served: a positive learning rate, a batch size >= 1."""
    return _number(lr) and _number(batch_size) and lr > 0 and batch_size >= 1


def _param(params: Mapping[str, Any], keys: Sequence[str]) -> Any:
    for key in keys:
        if key in params:
            return params[key]
    return None


def stored_values(params: Mapping[str, Any]) -> dict[str, Value] | None:
    """A stored run's numeric hyperparameters under the index's names, or ``None`` when it has
    no usable learning rate and batch size (then it cannot be served).

    Strings and booleans are no hyperparameters the service maps; a second name for the
    learning rate (``lr`` beside ``learning_rate``) is dropped: `LR_KEYS` order decides.
    """
    lr, batch_size = _param(params, LR_KEYS), _param(params, BATCH_KEYS)
    if not _usable(lr, batch_size):
        return None
    out: dict[str, Value] = {LEARNING_RATE: float(lr), BATCH_SIZE: int(batch_size)}
    for name, value in params.items():
        canonical = canonical_name(name)
        if canonical not in out and _number(value):
            out[canonical] = value
    return out
