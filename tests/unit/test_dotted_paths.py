"""Every dotted path handed to TFX resolves to what TFX will call."""

import importlib
import inspect
import re
from pathlib import Path

import pytest
from tfx.dsl.compiler import compiler
from tfx.orchestration.local import runner_utils

from pipeline import pipeline
from pipeline.config import load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("dotted", "parameters"),
    [
        (pipeline.PREPROCESSING_FN, ["inputs", "custom_config"]),
        (pipeline.RUN_FN, ["fn_args"]),
        (pipeline.TUNER_FN, ["fn_args"]),
    ],
)
def test_user_function_resolves(dotted, parameters):
    module, name = dotted.rsplit(".", 1)
    function = getattr(importlib.import_module(module), name)
    assert list(inspect.signature(function).parameters) == parameters


def test_every_class_path_in_the_compiled_pipeline_imports(tmp_path):
    cfg = load_config(REPO / "configs" / "penguins.yaml", work_dir=tmp_path)
    ir = compiler.Compiler().compile(pipeline.create_pipeline(cfg))
    deployment = runner_utils.extract_local_deployment_config(ir)
    executors = [
        runner_utils.extract_executor_spec(deployment, node.pipeline_node.node_info.id)
        for node in ir.nodes
    ]
    text = str(ir) + "".join(str(e) for e in executors if e is not None)
    class_paths = set(re.findall(r'(?:class_path|op_type): "(\w+(?:\.\w+)+)"', text))
    assert "pipeline.baseline.LatestBlessedOtherModelStrategy" in class_paths
    assert "tfx.components.trainer.executor.GenericExecutor" in class_paths
    assert "components.csv_example_gen.executor.Executor" in class_paths
    for class_path in class_paths:
        module, name = class_path.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), name), class_path
