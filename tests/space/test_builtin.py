"""The built-in spaces: the v1 env's grid span and LCBench's space."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tunegym.space import (
    FINE_TUNE,
    FINE_TUNE_SPACE,
    LCBENCH_SPACE,
    LR_BS_SPACE,
    SPACES,
    Categorical,
    Space,
    get_space,
)

LCBENCH_CONFIG_SPACE = Path("/work/shared/lcbench/config_space.json")


def test_registry() -> None:
    assert SPACES == {"lr-bs": LR_BS_SPACE, "lcbench": LCBENCH_SPACE, "lcbench+ft": FINE_TUNE_SPACE}
    assert get_space("lcbench") is LCBENCH_SPACE


def test_fine_tune_space_extends_lcbench_with_a_flag_at_the_cube_edges() -> None:
    assert FINE_TUNE_SPACE.names == (*LCBENCH_SPACE.names, FINE_TUNE)
    config = LCBENCH_SPACE.sample(1, seed=3)[0]
    scratch = FINE_TUNE_SPACE.to_unit(config | {FINE_TUNE: 0})
    fine = FINE_TUNE_SPACE.to_unit(config | {FINE_TUNE: 1})
    # A scratch candidate keeps its LCBench coordinates, with 0 where the agent saw padding.
    assert scratch[:-1].tolist() == LCBENCH_SPACE.to_unit(config).tolist()
    assert (scratch[-1], fine[-1]) == (0.0, 1.0)
    with pytest.raises(ValueError, match=r"Unknown space 'lc-bench'.*Did you mean 'lcbench'"):
        get_space("lc-bench")


def test_lr_bs_space_keeps_the_env_observation() -> None:
    # The v1 env normalises its grid values as (log v - log v_min) / (log v_max - log v_min);
    # on LR_BS_SPACE those values must sit at the same unit coordinates.
    from tunegym.envs._task import DEFAULT_BATCH_SIZES, DEFAULT_LRS

    for name, values in (("lr", DEFAULT_LRS), ("batch_size", DEFAULT_BATCH_SIZES)):
        logs = np.log(np.asarray(values, dtype=np.float64))
        env_unit = (logs - logs[0]) / (logs[-1] - logs[0])
        ours = [LR_BS_SPACE[name].to_unit(v) for v in values]
        np.testing.assert_allclose(ours, env_unit, rtol=0, atol=1e-12)
    assert (
        Space.from_grid({"lr": DEFAULT_LRS, "batch_size": DEFAULT_BATCH_SIZES}, name="lr-bs")
        == LR_BS_SPACE
    )
    grid = Space.grid({"lr": DEFAULT_LRS, "batch_size": DEFAULT_BATCH_SIZES})
    assert len(grid) == 13 * 6 and all(LR_BS_SPACE.contains(c) for c in grid)
    assert len({LR_BS_SPACE.key(c) for c in grid}) == len(grid)


def _rounded(space: Space) -> Space:
    # The file's float noise (0.00010000000000000009 for 1e-4) rounded to 12 digits.
    data = space.to_json()
    for p in data["params"]:
        if p["type"] == "float":
            p["low"], p["high"] = (float(f"{p[k]:.12g}") for k in ("low", "high"))
    return Space.from_json(data)


def test_lcbench_space_matches_its_config_space() -> None:
    if not LCBENCH_CONFIG_SPACE.is_file():
        pytest.skip(f"LCBench's ConfigSpace JSON is not at {LCBENCH_CONFIG_SPACE}")
    parsed = Space.from_configspace(
        LCBENCH_CONFIG_SPACE, drop=("OpenML_task_id", "epoch"), name="lcbench"
    )
    assert _rounded(parsed) == LCBENCH_SPACE
    for ours, theirs in zip(LCBENCH_SPACE, parsed, strict=True):
        assert not isinstance(ours, Categorical) and not isinstance(theirs, Categorical)
        assert math.isclose(ours.low, theirs.low, rel_tol=1e-12)
        assert math.isclose(ours.high, theirs.high, rel_tol=1e-12)
        # values on the rounded bounds are inside the file's space, and vice versa
        assert theirs.contains(ours.low) and theirs.contains(ours.high)
        assert ours.contains(theirs.low) and ours.contains(theirs.high)


def test_lcbench_space_shape() -> None:
    assert LCBENCH_SPACE.names == (
        "batch_size", "learning_rate", "max_dropout", "max_units", "momentum", "num_layers",
        "weight_decay",
    )  # fmt: skip
    assert LCBENCH_SPACE.name == "lcbench" and LCBENCH_SPACE.dim == 7
