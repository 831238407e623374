"""DataGate: stops the run before Transform when the data cannot train or judge a model."""

import json

from absl import logging
from tfx.dsl.component.experimental.annotations import InputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

from components.data_gate import anomalies as anomalies_lib
from components.data_gate import data_rules, image_rules


@component
def DataGate(
    statistics: InputArtifact[standard_artifacts.ExampleStatistics],
    anomalies: InputArtifact[standard_artifacts.ExampleAnomalies],
    min_examples: Parameter[str],
    label_key: Parameter[str],
    label_classes: Parameter[str],
    fail_on_anomalies: Parameter[bool] = True,
    image_data: Parameter[bool] = False,
    max_class_share: Parameter[float] = 1.0,
) -> None:
    """Raises DataRulesError or AnomaliesFoundError, each one line.

    Args:
        statistics: StatisticsGen's output: per-split example counts and label values.
        anomalies: ExampleValidator's output.
        min_examples: JSON object, split name -> fewest examples it must hold. (JSON text,
            not a dict parameter: Kubeflow and Airflow hand a dict parameter over as text.)
        label_key: The label column.
        label_classes: JSON list of the label's classes; empty accepts any value
            (regression).
        fail_on_anomalies: False lets schema anomalies and image anomalies through, logged
            (the data rules still apply).
        image_data: The examples are ImageExampleGen's: also apply the image rules (files
            it could not use, classes without images, class balance).
        max_class_share: Image data: the largest fraction of the images one class may hold.
    """
    splits = artifact_utils.decode_split_names(statistics.split_names)
    data_rules.check_data_rules(
        data_rules.read_split_stats(statistics.uri, splits, label_key),
        json.loads(min_examples),
        label_key,
        json.loads(label_classes),
    )
    image_lines = []
    if image_data:
        image_lines = image_rules.image_anomalies(
            image_rules.read_image_stats(statistics.uri, splits, label_key),
            json.loads(label_classes),
            max_class_share,
        )
        for line in image_lines:
            logging.warning("Image data anomaly: %s", line)
    if fail_on_anomalies:
        image_rules.check_no_image_anomalies(image_lines)
        splits = artifact_utils.decode_split_names(anomalies.split_names)
        anomalies_lib.check_no_anomalies(anomalies_lib.read_anomalies(anomalies.uri, splits))
