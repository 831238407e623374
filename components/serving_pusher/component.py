"""ServingPusher: TFX's Pusher, but versioned, atomic and smoke-tested for TF Serving.

The executor subclasses the standard Pusher executor, so it inherits the blessing
check and writes the same ``pushed``, ``pushed_version`` and ``pushed_destination``
properties; the work itself is in ``pusher.py``, which knows nothing of TFX.

Input artifacts may live on any ``tf.io.gfile`` filesystem (``gs://`` on Kubeflow); the
serving root must be a POSIX path, a volume mounted into the pusher's container.
"""

import logging
import posixpath
from pathlib import Path
from typing import Any

import numpy as np
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter

from components.examples_io import read_serialized_examples
from components.serving_pusher import pusher

SMOKE_TEST_SPLIT = "eval"
SMOKE_TEST_EXAMPLES = 8
TFLITE_BLESSED = "tflite_blessed"


class ServingPusherSpec(types.ComponentSpec):
    """Inputs, outputs and parameters of ServingPusher."""

    PARAMETERS = {
        "serving_root": ExecutionParameter(type=str),
        "model_name": ExecutionParameter(type=str),
        "keep_versions": ExecutionParameter(type=int),
    }
    INPUTS = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "tflite_model": ChannelParameter(type=standard_artifacts.Model, optional=True),
    }
    OUTPUTS = {"pushed_model": ChannelParameter(type=standard_artifacts.PushedModel)}


class Executor(pusher_executor.Executor):
    """Smoke-tests the blessed SavedModel, then pushes it as the next TF Serving version."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        self._log_startup(input_dict, output_dict, exec_properties)
        serving_root = pusher.serving_path(exec_properties["serving_root"])
        pushed_model = artifact_utils.get_single_instance(output_dict["pushed_model"])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(pushed_model)
            return
        model_dir = self.GetModelPath(input_dict)
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        serialized = read_serialized_examples(examples.uri, SMOKE_TEST_SPLIT, SMOKE_TEST_EXAMPLES)
        pusher.smoke_test(
            model_dir,
            {"examples": np.array(serialized, dtype=object)},
            signature_key="serving_default",
        )
        model_name = exec_properties["model_name"]
        base_path = serving_root / model_name
        result = pusher.push_model(
            model_dir, base_path, source_id=pusher.directory_digest(model_dir)
        )
        if result.stale_staging:
            logging.info(
                "removed staging copies left by dead pushes in %s: %s",
                base_path,
                ", ".join(result.stale_staging),
            )
        pusher.apply_retention(base_path, exec_properties["keep_versions"])
        served = {d.name for d in serving_root.iterdir() if pusher.served_versions(d)}
        pusher.write_models_config(serving_root, sorted(served | {model_name}))
        self._MarkPushed(pushed_model, str(result.path), str(result.version))
        pushed_model.set_int_custom_property("already_served", int(result.already_served))
        tflite = input_dict.get("tflite_model") or []
        if tflite and tflite[0].get_int_custom_property(TFLITE_BLESSED) == 1:
            destination = _publish_tflite(tflite[0].uri, base_path, result)
            pushed_model.set_string_custom_property("pushed_tflite_destination", str(destination))


def _publish_tflite(tflite_uri: str, base_path: Path, result: pusher.PushResult) -> Path:
    """Publishes every file of the TFLite artifact with the pushed version."""
    destination = pusher.tflite_base_path(base_path) / str(result.version)
    # An already-served version keeps the TFLite files published with it.
    if result.already_served and destination.is_dir():
        return destination
    files = [posixpath.join(tflite_uri, name) for name in pusher.source_files(tflite_uri)]
    return pusher.publish_tflite(base_path, result.version, files)


class ServingPusher(base_component.BaseComponent):
    """Pushes a blessed model into ``<serving_root>/<model_name>/<version>/`` for TF Serving.

    Also publishes a blessed TFLite model (``tflite_model`` with ``tflite_blessed`` = 1)
    to ``<serving_root>/<model_name>-tflite/<version>/``.
    """

    SPEC_CLASS = ServingPusherSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        examples: types.BaseChannel,
        serving_root: str,
        model_name: str,
        keep_versions: int,
        tflite_model: types.BaseChannel | None = None,
    ):
        if isinstance(serving_root, str):  # a runtime parameter is checked by the executor
            pusher.serving_path(serving_root)
        super().__init__(
            spec=ServingPusherSpec(
                model=model,
                model_blessing=model_blessing,
                examples=examples,
                tflite_model=tflite_model,
                serving_root=serving_root,
                model_name=model_name,
                keep_versions=keep_versions,
                pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            )
        )
