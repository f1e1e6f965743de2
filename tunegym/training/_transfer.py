"""``transfer_state``: initialise a network for one dataset from one trained on a related one.

The source network was trained on a sibling dataset (KEEL's relabelled ``yeast1`` for
``yeast3``); the target network has the same architecture but may have other inputs (one-hot
levels seen in one training part only) and other classes. What carries over:

* **hidden layers** (all but the first and the last linear layer) are copied as they are;
* **the first layer**'s bias is copied, and its weight column by column, matched by input
  name: a target input the source had gets the source's column; an input the source did not
  have gets a column of **zeros**; a source input the target lacks is dropped. Zeros (rather
  than the target's random initial column) make the transferred network compute, from the
  start, what the source computed on the inputs both have, so fine-tuning begins where the
  source left off; a zero column still receives gradients (``δ · x``) and is learnt;
* **the output layer** is copied when the classes are the same ones in the same order, else it
  is initialised afresh, exactly as :func:`build_mlp` initialises it for that seed.

Inputs are the *preprocessed* features (``TabularDataset.feature_names_out``), each dataset
standardised on its own training part: siblings split with ``split="rows"`` share their
training rows, and so their scaling, when they hold the same rows. Check
``tunegym.data.schema_fingerprint`` of both datasets first: KEEL names its columns by position,
so equal names mean equal inputs only between tables of one schema.

``probe_head`` then fits a fresh output layer to the target's training rows on the copied hidden
layers, frozen: *linear probing before fine-tuning* (LP-FT; Kumar et al., "Fine-Tuning can
Distort Pretrained Features and Underperform Out-of-Distribution", ICLR 2022). A random head
reads the source's features as noise, so the first epochs of fine-tuning are spent learning the
head while its large, random gradients also disturb the features; a probed head starts where a
linear classifier on the source's features ends (here a ridge fit in closed form).
``Trial(..., probe_head=True)`` runs it and charges its seconds to the first epoch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import torch
import torch.nn.functional as F

from tunegym.training._model import MLP, build_mlp

__all__ = [
    "PROBE_L2",
    "PROBE_MAX_ROWS",
    "PROBE_RIDGE",
    "probe_accuracy",
    "probe_head",
    "transfer_state",
]

PROBE_RIDGE: Final = 0.1
"""`probe_head`'s ridge penalty, relative to the mean squared norm of the centred features."""

PROBE_L2: Final = 1e-2
"""`probe_head`'s penalty on the squared norm of the output weights when it sets their scale."""

PROBE_MAX_ROWS: Final = 256
"""`probe_head` fits on at most this many training rows (a seeded sample of larger sets): its
cost grows with the cube of the smaller of rows and width, and a head is a few hundred weights."""


def transfer_state(
    source: Mapping[str, torch.Tensor],
    model: MLP,
    *,
    source_inputs: Sequence[str],
    target_inputs: Sequence[str],
    same_classes: bool,
    seed: int,
) -> dict[str, torch.Tensor]:
    """A state dict for ``model`` initialised from ``source``, the weights of a trained network.

    See the module docstring for what is copied, aligned or drawn afresh.

    Args:
        source: the trained network's ``state_dict()`` (an :class:`MLP` of the same spec).
        model: the network to initialise, built with ``build_mlp(spec, n_features, n_classes,
            seed=seed)`` for the target dataset and the source's ``spec``; it is not changed.
            Only the layer shapes can be checked: the activation must be the source's too.
        source_inputs: the source's input names, one per input column
            (its dataset's ``feature_names_out``).
        target_inputs: ``model``'s input names, one per input column.
        same_classes: whether the two datasets have the same classes, with the same meaning,
            in the same order: then the output layer is copied too. Equal ``class_names`` are
            not enough: each of KEEL's binarised siblings calls another class ``"positive"``.
        seed: the initialisation seed of a fresh output layer (the target trial's
            ``config.seed``, so that the head is the one ``model`` was built with).

    Returns:
        New tensors (on ``model``'s device and dtype) for ``model.load_state_dict`` or
        ``Trial(..., init=...)``.

    Raises:
        ValueError: the layers do not match (the model is not of the source's spec): names the
            layer and both shapes; input names that are duplicated or do not count the input
            columns; ``same_classes`` with another number of classes.

    Example:
        >>> from tunegym.training import MLPSpec
        >>> spec = MLPSpec(depth=1, width=8)
        >>> trained = build_mlp(spec, n_features=3, n_classes=2, seed=1)
        >>> target = build_mlp(spec, n_features=4, n_classes=2, seed=0)
        >>> state = transfer_state(trained.state_dict(), target, source_inputs=["a", "b", "c"],
        ...     target_inputs=["c", "a", "b", "new"], same_classes=True, seed=0)
        >>> bool((state["linears.0.weight"][:, 0] == trained.linears[0].weight[:, 2]).all())
        True
        >>> state["linears.0.weight"][:, 3].abs().sum().item()
        0.0
    """
    target = model.state_dict()
    _check_keys(source, target)
    n_layers = len(model.layers)
    fresh = None if same_classes else _fresh_head(model, seed)
    state: dict[str, torch.Tensor] = {}
    for i in range(n_layers):
        weight, bias = f"linears.{i}.weight", f"linears.{i}.bias"
        like = target[weight]
        is_head = i == n_layers - 1
        if is_head and fresh is not None:
            state[weight], state[bias] = fresh
            continue
        rows_src, rows_tgt = source[weight].shape[0], like.shape[0]
        if rows_src != rows_tgt:
            raise ValueError(_shape_error(i, is_head, source[weight].shape, like.shape))
        if i == 0:
            w = _aligned_columns(source[weight], like, source_inputs, target_inputs)
        elif source[weight].shape != like.shape:
            raise ValueError(_shape_error(i, is_head, source[weight].shape, like.shape))
        else:
            w = source[weight]
        state[weight] = w.detach().to(like.device, like.dtype, copy=True)
        state[bias] = source[bias].detach().to(like.device, like.dtype, copy=True)
    return state


def _check_keys(source: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]) -> None:
    missing = sorted(set(target) - set(source))
    unexpected = sorted(set(source) - set(target))
    if missing or unexpected:
        raise ValueError(
            f"The source weights are not of the model's architecture: missing {missing}, "
            f"unexpected {unexpected} (the model has {len(target) // 2} linear layers). Build "
            "the model with the source's spec (build_mlp(source_spec, n_features, n_classes))."
        )
    for name, tensor in source.items():
        if not isinstance(tensor, torch.Tensor):
            raise TypeError(
                f"source[{name!r}] must be a torch.Tensor (a state_dict); got "
                f"{type(tensor).__name__}."
            )


def _shape_error(layer: int, is_head: bool, got: torch.Size, want: torch.Size) -> str:
    if is_head:
        return (
            f"Output layer linears.{layer}.weight has shape {tuple(got)} in the source but "
            f"{tuple(want)} in the model: same_classes=True needs the same number of classes "
            "(pass same_classes=False for other classes)."
        )
    return (
        f"Hidden layer linears.{layer}.weight has {got[0]} units in the source (shape "
        f"{tuple(got)}) but {want[0]} in the model (shape {tuple(want)}): build the model with "
        "the source's spec (same depth and widths)."
    )


def _aligned_columns(
    weight: torch.Tensor,
    like: torch.Tensor,
    source_inputs: Sequence[str],
    target_inputs: Sequence[str],
) -> torch.Tensor:
    for what, names, n in (
        ("source_inputs", source_inputs, weight.shape[1]),
        ("target_inputs", target_inputs, like.shape[1]),
    ):
        if len(names) != n:
            raise ValueError(
                f"{what} names {len(names)} inputs but the {what.split('_')[0]} network takes "
                f"{n}; pass the dataset's feature_names_out."
            )
        if len(set(names)) != len(names):
            twice = sorted({name for name in names if list(names).count(name) > 1})
            raise ValueError(f"{what} names inputs more than once: {twice[:5]}.")
    column = {name: j for j, name in enumerate(source_inputs)}
    aligned = torch.zeros(weight.shape[0], len(target_inputs), dtype=weight.dtype)
    for j, name in enumerate(target_inputs):
        if name in column:
            aligned[:, j] = weight[:, column[name]].detach().cpu()
    return aligned


def _fresh_head(model: MLP, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    head = model.layers[-1]
    n_features = model.layers[0].in_features
    built = build_mlp(model.spec, n_features, head.out_features, seed=seed).layers[-1]
    return (
        built.weight.detach().to(head.weight.device, head.weight.dtype),
        built.bias.detach().to(head.bias.device, head.bias.dtype),
    )


def probe_head(
    model: MLP,
    X: torch.Tensor,
    y: torch.Tensor,
    *,
    ridge: float = PROBE_RIDGE,
    l2: float = PROBE_L2,
    max_rows: int = PROBE_MAX_ROWS,
    seed: int = 0,
) -> bool:
    """Fit ``model``'s output layer to ``(X, y)`` in place, its hidden layers frozen.

    A linear probe in closed form, with no Python-level iterations, so that it costs little
    beside an epoch even on tables whose epochs take milliseconds:

    1. ridge regression of the one-hot labels on the features ``H = model.hidden(X)`` (dropout
       off), with an intercept and the penalty ``ridge`` times the mean squared feature-row
       norm, solved by Cholesky in the smaller of its primal (width) and dual (rows) forms;
    2. its outputs ``R`` (each row sums to 1) become logits ``s · R``, with the scale ``s`` of
       36 in ``[0.1, 316]`` that gives the least cross-entropy on the rows' leave-one-out
       outputs (exact for ridge, from the same solve) plus ``l2 · s² · ||W||²``: a head
       calibrated for the cross-entropy training that follows, not overconfident where the fit
       interpolates, and not so large that its gradients tear the features apart.

    The head ``model`` had does not enter the fit.

    Args:
        model: the network, its hidden layers already the ones to probe (`transfer_state`'s).
        X: training inputs, on ``model``'s device.
        y: their class indices (``0 .. n_classes - 1``).
        ridge: the ridge penalty, relative to the features' scale.
        l2: the penalty on the scaled head's squared norm.
        max_rows: fit on a sample of this many rows when ``X`` has more (drawn with ``seed``).
        seed: the sample's seed.

    Returns:
        Whether the head was replaced: ``False`` (the head left as it was) when the features or
        the fit are not finite, e.g. on non-finite inputs.

    Example:
        >>> from tunegym.training import MLPSpec
        >>> model = build_mlp(MLPSpec(depth=1, width=16), n_features=2, n_classes=2, seed=0)
        >>> X = torch.tensor([[0.0, 1.0], [1.0, 0.0]] * 8)
        >>> y = torch.tensor([0, 1] * 8)
        >>> probe_head(model, X, y)
        True
        >>> bool((model(X).argmax(1) == y).all())
        True
    """
    if len(X) != len(y) or len(y) == 0:
        raise ValueError(f"probe_head needs as many labels as rows (> 0); got {len(X)} rows "
                         f"and {len(y)} labels.")  # fmt: skip
    if len(y) > max_rows:
        generator = torch.Generator().manual_seed(seed)
        rows = torch.randperm(len(y), generator=generator)[:max_rows].to(X.device)
        X, y = X[rows], y[rows]
    head = model.layers[-1]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        features = model.hidden(X)
        model.train(was_training)
        fit = _ridge(features, y, head.out_features, ridge) if features.isfinite().all() else None
        if fit is None:
            return False
        weight, bias, held_out = fit
        scale = _calibrated_scale(held_out, y, weight.square().sum() * l2)
        head.weight.copy_((scale * weight).T)
        head.bias.copy_(scale * bias)
    return True


def probe_accuracy(
    features: torch.Tensor,
    y: torch.Tensor,
    val_features: torch.Tensor,
    y_val: torch.Tensor,
    n_classes: int,
    *,
    ridge: float = PROBE_RIDGE,
) -> float:
    """The validation accuracy of `probe_head`'s ridge fit: one-hot labels regressed on
    ``features`` (training rows, all of them), read on ``val_features``; NaN when the fit fails.

    On a network's hidden features it is what a probed head scores before any epoch; on the raw
    inputs, what a linear model scores. Their difference says whether a source's features help
    a target (`tunegym.envs.FineTuneSource.transfer_check`).

    Example:
        >>> X = torch.tensor([[0.0, 1.0], [1.0, 0.0]] * 8)
        >>> probe_accuracy(X, torch.tensor([0, 1] * 8), X[:4], torch.tensor([0, 1] * 2), 2)
        1.0
    """
    fit = _ridge(features, y, n_classes, ridge) if features.isfinite().all() else None
    if fit is None or not val_features.isfinite().all():
        return math.nan
    weight, bias, _ = fit
    predicted = (val_features.to(weight.dtype) @ weight + bias).argmax(dim=1)
    return float((predicted == y_val).to(torch.float64).mean())


def _ridge(
    features: torch.Tensor, y: torch.Tensor, n_classes: int, ridge: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """Ridge weights ``(width, classes)``, bias, and each row's leave-one-out output; ``None``
    when the system is not positive definite or the fit not finite."""
    n, width = features.shape
    targets = F.one_hot(y, n_classes).to(features.dtype)
    mean, target_mean = features.mean(0), targets.mean(0)
    centred, centred_targets = features - mean, targets - target_mean
    penalty = ridge * max(float(centred.square().sum()) / n, 1e-12)
    dual = n <= width  # the smaller system: (H Hᵀ + λI) over rows, or (Hᵀ H + λI) over width
    gram = centred @ centred.T if dual else centred.T @ centred
    gram.diagonal().add_(penalty)
    factor, info = torch.linalg.cholesky_ex(gram)
    if int(info) != 0:
        return None
    inverse = torch.cholesky_inverse(factor)
    if dual:  # W = Hᵀ M Y with M the inverse; a row's LOO residual is (M Y)ᵢ / Mᵢᵢ
        coefficients = inverse @ centred_targets
        weight = centred.T @ coefficients
        loo_residual = coefficients / inverse.diagonal()[:, None]
    else:  # W = P Hᵀ Y with P the inverse; leverage hᵢ = Hᵢ P Hᵢᵀ
        weight = inverse @ (centred.T @ centred_targets)
        leverage = ((centred @ inverse) * centred).sum(dim=1)
        loo_residual = (centred_targets - centred @ weight) / (1.0 - leverage)[:, None]
    bias = target_mean - mean @ weight
    if not (weight.isfinite().all() and bias.isfinite().all()):
        return None
    return weight, bias, targets - loo_residual


def _calibrated_scale(
    outputs: torch.Tensor, y: torch.Tensor, penalty: torch.Tensor
) -> torch.Tensor:
    """The scale ``s`` that minimises the cross-entropy of ``s · outputs`` plus ``s² · penalty``."""
    scales = torch.logspace(-1, 2.5, 36, dtype=outputs.dtype, device=outputs.device)
    logp = torch.log_softmax(scales[:, None, None] * outputs[None], dim=2)
    index = y[None, :, None].expand(len(scales), -1, 1)
    loss = -logp.gather(2, index).mean(dim=(1, 2)) + scales.square() * penalty
    return scales[torch.nan_to_num(loss, nan=torch.inf).argmin()]
