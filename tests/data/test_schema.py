"""``schema_fingerprint`` and the feature typing ``DatasetInfo`` records for it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from tunegym.data import load_dataset, schema_fingerprint


def fingerprint(data: object, target: object = None) -> str:
    return schema_fingerprint(load_dataset(data, target).info)  # type: ignore[arg-type]


def test_siblings_share_a_fingerprint_and_other_tables_do_not() -> None:
    yeast = {fingerprint(s) for s in ("keel:yeast1", "keel:yeast3", "keel:yeast-2_vs_4")}

    assert len(yeast) == 1
    (shared,) = yeast
    assert len(shared) == 64 and int(shared, 16) >= 0
    assert fingerprint("keel:ecoli1") != shared
    assert fingerprint("keel:iris") != fingerprint("sklearn:iris")  # other column names


def test_info_records_the_typing() -> None:
    info = load_dataset("keel:german").info

    assert len(info.numeric_features) == info.n_numeric == 7
    assert len(info.categorical_features) == info.n_categorical == 13
    assert set(info.numeric_features) | set(info.categorical_features) == set(info.feature_names)


def test_types_and_order_are_part_of_the_schema() -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.integers(0, 3, 60), "b": rng.normal(size=60)})
    frame["y"] = np.arange(60) % 2

    base = fingerprint(frame, "y")
    assert fingerprint(frame.copy(), "y") == base  # values and labels are not
    assert fingerprint(frame.assign(a=frame["a"].astype("category")), "y") != base
    assert fingerprint(frame[["b", "a", "y"]], "y") != base
    assert fingerprint(frame.rename(columns={"b": "c"}), "y") != base


def test_a_hand_made_info_without_typing_is_refused() -> None:
    info = load_dataset("sklearn:iris").info
    bare = dataclasses.replace(info, numeric_features=(), categorical_features=())

    with pytest.raises(ValueError, match=r"does not type every feature column.*load_dataset"):
        schema_fingerprint(bare)
