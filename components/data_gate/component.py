"""DataGate: fails the run when ExampleValidator found anomalies, so Transform never runs."""

from tfx import v1 as tfx
from tfx.types import artifact_utils

from components.data_gate import anomalies as anomalies_lib


@tfx.dsl.components.component
def DataGate(
    anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies],
) -> None:
    """Raises AnomaliesFoundError when any split of ``anomalies`` has an anomaly."""
    splits = artifact_utils.decode_split_names(anomalies.split_names)
    anomalies_lib.check_no_anomalies(anomalies_lib.read_anomalies(anomalies.uri, splits))
