"""The agent: meta-training, the pretrained agent and its loader, and the tuner behind `tune`.

* `tune` tunes a dataset live with the pretrained agent (or a baseline) and returns a
  `TuningResult`: the best configuration, the model of its best epoch, the history and a report;
  `TunedMLPClassifier` does the same inside a scikit-learn ``fit``. On LCBench's space (the
  default) it runs the freeze-thaw agent (agent v2, `load_ft_agent`), on the lr-bs grid the v1
  agent.
* `load_agent` loads the agent shipped in ``tunegym/agent/pretrained/`` (or another one): a
  pickle-free weights file plus ``agent.json``; `Agent` is a `tunegym.baselines.Policy`.
* `train_agent` meta-trains one with MaskablePPO on `MultiTaskReplayEnv` over the meta-train
  datasets of a `MetaDataset` (the shipped snapshot by default) and selects it on meta-val.

See ``docs/AGENT.md``::

    import tunegym
    result = tunegym.tune("sklearn:breast_cancer", budget_epochs=64)
    result.best, result.to_json("report.json")
"""

from tunegym.agent._agent import (
    AGENT_FILE,
    PRETRAINED_DIR,
    WEIGHTS_FILE,
    Agent,
    AgentSpec,
    load_agent,
)
from tunegym.agent._evaluate import (
    ReplayEpisode,
    baseline_maker,
    bootstrap_ci,
    evaluate_policy,
    regret_at,
    step_at,
)
from tunegym.agent._ftagent import FreezeThawAgent, load_ft_agent
from tunegym.agent._live import TrialCache, TuneBackend
from tunegym.agent._metadata import MetaDataset
from tunegym.agent._multitask import MultiTaskReplayEnv
from tunegym.agent._plot import plot_tuning
from tunegym.agent._result import (
    TEST_METRICS,
    BestConfig,
    StepRecord,
    TrialCurve,
    TuningResult,
    ValidationPeak,
)
from tunegym.agent._session import (
    AUTO_METHODS,
    CHECKPOINTS_ENV,
    DEFAULT_BUDGETS,
    DEFAULT_SPACE,
    FREEZE_THAW,
    SEARCH_SPACES,
    TuneArgs,
    TuningInterrupted,
    default_checkpoints,
    named_search,
    resolve_search,
)
from tunegym.agent._sklearn import TunedMLPClassifier
from tunegym.agent._train import (
    AgentTrainConfig,
    Evaluation,
    TrainedAgent,
    TrainProgress,
    train_agent,
)
from tunegym.agent._tune import TUNE_METHODS, tune

__all__ = [
    "AGENT_FILE",
    "AUTO_METHODS",
    "CHECKPOINTS_ENV",
    "DEFAULT_BUDGETS",
    "DEFAULT_SPACE",
    "FREEZE_THAW",
    "PRETRAINED_DIR",
    "SEARCH_SPACES",
    "TEST_METRICS",
    "TUNE_METHODS",
    "WEIGHTS_FILE",
    "Agent",
    "AgentSpec",
    "AgentTrainConfig",
    "BestConfig",
    "Evaluation",
    "FreezeThawAgent",
    "MetaDataset",
    "MultiTaskReplayEnv",
    "ReplayEpisode",
    "StepRecord",
    "TrainProgress",
    "TrainedAgent",
    "TrialCache",
    "TrialCurve",
    "TuneArgs",
    "TuneBackend",
    "TunedMLPClassifier",
    "TuningInterrupted",
    "TuningResult",
    "ValidationPeak",
    "baseline_maker",
    "bootstrap_ci",
    "default_checkpoints",
    "evaluate_policy",
    "load_agent",
    "load_ft_agent",
    "named_search",
    "plot_tuning",
    "regret_at",
    "resolve_search",
    "step_at",
    "train_agent",
    "tune",
]
