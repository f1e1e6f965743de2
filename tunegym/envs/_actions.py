"""The env's action space: one ``Discrete`` index per (kind, arguments), and back.

Layout of ``Discrete(n)``, with ``C`` candidate configurations, ``S`` slots and the epoch
increments ``k_choices`` (``N_k`` of them)::

    [0, C*N_k)                   new trial (candidate index, k index), row-major
    [C*N_k, C*N_k + S*N_k)       continue slot j for k epochs (slot, k index), row-major
    n - 1                        stop

On the lr × batch-size grid (``L`` × ``B``), candidate ``i * B + b`` is (lr ``i``, batch size
``b``), so the new-trial block is (lr index, batch-size index, k index), row-major.

One flat ``Discrete`` space rather than ``MultiDiscrete`` so that masking is exact: validity of
``k`` depends on the slot, which per-dimension masks cannot express.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Action", "ActionCodec", "ActionKind"]


class ActionKind(enum.IntEnum):
    """What an action does."""

    NEW = 0
    CONTINUE = 1
    STOP = 2


@dataclass(frozen=True, slots=True)
class Action:
    """A decoded action.

    Attributes:
        kind: new trial, continue a slot, or stop.
        k: epochs to buy (0 for stop).
        lr_index: learning-rate grid index (new trials only, else -1).
        batch_size_index: batch-size grid index (new trials only, else -1).
        slot: slot to continue (continue only, else -1).
        config: the candidate's index (new trials only, else -1); on the grid
            ``lr_index * n_batch_sizes + batch_size_index``.
    """

    kind: ActionKind
    k: int = 0
    lr_index: int = -1
    batch_size_index: int = -1
    slot: int = -1
    config: int = -1


class ActionCodec:
    """Maps actions to ``Discrete`` indices and back (tables built once)."""

    def __init__(
        self,
        n_lrs: int,
        n_batch_sizes: int,
        n_slots: int,
        k_choices: tuple[int, ...],
        *,
        grid: bool = True,
    ) -> None:
        self.n_lrs, self.n_batch_sizes, self.n_slots = n_lrs, n_batch_sizes, n_slots
        self.grid = grid
        self.k_choices = k_choices
        n_k = len(k_choices)
        self.n_configs = n_lrs * n_batch_sizes
        self.n_new = self.n_configs * n_k
        self.n_continue = n_slots * n_k
        self.n = self.n_new + self.n_continue + 1
        self.stop_index = self.n - 1
        table: list[Action] = []
        for i in range(n_lrs):
            for b in range(n_batch_sizes):
                c = i * n_batch_sizes + b
                for k in k_choices:
                    if grid:
                        action = Action(
                            ActionKind.NEW, k=k, lr_index=i, batch_size_index=b, config=c
                        )
                    else:
                        action = Action(ActionKind.NEW, k=k, config=c)
                    table.append(action)
        for s in range(n_slots):
            for k in k_choices:
                table.append(Action(ActionKind.CONTINUE, k=k, slot=s))
        table.append(Action(ActionKind.STOP))
        self._table = tuple(table)
        self._k_index = {k: j for j, k in enumerate(k_choices)}

    @classmethod
    def for_configs(cls, n_configs: int, n_slots: int, k_choices: tuple[int, ...]) -> ActionCodec:
        """The codec over ``n_configs`` candidates of any space (no grid indices)."""
        return cls(n_configs, 1, n_slots, k_choices, grid=False)

    def decode(self, index: int) -> Action:
        """The action at ``index``; ``ValueError`` when out of range."""
        if not 0 <= index < self.n:
            raise ValueError(f"Action index must be in [0, {self.n}), got {index!r}.")
        return self._table[index]

    def encode(self, action: Action) -> int:
        """The index of ``action``; ``ValueError`` for arguments outside the space."""
        if action.kind is ActionKind.STOP:
            return self.stop_index
        if action.k not in self._k_index:
            raise ValueError(f"k={action.k!r} is not one of the increments {self.k_choices!r}.")
        k = self._k_index[action.k]
        n_k = len(self.k_choices)
        if action.kind is ActionKind.NEW:
            if action.config >= 0 or not self.grid:
                if not 0 <= action.config < self.n_configs:
                    raise ValueError(f"Candidate index out of range in {action!r}.")
                return action.config * n_k + k
            if not (
                0 <= action.lr_index < self.n_lrs
                and 0 <= action.batch_size_index < self.n_batch_sizes
            ):
                raise ValueError(f"Grid indices out of range in {action!r}.")
            return (action.lr_index * self.n_batch_sizes + action.batch_size_index) * n_k + k
        if not 0 <= action.slot < self.n_slots:
            raise ValueError(f"Slot out of range in {action!r} (n_slots={self.n_slots}).")
        return self.n_new + action.slot * n_k + k

    def new(self, lr_index: int, batch_size_index: int, k: int) -> int:
        """Index of "new trial (lr, batch size) for k epochs"."""
        return self.encode(
            Action(ActionKind.NEW, k=k, lr_index=lr_index, batch_size_index=batch_size_index)
        )

    def cont(self, slot: int, k: int) -> int:
        """Index of "continue slot for k epochs"."""
        return self.encode(Action(ActionKind.CONTINUE, k=k, slot=slot))

    def new_config(self, config: int, k: int) -> int:
        """Index of "new trial of candidate ``config`` for k epochs"."""
        return self.encode(Action(ActionKind.NEW, k=k, config=config))
