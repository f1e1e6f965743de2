from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, balanced_accuracy_score

from tunegym.training import accuracy, balanced_accuracy
from tunegym.training._metrics import EvalSplit


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
