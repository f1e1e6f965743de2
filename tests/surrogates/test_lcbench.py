"""LCBench surrogate: files, tasks, configs, curves, determinism and batching."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tunegym.errors import MissingExtraError
from tunegym.surrogates import (
    LCBENCH_CURVE_COLUMNS,
    LCBENCH_ENV,
    LCBENCH_HYPERPARAMETERS,
    LCBENCH_METRICS,
    LCBENCH_TASK_NAMES,
    LCBench,
    LCBenchPoint,
    find_lcbench_dir,
)
from tunegym.surrogates._lcbench_files import LCBENCH_MODEL_SHA256


def _copy(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for name in ("model.onnx", "encoding.json", "config_space.json"):
        shutil.copyfile(src / name, dst / name)
    return dst


# --- files ------------------------------------------------------------------------------------


def test_the_readme_gives_the_checksum_and_the_task_names(lcbench_dir: Path) -> None:
    readme = (lcbench_dir / "README.md").read_text()
    assert f"sha256 {LCBENCH_MODEL_SHA256}" in readme
    listed = readme.split("config space:", 1)[1].split("(167083", 1)[0]
    pairs = dict(re.findall(r"(\d+) ([^,]+?)(?:,|\.\s*$)", " ".join(listed.split())))
    assert {int(k): v for k, v in pairs.items()} == dict(LCBENCH_TASK_NAMES)


def test_open_finds_the_folder_from_the_environment(
    lcbench_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = _copy(lcbench_dir, tmp_path / "copy")
    monkeypatch.setenv(LCBENCH_ENV, str(copy))
    assert find_lcbench_dir() == copy
    assert LCBench.open().root == copy
    monkeypatch.setenv(LCBENCH_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=rf"\${LCBENCH_ENV}.*lacks"):
        find_lcbench_dir()


def test_a_folder_without_the_files_says_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "encoding.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"lacks \['model.onnx', 'config_space.json'\]"):
        LCBench.open(tmp_path)


def test_nothing_found_lists_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tunegym.surrogates._lcbench_files as files

    monkeypatch.delenv(LCBENCH_ENV, raising=False)
    monkeypatch.setattr(files, "_source_tree_default", lambda: tmp_path / "a")
    monkeypatch.setattr(files, "_SYSTEM_DEFAULT", tmp_path / "b")
    with pytest.raises(FileNotFoundError) as info:
        find_lcbench_dir()
    message = str(info.value)
    assert str(tmp_path / "a") in message and str(tmp_path / "b") in message
    assert LCBENCH_ENV in message and "LCBench.open(path)" in message


def test_a_model_with_another_checksum_is_refused(lcbench_dir: Path, tmp_path: Path) -> None:
    copy = _copy(lcbench_dir, tmp_path / "copy")
    with (copy / "model.onnx").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(
        ValueError, match=f"not the YAHPO Gym LCBench model's {LCBENCH_MODEL_SHA256}"
    ):
        LCBench.open(copy)


def test_without_onnxruntime_the_error_names_the_extra(
    lcbench_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match=r"pip install -e '.*\[lcbench\]'"):
        LCBench.open(lcbench_dir)


def test_threads_must_be_positive(lcbench_dir: Path) -> None:
    with pytest.raises(ValueError, match="threads must be an int >= 1, got 0"):
        LCBench.open(lcbench_dir, threads=0)
    assert LCBench.open(lcbench_dir, threads=2).epochs == 52


# --- tasks and space -------------------------------------------------------------------------


def test_tasks_are_the_34_of_the_config_space(bench: LCBench) -> None:
    assert len(bench.tasks) == 34 and len(set(bench.tasks)) == 34
    assert 167083 not in bench.tasks
    assert bench.tasks[:3] == (3945, 7593, 34539)
    assert set(bench.task_names) == set(bench.tasks)
    assert bench.task_names[126025] == "adult"
    assert bench.epochs == 52


def test_config_space_is_the_parsed_json_and_a_copy(bench: LCBench) -> None:
    space = bench.config_space
    names = {h["name"] for h in space["hyperparameters"]}
    assert names == {"OpenML_task_id", "epoch", *LCBENCH_HYPERPARAMETERS}
    space["hyperparameters"].clear()
    assert len(bench.config_space["hyperparameters"]) == 9


def test_hyperparameters_in_the_model_order(bench: LCBench) -> None:
    assert (
        bench.hyperparameter_names
        == LCBENCH_HYPERPARAMETERS
        == tuple(h.name for h in bench.hyperparameters)
    )
    by_name = {h.name: h for h in bench.hyperparameters}
    assert (by_name["batch_size"].lower, by_name["batch_size"].upper) == (16, 512)
    assert by_name["batch_size"].log and by_name["batch_size"].integer
    assert not by_name["momentum"].log and not by_name["momentum"].integer


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        (126025, 126025),
        ("126025", 126025),
        ("adult", 126025),
        ("Fashion-MNIST", 189908),
        ("fashion-mnist", 189908),
        (np.int64(3945), 3945),
    ],
)
def test_a_task_is_an_id_or_a_name(bench: LCBench, task: object, expected: int) -> None:
    assert bench.resolve_task(task) == expected  # type: ignore[arg-type]


def test_unknown_tasks_get_near_misses(bench: LCBench) -> None:
    with pytest.raises(
        ValueError, match=r"Unknown LCBench task id 126052.*Did you mean .*'126025'"
    ):
        bench.resolve_task(126052)
    with pytest.raises(ValueError, match=r"Unknown LCBench task 'adlut'.*Did you mean 'adult'"):
        bench.resolve_task("adlut")
    with pytest.raises(ValueError, match=r"numerai28\.6.*poorly fitted"):
        bench.resolve_task(167083)
    with pytest.raises(TypeError, match="OpenML task id or a dataset name"):
        bench.resolve_task(1.5)  # type: ignore[arg-type]


# --- configs ---------------------------------------------------------------------------------


def test_bad_configs_say_what_is_wrong(bench: LCBench) -> None:
    good = bench.default_config()
    bad = {**good, "learning_rat": 0.01}
    del bad["learning_rate"]
    with pytest.raises(
        ValueError,
        match=r"Unknown.*\['learning_rat'\] in configs\[1\].*Did you mean 'learning_rate'",
    ):
        bench.curves("adult", [good, bad], epochs=1)
    with pytest.raises(ValueError, match=r"lacks \['max_dropout'\]"):
        bench.curves("adult", [{k: v for k, v in good.items() if k != "max_dropout"}])
    with pytest.raises(ValueError, match=r"'momentum' must be in \[0.1, 0.99\], got 1.5"):
        bench.curves("adult", [{**good, "momentum": 1.5}])
    with pytest.raises(ValueError, match=r"'num_layers' takes integers, got 2\.5"):
        bench.curves("adult", [{**good, "num_layers": 2.5}])
    with pytest.raises(TypeError, match="must be a number"):
        bench.curves("adult", [{**good, "batch_size": "64"}])  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="must be finite"):
        bench.curves("adult", [{**good, "weight_decay": float("nan")}])
    with pytest.raises(ValueError, match="epoch is not a hyperparameter"):
        bench.curves("adult", [{**good, "epoch": 3}])
    with pytest.raises(TypeError, match=r"sequence of mappings \(e.g. \[config\]\)"):
        bench.curves("adult", good)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="configs is empty"):
        bench.curves("adult", [])
    with pytest.raises(ValueError, match=r"epochs must be in 1..52, got 53"):
        bench.curves("adult", [good], epochs=53)


def test_bounds_with_float_noise_are_accepted(bench: LCBench) -> None:
    config = {**bench.default_config(), "learning_rate": 1e-4, "weight_decay": 0.1}
    frame = bench.curves("adult", [config], epochs=1)
    assert frame["learning_rate"].iloc[0] == pytest.approx(1e-4, rel=1e-12)


def test_sampled_configs_are_valid_and_seeded(bench: LCBench) -> None:
    configs = bench.sample_configs(200, seed=3)
    assert configs == bench.sample_configs(200, seed=np.random.default_rng(3))
    assert configs != bench.sample_configs(200, seed=4)
    assert configs[:7] == bench.sample_configs(7, seed=3)
    for config in configs:
        bench.check_config(config)
        assert isinstance(config["batch_size"], int) and isinstance(config["momentum"], float)
    rates = np.log10([c["learning_rate"] for c in configs])
    assert rates.min() < -3.3 and rates.max() > -1.7  # log-uniform over 1e-4..1e-1


# --- curves ----------------------------------------------------------------------------------


def test_curves_columns_rows_and_ranges(bench: LCBench) -> None:
    configs = bench.sample_configs(20, seed=0)
    frame = bench.curves("adult", configs)
    assert tuple(frame.columns) == LCBENCH_CURVE_COLUMNS
    assert len(frame) == 20 * 52
    assert frame["config"].tolist() == np.repeat(np.arange(20), 52).tolist()
    assert frame["epoch"].tolist() == list(range(1, 53)) * 20
    assert frame.loc[frame["config"] == 7, "max_units"].eq(configs[7]["max_units"]).all()
    for name in ("val_accuracy", "val_balanced_accuracy", "test_balanced_accuracy"):
        assert frame[name].between(0, 1).all()
    assert (frame[["val_cross_entropy", "test_cross_entropy"]] >= 0).all().all()
    assert (frame["seconds"] >= 0).all()
    cumulative = frame.groupby("config")["seconds"].cumsum()
    np.testing.assert_allclose(frame["time"], cumulative, rtol=1e-12)
    assert frame.attrs["lcbench"] == {"task": 126025, "task_name": "adult"}
    # a real curve: training improves validation accuracy on average
    first, last = (frame[frame["epoch"] == e]["val_accuracy"].mean() for e in (1, 52))
    assert last > first + 0.1


def test_accuracy_is_the_model_output_over_100(bench: LCBench) -> None:
    config = bench.default_config()
    x_cont = np.array([[5, *(config[n] for n in LCBENCH_HYPERPARAMETERS)]], dtype=np.float32)
    raw = bench.predict(126025, x_cont)
    assert raw.shape == (1, 6) and raw.dtype == np.float32
    row = bench.curves(126025, [config], epochs=5).iloc[-1]
    assert row["val_accuracy"] == pytest.approx(raw[0, 1] / 100, rel=1e-6)
    assert row["val_cross_entropy"] == pytest.approx(raw[0, 2], rel=1e-6)
    assert row["val_balanced_accuracy"] == pytest.approx(raw[0, 3], rel=1e-6)
    assert row["test_cross_entropy"] == pytest.approx(raw[0, 4], rel=1e-6)
    assert row["test_balanced_accuracy"] == pytest.approx(raw[0, 5], rel=1e-6)
    with pytest.raises(ValueError, match=r"x_cont must be \[n, 8\]"):
        bench.predict(126025, x_cont[:, :7])


def test_the_input_order_matters(bench: LCBench) -> None:
    # A guard against shuffled inputs: swapping two hyperparameters changes the prediction.
    config = bench.default_config()
    x = np.array([[52, *(config[n] for n in LCBENCH_HYPERPARAMETERS)]], dtype=np.float32)
    swapped = x.copy()
    swapped[0, [1, 6]] = swapped[0, [6, 1]]  # batch_size <-> max_units
    assert not np.allclose(bench.predict("adult", x), bench.predict("adult", swapped))


def test_raw_curves_keep_the_model_time(bench: LCBench) -> None:
    configs = bench.sample_configs(200, seed=0)
    raw = bench.curves("shuttle", configs, clip=False)
    clipped = bench.curves("shuttle", configs)
    # shuttle's model time dips between some epochs: raw seconds go negative, clipped do not
    assert (raw["seconds"] < 0).any() and (clipped["seconds"] >= 0).all()
    np.testing.assert_allclose(
        raw["time"], raw.groupby("config")["seconds"].cumsum(), rtol=1e-9, atol=1e-9
    )
    pd.testing.assert_series_equal(raw["val_cross_entropy"], clipped["val_cross_entropy"])


def test_identical_queries_give_identical_arrays(bench: LCBench) -> None:
    configs = bench.sample_configs(30, seed=1)
    first = bench.curves(168868, configs)
    again = bench.curves(168868, configs)
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    other = LCBench.open(bench.root)
    pd.testing.assert_frame_equal(first, other.curves(168868, configs), check_exact=True)


def test_a_batch_equals_its_configs_one_by_one(bench: LCBench) -> None:
    configs = bench.sample_configs(16, seed=2)
    batched = bench.curves("car", configs, epochs=52)
    for i, config in enumerate(configs):
        alone = bench.curves("car", [config], epochs=52)
        part = batched[batched["config"] == i].reset_index(drop=True)
        for name in (*LCBENCH_METRICS, "seconds", "time"):
            np.testing.assert_allclose(part[name], alone[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_shorter_curves_are_prefixes(bench: LCBench) -> None:
    configs = bench.sample_configs(3, seed=5)
    full = bench.curves("kc1", configs)
    short = bench.curves("kc1", configs, epochs=10)
    head = full[full["epoch"] <= 10].reset_index(drop=True)
    for name in (*LCBENCH_METRICS, "time"):
        np.testing.assert_allclose(short[name], head[name], rtol=1e-5, atol=1e-5)


def test_query_is_the_last_row_of_the_curve(bench: LCBench) -> None:
    config = bench.sample_configs(1, seed=9)[0]
    point = bench.query("jasmine", config, epoch=20)
    assert isinstance(point, LCBenchPoint) and point.epoch == 20
    row = bench.curves(189862, [config], epochs=20).iloc[-1]
    assert point.val_accuracy == row["val_accuracy"] and point.time == row["time"]
    assert point.seconds == row["seconds"]


def test_tasks_differ(bench: LCBench) -> None:
    config = [bench.default_config()]
    finals = {t: bench.curves(t, config)["val_accuracy"].iloc[-1] for t in bench.tasks}
    assert len({round(v, 6) for v in finals.values()}) == 34
    assert finals[168329] < 0.4 < finals[168868]  # helena (100 classes) vs APSFailure
