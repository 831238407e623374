"""The nodes and dependencies of ``create_pipeline(cfg)`` (local and Airflow variant), TFX-free.

Airflow parses DAG files often and within a time limit (30 s by default); importing TFX and
TensorFlow takes longer than that here. ``pipeline.airflow`` builds the DAG's tasks and edges
from this description and builds the TFX pipeline only inside a task. Whenever
``create_pipeline`` changes its nodes or their inputs, this must change with it:
``tests/unit/pipeline/test_graph.py`` compares both on every shipped config and on the
optional nodes, and an Airflow task refuses to run if its node's upstream nodes differ.
"""

from pipeline.config import PipelineConfig

BASELINE_RESOLVER = "latest_blessed_model_resolver"


def pipeline_graph(cfg: PipelineConfig) -> dict[str, tuple[str, ...]]:
    """Node id -> ids of the nodes it depends on, in ``create_pipeline(cfg).components`` order.

    Args:
        cfg: The pipeline configuration: ``data.image_dir`` (ImageExampleGen or
            CsvExampleGen), ``validation.schema_path`` (ImportSchemaGen or SchemaGen),
            ``tuner.enabled`` and ``tflite.enabled`` change the nodes.

    Returns:
        Every node, upstream ones before the nodes that depend on them; each dependency
        tuple sorted by id.
    """
    schema = "ImportSchemaGen" if cfg.validation.schema_path else "SchemaGen"
    gen = "ImageExampleGen" if cfg.data.image_dir is not None else "CsvExampleGen"
    graph: dict[str, tuple[str, ...]] = {gen: ()}
    if cfg.validation.schema_path:
        graph[schema] = ()
        graph["StatisticsGen"] = (gen,)
    else:
        graph["StatisticsGen"] = (gen,)
        graph[schema] = ("StatisticsGen",)
    graph["ExampleValidator"] = (schema, "StatisticsGen")
    graph["DataGate"] = ("ExampleValidator", "StatisticsGen")
    graph["Transform"] = (gen, "DataGate", schema)
    if cfg.tuner.enabled:
        graph["Tuner"] = ("Transform",)
        graph["Trainer"] = ("Transform", "Tuner")
    else:
        graph["Trainer"] = ("Transform",)
    graph[BASELINE_RESOLVER] = ("Trainer",)
    graph["Evaluator"] = (gen, "Trainer", BASELINE_RESOLVER)
    blessed = (gen, "Evaluator", "Trainer")
    if cfg.tflite.enabled:
        graph["TFLiteConverter"] = (*blessed, "Transform")
        graph["ServingPusher"] = (*blessed, "TFLiteConverter")
    else:
        graph["ServingPusher"] = blessed
    graph["TestEvaluator"] = blessed
    return {node: tuple(sorted(upstream)) for node, upstream in graph.items()}
