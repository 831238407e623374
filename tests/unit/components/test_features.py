"""Invariants of the feature names, checked against each other and the curated schema."""

from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

from components import features

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "schemas" / "penguins" / "schema.pbtxt"
CATEGORICAL_TYPES = (schema_pb2.BYTES,)
NUMERIC_TYPES = (schema_pb2.INT, schema_pb2.FLOAT)

KEY_TUPLES = {
    "NUMERIC_FEATURE_KEYS": features.NUMERIC_FEATURE_KEYS,
    "CATEGORICAL_FEATURE_KEYS": features.CATEGORICAL_FEATURE_KEYS,
    "SLICE_FEATURE_KEYS": features.SLICE_FEATURE_KEYS,
    "FEATURE_KEYS": features.FEATURE_KEYS,
}


@pytest.fixture(scope="module")
def schema():
    return text_format.Parse(SCHEMA_PATH.read_text(), schema_pb2.Schema())


@pytest.fixture(scope="module")
def schema_features(schema):
    return {f.name: f for f in schema.feature}


@pytest.mark.parametrize("name", KEY_TUPLES)
def test_no_duplicates(name):
    keys = KEY_TUPLES[name]
    assert keys, f"{name} is empty"
    assert len(set(keys)) == len(keys)


def test_feature_keys_are_numeric_then_categorical():
    assert features.FEATURE_KEYS == (
        features.NUMERIC_FEATURE_KEYS + features.CATEGORICAL_FEATURE_KEYS
    )


def test_label_is_not_a_feature():
    assert features.LABEL_KEY not in features.FEATURE_KEYS
    assert features.LABEL_KEY not in features.SLICE_FEATURE_KEYS


def test_numeric_and_categorical_are_disjoint():
    assert not set(features.NUMERIC_FEATURE_KEYS) & set(features.CATEGORICAL_FEATURE_KEYS)


def test_slice_keys_are_categorical_features():
    assert set(features.SLICE_FEATURE_KEYS) <= set(features.CATEGORICAL_FEATURE_KEYS)


def test_oov_buckets_positive():
    assert features.OOV_BUCKETS >= 1


def test_transformed_names_unique_and_distinct_from_raw_names():
    raw = (*features.FEATURE_KEYS, features.LABEL_KEY)
    transformed = [features.transformed_name(k) for k in raw]
    assert len(set(transformed)) == len(transformed)
    assert not set(transformed) & set(raw)


def test_vocabulary_names_unique():
    names = [features.vocabulary_name(k) for k in features.CATEGORICAL_FEATURE_KEYS]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("key", [*features.FEATURE_KEYS, features.LABEL_KEY])
def test_every_feature_and_the_label_are_in_the_schema(schema_features, key):
    assert key in schema_features


@pytest.mark.parametrize("key", features.NUMERIC_FEATURE_KEYS)
def test_numeric_features_have_numeric_schema_types(schema_features, key):
    assert schema_features[key].type in NUMERIC_TYPES


@pytest.mark.parametrize("key", [*features.CATEGORICAL_FEATURE_KEYS, features.LABEL_KEY])
def test_categorical_features_and_label_are_strings_with_a_domain(schema, schema_features, key):
    feature = schema_features[key]
    assert feature.type in CATEGORICAL_TYPES
    domains = {d.name: d for d in schema.string_domain}
    assert feature.domain in domains, f"{key}: no string_domain {feature.domain!r}"
    assert len(domains[feature.domain].value) >= 2


def test_every_schema_string_feature_has_a_string_domain(schema):
    domains = {d.name for d in schema.string_domain}
    for feature in schema.feature:
        if feature.type in CATEGORICAL_TYPES:
            assert feature.domain in domains, f"{feature.name}: no string domain"
