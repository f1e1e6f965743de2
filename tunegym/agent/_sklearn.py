"""`TunedMLPClassifier`: a scikit-learn classifier that tunes its MLP inside ``fit``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from tunegym.agent._result import TuningResult
from tunegym.agent._tune import tune
from tunegym.data._split import min_rows_per_class
from tunegym.envs import SearchSpace

__all__ = ["TunedMLPClassifier"]


class TunedMLPClassifier(ClassifierMixin, BaseEstimator):
    """An MLP classifier whose learning rate, batch size and epochs are tuned in ``fit``.

    ``fit(X, y)`` splits the rows into train / validation / test parts (stratified, seeded; on
    small data the validation and test parts grow to hold one row of every class),
    fits the preprocessing on the training part (impute, one-hot encode categorical columns,
    standardise), runs `tunegym.tune` with ``budget_epochs`` epochs and keeps the model of the
    best validation epoch. ``predict`` applies the same preprocessing to raw rows, so a DataFrame
    with categorical or missing values works as it is (arrays must be numeric; NaN is imputed).

    Args:
        budget_epochs: epochs the tuner may spend (an epoch of any batch size costs 1).
        method: ``"agent"`` (the pretrained agent) or a baseline (``"random"``, ``"hyperband"``,
            ...; see `tunegym.agent.TUNE_METHODS`).
        seed: seeds the split, the trials and the tuner.
        n_slots: trials the tuner keeps open (default: the agent's, 8 for baselines).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        agent: folder of the agent to use (default: the shipped one).
        space: the candidates (default ``"lr-bs"``: the learning rate × batch size grid, the
            agent's, for baselines too); ``"lcbench"`` tunes LCBench's 7 hyperparameters of
            a funnel MLP (baselines only; `tunegym.tune`'s default).
        warm_start: give the agent its warm-start prior from the meta-dataset snapshot.
        val_size: share of the rows used for validation (model selection).
        test_size: share held out for an unbiased score of the tuned model
            (``tuning_result_.test_metrics``).
        metric: the validation metric tuned (``"val_accuracy"``, ``"val_f1_macro"``,
            ``"val_loss"``, ...; see `tunegym.tune`).
        cv: k-fold cross-validation inside tuning (``None``: one validation split); the
            fitted model then averages the k fold models.
        threads: torch's threads while ``fit`` tunes (the caller's setting is restored after
            it; 1 is fastest for small MLPs); ``None`` leaves torch's setting alone.

    Attributes:
        classes_: the class labels.
        n_features_in_: number of feature columns seen in ``fit``.
        feature_names_in_: their names, when ``X`` was a DataFrame with string column names.
        tuning_result_: the `TuningResult` (best configuration, history, report).

    Example:
        >>> from sklearn.datasets import load_breast_cancer
        >>> X, y = load_breast_cancer(return_X_y=True)
        >>> clf = TunedMLPClassifier(budget_epochs=32).fit(X, y)
        >>> clf.score(X, y) > 0.9
        True
    """

    def __init__(
        self,
        budget_epochs: int = 64,
        method: str = "agent",
        seed: int = 0,
        n_slots: int | None = None,
        device: str = "cpu",
        agent: str | Path | None = None,
        space: SearchSpace | str | None = None,
        warm_start: bool = True,
        val_size: float = 0.2,
        test_size: float = 0.1,
        metric: str = "val_accuracy",
        cv: int | None = None,
        threads: int | None = 1,
    ) -> None:
        self.budget_epochs = budget_epochs
        self.method = method
        self.seed = seed
        self.n_slots = n_slots
        self.device = device
        self.agent = agent
        self.space = space
        self.warm_start = warm_start
        self.val_size = val_size
        self.test_size = test_size
        self.metric = metric
        self.cv = cv
        self.threads = threads

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values are imputed
        tags.non_deterministic = self.device != "cpu"  # CUDA kernels are not bitwise repeatable
        return tags

    def _features(self, X: Any, *, reset: bool) -> pd.DataFrame | np.ndarray:
        if isinstance(X, pd.DataFrame):  # typed columns (categorical, text) are kept as they are
            for count, what in ((X.shape[0], "sample"), (X.shape[1], "feature")):
                if count == 0:  # check_array's message, which skip_check_array skips
                    raise ValueError(
                        f"Found array with 0 {what}(s) (shape={X.shape}) while a minimum of 1 "
                        f"is required by {type(self).__name__}."
                    )
            validate_data(self, X, reset=reset, skip_check_array=True)
            return X
        return validate_data(self, X, reset=reset, ensure_all_finite="allow-nan")

    def fit(self, X: Any, y: Any) -> TunedMLPClassifier:
        """Tune on ``(X, y)`` and keep the best model.

        Raises:
            ValueError: for no samples or features, fewer than two classes, a class too rare to
                appear in every part of the split (3 samples, or ``cv + 1`` with ``cv``), or data
                `tunegym.load_dataset` refuses.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        features = self._features(X, reset=True)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if len(y) != len(features):
            raise ValueError(f"X has {len(features)} rows but y has {len(y)} labels.")
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(
                f"TunedMLPClassifier needs samples of at least 2 classes; got 1 class "
                f"({self.classes_[0]!r})."
            )
        # A bad cv is refused by tune, with its own message.
        folds = self.cv if isinstance(self.cv, int) and not isinstance(self.cv, bool) else None
        counts = np.bincount(codes)
        needed = min_rows_per_class(None if folds is None else folds + 1)
        if counts.min() < needed:
            rare = int(np.argmin(counts))
            label = self.classes_[rare]
            label = label.item() if isinstance(label, np.generic) else label
            parts = (
                "every fold and the test part" if folds else "the train, validation and test parts"
            )
            raise ValueError(
                f"TunedMLPClassifier needs at least {needed} samples of every class, to put one in "
                f"{parts}; class {label!r} has {counts[rare]}. Drop or merge rare "
                "classes, or add samples."
            )
        # On small data the val and test parts grow to hold a row of every class (stratified).
        least = len(self.classes_) / len(codes)
        result = tune(
            (features, codes),
            budget_epochs=self.budget_epochs,
            seed=self.seed,
            method=self.method,
            space="lr-bs" if self.space is None else self.space,
            n_slots=self.n_slots,
            device=self.device,
            agent=self.agent,
            warm_start=self.warm_start,
            metric=self.metric,
            cv=self.cv,
            val_size=max(self.val_size, least),
            test_size=max(self.test_size, least),
            threads=self.threads,
        )
        if result.model is None:
            raise ValueError(f"Tuning found no model: {result.why_no_model}")
        self.tuning_result_: TuningResult = result
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self)
        return self.tuning_result_.predict_proba(self._features(X, reset=False))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row."""
        probabilities = self.predict_proba(X)  # checks that the estimator is fitted
        return self.classes_[np.argmax(probabilities, axis=1)]
