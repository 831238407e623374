"""ServingPusher: TFX's Pusher, but versioned, atomic and smoke-tested for TF Serving.

The executor subclasses the standard Pusher executor, so it inherits the blessing
check and writes the same ``pushed``, ``pushed_version`` and ``pushed_destination``
properties; the work itself is in ``pusher.py``, which knows nothing of TFX.

Input artifacts may live on any ``tf.io.gfile`` filesystem (``gs://`` on Kubeflow); the
serving root must be a POSIX path, a volume mounted into the pusher's container.

A model name belongs to the pipeline that first pushed to it (``pusher.check_owner``):
another pipeline's push into it fails before anything is copied.
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
from components.serving_pusher import pusher, smoke_test
from components.tflite_converter.component import (
    MICRO_BLESSED,
    MICRO_DIR,
    TFLITE_BLESSED,
    TFLITE_FILE,
)

SMOKE_TEST_SPLIT = "eval"
SMOKE_TEST_EXAMPLES = 8


class ServingPusherSpec(types.ComponentSpec):
    """Inputs, outputs and parameters of ServingPusher."""

    PARAMETERS = {
        "serving_root": ExecutionParameter(type=str),
        "model_name": ExecutionParameter(type=str),
        "keep_versions": ExecutionParameter(type=int),
        "owner_pipeline": ExecutionParameter(type=str),
        # classification | regression; absent: the task the smoke test's outputs answer.
        "task": ExecutionParameter(type=str, optional=True),
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
        model_name = exec_properties["model_name"]
        base_path = serving_root / model_name
        pipeline_name = exec_properties["owner_pipeline"]
        pusher.check_owner(base_path, pipeline_name)
        model_dir = self.GetModelPath(input_dict)
        examples = artifact_utils.get_single_instance(input_dict["examples"])
        serialized = read_serialized_examples(examples.uri, SMOKE_TEST_SPLIT, SMOKE_TEST_EXAMPLES)
        smoke_test.smoke_test(
            model_dir,
            {"examples": np.array(serialized, dtype=object)},
            signature_key="serving_default",
            task=exec_properties.get("task") or None,
        )
        result = pusher.push_model(
            model_dir,
            base_path,
            source_id=pusher.directory_digest(model_dir),
            pipeline_name=pipeline_name,
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
        files = blessed_tflite_files(tflite[0]) if tflite else []
        if files:
            destination = _publish_tflite(files, base_path, result)
            pushed_model.set_string_custom_property("pushed_tflite_destination", str(destination))


def blessed_tflite_files(tflite_model: types.Artifact) -> list[str]:
    """The files of each blessed form in a TFLiteConverter artifact; unblessed ones left out.

    The TFLite model (``Format-Serving/tflite``) when ``tflite_blessed`` is 1; the micro
    files (``micro/*``: model, C array, header, preprocessing.json) when ``micro_blessed``
    is 1. An artifact without those properties ships nothing.
    """
    files = []
    if tflite_model.get_int_custom_property(TFLITE_BLESSED) == 1:
        files.append(posixpath.join(tflite_model.uri, TFLITE_FILE))
    if tflite_model.get_int_custom_property(MICRO_BLESSED) == 1:
        micro_dir = posixpath.join(tflite_model.uri, MICRO_DIR)
        files += [posixpath.join(micro_dir, name) for name in pusher.source_files(micro_dir)]
    return files


def _publish_tflite(files: list[str], base_path: Path, result: pusher.PushResult) -> Path:
    """Publishes the blessed TFLite files with the pushed version."""
    destination = pusher.tflite_base_path(base_path) / str(result.version)
    # An already-served version keeps the TFLite files published with it.
    if result.already_served and destination.is_dir():
        return destination
    return pusher.publish_tflite(base_path, result.version, files)


class ServingPusher(base_component.BaseComponent):
    """Pushes a blessed model into ``<serving_root>/<model_name>/<version>/`` for TF Serving.

    Also publishes the blessed forms of ``tflite_model`` (the TFLite model when
    ``tflite_blessed`` = 1, the micro files when ``micro_blessed`` = 1) to
    ``<serving_root>/<model_name>-tflite/<version>/``.

    Args:
        model, model_blessing, examples: The Trainer's model, the Evaluator's blessing and
            the raw examples (a few eval ones feed the smoke test).
        serving_root: POSIX path TF Serving watches.
        model_name: The served model's name (config ``pusher.model_name``).
        keep_versions: Versions kept.
        owner_pipeline: The pipeline pushing; it owns ``model_name`` from its first push,
            and a push by another pipeline into that name is refused.
        tflite_model: The TFLiteConverter's artifact, if any.
        task: ``classification`` or ``regression``: what the smoke test checks; None:
            whatever the model's outputs answer.
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
        owner_pipeline: str,
        tflite_model: types.BaseChannel | None = None,
        task: str | None = None,
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
                owner_pipeline=owner_pipeline,
                task=task,
                pushed_model=types.Channel(type=standard_artifacts.PushedModel),
            )
        )
