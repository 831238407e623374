"""Kubeflow Pipelines v2: the settings validate, the spec compiles for our image, and submits.

Needs kfp-pipeline-spec (the ``kubeflow`` dependency group), which TFX's KubeflowV2DagRunner
imports; without it the module is skipped.
"""

import dataclasses
import importlib
import importlib.util
import inspect
import os
import re
from pathlib import Path

import pytest
import yaml

pipeline_spec_pb2 = pytest.importorskip(
    "kfp.pipeline_spec.pipeline_spec_pb2",
    reason="kfp-pipeline-spec is not installed: uv sync --group kubeflow",
)

from google.protobuf import json_format  # noqa: E402
from tfx import v1 as tfx  # noqa: E402

from components import keras_mode  # noqa: E402
from pipeline.config import (  # noqa: E402
    ConfigError,
    KubeflowConfig,  # noqa: E402
    PipelineConfig,
    load_config,
)
from pipeline.kubeflow import (  # noqa: E402
    CONTAINER_COMMAND,
    compile_kubeflow,
    read_package,
    submit,
)
from pipeline.pipeline import BASELINE_RESOLVER_ID, create_pipeline  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
KUBEFLOW = KubeflowConfig(
    image="registry.example.com/ml/penguins:1.2.3",
    pipeline_root="gs://bucket/penguins/pipelines",
    data_root="gs://bucket/penguins/data",
    schema_path="/pipeline/schemas/penguins/schema.pbtxt",
    serving_root="/mnt/serving",
    beam_args=(
        "--runner=DataflowRunner",
        "--project=proj",
        "--region=europe-west1",
        "--temp_location=gs://bucket/tmp",
        "--sdk_container_image=registry.example.com/ml/penguins:1.2.3",
    ),
    schedule="0 0 3 * * *",
    serving_pvc="penguins-serving",
)
VERTEX = dataclasses.replace(KUBEFLOW, platform="vertex", serving_pvc=None)
BEAM_STEPS = ("CsvExampleGen", "StatisticsGen", "Transform", "Evaluator", "TestEvaluator")
CONDITIONAL_STEPS = {"ServingPusher", "TestEvaluator", "TFLiteConverter"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image": "registry.example.com/penguins"}, "image: pin a tag"),
        ({"image": "registry.example.com/penguins:latest"}, "image: pin a tag"),
        ({"image": "registry.example.com/penguins@sha256:abc"}, "image: malformed digest"),
        ({"pipeline_root": "/local/root"}, "pipeline_root: needs an object-store URI"),
        ({"data_root": "data/penguins"}, "data_root: needs a URI"),
        ({"schema_path": "schemas/penguins.pbtxt"}, "schema_path: needs a URI"),
        ({"serving_root": "gs://bucket/serving"}, "serving_root: needs an absolute path"),
        ({"beam_args": ("--runner=DataflowRunner", "project=p")}, "beam_args: each must"),
        ({"schedule": "0 3 * * *"}, "schedule: needs a six-field cron"),
        ({"experiment": " "}, "experiment: must not be empty"),
        ({"platform": "argo"}, "platform: must be kubeflow or vertex"),
        ({"serving_pvc": None}, "serving_pvc: required on platform kubeflow"),
        ({"serving_pvc": "Serving_PVC"}, "serving_pvc: not a Kubernetes resource name"),
        ({"platform": "vertex"}, "serving_pvc: Vertex AI Pipelines mounts no"),
    ],
)
def test_bad_settings_name_their_key(change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        dataclasses.replace(KUBEFLOW, **change)


def test_good_settings_are_kept():
    pinned = dataclasses.replace(
        KUBEFLOW, image=f"registry.example.com/penguins@sha256:{'0' * 64}", schedule=None
    )
    assert pinned.image.endswith("0" * 64)
    assert dataclasses.replace(KUBEFLOW, data_root="/pipeline/data/penguins").data_root


@pytest.fixture(scope="module")
def cfg(tmp_path_factory) -> PipelineConfig:
    return load_config(REPO / "configs" / "penguins.yaml", work_dir=tmp_path_factory.mktemp("w"))


@pytest.fixture(scope="module")
def spec_path(cfg, tmp_path_factory) -> Path:
    return compile_kubeflow(cfg, KUBEFLOW, tmp_path_factory.mktemp("build") / "pipeline.json")


@pytest.fixture(scope="module")
def spec(spec_path) -> pipeline_spec_pb2.PipelineSpec:
    return parse_spec(spec_path)


def parse_spec(path: Path) -> pipeline_spec_pb2.PipelineSpec:
    """The bare PipelineSpec in the package at ``path`` (what a KFP endpoint takes)."""
    raw, _ = read_package(path)
    return json_format.ParseDict(raw, pipeline_spec_pb2.PipelineSpec())


def containers(spec) -> dict:
    """Container spec of each step, by task name."""
    deployment = pipeline_spec_pb2.PipelineDeploymentConfig()
    json_format.ParseDict(json_format.MessageToDict(spec.deployment_spec), deployment)
    return {
        label.removesuffix("_executor"): executor.container
        for label, executor in deployment.executors.items()
        if executor.HasField("container")
    }


def parameter(spec, task: str, name: str) -> str:
    return spec.root.dag.tasks[task].inputs.parameters[name].runtime_value.constant.string_value


def test_every_pipeline_node_is_a_task_and_no_resolver_on_open_source_kfp(cfg, spec, spec_path):
    local_nodes = {n.id for n in create_pipeline(cfg).components}
    assert set(spec.root.dag.tasks) == local_nodes - {BASELINE_RESOLVER_ID}
    assert spec.schema_version == "2.1.0"  # the parameter form open-source KFP's driver reads
    raw, _ = read_package(spec_path)
    assert not [e for e in raw["deploymentSpec"]["executors"].values() if "resolver" in e]
    assert "change_threshold" not in parameter(spec, "Evaluator", "eval_config")


def test_vertex_runs_the_latest_blessed_model_resolver(cfg, tmp_path):
    spec = parse_spec(compile_kubeflow(cfg, VERTEX, tmp_path / "pipeline.yaml"))
    tasks = set(spec.root.dag.tasks)
    # KFP v2 runs TFX's latest-blessed-model resolver as two query steps.
    resolver = {
        f"{BASELINE_RESOLVER_ID}-model-blessing-resolver",
        f"{BASELINE_RESOLVER_ID}-model-resolver",
    }
    assert resolver <= tasks
    assert tasks - resolver == {n.id for n in create_pipeline(cfg).components} - {
        BASELINE_RESOLVER_ID
    }
    assert (
        f"{BASELINE_RESOLVER_ID}-model-resolver" in spec.root.dag.tasks["Evaluator"].dependent_tasks
    )
    assert "change_threshold" in parameter(spec, "Evaluator", "eval_config")
    assert read_package(tmp_path / "pipeline.yaml")[1] is None


def test_serving_volume_is_mounted_in_the_pusher_step_only(spec, spec_path):
    _, platform = read_package(spec_path)
    executors = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    pusher = spec.root.dag.tasks["ServingPusher"].component_ref.name
    assert executors == {
        spec.components[pusher].executor_label: {
            "pvcMount": [{"constant": KUBEFLOW.serving_pvc, "mountPath": KUBEFLOW.serving_root}]
        }
    }
    parsed = pipeline_spec_pb2.PlatformSpec()
    json_format.ParseDict(platform, parsed)
    assert set(parsed.platforms) == {"kubernetes"}


def test_tasks_depend_on_their_upstream_nodes(cfg, spec):
    for node in create_pipeline(cfg, kubeflow=KUBEFLOW).components:
        if isinstance(node, tfx.dsl.Resolver):
            continue
        expected = {
            f"{u.id}-model-resolver" if isinstance(u, tfx.dsl.Resolver) else u.id
            for u in node.upstream_nodes
        }
        assert set(spec.root.dag.tasks[node.id].dependent_tasks) == expected, node.id


def test_push_conversion_and_test_scoring_wait_for_the_evaluators_blessing(spec):
    conditioned = {n for n, t in spec.root.dag.tasks.items() if t.trigger_policy.condition}
    assert conditioned == CONDITIONAL_STEPS
    for name in CONDITIONAL_STEPS:
        task = spec.root.dag.tasks[name]
        condition = task.trigger_policy.condition
        assert re.search(r"\.metadata\['blessed'\] == 1(\.0)?\b", condition), condition
        (key,) = re.findall(r"inputs\.artifacts\['([^']+)'\]", condition)
        producer = task.inputs.artifacts[key].task_output_artifact
        assert (producer.producer_task, producer.output_artifact_key) == ("Evaluator", "blessing")


def test_every_step_runs_our_image_with_the_keras_mode(spec):
    for name, container in containers(spec).items():
        assert container.image == KUBEFLOW.image, name
        assert tuple(container.command) == CONTAINER_COMMAND, name
        env = {e.name: e.value for e in container.env}
        assert keras_mode.ENVIRONMENT.items() <= env.items(), name


def test_entry_points_and_executors_import_here(spec):
    for name, container in containers(spec).items():
        commands = [list(container.command)]
        if container.lifecycle.HasField("pre_cache_check"):
            commands.append(list(container.lifecycle.pre_cache_check.command))
        for command in commands:
            assert command[:2] == ["python", "-m"], name
            assert importlib.util.find_spec(command[2]) is not None, command[2]
        args = list(container.args)
        module, _, cls = args[args.index("--executor_class_path") + 1].rpartition(".")
        assert inspect.isclass(getattr(importlib.import_module(module), cls)), name


def test_cluster_locations_and_beam_args(spec):
    assert spec.default_pipeline_root == KUBEFLOW.pipeline_root
    assert parameter(spec, "CsvExampleGen", "input_base") == KUBEFLOW.data_root
    assert parameter(spec, "ImportSchemaGen", "schema_file") == KUBEFLOW.schema_path
    assert parameter(spec, "ServingPusher", "serving_root") == KUBEFLOW.serving_root
    steps = containers(spec)
    for name in BEAM_STEPS:
        args = list(steps[name].args)
        assert [a for a in args if a in KUBEFLOW.beam_args] == list(KUBEFLOW.beam_args), name
        assert not [a for a in args if a.startswith("--direct_")], name


def test_shipped_kubeflow_config(tmp_path):
    cfg = load_config(REPO / "configs" / "kubeflow.yaml", work_dir=tmp_path)
    spec = parse_spec(compile_kubeflow(cfg, cfg.kubeflow, tmp_path / "pipeline.json"))
    assert {c.image for c in containers(spec).values()} == {cfg.kubeflow.image}
    assert spec.default_pipeline_root == cfg.kubeflow.pipeline_root


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image": "registry.example.com/penguins:latest"}, "kubeflow.image: pin a tag"),
        ({"schema_path": None}, "kubeflow.schema_path: required"),
        ({"colour": "blue"}, "unknown key 'kubeflow.colour'"),
    ],
)
def test_bad_kubeflow_section_names_its_key(tmp_path, change, message):
    raw = yaml.safe_load((REPO / "configs" / "kubeflow.yaml").read_text())
    raw["kubeflow"].update(change)
    path = tmp_path / "configs" / "kubeflow.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(raw).replace("../", f"{REPO}/"))
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(path)


def test_submit_to_a_kubeflow_endpoint(request):
    host = os.environ.get("KFP_HOST")
    if not host:
        pytest.skip("no Kubeflow Pipelines endpoint: set KFP_HOST=<KFP API URL> to submit")
    kfp = pytest.importorskip("kfp.client", reason="the kfp client: uv sync --group kubeflow")
    run_id = submit(request.getfixturevalue("spec_path"), host, experiment="penguins-tests")
    assert kfp.Client(host=host).get_run(run_id).run_id == run_id


def test_shipped_serving_claim_is_the_one_the_config_mounts(tmp_path):
    cfg = load_config(REPO / "configs" / "kubeflow.yaml", work_dir=tmp_path)
    claim = yaml.safe_load((REPO / "deploy" / "serving-pvc.yaml").read_text())
    assert claim["kind"] == "PersistentVolumeClaim"
    assert claim["metadata"]["name"] == cfg.kubeflow.serving_pvc
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
