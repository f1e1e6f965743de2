"""Dataset families and the meta-train / meta-val / meta-test split made of them.

A *family* is every dataset that shares its source data: KEEL's imbalanced binarisations of one
table (``yeast1``, ``yeast-2_vs_4``, …), one table in both KEEL collections (``pima``), and one
UCI table shipped by two libraries (``keel:iris``, ``keel:iris0`` and ``sklearn:iris``). The
benchmark splits datasets by family so that no meta-test dataset has a sibling in meta-train.

Judgement calls, made once here (see ``docs/METADATASET.md``):

* ``wine`` (UCI Wine, in KEEL and scikit-learn) and ``winequality-*`` (Vinho Verde) are two
  unrelated tables: two families.
* ``wdbc`` = scikit-learn's ``breast_cancer`` (Wisconsin Diagnostic) and both ``wisconsin``
  tables (Wisconsin Original) come from one clinic, one author and overlapping patients: one
  family, ``wisconsin-breast``. KEEL's ``breast`` (Ljubljana recurrence) stands alone.
* ``australian`` and ``crx`` are one credit-approval table in two encodings: one family.
* ``heart`` (Statlog) is drawn from the Cleveland database: it joins ``cleveland-0_vs_4``.
* scikit-learn's ``digits`` is UCI optdigits' test part: it joins ``optdigits``.
* ``chess`` (KRKPA7) and ``kr-vs-k-*`` (KRK) are different endgames and features: two families.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd

__all__ = [
    "SPLIT_PARTS",
    "dataset_family",
    "family_split",
    "read_split",
    "write_split",
]

SPLIT_PARTS: Final[tuple[str, ...]] = ("meta-train", "meta-val", "meta-test")
_FORMAT: Final = "tunegym.split"

# Name prefix -> family; the longest matching prefix wins ("winequality" before "wine").
_PREFIXES: Final[dict[str, str]] = {
    "abalone": "abalone",
    "australian": "credit-approval",
    "breast_cancer": "wisconsin-breast",
    "car-": "car",
    "cleveland": "heart",
    "crx": "credit-approval",
    "dermatology": "dermatology",
    "digits": "optdigits",
    "ecoli": "ecoli",
    "flare": "flare",
    "glass": "glass",
    "heart": "heart",
    "iris": "iris",
    "kddcup": "kddcup",
    "kr-vs-k-": "kr-vs-k",
    "led7digit": "led7digit",
    "lymphography": "lymphography",
    "monk": "monk",
    "new-thyroid": "new-thyroid",
    "optdigits": "optdigits",
    "page-blocks": "page-blocks",
    "pima": "pima",
    "poker": "poker",
    "segment": "segment",
    "shuttle": "shuttle",
    "vehicle": "vehicle",
    "vowel": "vowel",
    "wdbc": "wisconsin-breast",
    "wine": "wine",
    "winequality": "winequality",
    "wisconsin": "wisconsin-breast",
    "yeast": "yeast",
    "zoo": "zoo",
}


# Whole names -> family, where a table of another collection is one of ours under another name
# (LCBench's OpenML tasks: credit-g is KEEL's german, kr-vs-kp its chess, car its car-* source),
# or only looks like one (KDD Cup 2009's CRM table is not KEEL's KDD Cup 1999 intrusion data).
_ALIASES: Final[dict[str, str]] = {
    "credit-g": "german",
    "kr-vs-kp": "chess",
    "car": "car",
    "kddcup09_appetency": "kddcup09",
}


def _name(spec: str) -> str:
    """The bare name of a spec or file: ``keel:imbalanced/pima`` -> ``pima``, ``a/b.csv`` -> ``b``,
    ``lcbench:credit-g`` -> ``credit-g``."""
    source, sep, rest = spec.partition(":")
    if sep and source in ("keel", "sklearn", "lcbench"):
        return rest.rsplit("/", 1)[-1]
    return spec if sep and source == "openml" else Path(spec).stem


def dataset_family(spec: str) -> str:
    """The family of a dataset spec: the shared source table of its variants.

    Example:
        >>> [dataset_family(s) for s in ("keel:yeast-2_vs_4", "keel:imbalanced/pima", "sklearn:iris")]
        ['yeast', 'pima', 'iris']
        >>> [dataset_family(s) for s in ("lcbench:credit-g", "lcbench:Australian", "lcbench:adult")]
        ['german', 'credit-approval', 'adult']
    """
    name = _name(spec).lower()
    if name in _ALIASES:
        return _ALIASES[name]
    matches = [prefix for prefix in _PREFIXES if name.startswith(prefix)]
    return _PREFIXES[max(matches, key=len)] if matches else name


def family_split(
    specs: Iterable[str],
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    fixed: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Assign each dataset to a `SPLIT_PARTS` part, whole families at a time.

    Families are sorted by name and shuffled with ``numpy.random.default_rng(seed)``; the
    first ``round(fractions[1] * families)`` go to meta-val, the next ``round(fractions[2] *
    families)`` to meta-test and the rest to meta-train. Same datasets and seed, same split.

    Args:
        specs: the datasets.
        seed: the shuffle's seed.
        fractions: shares of families for meta-train, meta-val and meta-test (summing to 1).
        fixed: family -> part for families assigned elsewhere (e.g. another meta-dataset's
            split, so that a family held out there is held out here too); only the other
            families are shuffled and split.

    Returns:
        Dataset spec -> part.

    Raises:
        ValueError: for fractions that are not three non-negative shares summing to 1.
    """
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"fractions must be 3 non-negative shares (train, val, test) summing to 1, got {fractions!r}."
        )
    fixed = dict(fixed or {})
    unknown = sorted(set(fixed.values()) - set(SPLIT_PARTS))
    if unknown:
        raise ValueError(f"fixed parts must be {SPLIT_PARTS}, got {unknown}.")
    family_of = {spec: dataset_family(spec) for spec in specs}
    families = sorted(set(family_of.values()) - set(fixed))
    order = [families[i] for i in np.random.default_rng(seed).permutation(len(families))]
    n_val = round(fractions[1] * len(families))
    n_test = round(fractions[2] * len(families))
    part_of = {f: SPLIT_PARTS[1] for f in order[:n_val]}
    part_of |= {f: SPLIT_PARTS[2] for f in order[n_val : n_val + n_test]}
    part_of |= {f: SPLIT_PARTS[0] for f in order[n_val + n_test :]}
    part_of |= fixed
    return {spec: part_of[family] for spec, family in family_of.items()}


def write_split(
    path: str | Path,
    specs: Iterable[str],
    *,
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    fixed: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Write the family split of ``specs`` as JSON (see `family_split`); return it as a table."""
    specs = sorted(set(specs))
    parts = family_split(specs, seed=seed, fractions=fractions, fixed=fixed)
    table = pd.DataFrame(
        {
            "dataset": specs,
            "family": [dataset_family(s) for s in specs],
            "part": [parts[s] for s in specs],
        }
    )
    payload = {
        "format": _FORMAT,
        "version": 1,
        "seed": seed,
        "fractions": dict(zip(SPLIT_PARTS, map(float, fractions), strict=True)),
        "made_by": "tunegym.metastore.write_split (families: tunegym.metastore.dataset_family)",
        "datasets": table.to_dict("records"),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    return table


def read_split(path: str | Path) -> pd.DataFrame:
    """Read a split file of `write_split`: one row per dataset (dataset, family, part)."""
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    if payload.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a tunegym split file (format {payload.get('format')!r}).")
    return pd.DataFrame(payload["datasets"], columns=["dataset", "family", "part"])
