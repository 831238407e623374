"""Typed config -> tfma.EvalConfig: metrics, slices and thresholds in one place, per task."""

import tensorflow_model_analysis as tfma
from google.protobuf import wrappers_pb2
from tensorflow_model_analysis import constants as tfma_constants

from components import features
from components.trainer import export
from pipeline.config import PipelineConfig

ACCURACY = "sparse_categorical_accuracy"
EXAMPLE_COUNT = "example_count"
# TFMA metric names of the regression errors, by evaluator.error_metric.
ERROR_METRICS = {
    "mae": ("MeanAbsoluteError", "mean_absolute_error"),
    "mse": ("MeanSquaredError", "mean_squared_error"),
    "rmse": ("RootMeanSquaredError", "root_mean_squared_error"),
}


def build_eval_config(
    cfg: PipelineConfig, with_thresholds: bool = True, with_change_threshold: bool = True
) -> tfma.EvalConfig:
    """The Evaluator's metrics, slices and blessing thresholds for the config's task.

    Classification: example count, accuracy (gated), confusion matrix, and per class
    precision, recall, F1 and AUC. Regression: example count, MAE, MSE and RMSE, one of
    them gated (lower is better). Nothing else: the model's own compile() metrics are
    not added (``include_default_metrics`` off). Sliced overall and by each of ``slices``. With
    thresholds, the overall example count must also reach ``data.min_examples.eval``:
    a metric on a handful of examples blesses by luck.

    Args:
        cfg: Pipeline config; supplies the spec and the thresholds.
        with_thresholds: False for scoring only (the held-out test split).
        with_change_threshold: False when the Evaluator is never given a baseline.
    """
    spec = cfg.spec
    if spec.is_regression:
        metrics_specs = _regression_metrics(cfg, with_thresholds, with_change_threshold)
        prediction_key = export.PREDICTIONS
    else:
        metrics_specs = _classification_metrics(cfg, with_thresholds, with_change_threshold)
        prediction_key = export.PROBABILITIES
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                # Named, TFMA loads the SavedModel once, with tf.saved_model.load; unnamed,
                # it first loads it as a Keras model to find out, then again to evaluate.
                model_type=tfma_constants.TF_GENERIC,
                signature_name=export.SERVING_SIGNATURE,
                prediction_key=prediction_key,
                label_key=features.transformed_name(spec.label.name),
                preprocessing_function_names=[export.TRANSFORM_SIGNATURE],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=[key]) for key in spec.slices],
        metrics_specs=metrics_specs,
        # Only the metrics above. TFMA's default adds the model's compile() metrics (loss and
        # accuracy again), which reload the SavedModel in each of six Beam stages and run
        # Keras per batch: about 14 s of a 20 s Evaluator on 344 rows.
        options=tfma.Options(include_default_metrics=wrappers_pb2.BoolValue(value=False)),
    )


def _example_count(cfg: PipelineConfig, with_thresholds: bool) -> tfma.MetricConfig:
    threshold = None
    if with_thresholds:
        threshold = tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(
                lower_bound={"value": cfg.data.min_examples.eval}
            )
        )
    return _gated("ExampleCount", threshold)


def _gated(class_name: str, threshold: tfma.MetricThreshold | None) -> tfma.MetricConfig:
    metric = tfma.MetricConfig(class_name=class_name)
    if threshold is not None:
        # Gate on the overall slice only: a 10-example slice moves 10 points per error.
        metric.per_slice_thresholds.append(
            tfma.PerSliceMetricThreshold(slicing_specs=[tfma.SlicingSpec()], threshold=threshold)
        )
    return metric


def _threshold(
    value: tfma.GenericValueThreshold, change: tfma.GenericChangeThreshold | None
) -> tfma.MetricThreshold:
    threshold = tfma.MetricThreshold(value_threshold=value)
    if change is not None:
        threshold.change_threshold.CopyFrom(change)
    return threshold


def _classification_metrics(
    cfg: PipelineConfig, with_thresholds: bool, with_change_threshold: bool
) -> list[tfma.MetricsSpec]:
    threshold = None
    if with_thresholds:
        threshold = _threshold(
            tfma.GenericValueThreshold(lower_bound={"value": cfg.evaluator.min_accuracy}),
            tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -cfg.evaluator.max_accuracy_drop},
            )
            if with_change_threshold
            else None,
        )
    per_class = tfma.MetricsSpec(
        binarize=tfma.BinarizationOptions(class_ids={"values": range(cfg.spec.num_classes)}),
        metrics=[
            tfma.MetricConfig(class_name=name) for name in ("Precision", "Recall", "F1Score", "AUC")
        ],
    )
    overall = tfma.MetricsSpec(
        metrics=[
            _example_count(cfg, with_thresholds),
            _gated("SparseCategoricalAccuracy", threshold),
            tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
        ]
    )
    return [overall, per_class]


def _regression_metrics(
    cfg: PipelineConfig, with_thresholds: bool, with_change_threshold: bool
) -> list[tfma.MetricsSpec]:
    gated_class, _ = ERROR_METRICS[cfg.evaluator.error_metric]
    threshold = None
    if with_thresholds:
        threshold = _threshold(
            tfma.GenericValueThreshold(upper_bound={"value": cfg.evaluator.max_error}),
            tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.LOWER_IS_BETTER,
                relative={"value": cfg.evaluator.max_error_increase},
            )
            if with_change_threshold
            else None,
        )
    metrics = [_example_count(cfg, with_thresholds)] + [
        _gated(class_name, threshold if class_name == gated_class else None)
        for class_name, _ in ERROR_METRICS.values()
    ]
    return [tfma.MetricsSpec(metrics=metrics)]
