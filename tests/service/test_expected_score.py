"""``expected_score``: a configuration's predicted normalised score on the caller's dataset.

It used to be the configuration's normalised score on the neighbour it comes from, which is 1
for every neighbour's best — and the portfolio serves exactly those, so every configuration
said 1.0. Now it is the distance-weighted mean over the answer's neighbours of its normalised
score on each one that ran it: in [0, 1], and different from one configuration to the next.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import FULL_SPACE
from tunegym.service import WarmStartService
from tunegym.service._tables import DISTANCE_EPS, ConfigStats, predicted_score


def warm(client: TestClient, dataset: dict[str, Any], **body: Any) -> Any:
    response = client.post(
        "/v1/warmstart", json={"dataset": dataset, "search_space": FULL_SPACE, **body}
    )
    assert response.is_success, response.text
    return response.json()


@pytest.mark.parametrize(
    "dataset", [{"openml_did": 31}, {"name": "sklearn:iris"}, {"name": "sklearn:wine"}]
)
def test_served_scores_differ_and_lie_in_0_1(
    snapshot_app: TestClient, snapshot_service: WarmStartService, dataset: Any
) -> None:
    answer = warm(snapshot_app, dataset, k=8, neighbors=5, include_self=False)
    scores = [c["expected_score"] for c in answer["configurations"]]
    assert len(scores) == 8 and all(0.0 <= v <= 1.0 for v in scores)
    assert len(set(scores)) > 1  # one stored configuration served from two neighbours: equal
    # Each neighbour's best configuration (what the round robin serves first) used to say 1.0.
    bests = [
        c["expected_score"] for c in answer["configurations"] if _is_best_there(snapshot_service, c)
    ]
    assert len(bests) >= 3 and len(set(bests)) > 1 and max(bests) < 1.0


def _is_best_there(service: WarmStartService, config: dict[str, Any]) -> bool:
    """Whether ``config`` is the best configuration of the neighbour it comes from."""
    stored = config["provenance"]
    entry = service.index.get(stored["dataset"])
    assert entry is not None
    best = entry.configs[0]
    return (best.lr, best.batch_size) == (stored["learning_rate"], stored["batch_size"])


def test_expected_score_is_the_distance_weighted_mean_over_the_neighbours(
    snapshot_app: TestClient, snapshot_service: WarmStartService
) -> None:
    answer = warm(snapshot_app, {"openml_did": 31}, k=8, neighbors=5, include_self=False)
    for config in answer["configurations"]:
        stored = config["provenance"]
        total = weight = 0.0
        for neighbor in answer["neighbors"]:
            entry = snapshot_service.index.get(neighbor["dataset"])
            assert entry is not None
            normalised = {(c.lr, c.batch_size): c.expected for c in entry.configs}
            score = normalised.get((stored["learning_rate"], stored["batch_size"]))
            if score is not None:
                w = 1.0 / (neighbor["distance"] + DISTANCE_EPS)
                total, weight = total + w * score, weight + w
        assert config["expected_score"] == pytest.approx(total / weight)
        # The raw score stays the neighbour's validation accuracy at 'epochs'.
        assert 0.0 <= config["score"] <= 1.0


def test_the_schema_documents_the_range(snapshot_app: TestClient) -> None:
    schema = snapshot_app.get("/openapi.json").json()
    field = schema["components"]["schemas"]["ConfigurationOut"]["properties"]["expected_score"]
    assert (field["minimum"], field["maximum"]) == (0.0, 1.0)
    assert "Predicted normalised score on your dataset" in field["description"]


def _stats(lr: float, expected: float) -> ConfigStats:
    return ConfigStats(
        lr=lr, batch_size=32, epochs=1, best=0.5, final=0.5, expected=expected, seeds=(0,),
        run_ids=(), curve=(0.5,), origin="store",
        hyperparameters=(("batch_size", 32), ("learning_rate", lr)),
    )  # fmt: skip


def test_predicted_score_weighs_by_inverse_distance_and_skips_who_did_not_run_it() -> None:
    a = {c.identity: c.expected for c in (_stats(0.1, 1.0), _stats(0.01, 0.0))}
    b = {c.identity: c.expected for c in (_stats(0.1, 0.0),)}
    key = _stats(0.1, 0.0).identity
    w_a, w_b = 1 / (0.1 + DISTANCE_EPS), 1 / (0.4 + DISTANCE_EPS)
    assert predicted_score(key, [(0.1, a), (0.4, b)]) == pytest.approx(w_a / (w_a + w_b))
    only_a = _stats(0.01, 0.0).identity
    assert predicted_score(only_a, [(0.1, a), (0.4, b)]) == 0.0  # b never ran it
    assert predicted_score(key, [(float("inf"), a)]) == 1.0  # no 0/0
    with pytest.raises(KeyError):
        predicted_score(_stats(0.5, 0.0).identity, [(0.1, a)])
