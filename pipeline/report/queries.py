"""Read-only ML Metadata queries behind ``runner.py runs``, ``lineage`` and ``report``.

One import point for the runner; the work lives by concern in ``runs`` (which runs
there were), ``lineage`` (what produced a model) and ``store`` (the helpers both and
the report share). None of them loads TensorFlow or TFMA.
"""

from pipeline.report.lineage import (
    FileFingerprint,
    Lineage,
    LineageError,
    first_push_of,
    format_lineage,
    input_fingerprint,
    lineage,
    model_lineage,
)
from pipeline.report.runs import (
    RunRow,
    format_runs,
    list_runs,
    owned_status,
    run_owners,
    run_status,
)
from pipeline.report.store import (
    ArtifactRef,
    ArtifactWalker,
    NoSuchRunError,
    execution_inputs,
    first,
    local_time,
    producer,
    read_summary,
    resolve_run_id,
    run_contexts,
    run_outputs,
)

__all__ = [
    "ArtifactRef",
    "ArtifactWalker",
    "FileFingerprint",
    "Lineage",
    "LineageError",
    "NoSuchRunError",
    "RunRow",
    "execution_inputs",
    "first",
    "first_push_of",
    "format_lineage",
    "format_runs",
    "input_fingerprint",
    "lineage",
    "list_runs",
    "local_time",
    "model_lineage",
    "owned_status",
    "producer",
    "read_summary",
    "resolve_run_id",
    "run_contexts",
    "run_outputs",
    "run_owners",
    "run_status",
]
