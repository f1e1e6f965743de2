"""The trained agent: a masked policy network as a tuner, and its pickle-free file format.

An agent is two files in one folder:

* ``policy.pt`` — the policy's ``state_dict()`` (tensors only), written with ``torch.save`` and
  read with ``torch.load(weights_only=True)``: loading never unpickles arbitrary objects;
* ``agent.json`` — everything needed to rebuild the network and to check that an env is one it
  can act on: sizes, ``net_arch``, activation, the grid, slots, the budgets and metric it was
  trained for, the training configuration and seeds, the data it learned from, library versions
  and the SHA-256 of ``policy.pt``.

`load_agent()` loads the agent shipped in ``tunegym/agent/pretrained/``; `load_agent(path)`
another one. `Agent` implements the baselines' `Policy` protocol, so
``tunegym.baselines.run_episode(env, agent, seed)`` runs it like any other tuner.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from torch import nn

from tunegym.envs import ActionCodec, SearchSpace, TaskSpec, TuningEnv, observation_layout
from tunegym.errors import did_you_mean
from tunegym.training import MLPSpec

__all__ = [
    "AGENT_FILE",
    "PRETRAINED_DIR",
    "WEIGHTS_FILE",
    "Agent",
    "AgentSpec",
    "load_agent",
]

PRETRAINED_DIR: Final = Path(__file__).parent / "pretrained"
AGENT_FILE: Final = "agent.json"
WEIGHTS_FILE: Final = "policy.pt"
_FORMAT: Final = "tunegym.agent"
_VERSION: Final = 1
_ACTIVATIONS: Final[dict[str, type[nn.Module]]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


@dataclass(frozen=True)
class AgentSpec:
    """What a policy network is and which tuning tasks it acts on (``agent.json``).

    Attributes:
        space: the grid and epoch increments of its action space.
        n_slots: trials kept open (``K``).
        net_arch: hidden layer sizes of its policy and value networks.
        activation: ``"tanh"`` or ``"relu"``.
        metric: the validation metric it maximises.
        budgets: the epoch budgets it was trained with.
        trial_seeds: the trial seeds of its training curves.
        prior_k: neighbours of its warm-start prior features.
        model: the network family whose curves it learned from.
        training: the training configuration, seeds and model-selection result.
        data: provenance of the meta-dataset it learned from.
        versions: library versions it was trained with.
    """

    space: SearchSpace
    n_slots: int
    net_arch: tuple[int, ...]
    activation: str = "tanh"
    metric: str = "val_accuracy"
    budgets: tuple[int, ...] = (64,)
    trial_seeds: tuple[int, ...] = (0, 1, 2)
    prior_k: int = 5
    model: MLPSpec = field(default_factory=MLPSpec)
    training: Mapping[str, Any] = field(default_factory=dict)
    data: Mapping[str, Any] = field(default_factory=dict)
    versions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {self.activation!r}; choose one of {sorted(_ACTIVATIONS)}."
                + did_you_mean(self.activation, _ACTIVATIONS)
            )
        if not self.net_arch or any(int(n) < 1 for n in self.net_arch):
            raise ValueError(f"net_arch must be positive layer sizes, got {self.net_arch!r}.")
        # Validates n_slots, metric and budgets the way the env does.
        for budget in self.budgets:
            self.task(budget)

    def task(self, budget: int) -> TaskSpec:
        """The task shape the agent acts on, at one budget."""
        return TaskSpec(
            dataset="<any>",
            space=self.space,
            budget_epochs=int(budget),
            n_slots=self.n_slots,
            trial_seeds=self.trial_seeds,
            metric=self.metric,
        )

    @property
    def observation_names(self) -> list[str]:
        """The observation's entries, in order (`tunegym.envs.observation_layout`)."""
        return observation_layout(self.task(self.budgets[0]))

    @property
    def n_actions(self) -> int:
        """Size of the ``Discrete`` action space."""
        space = self.space
        return ActionCodec(len(space.lrs), len(space.batch_sizes), self.n_slots, space.k_choices).n

    def policy_kwargs(self) -> dict[str, Any]:
        """``policy_kwargs`` for ``MaskablePPO("MlpPolicy", ...)`` building this network."""
        return {"net_arch": list(self.net_arch), "activation_fn": _ACTIVATIONS[self.activation]}

    def check_env(self, env: TuningEnv) -> None:
        """Raise ``ValueError`` unless ``env`` has this agent's grid, slots and observation."""
        task = env.task
        problems = []
        if task.space.lrs != self.space.lrs or task.space.batch_sizes != self.space.batch_sizes:
            problems.append(
                f"grid lrs={task.space.lrs} batch_sizes={task.space.batch_sizes}, the agent's is "
                f"lrs={self.space.lrs} batch_sizes={self.space.batch_sizes}"
            )
        if (task.space.max_epochs, task.space.k_choices) != (
            self.space.max_epochs,
            self.space.k_choices,
        ):
            problems.append(
                f"E_max={task.space.max_epochs} k_choices={task.space.k_choices}, the agent's are "
                f"{self.space.max_epochs} and {self.space.k_choices}"
            )
        if task.n_slots != self.n_slots:
            problems.append(f"n_slots={task.n_slots}, the agent's is {self.n_slots}")
        if task.metric != self.metric:
            problems.append(f"metric={task.metric!r}, the agent's is {self.metric!r}")
        if problems:
            raise ValueError(
                "This agent cannot act on the env: it has "
                + "; ".join(problems)
                + ". Build the env with the agent's grid (agent.spec.space, agent.spec.n_slots)."
            )

    def to_json(self) -> dict[str, Any]:
        """The JSON payload of ``agent.json`` (without the weights' checksum)."""
        return {
            "format": _FORMAT,
            "version": _VERSION,
            "algorithm": "sb3_contrib.MaskablePPO",
            "policy": "MlpPolicy (MaskableActorCriticPolicy)",
            "observation_size": len(self.observation_names),
            "n_actions": self.n_actions,
            "net_arch": list(self.net_arch),
            "activation": self.activation,
            "space": self.space.to_json(),
            "n_slots": self.n_slots,
            "metric": self.metric,
            "budgets": list(self.budgets),
            "trial_seeds": list(self.trial_seeds),
            "prior_k": self.prior_k,
            "model": asdict(self.model),
            "observation": self.observation_names,
            "training": dict(self.training),
            "data": dict(self.data),
            "versions": dict(self.versions),
        }

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> AgentSpec:
        """Parse ``agent.json``; ``ValueError`` when it is not one or is inconsistent."""
        if payload.get("format") != _FORMAT or payload.get("version") != _VERSION:
            raise ValueError(
                f"Not a tunegym agent file (format {payload.get('format')!r}, version "
                f"{payload.get('version')!r}; expected {_FORMAT!r}, version {_VERSION})."
            )
        try:
            spec = cls(
                space=SearchSpace.from_json(payload["space"]),
                n_slots=int(payload["n_slots"]),
                net_arch=tuple(int(n) for n in payload["net_arch"]),
                activation=str(payload["activation"]),
                metric=str(payload["metric"]),
                budgets=tuple(int(b) for b in payload["budgets"]),
                trial_seeds=tuple(int(s) for s in payload["trial_seeds"]),
                prior_k=int(payload["prior_k"]),
                model=MLPSpec(**payload["model"]),
                training=dict(payload.get("training", {})),
                data=dict(payload.get("data", {})),
                versions=dict(payload.get("versions", {})),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"Agent file lacks or mistypes an entry: {error!r}.") from error
        sizes = (payload.get("observation_size"), payload.get("n_actions"))
        if sizes != (len(spec.observation_names), spec.n_actions):
            raise ValueError(
                f"Agent file declares observation size {sizes[0]} and {sizes[1]} actions, but its "
                f"grid and slots give {len(spec.observation_names)} and {spec.n_actions}."
            )
        return spec


def relax_increments(mask: np.ndarray, n_k: int) -> np.ndarray:
    """``mask`` with every increment of a trial allowed where any one of them is.

    The action layout groups the ``n_k`` increments of each new-trial configuration and of each
    slot together (`tunegym.envs.ActionCodec`); the last action (stop) stands alone.
    """
    groups = mask[:-1].reshape(-1, n_k)
    relaxed = np.repeat(groups.any(axis=1), n_k)
    return np.append(relaxed, mask[-1])


def project_increment(action: int, mask: np.ndarray, n_k: int) -> int:
    """The valid action of ``action``'s trial with the largest increment not above its own.

    An action already valid is returned as it is; where every valid increment of the trial is
    larger (it cannot happen with the env's masks, which cap increments from above), the
    smallest of them.
    """
    if mask[action] or action == len(mask) - 1:
        return action
    start = action - action % n_k
    valid = np.flatnonzero(mask[start : start + n_k]) + start
    if not len(valid):
        raise ValueError(f"Action {action} has no valid increment to fall back on.")
    lower = valid[valid < action]
    return int(lower[-1] if len(lower) else valid[0])


def build_policy(spec: AgentSpec) -> MaskableActorCriticPolicy:
    """A fresh (untrained) policy network of ``spec``'s shape."""
    size = len(spec.observation_names)
    return MaskableActorCriticPolicy(
        observation_space=gym.spaces.Box(-1.0, 1.0, shape=(size,), dtype=np.float32),
        action_space=gym.spaces.Discrete(spec.n_actions),
        lr_schedule=lambda _: 0.0,
        **spec.policy_kwargs(),
    )


class Agent:
    """A trained policy as a tuner: deterministic, masked actions (a baselines `Policy`).

    Args:
        policy: the policy network (e.g. ``MaskablePPO(...).policy``).
        spec: its description.

    Example:
        >>> from tunegym.baselines import run_episode
        >>> agent = load_agent()
        >>> env = make_tuning_env("sklearn:iris", "live", space=agent.spec.space, budget_epochs=8)
        >>> result = run_episode(env, agent, seed=0)
    """

    def __init__(self, policy: MaskableActorCriticPolicy, spec: AgentSpec) -> None:
        self.policy = policy
        self.spec = spec

    def reset(self, env: TuningEnv, seed: int) -> None:
        """Check that the agent can act on ``env`` (it has no randomness to seed)."""
        self.spec.check_env(env)

    def act(self, obs: np.ndarray, mask: np.ndarray) -> int:
        """The most probable action, its epoch increment cut to what the budget allows.

        The mask takes away the large increments once the budget is short (or at the start of a
        small budget). Masking them out of the policy's distribution would also change *which*
        trial it picks: at a budget of 4 epochs the most probable action left is whatever
        configuration happens to carry mass at ``k <= 4``, not the one the agent prefers. So the
        choice is made with every increment of a still-possible trial allowed, and the
        increment is then cut to the largest valid one not above the chosen ``k``
        (`project_increment`).
        """
        n_k = len(self.spec.space.k_choices)
        relaxed = relax_increments(mask, n_k)
        with torch.no_grad():
            tensor = torch.as_tensor(obs, dtype=torch.float32).reshape(1, -1)
            distribution = self.policy.get_distribution(tensor, action_masks=relaxed.reshape(1, -1))
            return project_increment(int(distribution.mode()[0]), mask, n_k)

    def observe(self, info: dict[str, Any]) -> None:
        """Nothing to learn: everything the agent needs is in the next observation."""

    def save(self, folder: str | Path) -> Path:
        """Write ``agent.json`` and ``policy.pt`` into ``folder``; return the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / WEIGHTS_FILE
        state = {k: v.detach().cpu().clone() for k, v in self.policy.state_dict().items()}
        torch.save(state, weights)
        payload = self.spec.to_json()
        payload["weights"] = {"file": WEIGHTS_FILE, "sha256": _sha256(weights)}
        text = json.dumps(payload, indent=1) + "\n"
        (folder / AGENT_FILE).write_text(text, encoding="utf-8")
        return folder


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_agent(path: str | Path | None = None) -> Agent:
    """Load an agent: the one shipped with tunegym, or the one in ``path``.

    Args:
        path: a folder holding ``agent.json`` and ``policy.pt`` (or the ``agent.json`` file);
            ``None`` loads the pretrained agent in ``tunegym/agent/pretrained/``.

    Raises:
        FileNotFoundError: a file is missing.
        ValueError: a file is corrupt, or the weights do not match ``agent.json``.

    Example:
        >>> agent = load_agent()
        >>> agent.spec.n_slots
        8
    """
    folder = PRETRAINED_DIR if path is None else Path(path)
    if folder.is_file():
        folder = folder.parent
    spec_file, weights = folder / AGENT_FILE, folder / WEIGHTS_FILE
    for needed in (spec_file, weights):
        if not needed.is_file():
            raise FileNotFoundError(
                f"No tunegym agent in {folder}: {needed.name} is missing. Train one with "
                "'tunegym train-agent --out DIR' and load it with tunegym.load_agent(DIR)."
            )
    try:
        payload = json.loads(spec_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{spec_file} is corrupt: not valid JSON ({error}).") from error
    if not isinstance(payload, dict):
        raise ValueError(f"{spec_file} is corrupt: expected a JSON object.")
    spec = AgentSpec.from_json(payload)
    recorded = payload.get("weights", {}).get("sha256")
    if recorded != _sha256(weights):
        raise ValueError(
            f"{weights} does not match the SHA-256 recorded in {spec_file}: the file is corrupt "
            "or belongs to another agent. Copy both files of one agent together."
        )
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types on a bad file
        raise ValueError(f"{weights} is not a readable weights file: {error}") from error
    policy = build_policy(spec)
    try:
        policy.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        raise ValueError(
            f"The weights in {weights} do not fit the network described in {spec_file}: {error}"
        ) from error
    policy.set_training_mode(False)
    return Agent(policy, spec)
