"""The files of YAHPO Gym's LCBench surrogate: where they are, their checksum, what they say.

The folder holds ``model.onnx`` (the surrogate), ``encoding.json`` (OpenML task id -> the
integer the model takes) and ``config_space.json`` (the search space, ConfigSpace's JSON); see
``shared/lcbench/README.md``. Nothing here needs ``onnxruntime``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "LCBENCH_ENV",
    "LCBENCH_FILES",
    "LCBENCH_HYPERPARAMETERS",
    "LCBENCH_MODEL_SHA256",
    "LCBENCH_TASK_NAMES",
    "Hyperparameter",
    "LCBenchFiles",
    "find_lcbench_dir",
]

LCBENCH_ENV: Final = "TUNEGYM_LCBENCH"
LCBENCH_FILES: Final = ("model.onnx", "encoding.json", "config_space.json")
LCBENCH_MODEL_SHA256: Final = "b45c0d85ae39abf8820c8bea5ac82f415763afcbaf3b725e36af452b09cb6dcd"

# The model's continuous inputs after the epoch, in the order it takes them (x_cont[:, 1:]).
LCBENCH_HYPERPARAMETERS: Final = (
    "batch_size",
    "learning_rate",
    "momentum",
    "weight_decay",
    "num_layers",
    "max_units",
    "max_dropout",
)

# OpenML task id -> OpenML dataset name, as listed in the folder's README (the 34 tasks of the
# config space; 167083 numerai28.6 is in encoding.json only and is not offered).
LCBENCH_TASK_NAMES: Final[Mapping[int, str]] = {
    3945: "KDDCup09_appetency",
    7593: "covertype",
    34539: "Amazon_employee_access",
    126025: "adult",
    126026: "nomao",
    126029: "bank-marketing",
    146212: "shuttle",
    167104: "Australian",
    167149: "kr-vs-kp",
    167152: "mfeat-factors",
    167161: "credit-g",
    167168: "vehicle",
    167181: "kc1",
    167184: "blood-transfusion-service-center",
    167185: "cnae-9",
    167190: "phoneme",
    167200: "higgs",
    167201: "connect-4",
    168329: "helena",
    168330: "jannis",
    168331: "volkert",
    168335: "MiniBooNE",
    168868: "APSFailure",
    168908: "christine",
    168910: "fabert",
    189354: "airlines",
    189862: "jasmine",
    189865: "sylvine",
    189866: "albert",
    189873: "dionis",
    189905: "car",
    189906: "segment",
    189908: "Fashion-MNIST",
    189909: "jungle_chess_2pcs_raw_endgame_complete",
}

_TASK_HYPERPARAMETER = "OpenML_task_id"


@dataclass(frozen=True)
class Hyperparameter:
    """One numeric hyperparameter of the LCBench search space.

    Attributes:
        name: LCBench's name (``"learning_rate"``).
        lower: smallest value (inclusive).
        upper: largest value (inclusive).
        log: sampled on a log scale.
        integer: takes integer values only.
        default: ConfigSpace's default.
    """

    name: str
    lower: float
    upper: float
    log: bool
    integer: bool
    default: float

    def check(self, value: object) -> float:
        """``value`` as a float inside the range (a hair outside is clipped), or a ``ValueError``.

        The JSON's bounds carry float noise (``learning_rate``'s lower bound is
        ``0.00010000000000000009``), so values within a relative 1e-9 of a bound are accepted.
        """
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(
                f"LCBench hyperparameter {self.name!r} must be a number, got "
                f"{value!r} ({type(value).__name__})."
            )
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"LCBench hyperparameter {self.name!r} must be finite, got {number}.")
        slack = 1e-9 * max(abs(self.lower), abs(self.upper))
        if not self.lower - slack <= number <= self.upper + slack:
            raise ValueError(
                f"LCBench hyperparameter {self.name!r} must be in [{self.lower:g}, "
                f"{self.upper:g}]{' (log scale)' if self.log else ''}, got {number!r}."
            )
        if self.integer and number != round(number):
            raise ValueError(
                f"LCBench hyperparameter {self.name!r} takes integers, got {number!r}; "
                f"round it (e.g. {round(number)})."
            )
        return min(max(number, self.lower), self.upper)


@dataclass(frozen=True)
class LCBenchFiles:
    """The parsed contents of an LCBench folder (model bytes not read)."""

    root: Path
    encoding: dict[int, int]
    config_space: dict[str, Any]
    tasks: tuple[int, ...]
    hyperparameters: tuple[Hyperparameter, ...]
    max_epoch: int

    @property
    def model_path(self) -> Path:
        """The ONNX model's path."""
        return self.root / "model.onnx"

    @classmethod
    def read(cls, root: Path, *, verify: bool = True) -> LCBenchFiles:
        """Parse ``encoding.json`` and ``config_space.json`` of ``root``; check the model's hash.

        Raises:
            ValueError: a model whose sha256 is not the published one, or JSON that is not the
                LCBench surrogate's.
        """
        if verify:
            verify_model(root / "model.onnx")
        raw_encoding = json.loads((root / "encoding.json").read_text())
        try:
            encoding = {
                int(k): int(v) for k, v in raw_encoding["OpenML_task_id"].items() if k != "#na#"
            }
        except (KeyError, ValueError, AttributeError) as exc:
            raise ValueError(
                f"{root / 'encoding.json'} is not LCBench's task encoding (expected "
                f'{{"OpenML_task_id": {{"<task id>": <index>, ...}}}}): {exc!r}'
            ) from None
        space = json.loads((root / "config_space.json").read_text())
        by_name = {h["name"]: h for h in space.get("hyperparameters", [])}
        missing = [n for n in (_TASK_HYPERPARAMETER, "epoch", *LCBENCH_HYPERPARAMETERS)
                   if n not in by_name]  # fmt: skip
        if missing:
            raise ValueError(
                f"{root / 'config_space.json'} lacks the hyperparameters {missing}; is the "
                "folder YAHPO Gym's lcbench/?"
            )
        tasks = tuple(int(t) for t in by_name[_TASK_HYPERPARAMETER]["choices"])
        if unencoded := [t for t in tasks if t not in encoding]:
            raise ValueError(f"Tasks {unencoded} of config_space.json are not in encoding.json.")
        hyperparameters = tuple(_hyperparameter(by_name[n]) for n in LCBENCH_HYPERPARAMETERS)
        return cls(root, encoding, space, tasks, hyperparameters, int(by_name["epoch"]["upper"]))


def _hyperparameter(entry: Mapping[str, Any]) -> Hyperparameter:
    kind = entry["type"]
    if kind not in ("uniform_int", "uniform_float"):
        raise ValueError(
            f"LCBench hyperparameter {entry['name']!r} has the unexpected type {kind}."
        )
    return Hyperparameter(
        name=str(entry["name"]),
        lower=float(entry["lower"]),
        upper=float(entry["upper"]),
        log=bool(entry.get("log", False)),
        integer=kind == "uniform_int",
        default=float(entry["default"]),
    )


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model(path: Path) -> None:
    """Raise a ``ValueError`` unless ``path`` has the published model's SHA-256."""
    found = sha256_of(path)
    if found != LCBENCH_MODEL_SHA256:
        raise ValueError(
            f"{path} has sha256 {found}, not the YAHPO Gym LCBench model's "
            f"{LCBENCH_MODEL_SHA256} (yahpo_data commit efdab90); replace it with that file, "
            "or pass verify=False to use it anyway."
        )


def _source_tree_default() -> Path:
    # tunegym/surrogates/_lcbench_files.py -> the repository root is three levels up.
    return Path(__file__).resolve().parents[2].parent / "shared" / "lcbench"


_SYSTEM_DEFAULT = Path("/work/shared/lcbench")


def _missing_files(folder: Path) -> list[str]:
    return [name for name in LCBENCH_FILES if not (folder / name).is_file()]


def find_lcbench_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding the LCBench surrogate's files.

    Looked for in ``path``; else ``$TUNEGYM_LCBENCH``; else ``../shared/lcbench`` beside the
    repository that holds tunegym's source; else ``/work/shared/lcbench``. A folder named by
    ``path`` or the variable must hold the files: it is never silently passed over.

    Raises:
        FileNotFoundError: no folder found (the message lists where it looked and how to
            point at one), or the named folder lacks some of the files.
    """
    named = path if path is not None else os.environ.get(LCBENCH_ENV) or None
    if named is not None:
        folder = Path(named).expanduser()
        what = "path" if path is not None else f"${LCBENCH_ENV}"
        if missing := _missing_files(folder):
            raise FileNotFoundError(
                f"The LCBench folder {folder} (from {what}) lacks {missing}; it needs "
                f"{list(LCBENCH_FILES)} from yahpo_data's lcbench/ folder."
            )
        return folder
    candidates = [_source_tree_default(), _SYSTEM_DEFAULT]
    for folder in candidates:
        if not _missing_files(folder):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"No LCBench surrogate folder found (looked in ${LCBENCH_ENV} (unset), {looked}). "
        f"Point at a folder holding {list(LCBENCH_FILES)} (yahpo_data's lcbench/) with "
        f"LCBench.open(path) or export {LCBENCH_ENV}=/path/to/lcbench."
    )
