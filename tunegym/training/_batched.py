"""K learning rates that share a batch size, trained as one stacked model.

Every member is the :class:`~tunegym.training.Trial` of ``TrainConfig(lr, batch_size,
max_epochs, seed, weight_decay, optimizer, momentum)`` and the shared spec (an ``MLPSpec`` or
a ``FunnelSpec``): the same initial weights, minibatch order, dropout masks, optimiser and
cosine schedule, only the arithmetic is batched. The weights of layer ``l`` of all members are
one ``(K, out, in)`` tensor and a forward pass is one ``torch.baddbmm`` per layer, so K small
models cost about one kernel launch and one pass of Python per step instead of K.

Adam and SGD are written out on the stacked tensors (torch's optimisers have one learning rate
per parameter tensor) with the same updates as torch's; results equal separate trials up to
float32 rounding. A member whose loss or weights stop being finite gets its diverged record,
is dropped from the stack (its last weights kept for :meth:`BatchedTrial.member_model`) and
stops, while the others go on: members never mix, so its NaNs cannot reach them.

A record's ``seconds`` is the member's share of the batched epoch: its wall time divided by
the number of members trained in it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from tunegym.data import TabularDataset
from tunegym.training._config import TrainConfig, cosine_factor, epoch_order
from tunegym.training._model import (
    ACTIVATIONS,
    DEFAULT_SPEC,
    MLP,
    ModelSpec,
    build_mlp,
    dropout_mask,
)
from tunegym.training._records import EpochRecord, best_record, make_record
from tunegym.training._seeding import DROPOUT_STREAM, derived_generator
from tunegym.training._transfer import probe_head as fit_head
from tunegym.training._trial import check_epochs, device_splits, load_init, row_elements

__all__ = ["BatchedTrial"]

# torch.optim.Adam's defaults.
_BETA1, _BETA2, _EPS = 0.9, 0.999, 1e-8


class BatchedTrial:
    """Several learning rates with one batch size, trained together as a stacked model.

    Args:
        dataset: the data; its tensors are moved to ``device``.
        lrs: one peak learning rate per member.
        batch_size: rows per minibatch, shared by all members.
        max_epochs: length of the cosine schedule and most epochs trained.
        seed: seeds the initial weights (the same for every member), minibatch order and dropout.
        spec: the architecture, an ``MLPSpec`` or a ``FunnelSpec``.
        weight_decay: L2 penalty, as in :class:`~tunegym.training.TrainConfig`.
        optimizer: ``"adam"`` or ``"sgd"``, as in :class:`~tunegym.training.TrainConfig`.
        momentum: SGD's momentum, as in :class:`~tunegym.training.TrainConfig`.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or ``"auto"``.
        eval_test: also score the test split after every epoch.
        init: initial weights of every member, as :class:`~tunegym.training.Trial`'s
            (fine-tuning a model trained on a related dataset, `transfer_state`).
        probe_head: fit the output layer before training, as ``Trial``'s (one probe serves
            every member: it does not depend on the learning rate); its seconds are shared
            among the members' first epochs.

    Raises:
        ValueError: for no learning rate, an invalid hyperparameter, CUDA requested but
            unavailable, an empty split, or an ``init`` that does not fit the model.

    Example:
        >>> from tunegym.data import load_dataset
        >>> dataset = load_dataset("sklearn:iris")
        >>> batch = BatchedTrial(dataset, lrs=[1e-3, 1e-2, 1e-1], batch_size=16, max_epochs=20)
        >>> [len(records) for records in batch.train(5)]
        [5, 5, 5]
    """

    def __init__(
        self,
        dataset: TabularDataset,
        lrs: Sequence[float],
        batch_size: int,
        max_epochs: int,
        seed: int = 0,
        spec: ModelSpec = DEFAULT_SPEC,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        momentum: float = 0.0,
        *,
        device: str | torch.device = "cpu",
        eval_test: bool = False,
        init: Mapping[str, torch.Tensor] | None = None,
        probe_head: bool = False,
    ) -> None:
        if len(lrs) == 0:
            raise ValueError("BatchedTrial needs at least one learning rate, got none.")
        self.configs = tuple(
            TrainConfig(lr, batch_size, max_epochs, seed, weight_decay, optimizer, momentum)
            for lr in lrs
        )
        self.device, self._X_train, self._y_train, self._val, self._test = device_splits(
            dataset, device, eval_test
        )
        self.spec = spec
        self.eval_test = eval_test
        self.dataset = dataset
        self._activation = ACTIVATIONS[spec.activation]

        k = len(lrs)
        start = build_mlp(spec, dataset.n_features, dataset.n_classes, seed=seed).to(self.device)
        if init is not None:
            load_init(start, init, dataset, spec)
        self._probe_seconds = 0.0  # shared among the members' first epochs
        if probe_head:
            began = time.perf_counter()
            fit_head(start, self._X_train, self._y_train, seed=seed)
            self._probe_seconds = (time.perf_counter() - began) / k
        self._dropouts = start.dropouts
        self._row_elements = row_elements(start, dataset.n_features)
        # Row r of the flat buffers is one member's parameter vector, laid out as
        # parameters_to_vector(model.parameters()); the stacked layer tensors are views of it.
        vector = parameters_to_vector(start.parameters()).detach()
        self._flat = vector.expand(k, -1).clone()
        # The optimiser's per-member state, rows as in _flat (SGD's buffer is set on step 1).
        self._state: dict[str, torch.Tensor] = {}
        if optimizer == "adam":
            self._state = {name: torch.zeros_like(self._flat) for name in ("exp_avg", "exp_avg_sq")}
        self._shapes = [tuple(p.shape) for p in start.parameters()]
        self._params = self._layer_views()
        self._lrs = torch.tensor(lrs, dtype=torch.float32, device=self.device).view(k, 1)
        self._steps = 0
        # Stack row r holds member self._rows[r]; diverged members leave the stack.
        self._rows = list(range(k))
        self._frozen: dict[int, torch.Tensor] = {}
        self._histories: list[list[EpochRecord]] = [[] for _ in range(k)]
        self._epochs_done = 0

    @property
    def n_members(self) -> int:
        """Number of learning rates (members), diverged ones included."""
        return len(self.configs)

    @property
    def epochs_done(self) -> int:
        """Epochs trained so far (a diverged member's history stops at its diverged epoch)."""
        return self._epochs_done

    @property
    def members_history(self) -> list[list[EpochRecord]]:
        """Each member's records, in member order (copies)."""
        return [list(history) for history in self._histories]

    @property
    def diverged(self) -> list[bool]:
        """Per member, whether it stopped on a non-finite loss or weights."""
        return [member in self._frozen for member in range(self.n_members)]

    @property
    def finished(self) -> bool:
        """Whether no member can train further (all diverged, or ``max_epochs`` reached)."""
        return not self._rows or self._epochs_done >= self.configs[0].max_epochs

    def best_record(self, member: int, metric: str = "val_accuracy") -> EpochRecord | None:
        """Member ``member``'s best epoch by ``metric`` (as :meth:`Trial.best_record`)."""
        return best_record(self._histories[member], metric)

    def member_model(self, member: int) -> MLP:
        """A standalone copy of member ``member``'s current weights, in eval mode."""
        if member in self._frozen:
            vector = self._frozen[member]
        else:
            vector = self._flat[self._rows.index(member)]
        model = build_mlp(self.spec, self.dataset.n_features, self.dataset.n_classes)
        vector_to_parameters(vector.detach().cpu(), model.parameters())
        return model.to(self.device).eval()

    def train(
        self, k: int, on_epoch: Callable[[int, EpochRecord], None] | None = None
    ) -> list[list[EpochRecord]]:
        """Train every member still running ``k`` more epochs (fewer at ``max_epochs``).

        Args:
            k: epochs to add (``>= 1``).
            on_epoch: called as ``on_epoch(member, record)`` for each new record.

        Returns:
            The new records of each member, in member order; a member that diverges gets its
            diverged record and no more. Never raises on divergence.
        """
        check_epochs(k)
        new: list[list[EpochRecord]] = [[] for _ in range(self.n_members)]
        for _ in range(k):
            if self.finished:
                break
            for member, record in self._train_epoch():
                self._histories[member].append(record)
                new[member].append(record)
                if on_epoch is not None:
                    on_epoch(member, record)
        return new

    def _layer_views(self) -> list[torch.Tensor]:
        """Per layer, the ``(K, out, in)`` weights and ``(K, out, 1)`` biases: leaf views of
        the flat parameter buffer, so autograd sees them as parameters and Adam updates the
        buffer in a few whole-buffer operations."""
        views, offset = [], 0
        for shape in self._shapes:
            size = math.prod(shape)
            view = self._flat[:, offset : offset + size].view(-1, shape[0], size // shape[0])
            views.append(view.requires_grad_())
            offset += size
        return views

    def _forward(self, x_t: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """Training-mode logits ``(K, n_classes, n)`` for transposed inputs ``(n_features, n)``.

        Activations are feature-major, ``(K, width, n)``, so each layer is one
        ``baddbmm(bias, weight, h)`` with the weights in ``nn.Linear``'s ``(out, in)`` layout:
        the fastest orientation for minibatch-sized products on the CPU.
        """
        params = self._params
        n_layers = len(params) // 2
        h = x_t.expand(params[0].shape[0], -1, -1)
        for layer in range(n_layers):
            h = torch.baddbmm(params[2 * layer + 1], params[2 * layer], h)
            if layer < n_layers - 1:
                h = self._activation(h)
                p = self._dropouts[layer]
                if generator is not None and p > 0:
                    # The (n, width) mask the single trial draws, shared by the members.
                    shape = (h.shape[2], h.shape[1])
                    h = h * dropout_mask(shape, p, h.device, generator).t()
        return h

    def _eval_logits(self, X: torch.Tensor) -> torch.Tensor:
        """Eval-mode logits ``(K, n_classes, n)`` for inputs ``(n, n_features)``.

        Row-major activations ``(K, n, width)`` here: for evaluation-sized ``n`` this
        orientation of the products is the faster one.
        """
        params = self._params
        n_layers = len(params) // 2
        h = X.expand(params[0].shape[0], -1, -1)
        for layer in range(n_layers):
            weight, bias = params[2 * layer], params[2 * layer + 1]
            h = torch.baddbmm(bias.transpose(1, 2), h, weight.transpose(1, 2))
            if layer < n_layers - 1:
                h = self._activation(h)
        return h.transpose(1, 2)

    def _train_epoch(self) -> list[tuple[int, EpochRecord]]:
        start = time.perf_counter()
        config = self.configs[0]
        epoch = self._epochs_done
        step_lrs = self._lrs * cosine_factor(epoch, config.max_epochs)
        order = epoch_order(config.seed, epoch, len(self._y_train)).to(self.device)
        # Feature-major rows (contiguous along the batch) make the first product fast.
        X_t, y = self._X_train[order].t().contiguous(), self._y_train[order]
        generator = None
        if any(p > 0 for p in self._dropouts):
            generator = derived_generator(config.seed, DROPOUT_STREAM, epoch, device=self.device)
        n_rows = len(self._rows)
        loss_sum = torch.zeros(n_rows, device=self.device)
        n_steps = 0
        for lo in range(0, len(y), config.batch_size):
            hi = lo + config.batch_size
            logits = self._forward(X_t[:, lo:hi], generator)
            targets = y[lo:hi].expand(n_rows, -1)
            losses = F.cross_entropy(logits, targets, reduction="none").mean(dim=1)
            grads = torch.autograd.grad(losses.sum(), self._params)
            self._step(grads, step_lrs)
            loss_sum += losses.detach()
            n_steps += 1

        elements = n_rows * self._row_elements
        with torch.no_grad():
            scores = [(loss_sum / n_steps).view(n_rows, 1)]
            scores.append(self._val.evaluate(self._eval_logits, elements))
            if self._test is not None:
                scores.append(self._test.evaluate(self._eval_logits, elements))
            finite = self._flat.isfinite().all(dim=1, keepdim=True).to(torch.float32)
            table = torch.cat([*scores, finite], dim=1).tolist()
        self._epochs_done += 1
        seconds = (time.perf_counter() - start) / n_rows
        seconds += self._probe_seconds if epoch == 0 else 0.0
        records = [
            (
                member,
                make_record(
                    self._epochs_done,
                    values[:-1],
                    seconds,
                    has_test=self._test is not None,
                    weights_finite=values[-1] == 1.0,
                ),
            )
            for member, values in zip(self._rows, table, strict=True)
        ]
        self._drop_diverged([record.diverged for _, record in records])
        return records

    def _step(self, grads: Sequence[torch.Tensor], step_lrs: torch.Tensor) -> None:
        """One optimiser step on the flat buffers, one learning rate per row."""
        self._steps += 1
        config = self.configs[0]
        with torch.no_grad():
            grad = torch.cat([g.reshape(len(g), -1) for g in grads], dim=1)
            if config.weight_decay != 0:
                grad = grad.add_(self._flat, alpha=config.weight_decay)
            if config.optimizer == "sgd":
                self._sgd_update(grad, step_lrs, config.momentum)
            else:
                self._adam_update(grad, step_lrs)

    def _adam_update(self, grad: torch.Tensor, step_lrs: torch.Tensor) -> None:
        """``torch.optim.Adam``'s update, given the gradient with weight decay added."""
        exp_avg, exp_avg_sq = self._state["exp_avg"], self._state["exp_avg_sq"]
        exp_avg.lerp_(grad, 1 - _BETA1)
        exp_avg_sq.mul_(_BETA2).addcmul_(grad, grad, value=1 - _BETA2)
        # lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps), with sqrt(bc2) moved to the numerator.
        bc1 = 1 - _BETA1**self._steps
        bc2_sqrt = math.sqrt(1 - _BETA2**self._steps)
        denom = exp_avg_sq.sqrt().add_(_EPS * bc2_sqrt)
        step = exp_avg * (step_lrs * (bc2_sqrt / bc1))
        self._flat.addcdiv_(step, denom, value=-1.0)

    def _sgd_update(self, grad: torch.Tensor, step_lrs: torch.Tensor, momentum: float) -> None:
        """``torch.optim.SGD``'s update (no dampening, no Nesterov): the buffer starts as the
        first gradient, then ``buf = momentum * buf + grad``; the step is ``lr * buf``."""
        if momentum != 0:
            if "momentum_buffer" not in self._state:
                self._state["momentum_buffer"] = grad.clone()
            else:
                self._state["momentum_buffer"].mul_(momentum).add_(grad)
            grad = self._state["momentum_buffer"]
        self._flat.addcmul_(grad, step_lrs, value=-1.0)

    def _drop_diverged(self, diverged: list[bool]) -> None:
        if not any(diverged):
            return
        for row, gone in enumerate(diverged):
            if gone:
                self._frozen[self._rows[row]] = self._flat[row].clone()
        keep = torch.tensor([not gone for gone in diverged], device=self.device)
        self._rows = [member for member, gone in zip(self._rows, diverged, strict=True) if not gone]
        self._flat = self._flat[keep]
        self._state = {name: buffer[keep] for name, buffer in self._state.items()}
        self._lrs = self._lrs[keep]
        self._params = self._layer_views()
