"""``run_fn``: the Trainer's entry point, a thin orchestrator over data, model and export."""

import json
import os

import tensorflow as tf
import tensorflow_transform as tft

from components import custom_config, keras_mode
from components.trainer import data, export, tuner
from components.trainer.hparams import HyperParameters
from components.trainer.model import build_model

HISTORY_FILE = "history.json"


def run_fn(fn_args) -> None:
    """Trains the classifier and exports it with raw-example serving signatures.

    Hyperparameters come from the Tuner's best set when one is wired in, otherwise
    from ``custom_config``. TensorBoard logs and ``history.json`` (per-epoch loss and
    accuracy) go to the model-run artifact.
    """
    keras_mode.require_legacy_keras()
    hparams = HyperParameters.from_dict(fn_args.custom_config[custom_config.HYPERPARAMETERS])
    if fn_args.hyperparameters:
        hparams = tuner.apply_tuned(hparams, fn_args.hyperparameters)
    label_classes = list(fn_args.custom_config[custom_config.LABEL_CLASSES])
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)

    model = build_model(hparams, data.vocabulary_sizes(tf_transform_output), len(label_classes))
    history = model.fit(
        data.input_fn(
            fn_args.train_files, fn_args.data_accessor, tf_transform_output, hparams.batch_size
        ),
        steps_per_epoch=max(1, fn_args.train_steps // hparams.epochs),
        epochs=hparams.epochs,
        validation_data=data.input_fn(
            fn_args.eval_files, fn_args.data_accessor, tf_transform_output, hparams.batch_size
        ),
        validation_steps=fn_args.eval_steps,
        callbacks=training_callbacks(hparams, fn_args.model_run_dir),
        verbose=2,
    )
    _write_history(history.history, hparams, fn_args.model_run_dir)
    export.export_serving_model(
        model, tf_transform_output, label_classes, fn_args.serving_model_dir
    )


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


def _write_history(history: dict, hparams: HyperParameters, model_run_dir: str) -> None:
    record = {
        "hyperparameters": hparams.to_dict(),
        "epochs_run": len(history.get("loss", [])),
        "history": {k: [float(v) for v in values] for k, values in history.items()},
    }
    with tf.io.gfile.GFile(os.path.join(model_run_dir, HISTORY_FILE), "w") as f:
        f.write(json.dumps(record, indent=2))
