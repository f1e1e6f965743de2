"""The tuning environment: neural-network training as a sequential decision task.

``TuningEnv`` holds a `TaskSpec` and a backend — `LiveBackend` (really trains) or
`ReplayBackend` (serves recorded curves, thousands of times faster) — with the same semantics.
Registered as ``tunegym/NNTuning-v0``::

    import gymnasium as gym
    import tunegym  # registers the id
    env = gym.make("tunegym/NNTuning-v0", dataset="sklearn:iris", backend="live")
"""

from tunegym.envs._actions import Action, ActionCodec, ActionKind
from tunegym.envs._async import (
    AsyncRunner,
    AsyncStep,
    InlineLauncher,
    Launcher,
    SimulatedLauncher,
)
from tunegym.envs._backends import Backend, LiveBackend, ReplayBackend, Segment, trial_setup
from tunegym.envs._collect import (
    DEFAULT_MAX_ROWS,
    CollectProgress,
    CollectSummary,
    CollectUnit,
    collect,
    completed_units,
    resolve_datasets,
)
from tunegym.envs._curves import (
    CURVE_COLUMNS,
    OPTIONAL_CURVE_COLUMNS,
    read_curves,
    record_curves,
    write_curves,
)
from tunegym.envs._env import TuningEnv, observation_layout
from tunegym.envs._features import (
    LCBENCH_META_FILE,
    META_FEATURE_NAMES,
    lcbench_meta_features,
    qualities_meta_features,
    task_meta_features,
)
from tunegym.envs._finetune import (
    FINETUNE_SNAPSHOT_DIR,
    FT_LR_SPAN,
    FineTuneSource,
    TransferCheck,
    TransferPair,
    finetune_checks,
    finetune_configs,
    finetune_kinds,
    finetune_pools,
    finetune_prior,
    record_finetune_curves,
    scratch_configs,
    source_json,
    train_source,
    transfer_pairs,
)
from tunegym.envs._freezethaw import (
    CONFIG_DIMS,
    DEFAULT_K,
    EARLY_EPOCH,
    GLOBAL_FIELDS,
    ROW_FIELDS,
    STOP_WINDOW,
    FreezeThawEnv,
    freeze_thaw_layout,
    priced_stop,
    recent_gain,
)
from tunegym.envs._lcbench import LCBENCH_PREFIX, lcbench_backend, lcbench_curves
from tunegym.envs._make import ENV_ID, LCBENCH_CANDIDATES, lcbench_search, make_tuning_env
from tunegym.envs._pool import (
    CurvePool,
    PoolBackend,
    config_prior,
    lcbench_pools,
    load_suite,
    snapshot_meta_features,
    table_pools,
)
from tunegym.envs._prior import DEFAULT_BETA, META_GAMMA, RankWeightedPrior, meta_log_weights
from tunegym.envs._render import RENDER_MODES, text_frame
from tunegym.envs._tables import TABLE_COLUMNS, curve_search, read_curve_table
from tunegym.envs._task import (
    DEFAULT_BATCH_SIZES,
    DEFAULT_K_CHOICES,
    DEFAULT_LRS,
    MINIMISED_METRICS,
    SCORE_METRICS,
    SearchSpace,
    TaskSpec,
    metric_score,
    metric_value,
    score_of,
)

__all__ = [
    "CONFIG_DIMS",
    "CURVE_COLUMNS",
    "DEFAULT_BATCH_SIZES",
    "DEFAULT_BETA",
    "DEFAULT_K",
    "DEFAULT_K_CHOICES",
    "DEFAULT_LRS",
    "DEFAULT_MAX_ROWS",
    "EARLY_EPOCH",
    "ENV_ID",
    "FINETUNE_SNAPSHOT_DIR",
    "FT_LR_SPAN",
    "GLOBAL_FIELDS",
    "LCBENCH_CANDIDATES",
    "LCBENCH_META_FILE",
    "LCBENCH_PREFIX",
    "META_FEATURE_NAMES",
    "META_GAMMA",
    "MINIMISED_METRICS",
    "OPTIONAL_CURVE_COLUMNS",
    "RENDER_MODES",
    "ROW_FIELDS",
    "SCORE_METRICS",
    "STOP_WINDOW",
    "TABLE_COLUMNS",
    "Action",
    "ActionCodec",
    "ActionKind",
    "AsyncRunner",
    "AsyncStep",
    "Backend",
    "CollectProgress",
    "CollectSummary",
    "CollectUnit",
    "CurvePool",
    "FineTuneSource",
    "FreezeThawEnv",
    "InlineLauncher",
    "Launcher",
    "LiveBackend",
    "PoolBackend",
    "RankWeightedPrior",
    "ReplayBackend",
    "SearchSpace",
    "Segment",
    "SimulatedLauncher",
    "TaskSpec",
    "TransferCheck",
    "TransferPair",
    "TuningEnv",
    "collect",
    "completed_units",
    "config_prior",
    "curve_search",
    "finetune_checks",
    "finetune_configs",
    "finetune_kinds",
    "finetune_pools",
    "finetune_prior",
    "freeze_thaw_layout",
    "lcbench_backend",
    "lcbench_curves",
    "lcbench_meta_features",
    "lcbench_pools",
    "lcbench_search",
    "load_suite",
    "make_tuning_env",
    "meta_log_weights",
    "metric_score",
    "metric_value",
    "observation_layout",
    "priced_stop",
    "qualities_meta_features",
    "read_curve_table",
    "read_curves",
    "recent_gain",
    "record_curves",
    "record_finetune_curves",
    "resolve_datasets",
    "score_of",
    "scratch_configs",
    "snapshot_meta_features",
    "source_json",
    "table_pools",
    "task_meta_features",
    "text_frame",
    "train_source",
    "transfer_pairs",
    "trial_setup",
    "write_curves",
]
