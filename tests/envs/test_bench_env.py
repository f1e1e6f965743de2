"""The env benchmark script runs end to end on a tiny budget and checks what it claims."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "experiments" / "bench_env.py"


def test_bench_script_runs_on_a_tiny_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = importlib.util.spec_from_file_location("bench_env", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, bench)  # dataclasses look their module up
    spec.loader.exec_module(bench)
    args = bench.parse_args(["--quick", "--out-dir", str(tmp_path)])
    result = bench.run(args)

    speed = result["replay_speed"]
    assert speed["steps"] > 0
    assert speed["episodes"] > 0
    assert speed["steps_per_s"] < speed["env_steps_per_s"]  # the policy's time is left out
    assert result["replay_hot_spots"]
    for key in ("live_overhead", "small_overhead"):
        live = result[key]
        assert live["epochs"] > 0
        assert live["trainer_s"] > 0
        assert live["step_s"] >= live["trainer_s"]  # step wraps the trainer's own clock
    robustness = result["robustness"]
    assert set(robustness) == {"live sklearn:iris", "replay sklearn:iris", "replay sklearn:wine"}
    for counts in robustness.values():
        assert counts["exceptions"] == 0, counts["first_problem"]
        assert counts["violations"] == 0, counts["first_problem"]
        assert counts["steps"] == 150
        assert counts["invalid_actions"] > 0
        assert counts["valid_steps"] + counts["invalid_actions"] == counts["steps"]
    assert robustness["live sklearn:iris"]["diverged_trials"] > 0  # lr 1e20 diverges
    # same seed, hence same actions: live and its recorded curves give the same episodes
    live, replay = robustness["live sklearn:iris"], robustness["replay sklearn:iris"]
    live.pop("wall_s")
    replay.pop("wall_s")
    assert live == replay

    saved = json.loads((tmp_path / "bench_env.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(result["summary"]))
    assert saved["versions"]["torch"]
    n_rows = len(result["summary"])
    assert len((tmp_path / "bench_env.csv").read_text().splitlines()) == 1 + n_rows
    assert len(bench.format_table(result).splitlines()) >= 2 + n_rows
    assert list(tmp_path.glob("curves_*.parquet"))  # the recorded curves are cached
