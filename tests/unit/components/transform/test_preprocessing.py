"""``preprocessing_fn`` run through tf.Transform's Beam API on ten in-memory rows."""

import collections
import functools
import json
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from google.protobuf import text_format
from penguins_spec import NUMERIC, SPEC
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components import custom_config as config_keys
from components import features
from components.transform.preprocessing import preprocessing_fn

SCHEMA_PATH = Path(__file__).resolve().parents[4] / "schemas" / "penguins" / "schema.pbtxt"

# As the curated schema parses them: numeric features and `sex` may be missing
# (value_count 0..1); `island` and the label are always there (shape [1]).
RAW_FEATURE_SPEC = {
    "bill_length_mm": tf.io.VarLenFeature(tf.float32),
    "bill_depth_mm": tf.io.VarLenFeature(tf.float32),
    "flipper_length_mm": tf.io.VarLenFeature(tf.int64),
    "body_mass_g": tf.io.VarLenFeature(tf.int64),
    "sex": tf.io.VarLenFeature(tf.string),
    "island": tf.io.FixedLenFeature([1], tf.string),
    "species": tf.io.FixedLenFeature([1], tf.string),
}

# None is a missing value. Island counts: Biscoe 5, Dream 3, Torgersen 2.
# Sex counts: male 5, missing 3, female 2. Species: Gentoo is the most frequent
# class but keeps id 2; "Emperor" is not a label class.
# A missing sex is a category of its own, ranked by its frequency like any other.
ROWS = [
    # bill_length, bill_depth, flipper, body_mass, sex, island, species
    (39.1, 18.7, 181, 3750, "male", "Torgersen", "Adelie"),
    (39.5, 17.4, 186, 3800, "female", "Torgersen", "Adelie"),
    (None, None, None, None, None, "Biscoe", "Adelie"),
    (46.5, 17.9, 192, 3500, "female", "Dream", "Chinstrap"),
    (50.0, 19.5, 196, 3900, "male", "Dream", "Chinstrap"),
    (46.1, 13.2, 211, 4500, "male", "Biscoe", "Gentoo"),
    (50.0, None, 230, 5700, "male", "Biscoe", "Gentoo"),
    (48.7, 14.1, 210, None, None, "Biscoe", "Gentoo"),
    (None, 15.0, None, 5400, None, "Biscoe", "Gentoo"),
    (45.2, 16.4, 223, 5950, "male", "Dream", "Emperor"),
]
EXPECTED_ISLAND_IDS = {"Biscoe": 0, "Dream": 1, "Torgersen": 2}
EXPECTED_SEX_IDS = {"male": 0, None: 1, "female": 2}
EXPECTED_LABEL_IDS = {"Adelie": 0, "Chinstrap": 1, "Gentoo": 2, "Emperor": -1}

NUMERIC_XF = [features.transformed_name(k) for k in NUMERIC]
ISLAND_XF = features.transformed_name("island")
SEX_XF = features.transformed_name("sex")
LABEL_XF = features.transformed_name(SPEC.label.name)


def _instance(row):
    *numeric, sex, island, species = row
    instance = {
        key: [] if value is None else [value] for key, value in zip(NUMERIC, numeric, strict=True)
    }
    instance["sex"] = [] if sex is None else [sex.encode()]
    instance["island"] = [island.encode()]
    instance["species"] = [species.encode()]
    return instance


def _to_json(row):
    return json.dumps({key: np.asarray(value).tolist() for key, value in row.items()})


def _sort_key(row):
    # Beam does not keep row order; put expected and actual rows in one canonical order.
    return (row[LABEL_XF], row[ISLAND_XF], row[SEX_XF], *(row[k] for k in NUMERIC_XF))


def _z_scores(column):
    """Mean and standard deviation of the present values; a missing value scores 0."""
    values = np.array([np.nan if v is None else v for v in column], dtype=np.float64)
    return np.where(np.isnan(values), 0.0, (values - np.nanmean(values)) / np.nanstd(values))


def _expected_rows():
    columns = list(zip(*ROWS, strict=True))
    z_scores = {name: _z_scores(columns[i]) for i, name in enumerate(NUMERIC_XF)}
    return [
        {
            **{name: float(z_scores[name][i]) for name in NUMERIC_XF},
            SEX_XF: EXPECTED_SEX_IDS[row[4]],
            ISLAND_XF: EXPECTED_ISLAND_IDS[row[5]],
            LABEL_XF: EXPECTED_LABEL_IDS[row[6]],
        }
        for i, row in enumerate(ROWS)
    ]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    """Transformed rows, in the canonical order of ``_sort_key``."""
    tmp = tmp_path_factory.mktemp("tft")
    metadata = dataset_metadata.DatasetMetadata(
        schema_utils.schema_from_feature_spec(RAW_FEATURE_SPEC)
    )
    fn = functools.partial(
        preprocessing_fn, custom_config={config_keys.FEATURE_SPEC: SPEC.to_dict()}
    )
    with (
        beam.Pipeline(runner="DirectRunner") as pipeline,
        tft_beam.Context(temp_dir=str(tmp / "temp")),
    ):
        raw = pipeline | beam.Create([_instance(r) for r in ROWS])
        (rows, _), _ = (raw, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        _ = (
            rows
            | beam.Map(_to_json)
            | beam.io.WriteToText(str(tmp / "rows.jsonl"), shard_name_template="")
        )
    lines = (tmp / "rows.jsonl").read_text().splitlines()
    return sorted((json.loads(line) for line in lines), key=_sort_key)


@pytest.fixture(scope="module")
def expected():
    return sorted(_expected_rows(), key=_sort_key)


def test_raw_feature_spec_matches_the_curated_schema():
    schema = text_format.Parse(SCHEMA_PATH.read_text(), schema_pb2.Schema())
    from_schema = schema_utils.schema_as_feature_spec(schema).feature_spec
    assert {key: from_schema[key] for key in RAW_FEATURE_SPEC} == RAW_FEATURE_SPEC


def test_one_output_row_per_input_with_exactly_the_transformed_names(transformed):
    names = {features.transformed_name(k) for k in (*SPEC.feature_names, SPEC.label.name)}
    assert len(transformed) == len(ROWS)
    assert all(set(row) == names for row in transformed)


@pytest.mark.parametrize("name", NUMERIC_XF)
def test_numeric_z_scored_on_present_values_missing_at_the_mean(transformed, expected, name):
    actual = np.array([row[name] for row in transformed])
    np.testing.assert_allclose(actual, [row[name] for row in expected], rtol=1e-4, atol=1e-5)
    present = actual != 0.0
    assert actual[present].mean() == pytest.approx(0.0, abs=1e-5)
    assert actual[present].std() == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("name", [ISLAND_XF, SEX_XF])
def test_categorical_vocabulary_ids_by_frequency(transformed, expected, name):
    assert [row[name] for row in transformed] == [row[name] for row in expected]


def test_missing_sex_is_a_category_of_its_own(transformed):
    counts = collections.Counter(row[SEX_XF] for row in transformed)
    # male 5, missing 3, female 2: three in-vocabulary ids, the OOV id (3) unused.
    assert counts == {0: 5, 1: 3, 2: 2}


def test_label_ids_follow_label_classes_and_unknown_is_minus_one(transformed, expected):
    assert [row[LABEL_XF] for row in transformed] == [row[LABEL_XF] for row in expected]
    assert sorted(row[LABEL_XF] for row in transformed) == [-1, 0, 0, 0, 1, 1, 2, 2, 2, 2]
