"""Fixtures of the data tests: a network guard and an OpenML cache in openml 0.15's layout."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import requests
from sklearn.datasets import load_iris

IRIS_DID = 61
IRIS_CLASSES = ("Iris-setosa", "Iris-versicolor", "Iris-virginica")
IRIS_COLUMNS = ("sepallength", "sepalwidth", "petallength", "petalwidth")


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every HTTP request fail at once, as on a machine without network; record the URLs.

    openml retries failed requests with sleeps in between, so its retries are set to one.
    """
    openml = pytest.importorskip("openml")
    urls: list[str] = []

    def refuse(
        self: requests.Session, method: str, url: str, *args: object, **kwargs: object
    ) -> None:
        urls.append(url)
        raise requests.exceptions.ConnectionError(f"network disabled in tests: {url}")

    monkeypatch.setattr(requests.Session, "request", refuse)
    monkeypatch.setattr(openml.config, "connection_n_retries", 1)
    return urls


def _iris_frame() -> pd.DataFrame:
    iris = load_iris()
    frame = pd.DataFrame(np.round(iris.data, 1), columns=list(IRIS_COLUMNS))
    frame["class"] = pd.Categorical(np.array(IRIS_CLASSES)[iris.target], categories=IRIS_CLASSES)
    return frame


def _iris_arff(frame: pd.DataFrame) -> str:
    header = ["@RELATION iris", ""]
    header += [f"@ATTRIBUTE {name} REAL" for name in IRIS_COLUMNS]
    header += ["@ATTRIBUTE class {" + ",".join(IRIS_CLASSES) + "}", "", "@DATA"]
    rows = [",".join(str(v) for v in row) for row in frame.itertuples(index=False)]
    return "\n".join(header + rows) + "\n"


def _description_xml(md5: str, with_parquet: bool) -> str:
    # The shape of GET /api/v1/xml/data/61, which openml stores verbatim as description.xml.
    parquet = (
        "  <oml:parquet_url>https://data.openml.org/datasets/0000/0061/dataset_61.pq"
        "</oml:parquet_url>\n"
        if with_parquet
        else ""
    )
    return (
        '<oml:data_set_description xmlns:oml="http://openml.org/openml">\n'
        "  <oml:id>61</oml:id>\n"
        "  <oml:name>iris</oml:name>\n"
        "  <oml:version>1</oml:version>\n"
        "  <oml:description>**Author**: R.A. Fisher\n**Source**: UCI - 1936\n\n"
        "**Iris Plants Database**</oml:description>\n"
        "  <oml:description_version>1</oml:description_version>\n"
        "  <oml:format>ARFF</oml:format>\n"
        "  <oml:creator>R.A. Fisher</oml:creator>\n"
        "  <oml:collection_date>1936</oml:collection_date>\n"
        "  <oml:upload_date>2014-04-06T23:23:39</oml:upload_date>\n"
        "  <oml:language>English</oml:language>\n"
        "  <oml:licence>Public</oml:licence>\n"
        "  <oml:url>https://api.openml.org/data/v1/download/61/iris.arff</oml:url>\n"
        f"{parquet}"
        "  <oml:file_id>61</oml:file_id>\n"
        "  <oml:default_target_attribute>class</oml:default_target_attribute>\n"
        "  <oml:version_label>1</oml:version_label>\n"
        "  <oml:citation>https://archive.ics.uci.edu/ml/citation_policy.html</oml:citation>\n"
        "  <oml:tag>study_1</oml:tag>\n"
        "  <oml:tag>uci</oml:tag>\n"
        "  <oml:visibility>public</oml:visibility>\n"
        "  <oml:original_data_url>https://archive.ics.uci.edu/ml/datasets/Iris"
        "</oml:original_data_url>\n"
        "  <oml:status>active</oml:status>\n"
        "  <oml:processing_date>2020-11-20 19:02:18</oml:processing_date>\n"
        f"  <oml:md5_checksum>{md5}</oml:md5_checksum>\n"
        "</oml:data_set_description>\n"
    )


def _features_xml() -> str:
    # The shape of GET /api/v1/xml/data/features/61 (stored as features.xml).
    def feature(index: int, name: str, kind: str, levels: tuple[str, ...] = ()) -> str:
        nominal = "".join(f"    <oml:nominal_value>{v}</oml:nominal_value>\n" for v in levels)
        return (
            "  <oml:feature>\n"
            f"    <oml:index>{index}</oml:index>\n"
            f"    <oml:name>{name}</oml:name>\n"
            f"    <oml:data_type>{kind}</oml:data_type>\n"
            f"{nominal}"
            f"    <oml:is_target>{'true' if name == 'class' else 'false'}</oml:is_target>\n"
            "    <oml:is_ignore>false</oml:is_ignore>\n"
            "    <oml:is_row_identifier>false</oml:is_row_identifier>\n"
            "    <oml:number_of_missing_values>0</oml:number_of_missing_values>\n"
            "  </oml:feature>\n"
        )

    body = "".join(feature(i, name, "numeric") for i, name in enumerate(IRIS_COLUMNS))
    body += feature(len(IRIS_COLUMNS), "class", "nominal", IRIS_CLASSES)
    return f'<oml:data_features xmlns:oml="http://openml.org/openml">\n{body}</oml:data_features>\n'


@pytest.fixture
def openml_iris_cache(tmp_path: Path) -> Callable[[str], Path]:
    """Build an OpenML cache root holding dataset 61 (iris) as openml 0.15.1 stores it.

    ``<root>/org/openml/www/datasets/61/`` gets ``description.xml``, ``features.xml`` and the
    data file: ``dataset_61.pq`` (``data_format="parquet"``, what current OpenML serves) or
    ``dataset.arff`` (``"arff"``, older caches and datasets without a Parquet copy).
    """

    def build(data_format: str) -> Path:
        root = tmp_path / "openml-cache"
        did_dir = root / "org" / "openml" / "www" / "datasets" / str(IRIS_DID)
        did_dir.mkdir(parents=True)
        frame = _iris_frame()
        arff = _iris_arff(frame)
        md5 = hashlib.md5(arff.encode()).hexdigest()
        with_parquet = data_format == "parquet"
        (did_dir / "description.xml").write_text(_description_xml(md5, with_parquet))
        (did_dir / "features.xml").write_text(_features_xml())
        if with_parquet:
            frame.to_parquet(did_dir / f"dataset_{IRIS_DID}.pq", index=False)
        else:
            (did_dir / "dataset.arff").write_text(arff)
        return root

    return build
