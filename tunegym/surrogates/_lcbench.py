"""`LCBench`: YAHPO Gym's neural surrogate of LCBench's learning curves, through onnxruntime.

LCBench (Zimmer et al., 2021) trained funnel-shaped MLPs with SGD on 35 OpenML tasks for 50
epochs (52 curve entries); YAHPO Gym (Pfisterer et al., 2022) fitted one network to all of its
curves. Given a task and the 7 hyperparameters it predicts, per epoch, the cumulative time and
six scores. This module batches any number of configurations into one model call.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from tunegym.errors import MissingExtraError, did_you_mean
from tunegym.surrogates._lcbench_files import (
    LCBENCH_HYPERPARAMETERS,
    LCBENCH_TASK_NAMES,
    Hyperparameter,
    LCBenchFiles,
    find_lcbench_dir,
)

__all__ = ["LCBENCH_CURVE_COLUMNS", "LCBENCH_METRICS", "LCBench", "LCBenchPoint"]

# The model's output columns, in its order (README: time is cumulative, val_accuracy in 0..100).
_MODEL_OUTPUTS: Final = (
    "time",
    "val_accuracy",
    "val_cross_entropy",
    "val_balanced_accuracy",
    "test_cross_entropy",
    "test_balanced_accuracy",
)
LCBENCH_METRICS: Final = (
    "val_accuracy",
    "val_balanced_accuracy",
    "val_cross_entropy",
    "test_balanced_accuracy",
    "test_cross_entropy",
)
_ACCURACIES: Final = ("val_accuracy", "val_balanced_accuracy", "test_balanced_accuracy")
_LOSSES: Final = ("val_cross_entropy", "test_cross_entropy")
LCBENCH_CURVE_COLUMNS: Final = (
    "config",
    *LCBENCH_HYPERPARAMETERS,
    "epoch",
    *LCBENCH_METRICS,
    "seconds",
    "time",
)
# In encoding.json but not in the config space; YAHPO's authors flag it as poorly fitted.
_LEFT_OUT_TASKS: Final = {167083: "numerai28.6"}


@dataclass(frozen=True)
class LCBenchPoint:
    """The surrogate's prediction for one configuration at one epoch (see `LCBench.curves`)."""

    epoch: int
    val_accuracy: float
    val_balanced_accuracy: float
    val_cross_entropy: float
    test_balanced_accuracy: float
    test_cross_entropy: float
    seconds: float
    time: float


class LCBench:
    """YAHPO Gym's LCBench surrogate: 34 OpenML tasks, 7 hyperparameters, 52 epochs.

    Open it with `LCBench.open`. The model is deterministic: the same query gives the same
    numbers, and a batch gives what its configurations give one by one (to float32 precision).

    Attributes:
        root: the folder the files were read from.
        tasks: the 34 OpenML task ids of the config space, in its order.
        task_names: OpenML task id -> OpenML dataset name.
        hyperparameters: the 7 numeric hyperparameters with their ranges, in the model's order.
        epochs: the curves' length (52).

    Example:
        >>> bench = LCBench.open()
        >>> frame = bench.curves("adult", [bench.default_config()], epochs=3)
        >>> frame["epoch"].tolist()
        [1, 2, 3]
        >>> bool(frame["val_accuracy"].between(0, 1).all())
        True
    """

    def __init__(self, files: LCBenchFiles, session: Any) -> None:
        """Wrap parsed files and an onnxruntime session; use `LCBench.open` instead."""
        self._files = files
        self._session = session
        self.root: Path = files.root
        self.tasks: tuple[int, ...] = files.tasks
        self.task_names: dict[int, str] = {
            t: LCBENCH_TASK_NAMES.get(t, str(t)) for t in files.tasks
        }
        self.hyperparameters: tuple[Hyperparameter, ...] = files.hyperparameters
        self.epochs: int = files.max_epoch
        self._by_name = {name.lower(): task for task, name in self.task_names.items()}

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        threads: int = 1,
        verify: bool = True,
    ) -> LCBench:
        """Load the surrogate from its folder.

        Args:
            path: the folder holding ``model.onnx``, ``encoding.json`` and
                ``config_space.json``; ``None`` looks in ``$TUNEGYM_LCBENCH``, then
                ``../shared/lcbench`` beside tunegym's repository, then
                ``/work/shared/lcbench``.
            threads: onnxruntime's intra-op threads (1: reproducible timings, no contention).
            verify: check the model's SHA-256 against the published one.

        Raises:
            FileNotFoundError: no folder found, or one without the files.
            ValueError: a model with another checksum, foreign JSON, or ``threads < 1``.
            MissingExtraError: onnxruntime is not installed (``pip install -e '.[lcbench]'``).
        """
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an int >= 1, got {threads!r}.")
        files = LCBenchFiles.read(find_lcbench_dir(path), verify=verify)
        try:
            import onnxruntime
        except ImportError:
            raise MissingExtraError(
                "onnxruntime", "lcbench", "The LCBench surrogate (YAHPO Gym's ONNX model)"
            ) from None
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        session = onnxruntime.InferenceSession(
            str(files.model_path), options, providers=["CPUExecutionProvider"]
        )
        return cls(files, session)

    def __repr__(self) -> str:
        return f"LCBench({str(self.root)!r}, tasks={len(self.tasks)}, epochs={self.epochs})"

    @property
    def config_space(self) -> dict[str, Any]:
        """The parsed ``config_space.json`` (ConfigSpace's JSON; a copy, safe to change)."""
        return copy.deepcopy(self._files.config_space)

    @property
    def hyperparameter_names(self) -> tuple[str, ...]:
        """The 7 hyperparameters' LCBench names, in the model's order."""
        return LCBENCH_HYPERPARAMETERS

    def default_config(self) -> dict[str, float]:
        """The config space's default configuration."""
        return {h.name: _as_number(h, h.default) for h in self.hyperparameters}

    def sample_configs(self, n: int, seed: int | np.random.Generator = 0) -> list[dict[str, float]]:
        """``n`` configurations drawn uniformly (log-uniformly where the space says so).

        Integer hyperparameters are drawn as floats over their range and rounded. The draws
        are nested: the first ``k`` of ``sample_configs(n, seed)`` are ``sample_configs(k, seed)``.

        Args:
            n: how many.
            seed: a seed or a generator (the only randomness used).
        """
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}.")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        # One row of uniforms per configuration: the first k of n draws are the k draws.
        unit = rng.random((int(n), len(self.hyperparameters)))
        columns = {}
        for h, u in zip(self.hyperparameters, unit.T, strict=True):
            if h.log:
                drawn = np.exp(np.log(h.lower) + u * (np.log(h.upper) - np.log(h.lower)))
            else:
                drawn = h.lower + u * (h.upper - h.lower)
            columns[h.name] = np.clip(np.round(drawn) if h.integer else drawn, h.lower, h.upper)
        return [
            {h.name: _as_number(h, columns[h.name][i]) for h in self.hyperparameters}
            for i in range(int(n))
        ]

    def resolve_task(self, task: int | str) -> int:
        """The OpenML task id of ``task``: an id (int or digits) or the dataset's name.

        Raises:
            ValueError: an unknown task (with the near misses among ids and names).
        """
        if isinstance(task, Integral) and not isinstance(task, bool):
            task_id = int(task)
        elif isinstance(task, str) and task.strip().isdigit():
            task_id = int(task.strip())
        elif isinstance(task, str):
            if (found := self._by_name.get(task.strip().lower())) is not None:
                return found
            names = list(self.task_names.values())
            raise ValueError(
                f"Unknown LCBench task {task!r}; pass one of the 34 OpenML task ids or dataset "
                f"names (LCBench.task_names).{did_you_mean(task, names)}"
            )
        else:
            raise TypeError(
                f"An LCBench task is an OpenML task id or a dataset name, got {task!r} "
                f"({type(task).__name__})."
            )
        if task_id in self.task_names:
            return task_id
        if task_id in _LEFT_OUT_TASKS:
            raise ValueError(
                f"LCBench task {task_id} ({_LEFT_OUT_TASKS[task_id]}) is in encoding.json but "
                "not in the config space: YAHPO Gym leaves it out as poorly fitted. Use one of "
                "LCBench.tasks."
            )
        ids = [str(t) for t in self.tasks]
        raise ValueError(
            f"Unknown LCBench task id {task_id}; LCBench has the OpenML tasks {self.tasks}."
            f"{did_you_mean(str(task_id), ids)}"
        )

    def check_config(self, config: Mapping[str, float], where: str = "config") -> list[float]:
        """The 7 values of ``config`` in the model's order, checked against their ranges.

        Raises:
            TypeError: ``config`` is not a mapping, or a value is not a number.
            ValueError: missing or unknown keys (with near misses), or a value out of range.
        """
        if not isinstance(config, Mapping):
            raise TypeError(
                f"An LCBench {where} is a mapping of the 7 hyperparameters "
                f"{list(LCBENCH_HYPERPARAMETERS)}, got {type(config).__name__}."
            )
        names = set(LCBENCH_HYPERPARAMETERS)
        if unknown := [k for k in config if k not in names]:
            first = str(unknown[0])
            hint = (
                " The epoch is not a hyperparameter: curves() gives every epoch up to epochs=."
                if first == "epoch"
                else did_you_mean(first, LCBENCH_HYPERPARAMETERS)
            )
            raise ValueError(
                f"Unknown LCBench hyperparameter(s) {unknown} in {where}; LCBench has "
                f"{list(LCBENCH_HYPERPARAMETERS)}.{hint}"
            )
        if missing := [n for n in LCBENCH_HYPERPARAMETERS if n not in config]:
            raise ValueError(
                f"LCBench {where} lacks {missing}; give all of {list(LCBENCH_HYPERPARAMETERS)} "
                "(LCBench.default_config() has defaults)."
            )
        try:
            return [h.check(config[h.name]) for h in self.hyperparameters]
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{exc} (in {where})") from None

    def predict(self, task: int | str, x_cont: np.ndarray) -> np.ndarray:
        """The model's raw output for rows of ``x_cont`` (one call, no checks, no clipping).

        Args:
            task: the task (id or name).
            x_cont: ``[n, 8]``: epoch, then the 7 hyperparameters in the model's order.

        Returns:
            float32 ``[n, 6]``: cumulative time (s), val_accuracy (0..100), val_cross_entropy,
            val_balanced_accuracy (0..1), test_cross_entropy, test_balanced_accuracy (0..1).
        """
        rows = np.ascontiguousarray(x_cont, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != 1 + len(LCBENCH_HYPERPARAMETERS):
            raise ValueError(f"x_cont must be [n, 8], got shape {rows.shape}.")
        code = self._files.encoding[self.resolve_task(task)]
        x_cat = np.full((rows.shape[0], 1), code, dtype=np.int32)
        (output,) = self._session.run(None, {"x_cat": x_cat, "x_cont": rows})
        return np.asarray(output, dtype=np.float32)

    def curves(
        self,
        task: int | str,
        configs: Sequence[Mapping[str, float]],
        epochs: int = 52,
        *,
        clip: bool = True,
    ) -> pd.DataFrame:
        """The predicted learning curves of ``configs`` on ``task``, in one model call.

        The model gives, per epoch, the *cumulative* training time and val_accuracy in
        0..100; here accuracies are shares (0..1). With ``clip`` (the default) the raw
        values are made physical: accuracies clipped into [0, 1], cross-entropies at >= 0,
        ``seconds`` (this epoch's time) is the increase of the model's cumulative time
        clipped at 0 (epoch 1: its time) and ``time`` their running sum, so that it never
        decreases. Measured (docs/LCBENCH.md): over 1000 random configurations x 34 tasks x
        52 epochs and the 128 corners of the space, the raw accuracies stayed in [0, 1] and
        the cross-entropies positive (clipping them is a guard), but the model's cumulative
        time decreased in about 0.5 % of the epoch steps of random configurations (1 % at
        the corners), by up to 40 s (181 s at a corner); ``seconds`` is 0 there.

        Args:
            task: an OpenML task id of `tasks` or its dataset's name (``"adult"``).
            configs: mappings of the 7 hyperparameters (`hyperparameter_names`).
            epochs: the curves' length, 1..52.
            clip: make the values physical as above; ``False`` gives the model's own
                numbers (accuracy still divided by 100; ``time`` the model's, ``seconds``
                its raw difference).

        Returns:
            One row per (configuration, epoch), ordered so: ``config`` (index in
            ``configs``), the 7 hyperparameters, ``epoch`` (1..epochs), `LCBENCH_METRICS`,
            ``seconds``, ``time``; ``attrs["lcbench"]`` names the task.

        Raises:
            ValueError: an unknown task, bad configs (see `check_config`) or epochs.
        """
        task_id = self.resolve_task(task)
        if isinstance(configs, Mapping) or not isinstance(configs, Sequence):
            raise TypeError(
                f"configs must be a sequence of mappings (e.g. [config]), got "
                f"{type(configs).__name__}."
            )
        if not configs:
            raise ValueError("configs is empty; pass at least one configuration.")
        if isinstance(epochs, bool) or not isinstance(epochs, Integral):
            raise TypeError(f"epochs must be an int in 1..{self.epochs}, got {epochs!r}.")
        if not 1 <= int(epochs) <= self.epochs:
            raise ValueError(f"epochs must be in 1..{self.epochs}, got {epochs}.")
        n_epochs = int(epochs)
        values = np.array(
            [self.check_config(c, f"configs[{i}]") for i, c in enumerate(configs)],
            dtype=np.float64,
        )
        n = len(values)
        epoch = np.tile(np.arange(1, n_epochs + 1, dtype=np.float64), n)
        x_cont = np.column_stack([epoch, np.repeat(values, n_epochs, axis=0)])
        raw = self.predict(task_id, x_cont).astype(np.float64).reshape(n, n_epochs, -1)
        out = {name: raw[:, :, i] for i, name in enumerate(_MODEL_OUTPUTS)}
        out["val_accuracy"] = out["val_accuracy"] / 100.0
        seconds = np.diff(out["time"], axis=1, prepend=0.0)
        if clip:
            for name in _ACCURACIES:
                out[name] = np.clip(out[name], 0.0, 1.0)
            for name in _LOSSES:
                out[name] = np.maximum(out[name], 0.0)
            seconds = np.maximum(seconds, 0.0)
            out["time"] = np.cumsum(seconds, axis=1)
        frame = pd.DataFrame({"config": np.repeat(np.arange(n, dtype=np.int64), n_epochs)})
        for h, column in zip(self.hyperparameters, np.repeat(values, n_epochs, axis=0).T,
                             strict=True):  # fmt: skip
            frame[h.name] = column.astype(np.int64) if h.integer else column
        frame["epoch"] = epoch.astype(np.int64)
        for name in LCBENCH_METRICS:
            frame[name] = out[name].reshape(-1)
        frame["seconds"] = seconds.reshape(-1)
        frame["time"] = out["time"].reshape(-1)
        frame.attrs["lcbench"] = {"task": task_id, "task_name": self.task_names[task_id]}
        return frame

    def query(self, task: int | str, config: Mapping[str, float], epoch: int) -> LCBenchPoint:
        """One configuration's prediction at one epoch (the last row of its `curves`).

        Example:
            >>> bench = LCBench.open()
            >>> point = bench.query(126025, bench.default_config(), epoch=52)
            >>> 0.5 < point.val_accuracy <= 1.0
            True
        """
        row = self.curves(task, [config], epochs=epoch).iloc[-1]
        return LCBenchPoint(
            epoch=int(row["epoch"]),
            **{name: float(row[name]) for name in (*LCBENCH_METRICS, "seconds", "time")},
        )


def _as_number(h: Hyperparameter, value: float) -> float:
    return round(float(value)) if h.integer else float(value)
