"""Readers of outside sources of meta-data (OpenML, LCDB, the LCBench surrogate).

The OpenML and LCDB readers yield plain rows and hold no database code (``_import`` turns their
rows into entities); the LCBench one also writes its curves, through `MetaStore`'s methods
(`import_lcbench`).
"""

from tunegym.metastore.importers._lcbench import (
    LCBENCH_FAMILY,
    LCBENCH_FLOW_NAME,
    LCBENCH_FLOW_VERSION,
    LCBENCH_MEASURES,
    LCBENCH_SPLIT,
    LCBenchCurve,
    LCBenchImportSummary,
    import_lcbench,
    lcbench_model_spec,
    read_lcbench_curves,
)
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
    "LCBENCH_FAMILY",
    "LCBENCH_FLOW_NAME",
    "LCBENCH_FLOW_VERSION",
    "LCBENCH_MEASURES",
    "LCBENCH_SPLIT",
    "LCDB_METRICS",
    "MAX_PAGE_SIZE",
    "MLP_FLOW_NAMES",
    "MLP_LEARNER",
    "LCBenchCurve",
    "LCBenchImportSummary",
    "LcdbCurvePoint",
    "LcdbQuality",
    "OpenMLFlowRef",
    "OpenMLImportError",
    "OpenMLQuality",
    "OpenMLRunEvaluation",
    "fetch_mlp_evaluations",
    "fetch_openml_qualities",
    "find_mlp_flows",
    "import_lcbench",
    "lcbench_model_spec",
    "lcdb_dir",
    "read_lcbench_curves",
    "read_lcdb_curves",
    "read_lcdb_qualities",
]
