"""Fine-tuning from pre-trained models: the source, its candidates, and their curves.

* `FineTuneSource` is a pre-trained model a trial can start from: a model-zoo entry's weights,
  network, inputs and classes. `FineTuneSource.init_state` gives a target dataset's starting
  weights (`tunegym.training.transfer_state`: hidden layers copied, inputs aligned by name, the
  head kept when the classes are the same, new otherwise), and a new head is first fitted on
  the source's frozen features (`FineTuneSource.probes`, `tunegym.training.probe_head`).
* `finetune_configs` shrinks the search for it: the source's network, a learning rate within
  ``[lr / 30, lr]`` of the one it was trained with, and the rest of how it trains (batch size,
  momentum, weight decay) searched as from scratch. `scratch_configs` are the usual candidates
  (a portfolio, then Sobol points), marked ``fine_tune=0``; both are points of
  `tunegym.space.FINE_TUNE_SPACE`.
* `transfer_pairs` finds sources and targets among datasets: within a family (the same source
  table, `tunegym.metastore.dataset_family`) and a feature schema
  (`tunegym.data.schema_fingerprint`), the member with the most rows is the source of the others.
* `train_source` trains a source and `record_finetune_curves` records every candidate's curve on
  a target (the meta-dataset of fine-tuning, ``experiments/collect_finetune.py``).

Sources and targets are split with ``split="rows"`` (`tunegym.data.load_dataset`): a row is in
the same part in every dataset of its family, so no target test row was seen by its source.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import torch

from tunegym.data import TabularDataset, load_dataset, schema_fingerprint
from tunegym.envs._backends import trial_setup
from tunegym.space import FINE_TUNE, FINE_TUNE_SPACE, LCBENCH_SPACE, Float, Space
from tunegym.training import (
    EpochRecord,
    FunnelSpec,
    ModelSpec,
    Trial,
    build_mlp,
    probe_accuracy,
    spec_from_dict,
    spec_to_dict,
    transfer_state,
)

if TYPE_CHECKING:
    from tunegym.envs._pool import CurvePool
    from tunegym.metastore import MetaStore

__all__ = [
    "FINETUNE_SNAPSHOT_DIR",
    "FT_LR_SPAN",
    "FineTuneSource",
    "TransferCheck",
    "TransferPair",
    "finetune_checks",
    "finetune_configs",
    "finetune_kinds",
    "finetune_pools",
    "finetune_prior",
    "record_finetune_curves",
    "scratch_configs",
    "source_json",
    "train_source",
    "transfer_pairs",
]

FINETUNE_SNAPSHOT_DIR: Final = (
    Path(__file__).resolve().parents[1] / "metastore" / "snapshot_finetune"
)
"""The meta-dataset of fine-tuning that ships (``experiments/collect_finetune.py`` writes it)."""

FT_LR_SPAN: Final = 30.0
"""Fine-tuning searches learning rates in ``[lr / FT_LR_SPAN, lr]`` of the source's ``lr``."""

_NETWORK: Final = ("max_dropout", "max_units", "num_layers")
_CURVE_COLUMNS: Final = ("val_accuracy", "val_balanced_accuracy", "test_accuracy",
                         "test_balanced_accuracy", "val_loss", "train_loss")  # fmt: skip


@dataclass(frozen=True)
class TransferCheck:
    """Whether a source's features help a target, measured before any epoch.

    A linear probe (`tunegym.training.probe_accuracy`: `probe_head`'s ridge fit on every
    training row) on the source's frozen hidden features, against the same probe on the
    target's raw inputs, both read on the target's validation rows. Fine-tuning pays when the
    source's features score higher (by at least one validation row): on the meta-dataset of
    fine-tuning's 39 meta-train targets, the shipped agent's transfer runs were worse than
    scratch beyond seed noise on 5 at 100 epochs, 3 of them where the features did not score
    higher (docs/TRANSFER.md).

    Attributes:
        probe: the validation accuracy of the probe on the source's features.
        raw: the validation accuracy of the probe on the raw inputs.
        seconds: what the check took.
    """

    probe: float
    raw: float
    seconds: float = 0.0

    @property
    def gain(self) -> float:
        """``probe - raw``: what the source's features add to a linear model."""
        return self.probe - self.raw

    @property
    def pays(self) -> bool:
        """Whether fine-tuning candidates are worth adding: the features score higher."""
        return bool(self.gain > 0)  # NaN (a failed fit) is not

    def describe(self) -> str:
        """One line for a run's note."""
        return (
            f"a linear probe on its features scores {self.probe:.3f} on validation, on the raw "
            f"inputs {self.raw:.3f}"
        )


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: w.detach().cpu().clone() for n, w in model.state_dict().items()}


@dataclass(frozen=True, eq=False)
class FineTuneSource:
    """A pre-trained model that trials may start from.

    Attributes:
        name: its model-zoo name.
        weights: its ``state_dict``.
        spec: its network.
        config: its configuration of `tunegym.space.LCBENCH_SPACE` (network and training).
        inputs: its input columns (the preprocessed features it was trained on).
        classes: the label of each of its outputs.
        dataset: the dataset it was trained on.
        score: its validation score there, where known.
        keep_head: whether a target's output layer starts as the source's: ``None`` when its
            classes have the same names in the same order (new data of the same table), else
            a new output layer. KEEL's binarised siblings all name their classes
            ``positive``/``negative`` but mean other ones: their collection passes ``False``.
        probe: whether a new output layer is fitted to the target's training rows on the
            source's hidden layers before fine-tuning (`tunegym.training.probe_head`, linear
            probing then fine-tuning), rather than left at its random initialisation.
    """

    name: str
    weights: Mapping[str, torch.Tensor] = field(repr=False)
    spec: ModelSpec
    config: Mapping[str, Any]
    inputs: tuple[str, ...]
    classes: tuple[str, ...]
    dataset: str = ""
    score: float | None = None
    keep_head: bool | None = None
    probe: bool = True

    def __post_init__(self) -> None:
        missing = sorted(set(LCBENCH_SPACE.names) - set(self.config))
        if missing:
            raise ValueError(
                f"Model {self.name!r} cannot be fine-tuned in LCBench's space: its configuration "
                f"lacks {missing} (a model tuned on the lr-bs grid is not one of its networks; "
                "tune on the default space to get one)."
            )

    @classmethod
    def from_zoo(cls, store: MetaStore, ref: str | int) -> FineTuneSource:
        """The zoo entry ``ref`` (name or id) of ``store``, weights read and checked."""
        entry = store.zoo_get(ref)
        return cls(
            name=entry.name,
            weights=store.zoo_weights(entry),
            spec=spec_from_dict(entry.spec),
            config={k: v for k, v in entry.config.items() if k in LCBENCH_SPACE.names},
            inputs=tuple(entry.feature_names_out),
            classes=tuple(entry.class_names),
            dataset=entry.dataset,
            score=entry.scores.get("val_accuracy"),
        )

    def trial_spec(self) -> ModelSpec:
        """The network of a trial fine-tuning it: its own, a funnel keeping its hidden widths
        whatever the target's number of classes."""
        if isinstance(self.spec, FunnelSpec) and self.spec.out_width is None:
            return replace(self.spec, out_width=len(self.classes))
        return self.spec

    def keeps_head(self, dataset: TabularDataset) -> bool:
        """Whether a fine-tuning trial on ``dataset`` starts with the source's output layer."""
        same = tuple(dataset.info.class_names) == self.classes
        return same if self.keep_head is None else self.keep_head and same

    def probes(self, dataset: TabularDataset) -> bool:
        """Whether a fine-tuning trial on ``dataset`` fits its new output layer first."""
        return self.probe and not self.keeps_head(dataset)

    def transfer_check(self, dataset: TabularDataset, seed: int = 0) -> TransferCheck:
        """Whether its features help ``dataset`` (`TransferCheck`), before any epoch: a linear
        probe on its hidden layers (the start of a fine-tuning trial with seed ``seed``) against
        one on the raw inputs."""
        start = time.perf_counter()
        spec = self.trial_spec()
        model = build_mlp(spec, dataset.n_features, dataset.n_classes, seed=seed)
        model.load_state_dict(self.init_state(dataset, seed))
        model.eval()
        X, y = dataset.X_train.float(), dataset.y_train.long()
        X_val, y_val = dataset.X_val.float(), dataset.y_val.long()
        with torch.no_grad():
            hidden, hidden_val = model.hidden(X), model.hidden(X_val)
        n = dataset.n_classes
        return TransferCheck(
            probe=probe_accuracy(hidden, y, hidden_val, y_val, n),
            raw=probe_accuracy(X, y, X_val, y_val, n),
            seconds=time.perf_counter() - start,
        )

    def trial_start(self, dataset: TabularDataset, seed: int) -> dict[str, Any]:
        """How a fine-tuning trial on ``dataset`` with seed ``seed`` starts, as
        `tunegym.training.Trial`'s keywords: ``Trial(dataset, config, self.trial_spec(),
        **self.trial_start(dataset, seed))``."""
        return {"init": self.init_state(dataset, seed), "probe_head": self.probes(dataset)}

    def init_state(self, dataset: TabularDataset, seed: int) -> dict[str, torch.Tensor]:
        """The starting weights of a fine-tuning trial on ``dataset`` with seed ``seed`` (a new
        output layer at its random initialisation: `probes` says whether to fit it)."""
        model = build_mlp(self.trial_spec(), dataset.n_features, dataset.n_classes, seed=seed)
        return transfer_state(
            self.weights,
            model,
            source_inputs=_numbered(self.inputs),
            target_inputs=_numbered(dataset.feature_names_out),
            same_classes=self.keeps_head(dataset),
            seed=seed,
        )


def _numbered(names: Sequence[str]) -> list[str]:
    """Input names made unique by their rank among equal ones (``x``, ``x#1``): the one-hot
    encoder can name two columns alike (a pooled ``<column>_other`` beside a level ``other``),
    and both sides number them in the same order."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        k = seen.get(name, 0)
        seen[name] = k + 1
        out.append(name if k == 0 else f"{name}#{k}")
    return out


def finetune_configs(source: Mapping[str, Any], n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` fine-tuning candidates of a source trained with ``source`` (LCBench's space).

    Each keeps the source's network; the first trains on at the geometric middle of
    ``[lr / FT_LR_SPAN, lr]`` with the source's batch size, momentum and weight decay, the rest
    are Sobol points of that learning-rate range × LCBench's batch size, momentum and weight decay.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}.")
    lr_param = LCBENCH_SPACE["learning_rate"]
    assert isinstance(lr_param, Float)
    lr = float(source["learning_rate"])
    low = max(lr / FT_LR_SPAN, lr_param.low)
    high = min(max(lr, low * 1.0001), lr_param.high)
    narrowed = Space(
        (
            Float("learning_rate", low, high, log=True),
            LCBENCH_SPACE["batch_size"],
            LCBENCH_SPACE["momentum"],
            LCBENCH_SPACE["weight_decay"],
        )
    )
    network = {k: source[k] for k in _NETWORK}
    first = {k: source[k] for k in ("batch_size", "momentum", "weight_decay")}
    first["learning_rate"] = math.sqrt(low * high)
    points = [first, *narrowed.sample(n - 1, seed=seed)] if n > 1 else [first]
    return [LCBENCH_SPACE.validate({**network, **p}) | {FINE_TUNE: 1} for p in points]


def scratch_configs(
    n: int, seed: int = 0, portfolio: Sequence[Mapping[str, Any]] = ()
) -> list[dict[str, Any]]:
    """``n`` candidates trained from scratch: ``portfolio`` first, then Sobol points of LCBench's
    space; each marked ``fine_tune=0``."""
    # A portfolio can hold one configuration twice (up to float noise): it counts once.
    unique = {LCBENCH_SPACE.key(c): LCBENCH_SPACE.validate(c) for c in reversed(portfolio)}
    head = list(reversed(unique.values()))[:n]
    tail = LCBENCH_SPACE.sample(n - len(head), seed=seed) if n > len(head) else []
    return [c | {FINE_TUNE: 0} for c in [*head, *tail]]


@dataclass(frozen=True)
class TransferPair:
    """A target dataset and the dataset its source model is trained on.

    Attributes:
        source: the source's spec.
        target: the target's spec.
        family: their family.
        schema: their feature schema's fingerprint.
    """

    source: str
    target: str
    family: str
    schema: str


def transfer_pairs(
    specs: Sequence[str],
    *,
    max_rows: int | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> list[TransferPair]:
    """Sources and targets among ``specs``: per family and feature schema, the member with the
    most rows (then the most classes, then the first name) is the source of every other.

    A dataset that cannot be split by rows (a class missing from a part) is skipped, with
    ``on_skip(spec, reason)``.
    """
    from tunegym.metastore import dataset_family

    groups: dict[tuple[str, str], list[tuple[str, int, int]]] = {}
    for spec in specs:
        try:
            ds = load_dataset(spec, max_rows=max_rows, seed=0, split="rows")
        except Exception as error:  # DatasetError on a class missing from a part
            if on_skip is not None:
                on_skip(spec, str(error))
            continue
        schema = schema_fingerprint(ds.info)
        key = (dataset_family(spec), schema)
        rows = int(ds.info.extra.get("subsampled_from", ds.info.n_rows))  # before max_rows
        groups.setdefault(key, []).append((spec, rows, ds.n_classes))
    pairs = []
    for (family, schema), members in sorted(groups.items()):
        if len(members) < 2:
            continue
        source = sorted(members, key=lambda m: (-m[1], -m[2], m[0]))[0][0]
        pairs += [TransferPair(source, m[0], family, schema) for m in members if m[0] != source]
    return pairs


def train_source(
    spec: str,
    configs: Sequence[Mapping[str, Any]],
    *,
    max_epochs: int,
    max_rows: int | None = None,
    seed: int = 0,
    name: str | None = None,
    target: str | None = None,
    split: str = "rows",
) -> tuple[FineTuneSource, list[EpochRecord]]:
    """Train a source model on ``spec`` (rows split, seed ``seed``): each of ``configs`` (LCBench's
    space) ``max_epochs`` epochs, the best validation epoch of all kept — a tuned model, as the
    zoo holds. ``spec`` may be a file, ``target`` its class column; ``split`` is
    `tunegym.data.load_dataset`'s (by rows, so that siblings' test rows stay unseen).

    Returns:
        The source (weights of the best epoch, its configuration) and that trial's epochs.
    """
    if not configs:
        raise ValueError("train_source needs at least one configuration.")
    dataset = load_dataset(spec, target, max_rows=max_rows, seed=seed, split=split)
    best, weights, chosen, history = -np.inf, None, None, []
    for config in configs:
        config = LCBENCH_SPACE.validate(config)
        train, net = trial_setup(config, max_epochs, seed)
        trial = Trial(dataset, train, net, eval_test=True)
        for _ in range(max_epochs):
            records = trial.train(1)
            if not records:
                break
            if records[0].val_accuracy > best and not records[0].diverged:
                best, weights, chosen = records[0].val_accuracy, _state(trial.model), (config, net)
                history = trial.history
    if weights is None or chosen is None:
        raise ValueError(f"Every source configuration diverged on {spec}.")
    return (
        FineTuneSource(
            name=name or f"{spec.split(':')[-1].split('/')[-1]}-source",
            weights=weights,
            spec=chosen[1],
            config=chosen[0],
            inputs=tuple(dataset.feature_names_out),
            classes=tuple(dataset.info.class_names),
            dataset=spec,
            score=float(best),
        ),
        history,
    )


def record_finetune_curves(
    target: str,
    source: FineTuneSource,
    configs: Sequence[Mapping[str, Any]],
    *,
    seed: int,
    max_epochs: int,
    max_rows: int | None = None,
    store: MetaStore | None = None,
    target_column: str | None = None,
    split: str = "rows",
) -> pd.DataFrame:
    """Train every candidate of ``configs`` (`tunegym.space.FINE_TUNE_SPACE`) ``max_epochs``
    epochs on ``target`` with trial seed ``seed``: from scratch, or from ``source``.

    The split is by rows with seed 0, the source's. Each trial is logged to ``store`` where
    given (a fine-tuning run with ``init="checkpoint"`` and the source's zoo name). ``target``
    may be a file, ``target_column`` its class column; ``split`` is the source's.

    Returns:
        The curve table (``docs/CURVES.md``): one row per candidate and epoch, with the
        candidate's hyperparameters, ``fine_tune`` among them.
    """
    dataset = load_dataset(target, target_column, max_rows=max_rows, seed=0, split=split)
    rows: list[dict[str, Any]] = []
    for config in configs:
        fine = int(config.get(FINE_TUNE, 0)) == 1
        train, net = trial_setup(config, max_epochs, seed)
        net = source.trial_spec() if fine else net
        start = source.trial_start(dataset, seed) if fine else {}
        trial = Trial(dataset, train, net, eval_test=True, **start)
        history = trial.train(max_epochs)
        if store is not None:
            store.log_trial(dataset, train, net, history, checkpoint=source.name if fine else None)
        for record in history:
            row: dict[str, Any] = {"dataset": target, "seed": seed, "epoch": record.epoch}
            row |= {k: config[k] for k in (*LCBENCH_SPACE.names, FINE_TUNE)}
            row |= {c: float(getattr(record, c)) for c in _CURVE_COLUMNS}
            row["seconds"] = float(record.seconds)
            row["diverged"] = bool(record.diverged)
            rows.append(row)
    return pd.DataFrame(rows)


def source_json(source: FineTuneSource) -> dict[str, Any]:
    """What a snapshot records of a source (everything but its weights)."""
    return {
        "name": source.name,
        "dataset": source.dataset,
        "config": dict(source.config),
        "spec": spec_to_dict(source.spec),
        "classes": list(source.classes),
        "inputs": list(source.inputs),
        "score": source.score,
    }


@lru_cache(maxsize=2)
def _read_pools(folder: str) -> tuple[CurvePool, ...]:
    from tunegym.envs._pool import table_pools

    path = Path(folder)
    if not (path / "curves.parquet").is_file():
        raise FileNotFoundError(
            f"No meta-dataset of fine-tuning in {path} (no curves.parquet); "
            "python experiments/collect_finetune.py writes it."
        )
    frame = pd.read_parquet(path / "curves.parquet")
    split = pd.read_json(path / "split.json")
    return tuple(table_pools(frame, split=split, space=FINE_TUNE_SPACE))


def finetune_pools(path: str | Path | None = None, part: str | None = None) -> list[CurvePool]:
    """The tasks of the meta-dataset of fine-tuning (one per target) as curve pools of
    `tunegym.space.FINE_TUNE_SPACE`, all of them or one part of the family split.

    Raises:
        FileNotFoundError: no snapshot at ``path`` (default `FINETUNE_SNAPSHOT_DIR`).
    """
    pools = _read_pools(str(Path(path or FINETUNE_SNAPSHOT_DIR).resolve()))
    return [p for p in pools if part is None or p.part == part]


CHECKS_FILE: Final = "transfer_checks.csv"


def finetune_checks(path: str | Path | None = None) -> dict[str, TransferCheck]:
    """Each target's `TransferCheck` in the meta-dataset of fine-tuning at ``path`` (default:
    the shipped one), from its ``transfer_checks.csv`` (``experiments/transfer_checks.py``).

    Raises:
        FileNotFoundError: the snapshot has no checks.
    """
    file = Path(path or FINETUNE_SNAPSHOT_DIR) / CHECKS_FILE
    if not file.is_file():
        raise FileNotFoundError(
            f"{file} is missing: write it with `python experiments/transfer_checks.py` (it "
            "needs the collection's store, `experiments/collect_finetune.py --store`)."
        )
    frame = pd.read_csv(file)
    values = frame[["probe", "raw", "seconds"]].to_numpy(dtype=float)
    return {
        str(target): TransferCheck(*map(float, row))
        for target, row in zip(frame["target"], values, strict=True)
    }


def finetune_kinds(configs: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.int64]:
    """Each configuration's kind: 1 fine-tunes a model, 0 trains from scratch (also a
    configuration without `FINE_TUNE`)."""
    return np.array([int(c.get(FINE_TUNE, 0)) for c in configs], dtype=np.int64)


def finetune_prior(
    train: Sequence[CurvePool],
    configs: Sequence[Mapping[str, Any]],
    *,
    space: Space = FINE_TUNE_SPACE,
) -> npt.NDArray[np.float32]:
    """`tunegym.envs.config_prior` for candidates that may fine-tune: on each meta-train task
    the seed-mean final scores of all its configurations are scaled to [0, 1] (best 1), and a
    candidate is worth the score of the task's nearest configuration *of its kind* (scratch or
    fine-tuning; a configuration without `FINE_TUNE` is scratch) in ``space``'s unit cube,
    averaged over the tasks.

    Raises:
        ValueError: no meta-train task.
    """
    if not train:
        raise ValueError("A prior needs at least one meta-train task.")
    target = space.to_unit_many(configs)
    kinds = finetune_kinds(configs)
    out = np.zeros(len(configs))
    for pool in train:
        final = pool.truth[:, -1]
        scaled = (final - final.min()) / max(final.max() - final.min(), 1e-12)
        unit = space.to_unit_many(pool.configs)
        theirs = finetune_kinds(pool.configs)
        d = ((target[:, None, :] - unit[None, :, :]) ** 2).sum(axis=2)
        d = np.where(kinds[:, None] == theirs[None, :], d, d + 1e6)  # the same kind first
        out += scaled[np.argmin(d, axis=1)]
    return (out / len(train)).astype(np.float32)
