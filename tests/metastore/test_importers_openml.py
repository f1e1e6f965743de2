"""OpenML importer: the real ``openml`` client against recorded REST answers, paging, caching."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.metastore._fake_openml import FakeOpenML
from tunegym.errors import DatasetNotFoundError
from tunegym.metastore.importers import (
    OpenMLImportError,
    OpenMLRunEvaluation,
    fetch_mlp_evaluations,
    fetch_openml_qualities,
    find_mlp_flows,
)

openml = pytest.importorskip("openml")

MLP_FLOWS = (7717, 19199)


def test_qualities_parsed_by_the_client_and_cached(fake_openml: FakeOpenML, tmp_path: Path) -> None:
    rows = list(fetch_openml_qualities([3], cache_dir=tmp_path))

    by_name = {r.quality: r.value for r in rows}
    assert {r.openml_did for r in rows} == {3}
    assert {r.dataset_name for r in rows} == {"kr-vs-kp"}
    assert by_name["NumberOfInstances"] == 3196
    assert by_name["NumberOfFeatures"] == 37
    assert by_name["ClassEntropy"] == pytest.approx(0.9985755386554582, rel=1e-12)
    # empty qualities (no numeric attributes in kr-vs-kp) yield no row
    assert "MeanSkewnessOfNumericAtts" not in by_name
    assert all(math.isfinite(r.value) for r in rows)
    assert fake_openml.urls == [
        "https://www.openml.org/api/v1/xml/data/3",
        "https://www.openml.org/api/v1/xml/data/qualities/3",
    ]
    cached = tmp_path / "org" / "openml" / "www" / "datasets" / "3"
    assert (cached / "qualities.xml").is_file()

    fake_openml.offline = True
    assert list(fetch_openml_qualities([3], cache_dir=tmp_path)) == rows


def test_unknown_dataset(fake_openml: FakeOpenML, tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match="openml:999999"):
        list(fetch_openml_qualities([999999], cache_dir=tmp_path))


def test_qualities_unreachable_and_uncached_name_the_cache(
    fake_openml: FakeOpenML, tmp_path: Path
) -> None:
    fake_openml.offline = True

    with pytest.raises(OpenMLImportError) as caught:
        list(fetch_openml_qualities([3], cache_dir=tmp_path))

    message = str(caught.value)
    assert "not in the cache" in message
    assert str(tmp_path / "org" / "openml" / "www" / "datasets" / "3") in message
    assert "TUNEGYM_OPENML_CACHE" in message


def test_find_mlp_flows(fake_openml: FakeOpenML, tmp_path: Path) -> None:
    flows = find_mlp_flows(cache_dir=tmp_path)

    assert [f.flow_id for f in flows] == list(MLP_FLOWS)
    assert flows[1].name == "sklearn.neural_network._multilayer_perceptron.MLPClassifier"
    assert flows[1].external_version.startswith("sklearn==1.1.3")
    with_pipelines = find_mlp_flows(include_pipelines=True, cache_dir=tmp_path)
    assert [f.flow_id for f in with_pipelines] == [7717, 16374, 19199]  # MLPRegressor left out
    assert len(fake_openml.urls) == 1  # the second call read the cached listing
    assert "flow/list/limit/10000/offset/0" in fake_openml.urls[0]


def test_evaluations_paged_until_a_short_page(fake_openml: FakeOpenML, tmp_path: Path) -> None:
    rows = list(fetch_mlp_evaluations(MLP_FLOWS, page_size=2, cache_dir=tmp_path))

    assert [r.run_id for r in rows] == [8939210, 8939211, 8939502, 10437309, 10437310]
    evaluation_urls = [u for u in fake_openml.urls if "/evaluation/list/" in u]
    assert [u.split("/limit/")[1].split("/flow/")[0] for u in evaluation_urls] == [
        "2/offset/0",
        "2/offset/2",
        "2/offset/4",
    ]
    assert all(u.endswith("/flow/7717,19199") for u in evaluation_urls)
    first = rows[0]
    assert isinstance(first, OpenMLRunEvaluation)
    assert (first.task_id, first.setup_id, first.flow_id, first.openml_did) == (31, 7001, 7717, 31)
    assert first.dataset_name == "credit-g"
    assert first.measure == "predictive_accuracy"
    assert first.value == pytest.approx(0.722)
    assert first.uploader == 1
    assert first.hyperparameters() == {
        "activation": "relu",
        "alpha": 0.0001,
        "batch_size": "auto",
        "hidden_layer_sizes": [100],
        "learning_rate_init": 0.001,
        "max_iter": 200,
        "random_state": None,
        "solver": "adam",
    }
    assert rows[1].hyperparameters()["hidden_layer_sizes"] == [64, 64]


def test_evaluations_end_on_an_empty_page(fake_openml: FakeOpenML, tmp_path: Path) -> None:
    # Five MLP evaluations in pages of 5: the second page is past the end, which OpenML
    # answers with error 542 ("No results"), and the listing ends there.
    rows = list(fetch_mlp_evaluations(MLP_FLOWS, page_size=5, cache_dir=tmp_path))

    assert len(rows) == 5
    assert sum("/evaluation/list/" in u for u in fake_openml.urls) == 2


def test_evaluations_filters_and_limit(fake_openml: FakeOpenML, tmp_path: Path) -> None:
    on_task_3 = list(fetch_mlp_evaluations(MLP_FLOWS, tasks=[3], cache_dir=tmp_path))
    assert [(r.run_id, r.task_id) for r in on_task_3] == [(8939502, 3), (10437309, 3)]

    first_three = list(
        fetch_mlp_evaluations(MLP_FLOWS, page_size=2, max_rows=3, cache_dir=tmp_path)
    )
    assert [r.run_id for r in first_three] == [8939210, 8939211, 8939502]


def test_evaluations_default_flows_come_from_the_listing(
    fake_openml: FakeOpenML, tmp_path: Path
) -> None:
    rows = list(fetch_mlp_evaluations(cache_dir=tmp_path))

    assert {r.flow_id for r in rows} == set(MLP_FLOWS)


def test_evaluations_are_cached_per_page(fake_openml: FakeOpenML, tmp_path: Path) -> None:
    online = list(fetch_mlp_evaluations(MLP_FLOWS, page_size=2, cache_dir=tmp_path))
    fake_openml.offline = True
    requests_before = len(fake_openml.urls)

    offline = list(fetch_mlp_evaluations(MLP_FLOWS, page_size=2, cache_dir=tmp_path))

    assert offline == online
    assert len(fake_openml.urls) == requests_before
    with pytest.raises(OpenMLImportError, match="not in the cache"):
        list(fetch_mlp_evaluations(MLP_FLOWS, page_size=2, cache_dir=tmp_path, refresh=True))


def test_evaluations_unreachable_and_uncached_name_the_cache(
    fake_openml: FakeOpenML, tmp_path: Path
) -> None:
    fake_openml.offline = True

    with pytest.raises(OpenMLImportError) as caught:
        list(fetch_mlp_evaluations(MLP_FLOWS, cache_dir=tmp_path))

    message = str(caught.value)
    assert "OpenML could not be reached" in message
    assert str(tmp_path / "tunegym" / "evaluations") in message
    assert "offset_0.json" in message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"page_size": 0}, "page_size"),
        ({"page_size": 1001}, "page_size"),
        ({"max_rows": -1}, "max_rows"),
        ({"flows": []}, "No flows"),
    ],
)
def test_evaluations_bad_arguments(kwargs: dict[str, object], match: str, tmp_path: Path) -> None:
    args: dict[str, object] = {"flows": MLP_FLOWS, "cache_dir": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=match):
        list(fetch_mlp_evaluations(**args))  # type: ignore[arg-type]


def test_hyperparameters_skip_a_pipelines_own_parameters() -> None:
    pipeline = (
        "sklearn.pipeline.Pipeline(imputer=sklearn.impute._base.SimpleImputer,"
        "classifier=sklearn.neural_network._multilayer_perceptron.MLPClassifier)(1)"
    )
    mlp = "sklearn.neural_network._multilayer_perceptron.MLPClassifier(1)"
    ev = OpenMLRunEvaluation(
        1, 31, 5, 16374, pipeline, 31, "credit-g", "predictive_accuracy", 0.7, "", 1,
        ((f"{pipeline}_memory", "null"), (f"{mlp}_alpha", "0.01"), (f"{mlp}_note", "not json")),
    )  # fmt: skip

    assert ev.hyperparameters() == {"alpha": 0.01, "note": "not json"}


@pytest.mark.online
def test_live_qualities_of_credit_g(tmp_path: Path) -> None:
    by_name = {r.quality: r.value for r in fetch_openml_qualities([31], cache_dir=tmp_path)}

    assert by_name["NumberOfInstances"] == 1000
    assert by_name["NumberOfFeatures"] == 21


@pytest.mark.online
def test_live_mlp_runs(tmp_path: Path) -> None:
    flows = find_mlp_flows(cache_dir=tmp_path)
    assert flows, "OpenML lists no MLPClassifier flow"

    rows = list(fetch_mlp_evaluations(cache_dir=tmp_path, page_size=100, max_rows=150))

    assert 0 < len(rows) <= 150
    assert all(0 <= r.value <= 1 for r in rows)
    assert {r.flow_id for r in rows} <= {f.flow_id for f in flows}
