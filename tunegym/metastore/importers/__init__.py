"""Readers of outside sources of meta-data (OpenML, LCDB) that yield plain rows.

They hold no database code: the meta-store turns their rows into its entities.
"""

from tunegym.metastore.importers._lcdb import (
    LCDB_METRICS,
    MLP_LEARNER,
    LcdbCurvePoint,
    LcdbQuality,
    lcdb_dir,
    read_lcdb_curves,
    read_lcdb_qualities,
)
from tunegym.metastore.importers._openml import (
    MAX_PAGE_SIZE,
    MLP_FLOW_NAMES,
    OpenMLFlowRef,
    OpenMLImportError,
    OpenMLQuality,
    OpenMLRunEvaluation,
    fetch_mlp_evaluations,
    fetch_openml_qualities,
    find_mlp_flows,
)

__all__ = [
    "LCDB_METRICS",
    "MAX_PAGE_SIZE",
    "MLP_FLOW_NAMES",
    "MLP_LEARNER",
    "LcdbCurvePoint",
    "LcdbQuality",
    "OpenMLFlowRef",
    "OpenMLImportError",
    "OpenMLQuality",
    "OpenMLRunEvaluation",
    "fetch_mlp_evaluations",
    "fetch_openml_qualities",
    "find_mlp_flows",
    "lcdb_dir",
    "read_lcdb_curves",
    "read_lcdb_qualities",
]
