"""Training and evaluation datasets read from Transform's output."""

import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from components import features


def input_fn(
    file_pattern: list[str],
    data_accessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
) -> tf.data.Dataset:
    """Endless batches of (transformed features, integer label).

    Args:
        file_pattern: Transformed example files (``fn_args.train_files`` or ``eval_files``).
        data_accessor: ``fn_args.data_accessor`` from the Trainer or Tuner.
        tf_transform_output: The Transform graph's output.
        batch_size: Examples per batch.
    """
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size, label_key=features.transformed_name(features.LABEL_KEY)
        ),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def vocabulary_sizes(tf_transform_output: tft.TFTransformOutput) -> dict[str, int]:
    """Categorical feature key -> vocabulary size including OOV buckets."""
    return {
        key: tf_transform_output.vocabulary_size_by_name(features.vocabulary_name(key))
        + features.OOV_BUCKETS
        for key in features.CATEGORICAL_FEATURE_KEYS
    }
