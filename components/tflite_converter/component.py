"""TFLiteConverter: a raw-feature TFLite model from the blessed SavedModel, parity-gated.

Thin TFX shim over ``converter.py``. The flatbuffer lands at
``<artifact uri>/Format-Serving/tflite``; parity figures and ``tflite_blessed`` are
recorded as custom properties of the output artifact in ML Metadata.
"""

import os

from tfx import v1 as tfx
from tfx.utils import path_utils

from components import features
from components.examples_io import read_serialized_examples
from components.tflite_converter import converter

TFLITE_FILE = os.path.join("Format-Serving", "tflite")
MICRO_DIR = "micro"
EVAL_SPLIT = "eval"
TRAIN_SPLIT = "train"


@tfx.dsl.components.component
def TFLiteConverter(
    model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
    examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples],
    transform_graph: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.TransformGraph],
    tflite_model: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.Model],
    quantization: tfx.dsl.components.Parameter[str] = "dynamic",
    accuracy_tolerance: tfx.dsl.components.Parameter[float] = 0.01,
    micro: tfx.dsl.components.Parameter[bool] = False,
    representative_examples: tfx.dsl.components.Parameter[int] = 100,
    label: tfx.dsl.components.Parameter[str] = "",
) -> None:
    """Converts ``model``'s ``serving_raw`` signature and scores it against the SavedModel.

    ``tflite_blessed`` is 1 only when the TFLite model's eval accuracy trails the
    SavedModel's by at most ``accuracy_tolerance``. ``label`` names the label column.
    """
    saved_model_dir = path_utils.serving_model_path(model.uri)
    input_dtypes = converter.raw_input_dtypes(saved_model_dir)
    train = read_serialized_examples(examples.uri, TRAIN_SPLIT, representative_examples)
    train_inputs = converter.dense_inputs_from_examples(train, input_dtypes)
    result = converter.convert_saved_model(
        saved_model_dir,
        os.path.join(tflite_model.uri, TFLITE_FILE),
        quantization,
        representative_inputs=lambda: converter.single_examples(train_inputs),
    )
    evaluation = read_serialized_examples(examples.uri, EVAL_SPLIT)
    report = converter.check_parity(
        saved_model_dir,
        result.path,
        converter.dense_inputs_from_examples(evaluation, input_dtypes),
        converter.transformed_features(saved_model_dir, evaluation)[
            features.transformed_name(label)
        ],
    )
    for name, value in report.as_properties().items():
        if isinstance(value, int):
            tflite_model.set_int_custom_property(name, value)
        else:
            tflite_model.set_float_custom_property(name, float(value))
    tflite_model.set_string_custom_property("quantization", result.quantization)
    tflite_model.set_int_custom_property(
        "requires_select_tf_ops", int(result.requires_select_tf_ops)
    )
    tflite_model.set_int_custom_property(
        "tflite_blessed", int(report.within_tolerance(accuracy_tolerance))
    )
    if micro:
        train_transformed = converter.transformed_features(saved_model_dir, train)
        micro_result = converter.convert_micro(
            saved_model_dir,
            transform_graph.uri,
            os.path.join(tflite_model.uri, MICRO_DIR),
            representative_transformed=lambda: [train_transformed],
        )
        tflite_model.set_int_custom_property("micro_size_bytes", micro_result.size_bytes)
