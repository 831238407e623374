"""``pipeline_graph`` names the nodes and dependencies ``create_pipeline`` builds."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.graph import pipeline_graph
from pipeline.pipeline import create_pipeline

REPO = Path(__file__).resolve().parents[3]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def _variants(cfg):
    yield "as shipped", cfg
    yield "tuner on", dataclasses.replace(cfg, tuner=dataclasses.replace(cfg.tuner, enabled=True))
    yield (
        "tflite off",
        dataclasses.replace(cfg, tflite=dataclasses.replace(cfg.tflite, enabled=False)),
    )
    yield (
        "schema inferred",
        dataclasses.replace(cfg, validation=dataclasses.replace(cfg.validation, schema_path=None)),
    )


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_graph_is_create_pipelines(config, tmp_path):
    for variant, cfg in _variants(load_config(config, work_dir=tmp_path)):
        nodes = create_pipeline(cfg).components
        expected = {n.id: tuple(sorted(u.id for u in n.upstream_nodes)) for n in nodes}
        graph = pipeline_graph(cfg)
        assert graph == expected, variant
        order = list(graph)
        for node, upstream in graph.items():
            assert all(order.index(u) < order.index(node) for u in upstream), (variant, node)


def test_graph_needs_no_tfx():
    code = (
        "import sys; from pipeline.config import load_config; from pipeline.graph import "
        f"pipeline_graph; pipeline_graph(load_config({str(REPO / 'configs' / 'penguins.yaml')!r}));"
        "print(sorted(m for m in ('tfx', 'tensorflow', 'apache_beam') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
