"""Each feature type's Transform step and each task's label, through tf.Transform on Beam."""

import functools
import json

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components import custom_config as config_keys
from components import features
from components.transform.preprocessing import preprocessing_fn

# An integer-coded category (zip), a skewed count (log), an hour to bucketize,
# free text, and two labels: an integer class (0/1) and a float target.
RAW_FEATURE_SPEC = {
    "zip": tf.io.VarLenFeature(tf.int64),
    "count": tf.io.FixedLenFeature([1], tf.float32),
    "hour": tf.io.FixedLenFeature([1], tf.int64),
    "review": tf.io.VarLenFeature(tf.string),
    "tipped": tf.io.FixedLenFeature([1], tf.int64),
    "fare": tf.io.FixedLenFeature([1], tf.float32),
}
ROWS = [
    # zip, count, hour, review, tipped, fare
    (60601, 1.0, 0, "Great ride, GREAT driver!", 1, 10.0),
    (60601, 10.0, 3, "great", 1, 12.5),
    (60614, 100.0, 6, None, 0, 7.0),
    (None, 1000.0, 9, "late... and rude", 0, 30.0),
    (60601, 0.0, 12, "ok", 1, 5.5),
    (60622, 10.0, 15, "great great great great great", 7, 8.0),
    (60614, 1.0, 18, "", 0, 9.0),
    (60601, 5.0, 21, "fine ride", 1, 11.0),
]
SEQUENCE_LENGTH = 4


def _instance(row):
    zip_code, count, hour, review, tipped, fare = row
    return {
        "zip": [] if zip_code is None else [zip_code],
        "count": [count],
        "hour": [hour],
        "review": [] if review is None else [review.encode()],
        "tipped": [tipped],
        "fare": [fare],
    }


def _spec(task, label):
    return features.FeatureSpec(
        task=task,
        label=label,
        features=(
            features.make_feature("zip", "categorical"),
            features.make_feature("count", {"type": "numeric", "log": True}),
            features.make_feature("hour", {"type": "numeric", "bucketize": 4}),
            features.make_feature(
                "review", {"type": "text", "sequence_length": SEQUENCE_LENGTH, "max_tokens": 3}
            ),
        ),
    )


def _transform(tmp, spec):
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(RAW_FEATURE_SPEC)
    )
    fn = functools.partial(
        preprocessing_fn, custom_config={config_keys.FEATURE_SPEC: spec.to_dict()}
    )
    with (
        beam.Pipeline(runner="DirectRunner") as pipeline,
        tft_beam.Context(temp_dir=str(tmp / "temp"), force_tf_compat_v1=False),
    ):
        raw = pipeline | beam.Create([_instance(r) for r in ROWS])
        (rows, _), transform_fn = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = (
            rows
            | beam.Map(lambda r: json.dumps({k: np.asarray(v).tolist() for k, v in r.items()}))
            | beam.io.WriteToText(str(tmp / "rows.jsonl"), shard_name_template="")
        )
        _ = transform_fn | tft_beam.WriteTransformFn(str(tmp / "transform_fn"))
    # Beam does not keep row order: tests compare columns as sorted lists or multisets.
    rows = [json.loads(line) for line in (tmp / "rows.jsonl").read_text().splitlines()]
    return rows, tmp / "transform_fn"


@pytest.fixture(scope="module")
def classified(tmp_path_factory):
    spec = _spec(features.CLASSIFICATION, features.Label("tipped", ("0", "1")))
    return _transform(tmp_path_factory.mktemp("classified"), spec)


@pytest.fixture(scope="module")
def regressed(tmp_path_factory):
    spec = _spec(features.REGRESSION, features.Label("fare"))
    rows, _ = _transform(tmp_path_factory.mktemp("regressed"), spec)
    return rows


def _vocabulary(transform_dir, name):
    path = transform_dir / "transform_fn" / "assets" / features.vocabulary_name(name)
    return path.read_text().splitlines()


def test_integer_category_gets_a_string_vocabulary_with_missing_token(classified):
    _, transform_dir = classified
    vocabulary = _vocabulary(transform_dir, "zip")
    assert vocabulary[0] == "60601"  # 4 of 8 rows
    assert set(vocabulary) == {"60601", "60614", "60622", features.MISSING_CATEGORY}


def test_log_then_z_score(classified):
    rows, _ = classified
    values = np.log1p(np.array([r[1] for r in ROWS]))
    expected = sorted((values - values.mean()) / values.std())
    np.testing.assert_allclose(sorted(r["count_xf"] for r in rows), expected, rtol=1e-4, atol=1e-5)


def test_bucketize_gives_ids_below_the_bucket_count(classified):
    rows, _ = classified
    ids = [r["hour_xf"] for r in rows]
    assert set(ids) <= {0, 1, 2, 3}
    assert len(set(ids)) >= 3


def test_text_becomes_fixed_length_ids_padded_with_zero(classified):
    rows, transform_dir = classified
    vocabulary = _vocabulary(transform_dir, "review")
    assert vocabulary[0] == "great"  # lower-cased, punctuation split off, most frequent
    assert len(vocabulary) == 3  # max_tokens
    sequences = [r["review_xf"] for r in rows]
    assert all(len(s) == SEQUENCE_LENGTH for s in sequences)
    oov = len(vocabulary) + 1
    assert all(0 <= i <= oov for s in sequences for i in s)
    # "great great great great great" is truncated to SEQUENCE_LENGTH ids of "great" (1).
    assert [1] * SEQUENCE_LENGTH in sequences
    # A missing review and an empty one are all padding.
    assert sequences.count([0] * SEQUENCE_LENGTH) == 2


def test_integer_labels_match_classes_by_decimal_text_and_others_are_minus_one(classified):
    rows, _ = classified
    counts = sorted(r["tipped_xf"] for r in rows)
    assert counts == [-1, 0, 0, 0, 1, 1, 1, 1]  # the 7 is no class


def test_regression_label_is_the_float_value(regressed):
    assert sorted(r["fare_xf"] for r in regressed) == sorted(r[5] for r in ROWS)


def test_a_feature_missing_from_the_schema_is_named():
    spec = _spec(features.REGRESSION, features.Label("fare"))
    inputs = {name: None for name in RAW_FEATURE_SPEC if name != "zip"}
    with pytest.raises(ValueError, match=r"^features\.zip: not in the schema Transform reads"):
        preprocessing_fn(inputs, {config_keys.FEATURE_SPEC: spec.to_dict()})
