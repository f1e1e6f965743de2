from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    precision_score,
    recall_score,
)

from tunegym.training import (
    accuracy,
    balanced_accuracy,
    f1_macro,
    precision_macro,
    recall_macro,
)
from tunegym.training._metrics import EVAL_COLUMNS, EvalSplit


def sklearn_macro(y_true: np.ndarray, y_pred: np.ndarray) -> list[float]:
    """scikit-learn's macro F1, precision and recall (labels: those in y_true or y_pred)."""
    return [
        float(score(y_true, y_pred, average="macro", zero_division=0))
        for score in (f1_score, precision_score, recall_score)
    ]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", range(20))
def test_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_classes = int(rng.integers(2, 6))
    n = int(rng.integers(1, 40))
    # Skewed draws so that some classes are missing from y_true or from y_pred.
    p = rng.dirichlet(np.full(n_classes, 0.5))
    y_true = rng.choice(n_classes, size=n, p=p)
    y_pred = rng.choice(n_classes, size=n)
    expected = balanced_accuracy_score(y_true, y_pred)
    t_true, t_pred = torch.from_numpy(y_true), torch.from_numpy(y_pred)
    assert balanced_accuracy(t_true, t_pred) == pytest.approx(expected, abs=1e-6)
    assert accuracy(t_true, t_pred) == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-6)


def test_class_only_in_predictions_does_not_count() -> None:
    y_true = torch.tensor([0, 0, 1, 1])
    y_pred = torch.tensor([0, 2, 1, 1])
    with pytest.warns(UserWarning, match="y_pred contains classes not in y_true"):
        expected = balanced_accuracy_score(y_true.numpy(), y_pred.numpy())
    assert balanced_accuracy(y_true, y_pred) == pytest.approx(expected) == pytest.approx(0.75)


def test_metrics_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        accuracy(torch.tensor([0, 1]), torch.tensor([0]))
    with pytest.raises(ValueError, match="non-empty"):
        balanced_accuracy(torch.tensor([], dtype=torch.long), torch.tensor([], dtype=torch.long))


@pytest.mark.parametrize("n_classes", [2, 3, 5, 10])
@pytest.mark.parametrize("seed", range(8))
def test_macro_scores_equal_sklearn(n_classes: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    # Skewed draws for both, so that classes go missing from y_true, from y_pred, or both.
    y_true = rng.choice(n_classes, size=n, p=rng.dirichlet(np.full(n_classes, 0.5)))
    y_pred = rng.choice(n_classes, size=n, p=rng.dirichlet(np.full(n_classes, 0.5)))
    t_true, t_pred = torch.from_numpy(y_true), torch.from_numpy(y_pred)
    ours = [f(t_true, t_pred) for f in (f1_macro, precision_macro, recall_macro)]
    assert ours == pytest.approx(sklearn_macro(y_true, y_pred), abs=1e-6)


def test_class_never_predicted_and_class_only_predicted() -> None:
    # Class 1 is never predicted (precision 0 by zero_division=0); class 3 is only predicted
    # (recall 0, and it counts in the macro recall, unlike in balanced accuracy).
    y_true = np.array([0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 0, 2, 2, 2, 3])
    f1, precision, recall = sklearn_macro(y_true, y_pred)
    t_true, t_pred = torch.from_numpy(y_true), torch.from_numpy(y_pred)
    assert f1_macro(t_true, t_pred) == pytest.approx(f1)
    assert precision_macro(t_true, t_pred) == pytest.approx(precision)
    assert (
        recall_macro(t_true, t_pred)
        == pytest.approx(recall)
        == pytest.approx((1 + 0 + 2 / 3 + 0) / 4)
    )
    assert balanced_accuracy(t_true, t_pred) == pytest.approx((1 + 0 + 2 / 3) / 3)


def test_macro_scores_reject_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="same shape"):
        f1_macro(torch.tensor([0, 1]), torch.tensor([0]))


@pytest.mark.parametrize("row_elements", [1, 10_000])  # one chunk, then 64-row chunks
def test_eval_split_scores_each_model(row_elements: int) -> None:
    generator = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (300,), generator=generator)
    X = torch.randn(300, 4, generator=generator)
    logits = torch.randn(2, 3, 300, generator=generator)  # K=2 models, class-major

    def forward(rows: torch.Tensor) -> torch.Tensor:
        # Identify the rows by value to serve the matching slice of the fixed logits.
        index = (rows[:, None, :] == X[None, :, :]).all(dim=2).int().argmax(dim=1)
        return logits[:, :, index]

    scores = EvalSplit(X, y, n_classes=3).evaluate(forward, row_elements)
    for k in range(2):
        pred = logits[k].argmax(dim=0)
        loss = torch.nn.functional.cross_entropy(logits[k].t(), y)
        assert scores[k, 0].item() == pytest.approx(loss.item(), rel=1e-5)
        assert scores[k, 1].item() == pytest.approx(accuracy(y, pred), abs=1e-6)
        assert scores[k, 2].item() == pytest.approx(
            balanced_accuracy_score(y.numpy(), pred.numpy()), abs=1e-6
        )
        assert scores[k, 3:].tolist() == pytest.approx(
            sklearn_macro(y.numpy(), pred.numpy()), abs=1e-6
        )


@pytest.mark.parametrize("row_elements", [1, 2_000])  # one chunk, then 131-row chunks
@pytest.mark.parametrize("n_classes", [3, 4, 7])
def test_eval_split_macro_scores_with_missing_classes(n_classes: int, row_elements: int) -> None:
    generator = torch.Generator().manual_seed(n_classes)
    n = 400
    X = torch.arange(n, dtype=torch.float32).view(n, 1)  # row i has feature i
    y = torch.randint(0, n_classes, (n,), generator=generator)
    y[y == n_classes - 1] = 0  # the last class is absent from the labels
    logits = torch.randn(3, n_classes, n, generator=generator)
    logits[:, 1] -= 100.0  # class 1 is never predicted
    logits[2, n_classes - 1] += 100.0  # model 2 predicts the absent class everywhere

    def forward(rows: torch.Tensor) -> torch.Tensor:
        return logits[:, :, rows[:, 0].long()]

    scores = EvalSplit(X, y, n_classes).evaluate(forward, row_elements)
    assert scores.shape == (3, len(EVAL_COLUMNS))
    for k in range(3):
        pred = logits[k].argmax(dim=0).numpy()
        assert scores[k, 3:].tolist() == pytest.approx(sklearn_macro(y.numpy(), pred), abs=1e-6)
    assert scores[2, 1:].tolist() == [0.0] * 5
