"""Curve tables of any benchmark: read a CSV or Parquet file and find the search it covers.

The format (``docs/CURVES.md``): one row per (configuration, seed, epoch). Columns:

* the configuration: one column per hyperparameter, of any space (numbers or strings);
* ``epoch``: 1, 2, ... without gaps;
* one or more metrics under the env's names: ``val_accuracy``, ``val_balanced_accuracy``,
  ``val_f1_macro``, ``val_precision_macro``, ``val_recall_macro`` (larger is better) and
  ``val_loss`` (minimised), each optionally with its ``test_`` counterpart;
* optional: ``seed`` (one curve per configuration without it), ``seconds`` (per epoch),
  ``diverged`` (true on a diverged run's last epoch), ``dataset`` (several tables in one),
  ``train_loss``.

Columns named ``val_*`` or ``test_*`` are metrics (a table's own metric is tuned with a direction:
``ReplayBackend(..., metric="val_auc", direction="max")``); every other column is a
hyperparameter, unless `config_columns` names them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tunegym.envs._task import SCORE_METRICS, SearchSpace
from tunegym.space import Space

__all__ = ["TABLE_COLUMNS", "curve_search", "read_curve_table"]

# Columns of a curve table that are not hyperparameters.
TABLE_COLUMNS: frozenset[str] = frozenset(
    {"dataset", "seed", "epoch", "seconds", "diverged", "train_loss", "run_id"}
    | set(SCORE_METRICS)
    | set(SCORE_METRICS.values())
)


def read_curve_table(path: str | Path) -> pd.DataFrame:
    """Read a curve table from a ``.csv``, ``.tsv`` or ``.parquet`` file.

    Raises:
        FileNotFoundError: no such file.
        ValueError: another extension, an unreadable file, or no ``epoch`` column (the message
            names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No curve table at {path}.")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".parquet", ".pq"):
        raise ValueError(f"{path}: a curve table is a .csv, .tsv or .parquet file.")
    try:
        if suffix in (".csv", ".tsv"):
            frame = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
        else:
            frame = pd.read_parquet(path)
    except (ValueError, OSError) as error:  # pyarrow's ArrowInvalid, UnicodeDecodeError, ...
        raise ValueError(f"{path} is not a readable curve table: {error}") from error
    if "epoch" not in frame:
        raise ValueError(
            f"{path} has no 'epoch' column; a curve table has one row per configuration and "
            "epoch (docs/CURVES.md)."
        )
    return frame


def curve_search(
    frame: pd.DataFrame,
    space: Space | None = None,
    *,
    config_columns: Sequence[str] | None = None,
    k_choices: tuple[int, ...] = (1, 2, 4, 8, 16),
) -> SearchSpace:
    """The candidates of a curve table: its distinct configurations, ``E_max`` its last epoch.

    Args:
        frame: the table.
        space: the hyperparameters (default: the span of the table's values,
            `Space.from_grid`: log scale for positive numbers spanning a factor of 10).
        config_columns: the hyperparameter columns (default: every column that is not one of
            `TABLE_COLUMNS` and not a metric: ``val_*`` and ``test_*`` columns are metrics).
        k_choices: epoch increments of the env.

    Raises:
        ValueError: when the table has no hyperparameter column or a configuration is outside
            ``space``.

    Example:
        >>> table = pd.DataFrame({"lr": [0.1, 0.1, 1.0, 1.0], "epoch": [1, 2, 1, 2],
        ...                       "val_accuracy": [0.5, 0.6, 0.4, 0.7]})
        >>> search = curve_search(table)
        >>> search.n_configs, search.max_epochs, search.names
        (2, 2, ('lr',))
    """
    columns = list(config_columns or [c for c in frame.columns if not _is_table_column(c)])
    if not columns:
        raise ValueError(
            "The curve table has no hyperparameter column besides "
            f"{sorted(set(frame.columns) & TABLE_COLUMNS)}; docs/CURVES.md describes the format."
        )
    configs = frame[columns].drop_duplicates().to_dict("records")
    values = {c: [row[c] for row in configs] for c in columns}
    space = space or Space.from_grid({c: [_plain(v) for v in vs] for c, vs in values.items()})
    max_epochs = int(frame["epoch"].max())
    ks = tuple(k for k in k_choices if k <= max_epochs) or (1,)
    plain = [{str(k): _plain(v) for k, v in row.items()} for row in configs]
    return SearchSpace.of_configs(space, plain, max_epochs=max_epochs, k_choices=ks)


def _is_table_column(name: object) -> bool:
    text = str(name)
    return text in TABLE_COLUMNS or text.startswith(("val_", "test_"))


def _plain(value: object) -> object:
    item = getattr(value, "item", None)  # numpy scalars -> Python numbers
    return item() if callable(item) else value
