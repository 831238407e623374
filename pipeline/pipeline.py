"""``create_pipeline(cfg)``: the TFX DAG. Wiring only; model code lives in ``components/``."""

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from tfx.components import (
    ExampleValidator,
    SchemaGen,
    StatisticsGen,
    Trainer,
    Transform,
    Tuner,
)
from tfx.components.schema_gen.import_schema_gen.component import ImportSchemaGen
from tfx.dsl.components.common.resolver import Resolver
from tfx.dsl.experimental.conditionals.conditional import Cond
from tfx.dsl.input_resolution.strategies.latest_blessed_model_strategy import (
    LatestBlessedModelStrategy,
)
from tfx.orchestration import metadata as tfx_metadata
from tfx.orchestration.pipeline import Pipeline
from tfx.proto import example_gen_pb2, trainer_pb2, transform_pb2
from tfx.types import standard_artifacts
from tfx.types.channel import Channel

import components
from components import custom_config as config_keys
from components.csv_example_gen.component import CsvExampleGen
from components.data_gate.component import DataGate
from components.evaluator.component import Evaluator
from components.image_example_gen.component import ImageExampleGen
from components.serving_pusher.component import ServingPusher
from components.tflite_converter.component import TFLiteConverter
from pipeline import baseline, code_fingerprint
from pipeline.config import KubeflowConfig, PipelineConfig
from pipeline.eval_config import build_eval_config

PREPROCESSING_FN = "components.transform.preprocessing.preprocessing_fn"
RUN_FN = "components.trainer.run.run_fn"
TUNER_FN = "components.trainer.tuner.tuner_fn"

_COMPONENTS_DIR = Path(components.__file__).parent
_SHARED_CODE = ("features", "custom_config.py", "keras_mode.py")
_TRANSFORM_CODE = (*_SHARED_CODE, "transform")
_TRAINER_CODE = (*_SHARED_CODE, "trainer")
_CSV_READER_CODE = ("csv_example_gen",)
_IMAGE_READER_CODE = ("image_example_gen", "csv_example_gen/executor.py", "features/image.py")

EVAL_SPLIT = "eval"
TEST_SPLIT = "test"

# Node ids other modules look up in ML Metadata.
VALIDATOR_ID = "ExampleValidator"
EVALUATOR_ID = "Evaluator"
TEST_EVALUATOR_ID = "TestEvaluator"
TFLITE_CONVERTER_ID = "TFLiteConverter"
PUSHER_ID = "ServingPusher"
BASELINE_RESOLVER_ID = "latest_blessed_model_resolver"


def create_pipeline(cfg: PipelineConfig, kubeflow: KubeflowConfig | None = None) -> Pipeline:
    """Builds the pipeline described by ``cfg``.

    ExampleGen -> StatisticsGen -> ImportSchemaGen|SchemaGen -> ExampleValidator
    -> DataGate -> Transform -> [Tuner ->] Trainer -> baseline Resolver -> Evaluator
    -> (blessed only) [TFLiteConverter ->] ServingPusher, TestEvaluator.

    Args:
        cfg: The pipeline configuration.
        kubeflow: Builds the Kubeflow Pipelines variant: data, schema, serving root,
            pipeline root and Beam args come from it, and ML Metadata is the cluster's.
            On Vertex the baseline is TFX's LatestBlessedModelStrategy (KFP v2 compiles no
            custom resolver strategy); open-source KFP runs no resolver, so there the
            Evaluator has no baseline. None: the local and Airflow DAG.
    """
    where = _locations(cfg, kubeflow)
    example_gen = _example_gen(cfg, where.data_dir)
    statistics_gen = StatisticsGen(examples=example_gen.outputs["examples"])
    if cfg.validation.schema_path:
        schema_gen = ImportSchemaGen(schema_file=where.schema_file)
    else:
        schema_gen = SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=False
        )
    example_validator = ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema_gen.outputs["schema"]
    ).with_id(VALIDATOR_ID)
    transform = Transform(
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        preprocessing_fn=PREPROCESSING_FN,
        # StatisticsGen and ExampleValidator already describe and check the raw data; nothing
        # reads Transform's own pre/post-transform statistics, schema and anomalies, nor an
        # analyzer cache (no input cache is wired), and computing them was most of its time.
        disable_statistics=True,
        disable_analyzer_cache=True,
        # The Trainer and Tuner read transformed train and eval; the Evaluators feed raw
        # examples to the model's own Transform graph, so the test split stays raw.
        splits_config=transform_pb2.SplitsConfig(
            analyze=["train"], transform=["train", EVAL_SPLIT]
        ),
        custom_config={
            config_keys.FEATURE_SPEC: cfg.spec.to_dict(),
            config_keys.CODE_DIGEST: code_digest(_TRANSFORM_CODE),
        },
    )
    data_gate = DataGate(
        statistics=statistics_gen.outputs["statistics"],
        anomalies=example_validator.outputs["anomalies"],
        min_examples=json.dumps(dataclasses.asdict(cfg.data.min_examples)),
        label_key=cfg.spec.label.name,
        label_classes=json.dumps(list(cfg.spec.label.classes)),
        fail_on_anomalies=cfg.validation.on_anomalies == "fail",
        **_image_rules(cfg),
    )
    transform.add_upstream_node(data_gate)
    nodes = [example_gen, statistics_gen, schema_gen, example_validator, data_gate, transform]

    trainer_config = _trainer_custom_config(cfg)
    # Steps per epoch reach run_fn in custom_config (0: one pass over the split, counted
    # there); TrainArgs/EvalArgs carry them too when they are fixed.
    train_args = trainer_pb2.TrainArgs(
        num_steps=cfg.trainer.steps_per_epoch * cfg.trainer.hyperparameters.epochs or None
    )
    eval_args = trainer_pb2.EvalArgs(num_steps=cfg.trainer.eval_steps or None)
    hyperparameters = None
    if cfg.tuner.enabled:
        tuner = Tuner(
            tuner_fn=TUNER_FN,
            examples=transform.outputs["transformed_examples"],
            transform_graph=transform.outputs["transform_graph"],
            train_args=trainer_pb2.TrainArgs(
                num_steps=cfg.trainer.steps_per_epoch * cfg.tuner.epochs or None
            ),
            eval_args=eval_args,
            custom_config={**trainer_config, config_keys.TUNER_SEARCH: _tuner_search(cfg)},
        )
        hyperparameters = tuner.outputs["best_hyperparameters"]
        nodes.append(tuner)
    trainer = Trainer(
        run_fn=RUN_FN,
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        hyperparameters=hyperparameters,
        train_args=train_args,
        eval_args=eval_args,
        custom_config=trainer_config,
    )
    nodes.append(trainer)
    baseline_model = None
    if kubeflow is None or kubeflow.platform != "kubeflow":
        baseline_resolver = _baseline_resolver(trainer, stock_strategy=kubeflow is not None)
        baseline_model = baseline_resolver.outputs[baseline.MODEL]
        nodes.append(baseline_resolver)
    evaluator = Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=baseline_model,
        eval_config=build_eval_config(cfg, with_change_threshold=baseline_model is not None),
        example_splits=[EVAL_SPLIT],
        max_examples=cfg.evaluator.max_examples,
    ).with_id(EVALUATOR_ID)
    nodes.append(evaluator)

    with Cond(evaluator.outputs["blessing"].future()[0].custom_property("blessed") == 1):
        test_evaluator = Evaluator(
            examples=example_gen.outputs["examples"],
            model=trainer.outputs["model"],
            eval_config=build_eval_config(cfg, with_thresholds=False),
            example_splits=[TEST_SPLIT],
            max_examples=cfg.evaluator.max_examples,
        ).with_id(TEST_EVALUATOR_ID)
        tflite_model = None
        if cfg.tflite.enabled:
            tflite_converter = TFLiteConverter(
                model=trainer.outputs["model"],
                examples=example_gen.outputs["examples"],
                transform_graph=transform.outputs["transform_graph"],
                quantization=cfg.tflite.quantization,
                accuracy_tolerance=cfg.tflite.accuracy_tolerance,
                micro=cfg.tflite.micro,
                representative_examples=cfg.tflite.representative_examples,
                parity_examples=cfg.tflite.parity_examples,
                feature_spec=json.dumps(cfg.spec.to_dict()),
            ).with_id(TFLITE_CONVERTER_ID)
            tflite_model = tflite_converter.outputs["tflite_model"]
            nodes.append(tflite_converter)
        pusher = ServingPusher(
            model=trainer.outputs["model"],
            model_blessing=evaluator.outputs["blessing"],
            examples=example_gen.outputs["examples"],
            tflite_model=tflite_model,
            serving_root=where.serving_root,
            model_name=cfg.model_name,
            keep_versions=cfg.pusher.keep_versions,
            owner_pipeline=cfg.name,
            task=cfg.spec.task,
        ).with_id(PUSHER_ID)
    nodes += [pusher, test_evaluator]
    if kubeflow is None and (in_process := bounded_input_beam_args(cfg, where.beam_args)):
        for bounded in (evaluator, test_evaluator):
            bounded.with_beam_pipeline_args(in_process)

    return Pipeline(
        pipeline_name=cfg.name,
        pipeline_root=where.pipeline_root,
        components=nodes,
        enable_cache=True,
        metadata_connection_config=where.metadata,
        beam_pipeline_args=where.beam_args,
    )


@dataclasses.dataclass(frozen=True)
class _Locations:
    """Where one variant of the pipeline reads and writes, as the strings TFX passes on."""

    pipeline_root: str
    data_dir: str
    schema_file: str | None
    serving_root: str
    beam_args: list[str]
    metadata: object | None  # None: the orchestrator's own ML Metadata (Kubeflow)


def _locations(cfg: PipelineConfig, kubeflow: KubeflowConfig | None) -> _Locations:
    if kubeflow is not None:
        return _Locations(
            pipeline_root=kubeflow.pipeline_root,
            data_dir=kubeflow.data_root,
            schema_file=kubeflow.schema_path if cfg.validation.schema_path else None,
            serving_root=kubeflow.serving_root,
            beam_args=list(kubeflow.beam_args),
            metadata=None,
        )
    schema = cfg.validation.schema_path
    return _Locations(
        pipeline_root=str(cfg.pipeline_root),
        data_dir=str(cfg.data.data_dir),
        schema_file=str(schema) if schema else None,
        serving_root=str(cfg.serving_root),
        beam_args=beam_pipeline_args(cfg),
        metadata=tfx_metadata.sqlite_metadata_connection_config(str(cfg.metadata_path)),
    )


def _example_gen(cfg: PipelineConfig, data_dir: str):
    """CsvExampleGen over ``data.csv_dir``, or ImageExampleGen when ``data.image_dir`` is set."""
    if cfg.data.image_dir is not None:
        return ImageExampleGen(
            input_base=data_dir,
            output_config=_split_config(cfg),
            code_digest=code_digest(_IMAGE_READER_CODE),
            image_formats=list(cfg.data.image_formats),
        )
    return CsvExampleGen(
        input_base=data_dir,
        output_config=_split_config(cfg),
        missing_values=list(cfg.data.missing_values),
        code_digest=code_digest(_CSV_READER_CODE),
        input_pattern=cfg.data.input_pattern,
        num_spans=cfg.data.num_spans,
    )


def _image_rules(cfg: PipelineConfig) -> dict:
    """The DataGate's image rules: on for image data only."""
    if cfg.data.image_dir is None:
        return {}
    return {"image_data": True, "max_class_share": cfg.data.max_class_share}


def _baseline_resolver(trainer: Trainer, stock_strategy: bool) -> Resolver:
    """The Evaluator's baseline: the latest blessed model other than the candidate.

    With ``stock_strategy``, TFX's LatestBlessedModelStrategy instead: the only one
    KubeflowV2DagRunner compiles. It may pick the candidate itself when the Trainer was
    cached; the Pusher then finds that version already served and does not push it again.
    """
    model = Channel(type=standard_artifacts.Model)
    blessing = Channel(type=standard_artifacts.ModelBlessing)
    if stock_strategy:
        resolver = Resolver(
            strategy_class=LatestBlessedModelStrategy,
            **{baseline.MODEL: model, baseline.MODEL_BLESSING: blessing},
        )
    else:
        resolver = Resolver(
            strategy_class=baseline.LatestBlessedOtherModelStrategy,
            **{
                baseline.MODEL: model,
                baseline.MODEL_BLESSING: blessing,
                baseline.CANDIDATE: trainer.outputs["model"],
            },
        )
    return resolver.with_id(BASELINE_RESOLVER_ID)


# Never pulled: see beam_pipeline_args.
DIRECT_RUNNER_IMAGE = "unused-by-the-direct-runner"
PICKLE_LIBRARY = "cloudpickle"


def beam_pipeline_args(cfg: PipelineConfig) -> list[str]:
    """DirectRunner args; ``auto`` runs small data in-process and large data on every core."""
    mode = cfg.beam.direct_running_mode
    if mode == "auto":
        size_mb = cfg.data.input_bytes() / 2**20
        mode = "multi_processing" if size_mb > cfg.beam.multi_processing_above_mb else "in_memory"
    workers = cfg.beam.direct_num_workers if mode == "multi_processing" else 1
    args = [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]
    if not _names_a_runner(cfg.beam.extra_args):
        # TFX builds an sdist of itself for the workers (about 3 s per Beam component) unless
        # a dependency flag is set. The DirectRunner's workers are this process or its
        # children and never read one; naming a container image, which it ignores, skips it.
        args.append(f"--sdk_container_image={DIRECT_RUNNER_IMAGE}")
    if not _names_option(cfg.beam.extra_args, "--pickle_library"):
        # Beam 2.59 pickles each DoFn, and unpickles it for each bundle, with dill by
        # default: a pure-Python pickler that also resets a logger's level on every call.
        # cloudpickle runs on the C pickler; a cold penguins run took 10 s less.
        args.append(f"--pickle_library={PICKLE_LIBRARY}")
    return [*args, *cfg.beam.extra_args]


def _names_a_runner(extra_args: Sequence[str]) -> bool:
    return _names_option(extra_args, "--runner")


def _names_option(extra_args: Sequence[str], option: str) -> bool:
    return any(arg == option or arg.startswith(f"{option}=") for arg in extra_args)


def bounded_input_beam_args(cfg: PipelineConfig, pipeline_args: Sequence[str]) -> list[str]:
    """Args that run the Evaluators in-process where ``auto`` gave the pipeline
    (``pipeline_args``, from ``beam_pipeline_args``) worker processes: their input is at
    most ``evaluator.max_examples`` examples a split, and each worker would pay
    TensorFlow's and TFMA's imports and model loads for it. [] when nothing is to change
    (input unbounded, a mode or runner set by the user, or the pipeline in-process
    already). The later occurrence of an arg wins: TFX puts a component's Beam args after
    the pipeline's."""
    if cfg.evaluator.max_examples is None or cfg.beam.direct_running_mode != "auto":
        return []
    if "--direct_running_mode=multi_processing" not in pipeline_args or _names_a_runner(
        cfg.beam.extra_args
    ):
        return []
    return ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def code_digest(relative_paths: tuple[str, ...]) -> str:
    """SHA-256 over the ``.py`` files under ``components/`` at the given paths.

    Passed in ``custom_config`` so that editing user code re-runs the component
    instead of reusing a cached result built by the old code.
    """
    return code_fingerprint.digest(_COMPONENTS_DIR, relative_paths)[:16]


def weights_digest(cfg: PipelineConfig) -> str:
    """SHA-256 of the pretrained weights files the image features load ("" for none).

    A new file at the same path re-runs the Trainer instead of reusing a model trained
    from the old weights.
    """
    digest = hashlib.sha256()
    paths = [Path(f.option("weights")) for f in cfg.spec.of_type("image") if f.option("weights")]
    for path in paths:
        with path.open("rb") as weights:
            for block in iter(lambda: weights.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16] if paths else ""


def _trainer_custom_config(cfg: PipelineConfig) -> dict:
    return {
        config_keys.FEATURE_SPEC: cfg.spec.to_dict(),
        config_keys.HYPERPARAMETERS: cfg.trainer.hyperparameters.to_dict(),
        config_keys.STEPS_PER_EPOCH: cfg.trainer.steps_per_epoch,
        config_keys.EVAL_STEPS: cfg.trainer.eval_steps,
        config_keys.MIXED_PRECISION: cfg.trainer.mixed_precision,
        config_keys.DISTRIBUTION: cfg.trainer.distribution,
        config_keys.CODE_DIGEST: code_digest(_TRAINER_CODE),
        config_keys.WEIGHTS_DIGEST: weights_digest(cfg),
    }


def _tuner_search(cfg: PipelineConfig) -> dict:
    return {
        "max_trials": cfg.tuner.max_trials,
        "epochs": cfg.tuner.epochs,
        "hidden_units": list(cfg.tuner.hidden_units_choices),
        "learning_rates": list(cfg.tuner.learning_rate_choices),
    }


def _split_config(cfg: PipelineConfig) -> example_gen_pb2.Output:
    buckets = cfg.data.splits
    return example_gen_pb2.Output(
        split_config=example_gen_pb2.SplitConfig(
            splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=buckets.train),
                example_gen_pb2.SplitConfig.Split(name=EVAL_SPLIT, hash_buckets=buckets.eval),
                example_gen_pb2.SplitConfig.Split(name=TEST_SPLIT, hash_buckets=buckets.test),
            ]
        )
    )
