"""Construction: create_pipeline(cfg) has the expected nodes, edges and settings."""

import dataclasses
import json
from pathlib import Path

import pytest
from tfx.dsl.compiler import compiler
from tfx.dsl.components.base.base_beam_executor import BaseBeamExecutor

from pipeline.config import BeamConfig, ValidationConfig, load_config
from pipeline.pipeline import (
    DIRECT_RUNNER_IMAGE,
    beam_pipeline_args,
    code_digest,
    create_pipeline,
)

REPO = Path(__file__).resolve().parents[3]

EDGES = {
    "CsvExampleGen": set(),
    "ImportSchemaGen": set(),
    "StatisticsGen": {"CsvExampleGen"},
    "ExampleValidator": {"StatisticsGen", "ImportSchemaGen"},
    "DataGate": {"ExampleValidator", "StatisticsGen"},
    "Transform": {"CsvExampleGen", "ImportSchemaGen", "DataGate"},
    "Trainer": {"Transform"},
    "latest_blessed_model_resolver": {"Trainer"},
    "Evaluator": {"CsvExampleGen", "Trainer", "latest_blessed_model_resolver"},
    "TestEvaluator": {"CsvExampleGen", "Trainer", "Evaluator"},
    "TFLiteConverter": {"CsvExampleGen", "Trainer", "Transform", "Evaluator"},
    "ServingPusher": {"CsvExampleGen", "Trainer", "Evaluator", "TFLiteConverter"},
}


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return load_config(REPO / "configs" / "penguins.yaml", work_dir=tmp_path_factory.mktemp("w"))


def edges(pipeline) -> dict[str, set[str]]:
    return {c.id: {u.id for u in c.upstream_nodes} for c in pipeline.components}


def test_default_pipeline_nodes_and_edges(cfg):
    assert edges(create_pipeline(cfg)) == EDGES


def test_default_pipeline_settings(cfg):
    pipeline = create_pipeline(cfg)
    assert pipeline.enable_cache
    assert pipeline.pipeline_info.pipeline_root == str(cfg.work_dir / "pipelines" / "penguins")
    sqlite = pipeline.metadata_connection_config.sqlite
    assert sqlite.filename_uri == str(cfg.work_dir / "metadata.sqlite")
    assert "--direct_running_mode=in_memory" in pipeline.beam_pipeline_args


def test_push_and_test_scoring_are_conditional_on_blessing(cfg):
    ir = compiler.Compiler().compile(create_pipeline(cfg))
    conditional = {
        n.pipeline_node.node_info.id for n in ir.nodes if n.pipeline_node.inputs.conditionals
    }
    assert conditional == {"ServingPusher", "TestEvaluator", "TFLiteConverter"}


def test_tuner_feeds_trainer_when_enabled(cfg):
    tuned = dataclasses.replace(cfg, tuner=dataclasses.replace(cfg.tuner, enabled=True))
    graph = edges(create_pipeline(tuned))
    assert graph["Tuner"] == {"Transform"}
    assert graph["Trainer"] == {"Transform", "Tuner"}


def test_tflite_disabled_pushes_the_savedmodel_alone(cfg):
    no_tflite = dataclasses.replace(cfg, tflite=dataclasses.replace(cfg.tflite, enabled=False))
    graph = edges(create_pipeline(no_tflite))
    assert "TFLiteConverter" not in graph
    assert graph["ServingPusher"] == {"CsvExampleGen", "Trainer", "Evaluator"}


def test_warn_on_anomalies_keeps_the_gate_for_the_data_rules(cfg):
    warn = dataclasses.replace(
        cfg, validation=dataclasses.replace(cfg.validation, on_anomalies="warn")
    )
    pipeline = create_pipeline(warn)
    assert edges(pipeline) == EDGES
    gate = next(c for c in pipeline.components if c.id == "DataGate")
    assert gate.exec_properties["fail_on_anomalies"] is False


def test_data_gate_gets_the_data_rules(cfg):
    gate = next(c for c in create_pipeline(cfg).components if c.id == "DataGate")
    properties = dict(gate.exec_properties)
    # Dict and list parameters travel as JSON text (Kubeflow and Airflow pass them so).
    assert json.loads(properties.pop("min_examples")) == {"train": 50, "eval": 20, "test": 10}
    assert json.loads(properties.pop("label_classes")) == ["Adelie", "Chinstrap", "Gentoo"]
    assert properties == {"label_key": "species", "fail_on_anomalies": True}


def test_example_gen_gets_the_missing_value_tokens(cfg):
    from components.csv_example_gen.executor import custom_settings

    example_gen = next(c for c in create_pipeline(cfg).components if c.id == "CsvExampleGen")
    settings = custom_settings(example_gen.exec_properties)
    assert settings["missing_values"] == list(cfg.data.missing_values)
    assert settings["code_digest"] == code_digest(("csv_example_gen",))


def test_no_schema_path_infers_schema(cfg):
    inferred = dataclasses.replace(cfg, validation=ValidationConfig(schema_path=None))
    graph = edges(create_pipeline(inferred))
    assert graph["SchemaGen"] == {"StatisticsGen"}
    assert "ImportSchemaGen" not in graph


IMAGE = f"--sdk_container_image={DIRECT_RUNNER_IMAGE}"
CLOUDPICKLE = "--pickle_library=cloudpickle"


@pytest.mark.parametrize(
    ("beam", "expected"),
    [
        (
            BeamConfig(),
            ["--direct_running_mode=in_memory", "--direct_num_workers=1", IMAGE, CLOUDPICKLE],
        ),
        (
            BeamConfig(multi_processing_above_mb=0.001),
            [
                "--direct_running_mode=multi_processing",
                "--direct_num_workers=0",
                IMAGE,
                CLOUDPICKLE,
            ],
        ),
        (
            BeamConfig(direct_running_mode="multi_processing", direct_num_workers=2),
            [
                "--direct_running_mode=multi_processing",
                "--direct_num_workers=2",
                IMAGE,
                CLOUDPICKLE,
            ],
        ),
        (
            BeamConfig(direct_running_mode="multi_threading", extra_args=("--runner=Direct",)),
            [
                "--direct_running_mode=multi_threading",
                "--direct_num_workers=1",
                CLOUDPICKLE,
                "--runner=Direct",
            ],
        ),
        (
            BeamConfig(extra_args=("--pickle_library=dill",)),
            [
                "--direct_running_mode=in_memory",
                "--direct_num_workers=1",
                IMAGE,
                "--pickle_library=dill",
            ],
        ),
    ],
)
def test_beam_args(cfg, beam, expected):
    assert beam_pipeline_args(dataclasses.replace(cfg, beam=beam)) == expected


def component_beam_args(pipeline, node_id: str) -> list[str]:
    (node,) = [n for n in pipeline.components if n.id == node_id]
    return list(node.executor_spec.beam_pipeline_args)


def test_the_bounded_evaluators_stay_in_process_when_auto_picks_workers(cfg):
    large = dataclasses.replace(cfg, beam=BeamConfig(multi_processing_above_mb=0.001))
    pipeline = create_pipeline(large)
    for node_id in ("Evaluator", "TestEvaluator"):
        assert component_beam_args(pipeline, node_id)[-2:] == [
            "--direct_running_mode=in_memory",
            "--direct_num_workers=1",
        ]
    assert component_beam_args(pipeline, "Transform") == beam_pipeline_args(large)
    assert beam_pipeline_args(large)[0] == "--direct_running_mode=multi_processing"
    unbounded = dataclasses.replace(
        large, evaluator=dataclasses.replace(large.evaluator, max_examples=None)
    )
    assert component_beam_args(create_pipeline(unbounded), "Evaluator") == beam_pipeline_args(large)
    in_process = beam_pipeline_args(cfg)
    assert component_beam_args(create_pipeline(cfg), "Evaluator") == in_process


class _BeamExecutor(BaseBeamExecutor):
    def Do(self, input_dict, output_dict, exec_properties):
        del input_dict, output_dict, exec_properties


def test_tfx_builds_no_sdist_of_itself_for_the_direct_runner(cfg):
    context = BaseBeamExecutor.Context(beam_pipeline_args=beam_pipeline_args(cfg))
    args = _BeamExecutor(context)._beam_pipeline_args
    assert not any(arg.startswith("--extra_package") for arg in args), args


def test_code_digest_tracks_the_named_code():
    assert code_digest(("features",)) == code_digest(("features",))
    assert code_digest(("features",)) != code_digest(("features", "transform"))
    assert code_digest(("features",)) != code_digest(("custom_config.py",))


@pytest.fixture(scope="module")
def image_cfg(tmp_path_factory):
    """The shipped config on the shipped digits (image_dir), with their image settings."""
    import yaml

    raw = yaml.safe_load((REPO / "configs" / "penguins.yaml").read_text())
    raw["data"] = {"image_dir": str(REPO / "data" / "digits"), "image_formats": ["png", "gif"]}
    raw.update(
        label={"name": "label", "classes": [str(d) for d in range(10)]},
        features={"height": "numeric"},
        slices=[],
    )
    raw["validation"]["schema_path"] = None
    path = tmp_path_factory.mktemp("c") / "digits.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path, work_dir=tmp_path_factory.mktemp("w"))


def test_image_dir_picks_the_image_example_gen(image_cfg):
    from components.csv_example_gen.executor import custom_settings

    pipeline = create_pipeline(image_cfg)
    graph = edges(pipeline)
    assert graph["StatisticsGen"] == {"ImageExampleGen"}
    assert "CsvExampleGen" not in graph
    example_gen = next(c for c in pipeline.components if c.id == "ImageExampleGen")
    assert example_gen.exec_properties["input_base"] == str(REPO / "data" / "digits")
    settings = custom_settings(example_gen.exec_properties)
    assert settings["image_formats"] == ["png", "gif"]
    assert settings["code_digest"] == code_digest(
        ("image_example_gen", "csv_example_gen/executor.py", "features/image.py")
    )
    output_config = json.loads(example_gen.exec_properties["output_config"])
    assert output_config["split_config"]["partition_feature_name"] == "file_name"
    assert "--direct_running_mode=in_memory" in pipeline.beam_pipeline_args


def test_image_data_turns_on_the_gate_s_image_rules(image_cfg):
    gate = next(c for c in create_pipeline(image_cfg).components if c.id == "DataGate")
    assert gate.exec_properties["image_data"] is True
    assert gate.exec_properties["max_class_share"] == 0.9
    assert gate.exec_properties["label_key"] == "label"
    assert json.loads(gate.exec_properties["label_classes"]) == [str(d) for d in range(10)]


def test_the_weights_files_digest_keys_the_trainer(tmp_path):
    from components import features
    from pipeline.pipeline import weights_digest

    cfg = load_config(REPO / "configs" / "digits.yaml", work_dir=tmp_path / "work")
    assert weights_digest(cfg) == ""
    weights = tmp_path / "backbone.h5"

    def with_weights() -> str:
        feature = features.make_feature(
            "image",
            {"type": "image", "height": 32, "width": 32, "model": "mobilenet_v2"},
        )
        options = {**dict(feature.options), "weights": str(weights)}
        feature = dataclasses.replace(feature, options=tuple(sorted(options.items())))
        spec = dataclasses.replace(cfg.spec, features=(feature,))
        return weights_digest(dataclasses.replace(cfg, spec=spec))

    weights.write_bytes(b"first weights")
    first = with_weights()
    weights.write_bytes(b"other weights")
    assert first and with_weights() != first
