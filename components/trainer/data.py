"""Training and evaluation datasets read from Transform's output."""

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
from tfx_bsl.public import tfxio

from components import custom_config, features

# Batches read to estimate a regression label's mean and spread.
_LABEL_SAMPLE_BATCHES = 64


def input_fn(
    file_pattern: list[str],
    data_accessor,
    tf_transform_output: tft.TFTransformOutput,
    batch_size: int,
    spec: features.FeatureSpec,
) -> tf.data.Dataset:
    """Endless batches of (transformed features, label).

    Args:
        file_pattern: Transformed example files (``fn_args.train_files`` or ``eval_files``).
        data_accessor: ``fn_args.data_accessor`` from the Trainer or Tuner.
        tf_transform_output: The Transform graph's output.
        batch_size: Examples per batch.
        spec: The feature spec (names the label).
    """
    return data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(
            batch_size=batch_size, label_key=features.transformed_name(spec.label.name)
        ),
        tf_transform_output.transformed_metadata.schema,
    ).repeat()


def vocabulary_sizes(
    tf_transform_output: tft.TFTransformOutput, spec: features.FeatureSpec
) -> dict[str, int]:
    """Feature name -> model ids (OOV and padding included); 0 for a plain number."""
    return {
        feature.name: features.type_module(feature.type).vocabulary_size(
            feature, tf_transform_output
        )
        for feature in spec.features
    }


def count_examples(file_pattern: list[str]) -> int:
    """Records in gzipped TFRecord files (Transform's output), read once."""
    patterns = [file_pattern] if isinstance(file_pattern, str) else file_pattern
    paths = sorted(path for pattern in patterns for path in tf.io.gfile.glob(pattern))
    dataset = tf.data.TFRecordDataset(paths, compression_type="GZIP")
    return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


def steps_for(examples: int, batch_size: int) -> int:
    """Batches in one pass over ``examples`` (at least one)."""
    return max(1, math.ceil(examples / batch_size))


def label_mean_std(dataset: tf.data.Dataset) -> tuple[float, float]:
    """Mean and standard deviation of the labels of up to 64 batches of ``dataset``."""
    labels = np.concatenate(
        [np.asarray(label).reshape(-1) for _, label in dataset.take(_LABEL_SAMPLE_BATCHES)]
    )
    labels = labels[np.isfinite(labels)]
    if labels.size == 0:
        return 0.0, 1.0
    return float(labels.mean()), float(labels.std()) or 1.0


def epoch_steps(
    train_files: list[str], eval_files: list[str], config: Mapping[str, Any], batch_size: int
) -> tuple[int, int]:
    """Train and validation batches per epoch: as configured, or one pass over each split.

    Args:
        train_files: Transformed train split files.
        eval_files: Transformed eval split files.
        config: The Trainer's or Tuner's custom_config (``steps_per_epoch``, ``eval_steps``;
            0 or absent means one pass).
        batch_size: Examples per batch.
    """
    steps = config.get(custom_config.STEPS_PER_EPOCH) or 0
    eval_steps = config.get(custom_config.EVAL_STEPS) or 0
    if not steps:
        train_examples = count_examples(train_files)
        steps = steps_for(train_examples, batch_size)
        logging.info("One epoch: %d train examples in %d batches", train_examples, steps)
    if not eval_steps:
        eval_steps = steps_for(count_examples(eval_files), batch_size)
    return steps, eval_steps
