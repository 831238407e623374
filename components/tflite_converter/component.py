"""TFLiteConverter: a raw-feature TFLite model from the blessed SavedModel, parity-gated.

Thin TFX shim over ``converter.py``. The flatbuffer lands at
``<artifact uri>/Format-Serving/tflite``, the micro variant under ``<artifact uri>/micro/``;
parity figures, ``tflite_blessed`` and ``micro_blessed`` are recorded as custom properties
of the output artifact in ML Metadata.
"""

import dataclasses
import functools
import json
import os

import tensorflow as tf
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import standard_artifacts
from tfx.types.artifact import Artifact
from tfx.utils import path_utils

from components import features
from components.examples_io import sample_serialized_examples
from components.tflite_converter import converter, image_forms
from components.tflite_converter.micro import MICRO_MODEL_FILE

TFLITE_FILE = os.path.join("Format-Serving", "tflite")
MICRO_DIR = "micro"
EVAL_SPLIT = "eval"
TRAIN_SPLIT = "train"
TFLITE_BLESSED = "tflite_blessed"
MICRO_BLESSED = "micro_blessed"


@component
def TFLiteConverter(
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    transform_graph: InputArtifact[standard_artifacts.TransformGraph],
    tflite_model: OutputArtifact[standard_artifacts.Model],
    feature_spec: Parameter[str],
    quantization: Parameter[str] = "dynamic",
    accuracy_tolerance: Parameter[float] = 0.01,
    micro: Parameter[bool] = False,
    representative_examples: Parameter[int] = 100,
    parity_examples: Parameter[int] = 10_000,
) -> None:
    """Converts ``model``'s ``serving_raw`` signature and scores it against the SavedModel.

    ``feature_spec`` is ``FeatureSpec.to_dict()`` as JSON: it names the label and the
    task (which must match the signature's outputs: ``probabilities`` or ``predictions``).
    On the eval split, ``tflite_blessed`` is 1 only when, for classification, the TFLite
    accuracy trails the SavedModel's by at most ``accuracy_tolerance`` (accuracy points);
    for regression, when the TFLite MAE exceeds the SavedModel's by at most
    ``accuracy_tolerance`` x the SavedModel's MAE (0.01: one percent worse). Both forms
    are scored on a uniform sample of at most ``parity_examples`` eval examples (all of
    a smaller split), so memory and time stay bounded however large the split. With
    ``micro``, the int8 micro model is scored the same way through the device path
    (``preprocessing.json``, int8 in and out) and gated into ``micro_blessed``.

    Raises:
        ValueError: The spec's task differs from the signature's; with ``micro``, a
            feature the micro model cannot take (named).
    """
    spec = features.FeatureSpec.from_dict(json.loads(feature_spec))
    saved_model_dir = path_utils.serving_model_path(model.uri)
    task = converter.signature_task(saved_model_dir)
    if task != spec.task:
        raise ValueError(
            f"task: the feature spec says {spec.task!r} but the model's serving_raw"
            f" signature answers {task!r}"
        )
    image = image_forms.image_feature(spec)
    if image is not None:
        _convert_image_model(
            tflite_model,
            saved_model_dir,
            examples.uri,
            spec,
            image,
            _Settings(
                quantization, accuracy_tolerance, micro, representative_examples, parity_examples
            ),
        )
        return
    if micro:
        converter.check_micro_support(spec)
    input_dtypes = converter.raw_input_dtypes(saved_model_dir)
    train = functools.cache(lambda: calibration_examples(examples.uri, representative_examples))
    result = converter.convert_saved_model(
        saved_model_dir,
        os.path.join(tflite_model.uri, TFLITE_FILE),
        quantization,
        representative_inputs=lambda: converter.single_examples(
            converter.dense_inputs_from_examples(train(), input_dtypes)
        ),
    )
    evaluation = sample_serialized_examples(examples.uri, EVAL_SPLIT, parity_examples)
    eval_inputs = converter.dense_inputs_from_examples(evaluation, input_dtypes)
    labels = converter.transformed_features(saved_model_dir, evaluation)[
        features.transformed_name(spec.label.name)
    ]
    report = converter.check_parity(saved_model_dir, result.path, eval_inputs, labels, task=task)
    _record(tflite_model, report.as_properties())
    tflite_model.set_string_custom_property("task", task)
    tflite_model.set_string_custom_property("quantization", result.quantization)
    tflite_model.set_int_custom_property(
        "requires_select_tf_ops", int(result.requires_select_tf_ops)
    )
    tflite_model.set_int_custom_property(
        TFLITE_BLESSED, int(report.within_tolerance(accuracy_tolerance))
    )
    if micro:
        train_transformed = converter.transformed_features(saved_model_dir, train())
        micro_result = converter.convert_micro(
            saved_model_dir,
            transform_graph.uri,
            os.path.join(tflite_model.uri, MICRO_DIR),
            representative_transformed=lambda: [train_transformed],
            spec=spec,
        )
        micro_report = converter.check_micro_parity(
            saved_model_dir,
            micro_result.model_path,
            converter.read_preprocessing(micro_result.preprocessing_path),
            eval_inputs,
            labels,
        )
        _record(tflite_model, micro_report.as_properties("micro"))
        tflite_model.set_int_custom_property(
            MICRO_BLESSED, int(micro_report.within_tolerance(accuracy_tolerance))
        )


def calibration_examples(examples_uri: str, size: int) -> list[bytes]:
    """The int8 calibration set: a uniform sample of ``size`` train examples.

    Not the split's first records: a CSV sorted by label (the shipped penguins CSV is)
    or an image folder read class by class would calibrate on one class.
    """
    return sample_serialized_examples(examples_uri, TRAIN_SPLIT, size)


@dataclasses.dataclass(frozen=True)
class _Settings:
    quantization: str
    accuracy_tolerance: float
    micro: bool
    representative_examples: int
    parity_examples: int


def _convert_image_model(
    tflite_model: Artifact,
    saved_model_dir: str,
    examples_uri: str,
    spec: features.FeatureSpec,
    image: features.Feature,
    settings: _Settings,
) -> None:
    """The image model's phone form (and micro form) over pixels, parity-gated alike."""

    def images(serialized: list[bytes]):
        # The image input is bytes: its dtype is known without loading the model.
        return converter.dense_inputs_from_examples(serialized, {image.name: tf.string})[image.name]

    train_pixels = functools.cache(
        lambda: image_forms.pixels(
            images(calibration_examples(examples_uri, settings.representative_examples)), image
        )
    )
    evaluation = sample_serialized_examples(examples_uri, EVAL_SPLIT, settings.parity_examples)
    eval_images = images(evaluation)
    labels = converter.transformed_features(saved_model_dir, evaluation)[
        features.transformed_name(spec.label.name)
    ]
    form = image_forms.convert_image_model(
        saved_model_dir,
        os.path.join(tflite_model.uri, TFLITE_FILE),
        image,
        settings.quantization,
        representative_pixels=lambda: [train_pixels()],
    )
    report = image_forms.check_image_parity(
        saved_model_dir, form.path, image, eval_images, labels, spec.task
    )
    _record(tflite_model, report.as_properties())
    tflite_model.set_string_custom_property("task", spec.task)
    tflite_model.set_string_custom_property("quantization", form.quantization)
    tflite_model.set_int_custom_property("requires_select_tf_ops", 0)
    tflite_model.set_int_custom_property(
        TFLITE_BLESSED, int(report.within_tolerance(settings.accuracy_tolerance))
    )
    if not settings.micro:
        return
    micro_dir = os.path.join(tflite_model.uri, MICRO_DIR)
    micro_form = image_forms.convert_image_model(
        saved_model_dir,
        os.path.join(micro_dir, MICRO_MODEL_FILE),
        image,
        "int8",
        representative_pixels=lambda: [train_pixels()],
        int8_io=True,
    )
    image_forms.write_micro_files(micro_form, micro_dir, image, spec)
    micro_report = image_forms.check_image_parity(
        saved_model_dir, micro_form.path, image, eval_images, labels, spec.task
    )
    _record(tflite_model, micro_report.as_properties("micro"))
    tflite_model.set_int_custom_property("micro_arena_bytes", micro_form.arena_bytes)
    tflite_model.set_int_custom_property(
        MICRO_BLESSED, int(micro_report.within_tolerance(settings.accuracy_tolerance))
    )


def _record(artifact: Artifact, properties: dict[str, float | int]) -> None:
    for name, value in properties.items():
        if isinstance(value, int):
            artifact.set_int_custom_property(name, value)
        else:
            artifact.set_float_custom_property(name, float(value))
