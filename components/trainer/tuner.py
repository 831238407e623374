"""``tuner_fn``: keras-tuner random search over layer width and learning rate."""

import dataclasses
from collections.abc import Mapping
from typing import Any

import keras_tuner
import tensorflow_transform as tft
from tfx.components.tuner.component import TunerFnResult

from components import custom_config, features, keras_mode
from components.trainer import data
from components.trainer.hparams import HyperParameters
from components.trainer.model import build_model

UNITS = "units"
LEARNING_RATE = "learning_rate"


def search_space(
    hidden_units: list[int], learning_rates: list[float]
) -> keras_tuner.HyperParameters:
    """The tuned hyperparameters: first-layer width (second is half) and learning rate."""
    space = keras_tuner.HyperParameters()
    space.Choice(UNITS, list(hidden_units), default=hidden_units[0])
    space.Choice(LEARNING_RATE, list(learning_rates), default=learning_rates[0])
    return space


def apply_tuned(base: HyperParameters, tuned: Mapping[str, Any]) -> HyperParameters:
    """``base`` with the tuned values applied.

    Args:
        base: Hyperparameters from config.
        tuned: keras-tuner values, or a ``HyperParameters.get_config()`` dict as the
            Tuner's ``best_hyperparameters`` artifact stores them.
    """
    values = tuned.get("values", tuned)
    units = int(values[UNITS])
    return dataclasses.replace(
        base, hidden_units=(units, max(1, units // 2)), learning_rate=float(values[LEARNING_RATE])
    )


def objective(spec: features.FeatureSpec) -> keras_tuner.Objective:
    """Validation accuracy (higher is better), or validation MAE for regression."""
    if spec.is_regression:
        return keras_tuner.Objective("val_mae", direction="min")
    return keras_tuner.Objective("val_accuracy", direction="max")


def tuner_fn(fn_args) -> TunerFnResult:
    """Builds the keras-tuner search the TFX Tuner component runs."""
    keras_mode.require_legacy_keras()
    config = fn_args.custom_config
    base = HyperParameters.from_dict(config[custom_config.HYPERPARAMETERS])
    search = config[custom_config.TUNER_SEARCH]
    spec = features.FeatureSpec.from_dict(config[custom_config.FEATURE_SPEC])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
    vocabulary_sizes = data.vocabulary_sizes(tf_transform_output, spec)
    train = data.input_fn(
        fn_args.train_files, fn_args.data_accessor, tf_transform_output, base.batch_size, spec
    )
    label_mean_std = data.label_mean_std(train) if spec.is_regression else (0.0, 1.0)

    def hypermodel(hp: keras_tuner.HyperParameters):
        return build_model(apply_tuned(base, hp.values), spec, vocabulary_sizes, label_mean_std)

    tuner = keras_tuner.RandomSearch(
        hypermodel,
        objective=objective(spec),
        max_trials=search["max_trials"],
        hyperparameters=search_space(search["hidden_units"], search["learning_rates"]),
        directory=fn_args.working_dir,
        project_name="search",
        seed=42,
    )
    epochs = search["epochs"]
    steps, eval_steps = data.epoch_steps(
        fn_args.train_files, fn_args.eval_files, config, base.batch_size
    )
    return TunerFnResult(
        tuner=tuner,
        fit_kwargs={
            "x": train,
            "validation_data": data.input_fn(
                fn_args.eval_files,
                fn_args.data_accessor,
                tf_transform_output,
                base.batch_size,
                spec,
            ),
            "steps_per_epoch": steps,
            "validation_steps": eval_steps,
            "epochs": epochs,
            "verbose": 0,
        },
    )
