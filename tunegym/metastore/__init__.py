"""The meta-store: past runs, OpenML-shaped, in any SQLAlchemy database (SQLite by default).

Entities follow OpenML: dataset, meta-feature (OpenML quality names), task (dataset + split),
flow (model family, spec and search space), setup (hyperparameter values), run (task × setup ×
seed) and evaluation (OpenML measure, split, value, epoch). `MetaStore` is the entry point; see
``docs/METASTORE.md``::

    from tunegym.metastore import MetaStore
    with MetaStore() as store:  # $TUNEGYM_METASTORE or ~/.local/share/tunegym/metastore.sqlite
        store.log_curves(curves)  # a tunegym.envs.record_curves table
        frame = store.curves("sklearn:iris")

Reads that compare datasets (`warm_start`, ``tunegym metastore neighbors`` and ``stats``) see
the meta-dataset shipped with tunegym as a read-only base layer under the store
(`candidate_pool`), so a fresh, empty store already answers them.

The store also keeps a model zoo: trained networks with their weights, to fine-tune from
(`MetaStore.zoo_add`, `zoo_models`, `zoo_get`, `zoo_weights`; zoo files: `save_zoo_file`,
`read_zoo_file`; ``tunegym zoo``).
"""

from tunegym.metastore._curves import (
    MLP_FLOW_VERSION,
    detect_hardware,
    mlp_flow_name,
    trial_identity,
)
from tunegym.metastore._engine import METASTORE_ENV, default_url
from tunegym.metastore._families import (
    SPLIT_PARTS,
    dataset_family,
    family_split,
    read_split,
    write_split,
)
from tunegym.metastore._import import ImportSummary, import_lcdb, import_openml, import_qualities
from tunegym.metastore._layers import (
    CandidatePool,
    LayeredStats,
    candidate_pool,
    layered_stats,
    warm_start,
    warm_start_from,
    warm_start_snapshot,
)
from tunegym.metastore._metafeatures import (
    DEFAULT_GROUPS,
    OPENML_QUALITY_NAMES,
    MetaFeatureGroup,
    compute_meta_features,
    meta_feature_names,
)
from tunegym.metastore._schema import (
    Base,
    Dataset,
    Evaluation,
    Flow,
    MetaFeature,
    Run,
    Setup,
    Task,
    ZooModel,
)
from tunegym.metastore._snapshot import (
    LCBENCH_SNAPSHOT_DIR,
    SNAPSHOT_DIR,
    SnapshotStats,
    load_snapshot,
    openml_twins,
    snapshot_meta_features,
    snapshot_split,
    snapshot_stats,
    write_snapshot,
)
from tunegym.metastore._store import MetaStore
from tunegym.metastore._values import (
    CURVE_COLUMNS,
    ENV_FEATURE_NAMES,
    ENV_FEATURE_PREFIX,
    EPOCH_MEASURES,
    DatasetRef,
    DataSplit,
    EpochLike,
    EvaluationRow,
    FlowRef,
    FlowSpace,
    Init,
    MetaFeatureSource,
    Procedure,
    RunRecord,
    RunStatus,
    SearchGrid,
    SetupRef,
    Source,
    SplitSpec,
    StoreStats,
    TableCounts,
    TaskRef,
    config_columns,
)
from tunegym.metastore._warmstart import (
    Layer,
    Neighbor,
    PortfolioEntry,
    SearchBox,
    WarmStart,
    compute_warm_start,
    nearest_datasets,
    store_meta_features,
)
from tunegym.metastore._zoo import ZooEntry, ZooModelNotFoundError
from tunegym.metastore._zoo_file import ZooFile, read_zoo_file, save_zoo_file
from tunegym.metastore.importers import LCBenchImportSummary, import_lcbench

__all__ = [
    "CURVE_COLUMNS",
    "DEFAULT_GROUPS",
    "ENV_FEATURE_NAMES",
    "ENV_FEATURE_PREFIX",
    "EPOCH_MEASURES",
    "LCBENCH_SNAPSHOT_DIR",
    "METASTORE_ENV",
    "MLP_FLOW_VERSION",
    "OPENML_QUALITY_NAMES",
    "SNAPSHOT_DIR",
    "SPLIT_PARTS",
    "Base",
    "CandidatePool",
    "DataSplit",
    "Dataset",
    "DatasetRef",
    "EpochLike",
    "Evaluation",
    "EvaluationRow",
    "Flow",
    "FlowRef",
    "FlowSpace",
    "ImportSummary",
    "Init",
    "LCBenchImportSummary",
    "Layer",
    "LayeredStats",
    "MetaFeature",
    "MetaFeatureGroup",
    "MetaFeatureSource",
    "MetaStore",
    "Neighbor",
    "PortfolioEntry",
    "Procedure",
    "Run",
    "RunRecord",
    "RunStatus",
    "SearchBox",
    "SearchGrid",
    "Setup",
    "SetupRef",
    "SnapshotStats",
    "Source",
    "SplitSpec",
    "StoreStats",
    "TableCounts",
    "Task",
    "TaskRef",
    "WarmStart",
    "ZooEntry",
    "ZooFile",
    "ZooModel",
    "ZooModelNotFoundError",
    "candidate_pool",
    "compute_meta_features",
    "compute_warm_start",
    "config_columns",
    "dataset_family",
    "default_url",
    "detect_hardware",
    "family_split",
    "import_lcbench",
    "import_lcdb",
    "import_openml",
    "import_qualities",
    "layered_stats",
    "load_snapshot",
    "meta_feature_names",
    "mlp_flow_name",
    "nearest_datasets",
    "openml_twins",
    "read_split",
    "read_zoo_file",
    "save_zoo_file",
    "snapshot_meta_features",
    "snapshot_split",
    "snapshot_stats",
    "store_meta_features",
    "trial_identity",
    "warm_start",
    "warm_start_from",
    "warm_start_snapshot",
    "write_snapshot",
    "write_split",
]
