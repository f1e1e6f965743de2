"""One training run of an MLP that can be advanced k epochs at a time, saved and resumed.

Optimiser and schedule:
    ``TrainConfig.optimizer`` picks ``torch.optim.Adam`` (``"adam"``, the default: torch's
    default betas ``(0.9, 0.999)`` and eps ``1e-8``) or ``torch.optim.SGD`` (``"sgd"``:
    ``momentum``, no dampening, no Nesterov), both with their fused kernels; either adds the L2
    ``weight_decay`` to the gradient. The learning rate is annealed by a cosine stepped once per
    epoch: epoch ``e`` (0-based) trains at ``lr * (1 + cos(pi * e / max_epochs)) / 2``. The
    schedule depends on ``max_epochs`` only, so training ``k`` epochs and then ``k`` more gives
    exactly the first ``2k`` epochs of the full run; the optimiser's state (Adam's moments,
    SGD's momentum buffers) is in the checkpoint.

Determinism contract:
    * the initial weights depend only on ``(seed, spec, n_features, n_classes)``: never on the
      learning rate, the batch size, the optimiser or the device (they are drawn on the CPU);
    * the minibatch order of epoch ``e`` depends only on ``(seed, e, n_train)``;
    * dropout masks of epoch ``e`` come from a generator seeded by ``(seed, e)`` on the device.
    Every generator is explicit and re-derived from the seed and the epoch, so no global RNG
    state is touched and a checkpoint (always taken between epochs) needs no generator state:
    the epoch counter restores the random streams exactly. On the CPU, a run is bitwise
    reproducible, and resuming from a checkpoint gives bitwise the same weights and records
    (``seconds`` aside) as an uninterrupted run.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from os import PathLike
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tunegym.data import TabularDataset
from tunegym.training._config import TrainConfig, cosine_factor, epoch_order, resolve_device
from tunegym.training._metrics import EvalSplit
from tunegym.training._model import (
    DEFAULT_SPEC,
    MLP,
    ModelSpec,
    build_mlp,
    spec_from_dict,
    spec_to_dict,
)
from tunegym.training._records import EpochRecord, best_record, make_record
from tunegym.training._seeding import DROPOUT_STREAM, derived_generator
from tunegym.training._transfer import probe_head as fit_head

__all__ = ["TrainResult", "Trial", "train"]

_FORMAT = "tunegym.Trial"
_VERSION = 1


def device_splits(
    dataset: TabularDataset, device: str | torch.device, eval_test: bool
) -> tuple[torch.device, torch.Tensor, torch.Tensor, EvalSplit, EvalSplit | None]:
    """What a trainer holds of its data: the device, the training tensors and scorers on it.

    Raises:
        ValueError: for an empty split (a trainer could not score it) or an unusable device.
    """
    splits = {"train": dataset.y_train, "val": dataset.y_val}
    if eval_test:
        splits["test"] = dataset.y_test
    for name, y in splits.items():
        if len(y) == 0:
            raise ValueError(f"Dataset {dataset.name!r} has an empty {name} split; cannot train.")
    resolved = resolve_device(device)
    data = dataset.to(resolved)
    val = EvalSplit(data.X_val, data.y_val, dataset.n_classes)
    test = EvalSplit(data.X_test, data.y_test, dataset.n_classes) if eval_test else None
    return resolved, data.X_train, data.y_train, val, test


def make_optimizer(config: TrainConfig, params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimiser ``config`` names, over ``params``, at the peak learning rate."""
    if config.optimizer == "sgd":
        # Fused: on one CPU thread, 3.1 s against 4.7 s (for-loop) per epoch of the largest
        # LCBench funnel at batch 16 (docs/TRAINER_BENCH.md).
        return torch.optim.SGD(
            params,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            fused=True,
        )
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, fused=True)


def row_elements(model: MLP, n_features: int) -> int:
    """Elements of one row's widest activation: what evaluation chunks its rows by."""
    return max(*model.widths, n_features, model.layers[-1].out_features)


def check_epochs(k: int) -> None:
    """Reject an epoch increment below 1."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"Number of epochs to train must be an int >= 1, got {k!r}.")


class Trial:
    """A training run of one configuration, advanced ``k`` epochs at a time.

    Args:
        dataset: the data; its tensors are moved to ``device``.
        config: hyperparameters (learning rate, batch size, schedule length, seed, optimiser).
        spec: the architecture: an :class:`MLPSpec` or a :class:`FunnelSpec`.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or ``"auto"`` (CUDA when available).
        eval_test: also score the test split after every epoch.
        init: initial weights (a ``state_dict`` of the model ``spec`` builds for ``dataset``),
            loaded in place of the seeded initialisation before the optimiser is made, so
            training starts exactly from them: fine-tuning, with :func:`transfer_state`'s
            weights of a network trained on a related dataset. Checkpoints hold the current
            weights, so a resumed trial needs no ``init``.
        probe_head: fit the output layer to the training split on the hidden layers, frozen,
            before training (:func:`tunegym.training.probe_head`, linear probing then
            fine-tuning): for an ``init`` whose output layer is new. Deterministic; its seconds
            count in the first epoch's record.

    Raises:
        ValueError: for CUDA requested but unavailable, an empty split, or an ``init`` that
            does not fit the model.

    Example:
        >>> from tunegym.data import load_dataset
        >>> dataset = load_dataset("sklearn:iris")
        >>> trial = Trial(dataset, TrainConfig(lr=1e-2, batch_size=16, max_epochs=20))
        >>> first = trial.train(4)  # epochs 1-4
        >>> later = trial.train(4)  # epochs 5-8, exactly as if trained 8 straight
        >>> trial.epochs_done, trial.best_record().val_accuracy > 0.5
        (8, True)
    """

    def __init__(
        self,
        dataset: TabularDataset,
        config: TrainConfig,
        spec: ModelSpec = DEFAULT_SPEC,
        *,
        device: str | torch.device = "cpu",
        eval_test: bool = False,
        init: Mapping[str, torch.Tensor] | None = None,
        probe_head: bool = False,
    ) -> None:
        self.device, self._X_train, self._y_train, self._val, self._test = device_splits(
            dataset, device, eval_test
        )
        self.config = config
        self.spec = spec
        self.eval_test = eval_test
        self.dataset = dataset
        self._model: MLP = build_mlp(
            spec, dataset.n_features, dataset.n_classes, seed=config.seed
        ).to(self.device)
        if init is not None:
            load_init(self._model, init, dataset, spec)
        self._probe_seconds = 0.0  # charged to the first epoch
        if probe_head:
            start = time.perf_counter()
            fit_head(self._model, self._X_train, self._y_train, seed=config.seed)
            self._probe_seconds = time.perf_counter() - start
        self._model.eval()
        self._optimizer = make_optimizer(config, self._model.parameters())
        self._history: list[EpochRecord] = []
        self._diverged = False

    @property
    def model(self) -> MLP:
        """The network being trained: its current weights, in eval mode between epochs."""
        return self._model

    @property
    def epochs_done(self) -> int:
        """Epochs trained so far, a diverged one included."""
        return len(self._history)

    @property
    def history(self) -> list[EpochRecord]:
        """One record per epoch trained, in order (a copy)."""
        return list(self._history)

    @property
    def diverged(self) -> bool:
        """Whether the trial stopped on a non-finite loss or weights."""
        return self._diverged

    @property
    def finished(self) -> bool:
        """Whether training further is impossible: diverged or ``max_epochs`` reached."""
        return self._diverged or self.epochs_done >= self.config.max_epochs

    def best_record(self, metric: str = "val_accuracy") -> EpochRecord | None:
        """The epoch with the best ``metric`` so far (earliest on ties), ``None`` before any.

        Losses are minimised and accuracies maximised; see :func:`EpochRecord` for names.
        """
        return best_record(self._history, metric)

    def train(
        self, k: int, on_epoch: Callable[[EpochRecord], None] | None = None
    ) -> list[EpochRecord]:
        """Train ``k`` more epochs, fewer if ``max_epochs`` is reached or the trial diverges.

        Args:
            k: epochs to add (``>= 1``).
            on_epoch: called with each new record as soon as its epoch ends.

        Returns:
            The new records; empty once the trial is finished. Never raises on divergence.
        """
        check_epochs(k)
        records: list[EpochRecord] = []
        while len(records) < k and not self.finished:
            record = self._train_epoch()
            self._history.append(record)
            self._diverged = record.diverged
            records.append(record)
            if on_epoch is not None:
                on_epoch(record)
        return records

    def _train_epoch(self) -> EpochRecord:
        start = time.perf_counter()
        config, model, optimizer = self.config, self._model, self._optimizer
        epoch = self.epochs_done
        for group in optimizer.param_groups:
            group["lr"] = config.lr * cosine_factor(epoch, config.max_epochs)
        order = epoch_order(config.seed, epoch, len(self._y_train)).to(self.device)
        X, y = self._X_train[order], self._y_train[order]
        generator = None
        if any(p > 0 for p in model.dropouts):
            generator = derived_generator(config.seed, DROPOUT_STREAM, epoch, device=self.device)
        model.train()
        loss_sum = torch.zeros((), device=self.device)
        n_steps = 0
        for lo in range(0, len(y), config.batch_size):
            hi = lo + config.batch_size
            loss = F.cross_entropy(model(X[lo:hi], generator), y[lo:hi])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
            n_steps += 1
        model.eval()
        elements = row_elements(model, self.dataset.n_features)
        scores = [(loss_sum / n_steps).view(1), self._val.evaluate(self._logits, elements)]
        if self._test is not None:
            scores.append(self._test.evaluate(self._logits, elements))
        finite = torch.stack([p.isfinite().all() for p in model.parameters()]).all()
        *values, weights_finite = torch.cat([s.view(-1) for s in [*scores, finite]]).tolist()
        seconds = time.perf_counter() - start + (self._probe_seconds if epoch == 0 else 0.0)
        return make_record(
            epoch + 1,
            values,
            seconds,
            has_test=self._test is not None,
            weights_finite=bool(weights_finite),
        )

    def _logits(self, X: torch.Tensor) -> torch.Tensor:
        return self._model(X).t().unsqueeze(0)

    def state_dict(self) -> dict[str, Any]:
        """An in-memory snapshot: model, optimiser, schedule position, config and history.

        It holds copies (later training does not change it) made of tensors and plain
        containers only, so ``torch.save`` writes it in a form ``torch.load(weights_only=True)``
        reads. The schedule and the random streams are functions of the epoch counter, which
        the history gives. The spec is :func:`spec_to_dict`'s (a :class:`FunnelSpec` is tagged
        ``"kind": "funnel"``).
        """
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "config": asdict(self.config),
            "spec": spec_to_dict(self.spec),
            "eval_test": self.eval_test,
            "dataset": _dataset_signature(self.dataset),
            "diverged": self._diverged,
            "history": [asdict(record) for record in self._history],
            "model": copy.deepcopy(self._model.state_dict()),
            "optimizer": copy.deepcopy(self._optimizer.state_dict()),
        }

    @classmethod
    def from_state_dict(
        cls,
        state: dict[str, Any],
        dataset: TabularDataset,
        *,
        device: str | torch.device = "cpu",
    ) -> Trial:
        """Rebuild a trial from :meth:`state_dict` on ``dataset`` (the one it was trained on).

        Checkpoints written before the optimiser and the funnel existed (no ``optimizer`` or
        ``momentum`` in the config, no ``kind`` in the spec) load as the Adam trials of
        :class:`MLPSpec` they are.

        Raises:
            ValueError: if ``state`` is not a trial snapshot or ``dataset`` does not match it.
        """
        if state.get("format") != _FORMAT or state.get("version") != _VERSION:
            raise ValueError(
                f"Not a tunegym Trial checkpoint (format {state.get('format')!r}, version "
                f"{state.get('version')!r}; expected {_FORMAT!r}, version {_VERSION})."
            )
        if state["dataset"] != _dataset_signature(dataset):
            raise ValueError(
                f"Checkpoint was trained on dataset {state['dataset']}, which does not match "
                f"{_dataset_signature(dataset)}; pass the dataset it was trained on."
            )
        trial = cls(
            dataset,
            TrainConfig(**state["config"]),
            spec_from_dict(state["spec"]),
            device=device,
            eval_test=state["eval_test"],
        )
        trial._model.load_state_dict(state["model"])
        trial._optimizer.load_state_dict(state["optimizer"])
        trial._history = [EpochRecord(**record) for record in state["history"]]
        trial._diverged = state["diverged"]
        return trial

    def save(self, path: str | PathLike[str]) -> None:
        """Write a checkpoint that :meth:`load` resumes exactly (``torch.save`` of
        :meth:`state_dict`: tensors and plain containers, no pickled objects)."""
        torch.save(self.state_dict(), path)

    @classmethod
    def load(
        cls,
        path: str | PathLike[str],
        dataset: TabularDataset,
        *,
        device: str | torch.device = "cpu",
    ) -> Trial:
        """Resume a trial saved by :meth:`save`, with ``torch.load(weights_only=True)`` (safe
        on untrusted files: no arbitrary objects are unpickled).

        Args:
            path: the checkpoint file.
            dataset: the dataset the trial was trained on.
            device: where to continue training (any device, whatever it was saved from).
        """
        state = torch.load(path, map_location="cpu", weights_only=True)
        return cls.from_state_dict(state, dataset, device=device)


def load_init(
    model: MLP, init: Mapping[str, torch.Tensor], dataset: TabularDataset, spec: ModelSpec
) -> None:
    try:
        model.load_state_dict(init)
    except (RuntimeError, KeyError, TypeError) as err:
        raise ValueError(
            f"init does not fit the model of {spec!r} for dataset {dataset.name!r} "
            f"({dataset.n_features} inputs, {dataset.n_classes} classes): {err} Make it with "
            "transfer_state(source, model, ...) for a model built with the same spec."
        ) from err


def _dataset_signature(dataset: TabularDataset) -> dict[str, Any]:
    return {
        "name": dataset.name,
        "n_train": len(dataset.y_train),
        "n_features": dataset.n_features,
        "n_classes": dataset.n_classes,
    }


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train`.

    Attributes:
        history: one record per epoch trained.
        model: the network after the last epoch (not the best one), in eval mode.
        diverged: whether training stopped on divergence.
        best: the record with the best validation accuracy (earliest on ties), ``None`` only
            if no epoch was trained.
    """

    history: tuple[EpochRecord, ...]
    model: nn.Module
    diverged: bool
    best: EpochRecord | None

    @property
    def best_epoch(self) -> int | None:
        """1-based epoch of :attr:`best`."""
        return None if self.best is None else self.best.epoch


def train(
    dataset: TabularDataset,
    config: TrainConfig,
    spec: ModelSpec = DEFAULT_SPEC,
    *,
    device: str | torch.device = "cpu",
    eval_test: bool = True,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train one configuration for ``config.max_epochs`` epochs (or until it diverges).

    Args:
        dataset: the data.
        config: hyperparameters.
        spec: the architecture (an :class:`MLPSpec` or a :class:`FunnelSpec`).
        device: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or ``"auto"``.
        eval_test: also score the test split after every epoch.
        on_epoch: called with each record as soon as its epoch ends.

    Example:
        >>> from tunegym.data import load_dataset
        >>> result = train(load_dataset("sklearn:iris"), TrainConfig(1e-2, 16, max_epochs=10))
        >>> len(result.history), result.diverged
        (10, False)
    """
    trial = Trial(dataset, config, spec, device=device, eval_test=eval_test)
    trial.train(config.max_epochs, on_epoch)
    history = tuple(trial.history)
    return TrainResult(history, trial.model, trial.diverged, best_record(history))
