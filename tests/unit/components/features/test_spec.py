"""The feature spec: declared types and options, task rules, and the custom_config round trip."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import text_format
from penguins_spec import SPEC
from tensorflow_metadata.proto.v0 import schema_pb2

from components import features

REPO = Path(__file__).resolve().parents[4]
SCHEMA_PATH = REPO / "schemas" / "penguins" / "schema.pbtxt"


def test_spec_round_trips_through_custom_config_form():
    assert features.FeatureSpec.from_dict(SPEC.to_dict()) == SPEC


@pytest.mark.parametrize("type_name", sorted(features.TYPES))
def test_every_type_declares_options_and_the_interface(type_name):
    module = features.type_module(type_name)
    for name in ("transform", "vocabulary_size", "model_input", "encode", "serving_spec"):
        assert callable(getattr(module, name)), f"{type_name}.{name}"
    feature = features.make_feature("x", type_name)
    assert dict(feature.options) == dict(module.OPTIONS)


def test_options_override_defaults():
    feature = features.make_feature("review", {"type": "text", "max_tokens": 500})
    assert feature.option("max_tokens") == 500
    assert feature.option("sequence_length") == features.text.OPTIONS["sequence_length"]


@pytest.mark.parametrize(
    "declared, message",
    [
        ("blob", "type: unknown feature type 'blob'"),
        ({"type": "numeric", "max_tokens": 10}, "max_tokens: not an option of a numeric feature"),
        ({"type": "categorical", "top_k": "ten"}, "top_k: expected int"),
        ({"type": "numeric", "bucketize": 1}, "bucketize: needs 0 (off) or 2 or more"),
        ({"type": "text", "sequence_length": 0}, "sequence_length: must be >= 1"),
        ({"max_tokens": 10}, "expected a type name or a mapping with 'type'"),
    ],
)
def test_bad_declarations_name_the_option(declared, message):
    with pytest.raises(ValueError, match=f"^{message}".replace("(", r"\(").replace(")", r"\)")):
        features.make_feature("x", declared)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"task": "ranking"}, "task: must be one of classification, regression"),
        (
            {"label": features.Label("bill_length_mm", ("a", "b"))},
            "features.bill_length_mm: is the label",
        ),
        ({"label": features.Label("species", ("Adelie",))}, "label.classes: needs two or more"),
        ({"task": "regression"}, "label.classes: a regression label has no classes"),
        ({"slices": ("year",)}, "slices: 'year' is not one of the features"),
        ({"features": ()}, "features: needs at least one feature"),
    ],
)
def test_spec_rules_name_the_key(change, message):
    with pytest.raises(ValueError, match=f"^{message}"):
        dataclasses.replace(SPEC, **change)


def test_binary_and_regression_properties():
    binary = dataclasses.replace(
        SPEC, label=features.Label("sex", ("female", "male")), features=SPEC.features[:4], slices=()
    )
    assert binary.is_binary and binary.num_classes == 2
    regression = dataclasses.replace(SPEC, task="regression", label=features.Label("year"))
    assert regression.is_regression and not regression.is_binary and regression.num_classes == 0


def test_transformed_and_raw_names_are_inverse():
    assert features.raw_name(features.transformed_name("island")) == "island"
    with pytest.raises(ValueError):
        features.raw_name("island")


def test_importing_features_does_not_import_tensorflow():
    code = "import sys, components.features; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.stdout.strip() == "False", out.stderr


def test_penguins_features_have_types_the_curated_schema_allows():
    schema = text_format.Parse(SCHEMA_PATH.read_text(), schema_pb2.Schema())
    types = {f.name: f.type for f in schema.feature}
    for feature in SPEC.of_type("numeric"):
        assert types[feature.name] in (schema_pb2.INT, schema_pb2.FLOAT)
    assert SPEC.label.name in types
