"""Feature types and the feature spec.

One module per feature type (``numeric``, ``categorical``, ``text``, ``image``) owns its Transform
step, Keras encoder and serving input; a new type is one new module listed in ``TYPES``.
Each type module provides::

    TYPE: str                                   # the name used in the pipeline YAML
    OPTIONS: Mapping[str, default]              # its options and their defaults
    check_options(options) -> None              # ValueError naming the option
    transform(raw, feature) -> Tensor           # inside preprocessing_fn
    vocabulary_size(feature, tft_output) -> int # model ids (0 when not an id feature)
    model_input(feature) -> keras.Input         # named transformed_name(feature.name)
    encode(model_input, feature, vocabulary_size) -> Tensor  # [batch, width] float
    serving_spec(feature) -> tf.TensorSpec      # the dense per-feature serving input
    missing_value() -> float | str              # that input's "missing" value

Importing this package does not import TensorFlow.
"""

from collections.abc import Mapping
from types import ModuleType
from typing import Any

from components.features import categorical, image, numeric, text
from components.features.spec import (
    CLASSIFICATION,
    REGRESSION,
    TASKS,
    Feature,
    FeatureSpec,
    Label,
    raw_name,
    transformed_name,
    vocabulary_name,
)

TYPES: Mapping[str, ModuleType] = {m.TYPE: m for m in (numeric, categorical, text, image)}

# Re-exported for the converter and the micro preprocessing spec.
OOV_BUCKETS = categorical.OOV_BUCKETS
MISSING_CATEGORY = categorical.MISSING_CATEGORY

__all__ = [
    "CLASSIFICATION",
    "MISSING_CATEGORY",
    "OOV_BUCKETS",
    "REGRESSION",
    "TASKS",
    "TYPES",
    "Feature",
    "FeatureSpec",
    "Label",
    "make_feature",
    "raw_name",
    "type_module",
    "transformed_name",
    "vocabulary_name",
]


def type_module(type_name: str) -> ModuleType:
    """The module implementing a feature type; ValueError for an unknown type."""
    try:
        return TYPES[type_name]
    except KeyError:
        raise ValueError(
            f"unknown feature type {type_name!r} (known: {', '.join(TYPES)})"
        ) from None


def make_feature(name: str, declared: Any) -> Feature:
    """A ``Feature`` from its YAML form: a type name, or a mapping with ``type`` and options.

    Raises:
        ValueError: Unknown type, unknown option, or an option of the wrong type or range;
            the message starts with the offending key relative to the feature.
    """
    if isinstance(declared, str):
        declared = {"type": declared}
    if not isinstance(declared, Mapping) or "type" not in declared:
        raise ValueError("expected a type name or a mapping with 'type' and options")
    options = dict(declared)
    try:
        module = type_module(options.pop("type"))
    except ValueError as err:
        raise ValueError(f"type: {err}") from None
    unknown = sorted(set(options) - set(module.OPTIONS))
    if unknown:
        known = ", ".join(module.OPTIONS) or "none"
        raise ValueError(
            f"{unknown[0]}: not an option of a {module.TYPE} feature (options: {known})"
        )
    resolved = {**module.OPTIONS, **options}
    for key, value in resolved.items():
        expected = type(module.OPTIONS[key])
        if type(value) is not expected:
            raise ValueError(f"{key}: expected {expected.__name__}, got {value!r}")
    module.check_options(resolved)
    return Feature(name, module.TYPE, tuple(sorted(resolved.items())))
