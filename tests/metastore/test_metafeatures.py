"""Meta-features: OpenML's definitions on hand-computed tables, and agreement with OpenML."""

from __future__ import annotations

import importlib.util
import math
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tunegym.data import RawTable, read_table
from tunegym.metastore._landmarkers import LANDMARK_NAMES
from tunegym.metastore._metafeatures import (
    OPENML_QUALITY_NAMES,
    MetaFeatureGroup,
    compute_meta_features,
    meta_feature_names,
)

NO_LANDMARKS = ("simple", "statistical", "information")
VERIFY_SCRIPT = Path(__file__).parents[2] / "experiments" / "verify_metafeatures.py"


def _table(features: pd.DataFrame, target: list[object]) -> RawTable:
    return RawTable(features, pd.Series(target, name="class"), "dataframe", "t", None)


@pytest.fixture
def tiny() -> RawTable:
    features = pd.DataFrame(
        {
            "x": [0.0, 0.0, 0.0, 1.0, 0.0, 0.0],  # G1 = 2, G2 = 4 hand-computed below
            "const": [7.0] * 6,
            # declares 3 levels but uses 2: not binary for OpenML, 2 distinct values
            "c": pd.Categorical(["a", "a", "b", "b", "a", "a"], categories=["a", "b", "z"]),
            "b": ["u", "u", "v", "v", None, "u"],
        }
    )
    return _table(features, ["p", "p", "n", "n", "p", "p"])


def test_counts_take_the_target_as_a_feature(tiny: RawTable) -> None:
    mf = compute_meta_features(tiny, groups=["simple"])

    assert mf["NumberOfInstances"] == 6
    assert mf["NumberOfFeatures"] == 5  # 4 attributes + the class
    assert mf["NumberOfNumericFeatures"] == 2
    assert mf["NumberOfSymbolicFeatures"] == 3  # c, b and the class
    assert mf["NumberOfBinaryFeatures"] == 2  # b and the class; c declares 3 levels
    assert mf["PercentageOfBinaryFeatures"] == pytest.approx(40.0)
    assert mf["NumberOfMissingValues"] == 1
    assert mf["NumberOfInstancesWithMissingValues"] == 1
    assert mf["PercentageOfMissingValues"] == pytest.approx(100 / 30)
    assert mf["Dimensionality"] == pytest.approx(5 / 6)
    assert (mf["MajorityClassSize"], mf["MinorityClassSize"]) == (4, 2)
    assert mf["MinorityClassPercentage"] == pytest.approx(100 / 3)
    assert mf["NumberOfClasses"] == 2
    # distinct values seen, over c, b and the class
    assert (mf["MinNominalAttDistinctValues"], mf["MaxNominalAttDistinctValues"]) == (2, 2)
    # consecutive rows with equal classes: p=p, p!=n, n=n, n!=p, p=p
    assert mf["AutoCorrelation"] == pytest.approx(3 / 5)


def test_numeric_summaries(tiny: RawTable) -> None:
    mf = compute_meta_features(tiny, groups=["statistical"])

    # x = (0, 0, 0, 1, 0, 0): mean 1/6, sd sqrt(1/6), G1 = sqrt(6), G2 = 6; the constant
    # attribute counts in the means and standard deviations, not in skewness or kurtosis.
    assert mf["MaxMeansOfNumericAtts"] == 7
    assert mf["MeanMeansOfNumericAtts"] == pytest.approx((1 / 6 + 7) / 2)
    assert mf["MaxStdDevOfNumericAtts"] == pytest.approx(math.sqrt(1 / 6))
    assert mf["MinStdDevOfNumericAtts"] == 0
    assert mf["MeanSkewnessOfNumericAtts"] == pytest.approx(math.sqrt(6))
    assert mf["MeanKurtosisOfNumericAtts"] == pytest.approx(6.0)


def test_bias_corrected_skewness_and_kurtosis() -> None:
    # x = (0, 0, 0, 1): m2 = 3/16, m3 = 3/32, m4 = 21/256, so G1 = 2 and G2 = 4 exactly
    # (the biased g1 = 1.1547 and g2 = -0.667 would not match OpenML).
    table = _table(pd.DataFrame({"x": [0.0, 0.0, 0.0, 1.0]}), ["a", "a", "b", "b"])
    mf = compute_meta_features(table, groups=["statistical"])

    assert mf["MeanSkewnessOfNumericAtts"] == pytest.approx(2.0)
    assert mf["MeanKurtosisOfNumericAtts"] == pytest.approx(4.0)


def test_quartiles_use_the_p_times_n_plus_one_rule() -> None:
    table = _table(pd.DataFrame({f"x{m}": [m - 1.0, m + 1.0] for m in (1, 2, 3, 4)}), ["a", "b"])
    mf = compute_meta_features(table, groups=["statistical"])

    # means 1, 2, 3, 4: positions 0.25 * 5 and 0.75 * 5 (numpy's default would give 1.75, 3.25)
    assert mf["Quartile1MeansOfNumericAtts"] == pytest.approx(1.25)
    assert mf["Quartile2MeansOfNumericAtts"] == pytest.approx(2.5)
    assert mf["Quartile3MeansOfNumericAtts"] == pytest.approx(3.75)


def test_information_in_bits(tiny: RawTable) -> None:
    mf = compute_meta_features(tiny, groups=["information"])

    h = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert mf["ClassEntropy"] == pytest.approx(h)
    # c = a a b b a a predicts the class exactly: MI = H(c) = H(class).
    # b = u u v v ? u predicts it too; its missing row is left out of both its entropy and
    # its mutual information, which are then H(3/5, 2/5), over the other 5 rows.
    h5 = -(3 / 5 * math.log2(3 / 5) + 2 / 5 * math.log2(2 / 5))
    assert mf["MinMutualInformation"] == pytest.approx(h)
    assert mf["MaxMutualInformation"] == pytest.approx(h5)
    assert mf["MeanAttributeEntropy"] == pytest.approx((h + h5) / 2)
    assert mf["MeanMutualInformation"] == pytest.approx((h + h5) / 2)
    assert mf["EquivalentNumberOfAtts"] == pytest.approx(h / ((h + h5) / 2))
    assert mf["MeanNoiseToSignalRatio"] == pytest.approx(0.0)


def test_undefined_qualities_are_nan() -> None:
    numeric_only = _table(pd.DataFrame({"x": [1.0, 2.0, 4.0]}), ["a", "b", "a"])
    mf = compute_meta_features(numeric_only, groups=["information"])
    assert mf["ClassEntropy"] > 0
    assert math.isnan(mf["MeanMutualInformation"])
    assert math.isnan(mf["EquivalentNumberOfAtts"])

    nominal_only = _table(pd.DataFrame({"c": ["u", "v", "u"]}), ["a", "b", "a"])
    assert math.isnan(
        compute_meta_features(nominal_only, groups=["statistical"])["MeanMeansOfNumericAtts"]
    )


def test_integer_labels_are_classes_and_numeric_text_is_numeric() -> None:
    table = _table(pd.DataFrame({"s": ["1.5", "2", None, "4"]}), [0, 1, 1, 2])
    mf = compute_meta_features(table, groups=["simple"])

    assert (mf["NumberOfNumericFeatures"], mf["NumberOfSymbolicFeatures"]) == (1, 1)
    assert mf["NumberOfClasses"] == 3


# OpenML's published values (as recorded in LCDB's datasets.csv) of datasets whose KEEL copy
# is the same table: kr-vs-kp (OpenML 3) and letter (OpenML 6).
def test_agrees_with_openml_on_kr_vs_kp() -> None:
    mf = compute_meta_features("keel:chess", groups=NO_LANDMARKS)

    assert (mf["NumberOfInstances"], mf["NumberOfFeatures"], mf["NumberOfClasses"]) == (3196, 37, 2)
    assert (mf["NumberOfSymbolicFeatures"], mf["MajorityClassSize"]) == (37, 1669)
    assert mf["ClassEntropy"] == pytest.approx(0.9985755386554582, rel=1e-9)
    assert mf["MeanAttributeEntropy"] == pytest.approx(0.5901482912442314, rel=1e-9)
    assert mf["MeanMutualInformation"] == pytest.approx(0.01915166562113, rel=1e-9)
    assert mf["Quartile1MutualInformation"] == pytest.approx(0.000777595577705, rel=1e-9)
    assert mf["EquivalentNumberOfAtts"] == pytest.approx(52.14040169716265, rel=1e-9)
    assert mf["MeanNoiseToSignalRatio"] == pytest.approx(29.814462977732955, rel=1e-9)
    assert mf["AutoCorrelation"] == pytest.approx(0.9990610328638496, rel=1e-9)


def test_agrees_with_openml_on_letter() -> None:
    mf = compute_meta_features(read_table("keel:letter"), groups=NO_LANDMARKS)

    assert (mf["NumberOfInstances"], mf["NumberOfFeatures"], mf["NumberOfClasses"]) == (
        20000,
        17,
        26,
    )
    assert (mf["NumberOfNumericFeatures"], mf["MinorityClassSize"]) == (16, 734)
    assert mf["ClassEntropy"] == pytest.approx(4.69981072657316, rel=1e-9)
    assert mf["MeanSkewnessOfNumericAtts"] == pytest.approx(0.290297034101848, rel=1e-9)
    assert mf["Quartile1SkewnessOfNumericAtts"] == pytest.approx(-0.1373304281236529, rel=1e-9)
    assert mf["MeanKurtosisOfNumericAtts"] == pytest.approx(0.6977379005298701, rel=1e-9)
    assert mf["MeanStdDevOfNumericAtts"] == pytest.approx(2.273771145446362, rel=1e-9)


def test_names_and_order() -> None:
    mf = compute_meta_features("sklearn:iris")

    assert tuple(mf) == meta_feature_names() == OPENML_QUALITY_NAMES + LANDMARK_NAMES
    assert all(name.startswith("tunegym.") for name in LANDMARK_NAMES)
    assert meta_feature_names([MetaFeatureGroup.INFORMATION])[0] == "ClassEntropy"


def test_dataframe_with_target_column() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": ["a", "b", "a", "b"]})

    mf = compute_meta_features(frame, "y", groups=["simple"])

    assert (mf["NumberOfFeatures"], mf["NumberOfNumericFeatures"]) == (2, 1)


def test_bad_groups() -> None:
    with pytest.raises(ValueError, match="Did you mean 'statistical'"):
        compute_meta_features("sklearn:iris", groups=["statistics"])
    with pytest.raises(TypeError, match="collection of group names"):
        compute_meta_features("sklearn:iris", groups="simple")
    with pytest.raises(ValueError, match="landmark_rows"):
        compute_meta_features("sklearn:iris", landmark_rows=0)


def test_landmarkers_on_separable_data() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 40)
    frame = pd.DataFrame({"x": y * 10.0 + rng.normal(size=120), "c": np.where(y == 2, "hi", "lo")})
    mf = compute_meta_features(_table(frame, list(y)), groups=["landmarking"], seed=1)

    assert mf["tunegym.NaiveBayesErrRate"] == 0
    assert mf["tunegym.NaiveBayesKappa"] == pytest.approx(1.0)
    assert mf["tunegym.NaiveBayesAUC"] == pytest.approx(1.0)
    assert mf["tunegym.kNN1NErrRate"] == 0
    # one split separates one class from the two others at best
    assert mf["tunegym.DecisionStumpErrRate"] == pytest.approx(1 / 3)


def test_landmarkers_subsample_and_seed() -> None:
    table = read_table("sklearn:breast_cancer")
    first = compute_meta_features(table, groups=["landmarking"], seed=3, landmark_rows=200)
    again = compute_meta_features(table, groups=["landmarking"], seed=3, landmark_rows=200)
    other = compute_meta_features(table, groups=["landmarking"], seed=4, landmark_rows=200)

    assert first == again
    assert first != other
    assert 0 < first["tunegym.NaiveBayesErrRate"] < 0.2
    assert 0.9 < first["tunegym.NaiveBayesAUC"] <= 1


def test_landmarkers_of_a_single_class_are_nan() -> None:
    table = _table(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), ["a", "a", "a"])

    mf = compute_meta_features(table, groups=["landmarking"])

    assert all(math.isnan(mf[name]) for name in LANDMARK_NAMES)


def test_landmarkers_with_a_tiny_class_and_missing_values() -> None:
    rng = np.random.default_rng(0)
    y = ["a"] * 12 + ["b"] * 12 + ["c"]
    x = rng.normal(size=25)
    x[3] = np.nan
    frame = pd.DataFrame({"x": x, "c": ["u", None, "v", "w", "u"] * 5})

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no scikit-learn warning about the one-row class
        mf = compute_meta_features(_table(frame, y), groups=["landmarking"])

    assert all(0 <= mf[name] <= 1 for name in LANDMARK_NAMES if not name.endswith("Kappa"))


def test_verify_script_on_one_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip(
        "lcdb", reason="the verification reads OpenML's qualities from the lcdb extra"
    )
    spec = importlib.util.spec_from_file_location("verify_metafeatures", VERIFY_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    verify = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, verify)  # dataclasses look their module up
    spec.loader.exec_module(verify)
    doc = tmp_path / "doc.md"
    doc.write_text(f"# title\n{verify.START}\nold\n{verify.END}\ntail\n")
    args = verify.parse_args(
        ["--datasets", "keel:vehicle", "--bench-rows", "300", "--bench-repeats", "1",
         "--out-dir", str(tmp_path), "--csv", str(tmp_path / "a.csv"), "--doc", str(doc)]
    )  # fmt: skip

    summary = verify.main(args)

    openml_rows = summary[~summary["quality"].str.startswith("tunegym.")]
    assert len(openml_rows) == 60  # LCDB lacks MajorityClassPercentage
    assert (openml_rows["agree"] == openml_rows["compared"]).all()
    assert pd.read_csv(tmp_path / "a.csv")["spec"].unique().tolist() == ["keel:vehicle"]
    text = doc.read_text()
    assert "old" not in text
    assert text.startswith("# title\n")
    assert text.endswith(f"{verify.END}\ntail\n")
    assert "| `keel:vehicle` | 54 | yes | 60 / 60 |" in text


def test_pymfe_groups_behind_a_flag() -> None:
    pytest.importorskip("pymfe")
    values = compute_meta_features("sklearn:iris", groups=["simple"], pymfe_groups=["statistical"])
    assert values["NumberOfInstances"] == 150
    pymfe_names = [n for n in values if n.startswith("pymfe.")]
    assert len(pymfe_names) > 10
    assert "pymfe.cor.mean" in values
    with pytest.raises(ValueError, match="Unknown pymfe group 'statistics'"):
        compute_meta_features("sklearn:iris", groups=["simple"], pymfe_groups=["statistics"])


def test_pymfe_missing_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("pymfe"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r"pip install -e '.*\[metafeatures\]'"):
        compute_meta_features("sklearn:iris", groups=["simple"], pymfe_groups=["general"])
