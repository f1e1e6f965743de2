"""Fine-tuning in `tune`: find a pre-trained model, add its candidates, keep the tuned model.

* `find_source` picks the model trials may start from: the one named (``from_model=``, a zoo
  entry of the store), else the store's newest zoo model of the same feature schema (last
  month's model of this table), else none.
* `finetune_search` adds the fine-tuning candidates (`tunegym.envs.finetune_configs`: the
  source's network, a narrower learning rate) to the scratch ones, in
  `tunegym.space.FINE_TUNE_SPACE`, the warm start's portfolio first: the greedy portfolio of the
  meta-dataset of fine-tuning's meta-train tasks (`tunegym.envs.finetune_pools`), which says
  whether fine-tuning or scratch comes first, mapped onto the candidates; its prior of every
  candidate (`tunegym.envs.finetune_prior`).
* `add_to_zoo` keeps a finished run's best model in the store's zoo, so the next run on new data
  of the same table finds it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tunegym.data import TabularDataset, schema_fingerprint
from tunegym.envs import (
    FineTuneSource,
    SearchSpace,
    finetune_configs,
    finetune_kinds,
    finetune_pools,
    finetune_prior,
)
from tunegym.envs._pool import nested_portfolio, normalised_finals
from tunegym.space import FINE_TUNE, FINE_TUNE_SPACE, LCBENCH_SPACE
from tunegym.training import spec_to_dict

if TYPE_CHECKING:
    from tunegym.agent._result import TuningResult
    from tunegym.metastore import MetaStore

__all__ = ["N_FINETUNE", "FineTuneSearch", "add_to_zoo", "find_source", "finetune_search"]

N_FINETUNE = 16
"""Fine-tuning candidates a search with a pre-trained model adds (the meta-dataset's number)."""

_PORTFOLIO = 8


def find_source(
    store: MetaStore | None,
    dataset: TabularDataset,
    from_model: str | int | None,
    *,
    transfer: bool = True,
) -> tuple[FineTuneSource | None, str]:
    """The pre-trained model a run may fine-tune, and a note of how it was found.

    Raises:
        ValueError: ``from_model`` without a store, a model that is not in the store's zoo (with
            the closest names), or one that shares no input column with ``dataset``.
    """
    if from_model is not None:
        if store is None:
            raise ValueError(
                f"from_model={from_model!r} names a model of a meta-store's zoo; pass the store "
                "too (store= / --store), or list its models with `tunegym zoo list --store S`."
            )
        source = FineTuneSource.from_zoo(store, from_model)
        shared = set(source.inputs) & set(dataset.feature_names_out)
        if not shared:
            raise ValueError(
                f"Model {source.name!r} (trained on {source.dataset}) shares no input column "
                f"with {dataset.name}: its inputs are {list(source.inputs)[:5]}…, this data's "
                f"{list(dataset.feature_names_out)[:5]}…; fine-tune a model of the same table."
            )
        return source, f"fine-tuning from {source.name} (given{_head(source, dataset)})"
    if not transfer or store is None:
        return None, ""
    schema = schema_fingerprint(dataset.info)
    usable = [
        e for e in store.zoo_models(schema=schema) if set(LCBENCH_SPACE.names) <= set(e.config)
    ]
    if not usable:
        return None, ""
    entry = usable[0]
    source = FineTuneSource.from_zoo(store, entry.id)
    return source, (
        f"fine-tuning from {entry.name} ({entry.dataset}, same feature schema"
        f"{_head(source, dataset)})"
    )


def _head(source: FineTuneSource, dataset: TabularDataset) -> str:
    if source.keeps_head(dataset):
        return "; its output layer kept"
    return "; a new output layer, probed" if source.probes(dataset) else "; a new output layer"


@dataclass(frozen=True, eq=False)
class FineTuneSearch:
    """Candidates of a search that may fine-tune, with their warm start.

    Attributes:
        space: the candidates, in `FINE_TUNE_SPACE`, the portfolio first.
        portfolio: how many lead candidates are the warm start's portfolio.
        prior: each candidate's prior, or ``None`` without the meta-dataset.
        note: how the warm start was had.
    """

    space: SearchSpace
    portfolio: int
    prior: npt.NDArray[np.float32] | None
    note: str


def finetune_search(
    scratch: SearchSpace, source: FineTuneSource, *, n: int = N_FINETUNE, seed: int = 0
) -> FineTuneSearch:
    """``scratch``'s candidates (LCBench's space) and ``n`` fine-tuning ones of ``source``."""
    fine = finetune_configs(source.config, n, seed=seed)
    note = "; no fine-tuning warm start (the meta-dataset has no meta-train target)"
    plain = [dict(c) | {FINE_TUNE: 0} for c in scratch.candidates]
    configs: list[dict[str, Any]] = [*fine, *plain]
    try:
        train = finetune_pools(part="meta-train")
    except FileNotFoundError as error:
        train, note = [], f"; no fine-tuning warm start ({error})"
    order = list(range(len(configs)))
    prior = None
    picks: list[int] = []
    if train:
        picks = _portfolio_picks(train, configs)
        order = picks + [i for i in order if i not in picks]
        configs = [configs[i] for i in order]
        prior = finetune_prior(train, configs)
        kinds = ["fine-tune" if configs[i].get(FINE_TUNE) else "scratch" for i in range(len(picks))]
        note = (
            f"; fine-tuning warm start from {len(train)} meta-train targets "
            f"(portfolio: {', '.join(kinds)})"
        )
    space = SearchSpace.of_configs(
        FINE_TUNE_SPACE, configs, max_epochs=scratch.max_epochs, k_choices=scratch.k_choices
    )
    return FineTuneSearch(space, len(picks), prior, note)


def _portfolio_picks(train: Sequence[Any], configs: Sequence[Mapping[str, Any]]) -> list[int]:
    """The meta-train targets' portfolio (`nested_portfolio`: the scratch-only portfolio, in
    order, with fine-tuning picks where the greedy portfolio over both kinds puts them), each
    pick mapped to the nearest candidate of its kind not picked yet."""
    table = normalised_finals(train)
    pool_configs = train[0].configs
    unit = FINE_TUNE_SPACE.to_unit_many(configs)
    kinds = finetune_kinds(configs)
    pool_kinds = finetune_kinds(pool_configs)
    picked: list[int] = []
    for j in nested_portfolio(table, pool_kinds, _PORTFOLIO):
        config = pool_configs[j]
        d = ((unit - FINE_TUNE_SPACE.to_unit(config)) ** 2).sum(axis=1)
        d = np.where(kinds == int(config.get(FINE_TUNE, 0)), d, np.inf)
        d[picked] = np.inf
        if np.isfinite(d).any():
            picked.append(int(np.argmin(d)))
    return picked


def add_to_zoo(store: MetaStore, result: TuningResult, dataset: TabularDataset) -> str | None:
    """Keep the run's best model in ``store``'s zoo; return its name (``None``: no model)."""
    if result.model is None or result.best is None:
        return None
    config = {k: v for k, v in result.best.config.items() if k != FINE_TUNE}
    scores = {"val_" + result.metric.removeprefix("val_"): float(result.best.val_score)}
    scores |= {k: float(v) for k, v in result.test_metrics.items() if np.isfinite(v)}
    entry = store.zoo_add(
        {k: v.detach().cpu() for k, v in result.model.state_dict().items()},
        dataset=dataset.name,
        schema=schema_fingerprint(dataset.info),
        feature_names=list(dataset.info.feature_names),
        feature_names_out=list(dataset.feature_names_out),
        class_names=list(dataset.info.class_names),
        spec=spec_to_dict(result.model.spec),
        config=config,
        scores=scores,
        epochs=int(result.best.epochs),
        note=f"tunegym tune ({result.method}, seed {result.seed})",
    )
    return entry.name
