"""``run_fn``: the Trainer's entry point, a thin orchestrator over data, model and export."""

import json
import math
import os
import time

import tensorflow as tf
import tensorflow_transform as tft

from components import custom_config, features, keras_mode
from components.trainer import data, export, tuner
from components.trainer.hparams import HyperParameters
from components.trainer.model import build_model, compile_model, image_backbone, unfreeze_top

HISTORY_FILE = "history.json"


def run_fn(fn_args) -> None:
    """Trains the model the feature spec describes and exports its serving signatures.

    Hyperparameters come from the Tuner's best set when one is wired in, otherwise
    from ``custom_config``. An epoch is one pass over the train split unless
    ``steps_per_epoch`` is set. TensorBoard logs and ``history.json`` (per-epoch
    metrics) go to the model-run artifact.
    """
    keras_mode.require_legacy_keras()
    config = fn_args.custom_config
    spec = features.FeatureSpec.from_dict(config[custom_config.FEATURE_SPEC])
    hparams = HyperParameters.from_dict(config[custom_config.HYPERPARAMETERS])
    if fn_args.hyperparameters:
        hparams = tuner.apply_tuned(hparams, fn_args.hyperparameters)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    steps, eval_steps = data.epoch_steps(
        fn_args.train_files, fn_args.eval_files, config, hparams.batch_size
    )

    def dataset(files):
        return data.input_fn(
            files, fn_args.data_accessor, tf_transform_output, hparams.batch_size, spec
        )

    train = dataset(fn_args.train_files)
    label_mean_std = data.label_mean_std(train) if spec.is_regression else (0.0, 1.0)
    set_precision_policy(bool(config.get(custom_config.MIXED_PRECISION)))
    strategy = distribution_strategy(config.get(custom_config.DISTRIBUTION) or "none")
    with strategy.scope():
        model = build_model(
            hparams, spec, data.vocabulary_sizes(tf_transform_output, spec), label_mean_std
        )

    timer = EpochTimer()

    def fit(first_epoch: int, last_epoch: int) -> dict:
        return model.fit(
            train,
            steps_per_epoch=steps,
            initial_epoch=first_epoch,
            epochs=last_epoch,
            validation_data=dataset(fn_args.eval_files),
            validation_steps=eval_steps,
            callbacks=[*training_callbacks(hparams, fn_args.model_run_dir), timer],
            verbose=2,
        ).history

    history = fit(0, hparams.epochs)
    fine_tune_from = None
    backbone = image_backbone(model, spec)
    if backbone is not None and hparams.fine_tune_epochs:
        # Phase two of transfer learning: the backbone's top layers learn too, slowly.
        image_feature = spec.of_type("image")[0]
        unfreeze_top(backbone, image_feature.option("fine_tune_layers"))
        with strategy.scope():
            compile_model(
                model, spec, hparams.learning_rate * hparams.fine_tune_learning_rate_factor
            )
        done = fine_tune_from = len(history.get("loss", []))
        tuned = fit(done, done + hparams.fine_tune_epochs)
        history = {key: values + tuned.get(key, []) for key, values in history.items()}
    set_precision_policy(False)
    _write_history(
        {**history, "epoch_seconds": timer.seconds},
        hparams,
        steps,
        fn_args.model_run_dir,
        fine_tune_from,
    )
    export.export_serving_model(model, tf_transform_output, spec, fn_args.serving_model_dir)


class EpochTimer(tf.keras.callbacks.Callback):
    """Wall seconds of each epoch, validation included (``history.json``'s
    ``epoch_seconds``)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs=None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        self.seconds.append(round(time.perf_counter() - self._start, 4))


def set_precision_policy(mixed: bool) -> None:
    """Keras' global dtype policy: ``mixed_float16`` or the default ``float32``."""
    tf.keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")


def distribution_strategy(name: str) -> tf.distribute.Strategy:
    """``mirrored``: MirroredStrategy over the visible devices; ``none``: the default."""
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "none":
        return tf.distribute.get_strategy()
    raise ValueError(f"distribution: none or mirrored, got {name!r}")


def training_callbacks(hparams: HyperParameters, log_dir: str) -> list[tf.keras.callbacks.Callback]:
    """EarlyStopping (best weights kept), ReduceLROnPlateau and TensorBoard."""
    return [
        tf.keras.callbacks.EarlyStopping(
            monitor="val_loss", patience=hparams.early_stopping_patience, restore_best_weights=True
        ),
        tf.keras.callbacks.ReduceLROnPlateau(
            monitor="val_loss", factor=0.5, patience=hparams.reduce_lr_patience, min_lr=1e-5
        ),
        tf.keras.callbacks.TensorBoard(log_dir=log_dir, update_freq="epoch"),
    ]


def _write_history(
    history: dict,
    hparams: HyperParameters,
    steps: int,
    model_run_dir: str,
    fine_tune_from: int | None = None,
) -> None:
    """``history.json``: hyperparameters, steps, per-epoch metrics and, after transfer
    learning's second phase, ``fine_tune_from_epoch`` (the first fine-tuning epoch, 1-based)."""
    record = {
        "hyperparameters": hparams.to_dict(),
        "steps_per_epoch": steps,
        "epochs_run": len(history.get("loss", [])),
        **({"fine_tune_from_epoch": fine_tune_from + 1} if fine_tune_from is not None else {}),
        "history": {k: [_finite(v) for v in values] for k, values in history.items()},
    }
    with tf.io.gfile.GFile(os.path.join(model_run_dir, HISTORY_FILE), "w") as f:
        f.write(json.dumps(record, indent=2, allow_nan=False))


def _finite(value: float) -> float | None:
    """A float for JSON; None (null) for NaN or infinity, which strict JSON cannot hold."""
    value = float(value)
    return value if math.isfinite(value) else None
