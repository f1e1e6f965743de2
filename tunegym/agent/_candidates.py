"""The freeze-thaw policy: one network scores every candidate of `tunegym.envs.FreezeThawEnv`.

`CandidateNet` is permutation-equivariant over the candidates (a Deep Sets encoder, Zaheer et
al., 2017): each row is embedded by the same MLP, the embeddings are pooled (mean and max over
the present rows) with the global entries into a context, and the same head reads each row's
embedding with the context into one logit per ``k``. The stop logit and the value read the
context and `STOP_INPUTS` (budget spent, price, how fast the search lately improved); the
price reaches nothing else, so which candidate to advance does not depend on it. Its weights
do not depend on ``N``: a network trained on 128 candidates runs on 256.

`CandidatePolicy` puts it into sb3-contrib's ``MaskablePPO``: the net's logits are the masked
categorical's logits (SB3's ``action_net`` becomes the identity) and its context feeds SB3's
value head (on a second encoder of its own).
"""

from __future__ import annotations

from typing import Any

import torch
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from torch import nn

from tunegym.envs import GLOBAL_FIELDS, META_FEATURE_NAMES, ROW_FIELDS

__all__ = [
    "STOP_INPUTS",
    "CandidateNet",
    "CandidatePolicy",
    "stop_features",
    "upgrade_state_dict",
]

_G, _R = len(GLOBAL_FIELDS), len(ROW_FIELDS)

STOP_INPUTS = ("budget_used", "price", "recent_gain")
"""Global entries the stop logit reads beside the context: whether the rest of the budget is
worth its price is a comparison of these (`tunegym.envs.priced_stop`), which a linear read of
the context, squashed by its tanh, would have to relearn. The price and the gain are read on a
log scale (`stop_features`): prices span orders of magnitude, and their ratio to the gain is
what decides."""
_STOP = [GLOBAL_FIELDS.index(f) for f in STOP_INPUTS]
_PRICE = GLOBAL_FIELDS.index("price")
_LOGGED = [i for i, f in enumerate(STOP_INPUTS) if f in ("price", "recent_gain")]


def stop_features(obs: torch.Tensor) -> torch.Tensor:
    """``[B, len(STOP_INPUTS)]``: the stop logit's own inputs, the price and the recent gain as
    ``log10(max(x, 1e-4)) / 4 + 1`` (1e-4 → 0, 1 → 1)."""
    x = obs[:, _STOP].clone()
    x[:, _LOGGED] = torch.log10(x[:, _LOGGED].clamp(min=1e-4)) / 4.0 + 1.0
    return x


class CandidateNet(nn.Module):
    """Scores the candidates of a freeze-thaw observation.

    Args:
        n_k: the env's ``len(k_choices)``.
        hidden: width of every layer.
        use_meta: read the task's meta-features (off for the "no meta-features" ablation: they
            are zeroed before the net sees them).
        stop_gate: the stop logit is a gate: ``g + logsumexp(advance logits)``, so that the
            probability of stopping is about ``sigmoid(g)`` whatever the advance logits' scale
            (a net that learned when to stop, `tunegym.agent._stoptrain`); off: a logit beside
            the others (the agent trained with no price, which never stops).
    """

    def __init__(
        self, n_k: int, hidden: int = 64, use_meta: bool = True, stop_gate: bool = False
    ) -> None:
        super().__init__()
        self.n_k, self.hidden, self.use_meta = n_k, hidden, use_meta
        self.stop_gate = stop_gate
        self.row = nn.Sequential(
            nn.Linear(_R, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.context = nn.Sequential(nn.Linear(_G + 2 * hidden, hidden), nn.Tanh())
        self.head = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, n_k))
        self.stop = nn.Linear(hidden + len(STOP_INPUTS), 1)
        meta0 = GLOBAL_FIELDS.index(next(f for f in GLOBAL_FIELDS if f.startswith("meta.")))
        self._meta = slice(meta0, meta0 + len(META_FEATURE_NAMES))
        with torch.no_grad():  # start far from stopping: with no price, stopping never pays
            self.stop.bias.fill_(-4.0)
            self.stop.weight[:, hidden:] = 0.0
            last = self.head[-1]
            assert isinstance(last, nn.Linear)
            last.weight.mul_(0.1)

    def encode(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(row embeddings [B, rows, h], context [B, h + len(STOP_INPUTS)], present [B,
        rows])``: the context's last entries are the `stop_features`."""
        glob = obs[:, :_G].clone()
        glob[:, _PRICE] = 0.0  # the price decides when to stop (`STOP_INPUTS`), not what to train
        if not self.use_meta:
            glob[:, self._meta] = 0.0
        rows = obs[:, _G:].reshape(obs.shape[0], -1, _R)
        present = rows[:, :, 0] > 0.5
        h = self.row(rows)
        weight = present.unsqueeze(-1).to(h.dtype)
        mean = (h * weight).sum(1) / weight.sum(1).clamp(min=1.0)
        peak = h.masked_fill(~present.unsqueeze(-1), -1.0).max(1).values
        context = self.context(torch.cat([glob, mean, peak], dim=1))
        return h, torch.cat([context, stop_features(obs)], dim=1), present

    def logits(self, h: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """``[B, rows * n_k + 1]``: advance logits row-major, then stop (``context`` as
        `encode` returns it)."""
        pooled = context[:, : self.hidden]
        both = torch.cat([h, pooled.unsqueeze(1).expand(-1, h.shape[1], -1)], dim=2)
        advance = self.head(both).reshape(h.shape[0], -1)
        stop = self.stop(context)
        if self.stop_gate:
            stop = stop + torch.logsumexp(advance, dim=1, keepdim=True)
        return torch.cat([advance, stop], dim=1)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits, context)``."""
        h, context, _ = self.encode(obs)
        return self.logits(h, context), context[:, : self.hidden]


def upgrade_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A `CandidateNet` state saved before the last observation fields, made loadable.

    Fields are only ever appended to ``ROW_FIELDS`` and ``GLOBAL_FIELDS`` (``pending`` and
    ``reserved`` came with asynchronous runs, ``vs_finished`` after them, ``recent_gain`` with
    the learned stop, ``prior_early`` with the teacher's early first probe); an older net gets
    zero weights for the entries it never saw, and its stop logit zero weights for
    `STOP_INPUTS`, so it computes exactly what it computed before.
    """
    state = dict(state)
    stop = state.get("stop.weight")
    row = state.get("row.0.weight")
    if stop is not None and row is not None and stop.shape[1] == row.shape[0]:
        state["stop.weight"] = torch.cat([stop, stop.new_zeros(1, len(STOP_INPUTS))], 1)
    if row is not None and row.shape[1] < _R:
        state["row.0.weight"] = torch.cat([row, row.new_zeros(row.shape[0], _R - row.shape[1])], 1)
    context = state.get("context.0.weight")
    if context is not None and row is not None:
        hidden = row.shape[0]
        old_g = context.shape[1] - 2 * hidden
        if old_g < _G:
            glob, pooled = context[:, :old_g], context[:, old_g:]
            pad = context.new_zeros(context.shape[0], _G - old_g)
            state["context.0.weight"] = torch.cat([glob, pad, pooled], 1)
    return state


class _Extractor(nn.Module):
    """SB3's ``mlp_extractor`` slot: the actor's latent is the logits, the critic's the context
    of a second encoder of the same shape (the value's gradients do not reach the actor)."""

    def __init__(self, net: CandidateNet, n_actions: int) -> None:
        super().__init__()
        self.net = net
        self.critic = CandidateNet(net.n_k, net.hidden, net.use_meta, net.stop_gate)
        self.latent_dim_pi = n_actions
        self.latent_dim_vf = net.hidden + len(STOP_INPUTS)  # the value reads the price too

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(features)[0], self.critic.encode(features)[1]

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        return self.net(features)[0]

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        return self.critic.encode(features)[1]


class CandidatePolicy(MaskableActorCriticPolicy):
    """MaskablePPO's actor-critic with `CandidateNet` as its actor (and the critic's trunk).

    Keyword args (``policy_kwargs``): ``n_k``, ``hidden``, ``use_meta``, ``stop_gate`` as
    `CandidateNet`.
    """

    def __init__(
        self,
        *args: Any,
        n_k: int = 5,
        hidden: int = 64,
        use_meta: bool = True,
        stop_gate: bool = False,
        **kwargs: Any,
    ) -> None:
        self.n_k, self.hidden, self.use_meta = n_k, hidden, use_meta
        self.stop_gate = stop_gate
        kwargs["ortho_init"] = False
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        net = CandidateNet(self.n_k, self.hidden, self.use_meta, self.stop_gate)
        self.mlp_extractor = _Extractor(net, int(self.action_space.n))  # type: ignore[assignment,attr-defined]

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        self.action_net = nn.Identity()  # the net's output already is one logit per action
        self.optimizer = self.optimizer_class(
            self.parameters(),
            lr=lr_schedule(1),  # type: ignore[call-arg]
            **self.optimizer_kwargs,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(n_k=self.n_k, hidden=self.hidden, use_meta=self.use_meta,
                    stop_gate=self.stop_gate)  # fmt: skip
        return data

    @property
    def net(self) -> CandidateNet:
        """The candidate network (what the shipped agent keeps)."""
        net = self.mlp_extractor.net
        assert isinstance(net, CandidateNet)
        return net

    @property
    def critic(self) -> CandidateNet:
        """The critic's encoder (a second `CandidateNet`; its stop logit is unused)."""
        critic = self.mlp_extractor.critic
        assert isinstance(critic, CandidateNet)
        return critic
