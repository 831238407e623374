"""Real TFMA evaluations without a model: labels and predictions read from the examples.

The pipeline's own eval config (metrics, slices, thresholds) is used with its model
specs swapped for model-free ones, so TFMA computes, validates and writes exactly what
the Evaluator would. A baseline is a second prediction column: TFMA then writes the
baseline's metrics, the diffs and the change-threshold verdicts too.
"""

from pathlib import Path
from typing import Any

import apache_beam as beam
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis import constants
from tensorflow_model_analysis.evaluators import metrics_plots_and_validations_evaluator
from tensorflow_model_analysis.extractors import (
    example_weights_extractor,
    features_extractor,
    labels_extractor,
    materialized_predictions_extractor,
    slice_key_extractor,
    unbatch_extractor,
)
from tfx_bsl.tfxio import tf_example_record

from pipeline.config import PipelineConfig
from pipeline.eval_config import build_eval_config

LABEL, PREDICTION, BASELINE_PREDICTION = "label", "prediction", "baseline_prediction"


def write_examples(path: Path, rows: list[dict[str, Any]]) -> None:
    """tf.Examples: ints as int64, floats (and lists of them) as float, strings as bytes."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for row in rows:
            example = tf.train.Example()
            for name, value in row.items():
                feature = example.features.feature[name]
                values = value if isinstance(value, list) else [value]
                if isinstance(values[0], str):
                    feature.bytes_list.value.extend(v.encode() for v in values)
                elif isinstance(values[0], int):
                    feature.int64_list.value.extend(values)
                else:
                    feature.float_list.value.extend(values)
            writer.write(example.SerializeToString())


def evaluate(
    directory: Path, cfg: PipelineConfig, rows: list[dict[str, Any]], gated: bool = True
) -> str:
    """TFMA's evaluation of ``rows`` under ``cfg``'s eval config; returns its output dir.

    Each row holds ``label``, ``prediction`` and the slice features; with a
    ``baseline_prediction`` in the rows, a baseline model is compared too (and the
    change thresholds apply, as in the Evaluator with a blessed model to compare with).
    """
    has_baseline = BASELINE_PREDICTION in rows[0]
    eval_config = build_eval_config(
        cfg, with_thresholds=gated, with_change_threshold=gated and has_baseline
    )
    del eval_config.model_specs[:]
    data = directory / "examples.tfrecord"
    output = str(directory / "evaluation")
    write_examples(data, rows)
    if not has_baseline:
        eval_config.model_specs.add(label_key=LABEL, prediction_key=PREDICTION)
        tfma.run_model_analysis(
            eval_config=eval_config, data_location=str(data), output_path=output
        )
        return output
    # run_model_analysis counts models to decide whether there is a baseline, and a
    # model-free one has none: name both models as TFX's Evaluator does and run the
    # extract, evaluate and write steps directly.
    eval_config.model_specs.add(name=tfma.CANDIDATE_KEY, label_key=LABEL, prediction_key=PREDICTION)
    eval_config.model_specs.add(
        name=tfma.BASELINE_KEY,
        label_key=LABEL,
        prediction_key=BASELINE_PREDICTION,
        is_baseline=True,
    )
    for metrics_spec in eval_config.metrics_specs:
        metrics_spec.model_names[:] = [tfma.CANDIDATE_KEY, tfma.BASELINE_KEY]
    extractors = [
        features_extractor.FeaturesExtractor(eval_config=eval_config),
        labels_extractor.LabelsExtractor(eval_config=eval_config),
        example_weights_extractor.ExampleWeightsExtractor(eval_config=eval_config),
        materialized_predictions_extractor.MaterializedPredictionsExtractor(
            eval_config=eval_config
        ),
        unbatch_extractor.UnbatchExtractor(),
        slice_key_extractor.SliceKeyExtractor(eval_config=eval_config),
    ]
    evaluator = metrics_plots_and_validations_evaluator.MetricsPlotsAndValidationsEvaluator(
        eval_config=eval_config
    )
    source = tf_example_record.TFExampleRecord(
        file_pattern=str(data), raw_record_column_name=constants.ARROW_INPUT_COLUMN
    )
    with beam.Pipeline() as pipeline:
        _ = (
            pipeline
            | source.BeamSource()
            | tfma.BatchedInputsToExtracts()
            | tfma.ExtractAndEvaluate(extractors=extractors, evaluators=[evaluator])
            | tfma.WriteResults(
                writers=tfma.default_writers(output_path=output, eval_config=eval_config)
            )
        )
    return output
