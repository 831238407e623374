"""Typed config -> tfma.EvalConfig: metrics, slices and thresholds in one place."""

import tensorflow_model_analysis as tfma

from components import features
from components.trainer import export
from pipeline.config import PipelineConfig

ACCURACY = "sparse_categorical_accuracy"
EXAMPLE_COUNT = "example_count"


def build_eval_config(
    cfg: PipelineConfig, with_thresholds: bool = True, with_change_threshold: bool = True
) -> tfma.EvalConfig:
    """Accuracy, per-class precision/recall/AUC, sliced overall, by island and by sex.

    A model is blessed when, on the overall slice, accuracy meets ``evaluator`` and the
    example count meets ``data.min_examples.eval``.

    Args:
        cfg: Pipeline config; supplies the classes and the thresholds.
        with_thresholds: False for scoring only (the held-out test split).
        with_change_threshold: False when the Evaluator is never given a baseline.
    """
    accuracy = tfma.MetricConfig(class_name="SparseCategoricalAccuracy")
    example_count = tfma.MetricConfig(class_name="ExampleCount")
    if with_thresholds:
        threshold = tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(
                lower_bound={"value": cfg.evaluator.min_accuracy}
            )
        )
        if with_change_threshold:
            threshold.change_threshold.CopyFrom(
                tfma.GenericChangeThreshold(
                    direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                    absolute={"value": -cfg.evaluator.max_accuracy_drop},
                )
            )
        # Gate on the overall slice only: a 10-example slice moves 10 points per error.
        accuracy.per_slice_thresholds.append(
            tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)
        )
        # An accuracy on a handful of examples blesses by luck.
        example_count.per_slice_thresholds.append(
            tfma.PerSliceMetricThreshold(
                slicing_specs=[tfma.SlicingSpec()],
                threshold=tfma.MetricThreshold(
                    value_threshold=tfma.GenericValueThreshold(
                        lower_bound={"value": cfg.data.min_examples.eval}
                    )
                ),
            )
        )
    per_class = tfma.MetricsSpec(
        binarize=tfma.BinarizationOptions(class_ids={"values": range(len(cfg.data.label_classes))}),
        metrics=[
            tfma.MetricConfig(class_name="Precision"),
            tfma.MetricConfig(class_name="Recall"),
            tfma.MetricConfig(class_name="AUC"),
        ],
    )
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=export.SERVING_SIGNATURE,
                prediction_key=export.PROBABILITIES,
                label_key=features.transformed_name(features.LABEL_KEY),
                preprocessing_function_names=[export.TRANSFORM_SIGNATURE],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=[key]) for key in features.SLICE_FEATURE_KEYS],
        metrics_specs=[
            tfma.MetricsSpec(
                metrics=[
                    example_count,
                    accuracy,
                    tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
                ]
            ),
            per_class,
        ],
    )
